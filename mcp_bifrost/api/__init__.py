"""The Python API, for people who write their own agent loop: `async with GPU() as gpu: await gpu.exec(...)`.

RL and evaluation harnesses (a best-of-N search, KernelBench-style batch evaluation, a fine-tuning
loop) call Python between their own LLM calls, not an MCP client. `GPU` is the one client the MCP
tools, the CLI and such scripts share, so the three never drift: the same config file, targets and
audit log, the same pydantic models back (models.py). `GPUSync` is the same client for a plain
script or a notebook, each call blocking.

Every call made through the API is written to the audit log (a start and an end entry, surface
"api"), as the server writes its tool calls; the server drives this client with `audit=False` so
that one tool call stays one pair of entries. Arguments are checked as they enter, by the rules the
tools apply (arguments.py). ARCHITECTURE.md has the layers below.
"""

from mcp_bifrost.api.client import GPU as GPU
from mcp_bifrost.api.stream import MAX_LINE_BYTES as MAX_LINE_BYTES
from mcp_bifrost.api.stream import ExecStream as ExecStream
from mcp_bifrost.api.stream import OutputLine as OutputLine
from mcp_bifrost.api.sync import GPUSync as GPUSync
from mcp_bifrost.api.sync import SyncExecStream as SyncExecStream

__all__ = ["GPU", "MAX_LINE_BYTES", "ExecStream", "GPUSync", "OutputLine", "SyncExecStream"]
