"""mcp-bifrost: GPU work on a machine you are not sitting at, as MCP tools, a CLI and a Python API.

The Python API (mcp_bifrost/api/) is the stable surface for scripts: `GPU` (async) and `GPUSync`
(blocking), returning the models below. The version follows semver: names in __all__ keep their
meaning within a major version.
"""

__version__ = "0.2.0"

from mcp_bifrost.api import GPU, ExecStream, GPUSync, OutputLine, SyncExecStream
from mcp_bifrost.config import Config, load_config
from mcp_bifrost.errors import BifrostError
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    FanoutSmokeReport,
    HistoryReport,
    JobCancelResult,
    JobInfo,
    JobLogs,
    ProblemsReport,
    ProfileReport,
    PushResult,
    SmokeReport,
    TargetsReport,
)

__all__ = [
    "GPU",
    "BifrostError",
    "Config",
    "CopyResult",
    "ExecResult",
    "ExecStream",
    "FanoutSmokeReport",
    "GPUSync",
    "HistoryReport",
    "JobCancelResult",
    "JobInfo",
    "JobLogs",
    "OutputLine",
    "ProblemsReport",
    "ProfileReport",
    "PushResult",
    "SmokeReport",
    "SyncExecStream",
    "TargetsReport",
    "__version__",
    "load_config",
]
