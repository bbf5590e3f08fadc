"""mcp-bifrost: GPU work on a machine you are not sitting at, as MCP tools, a CLI and a Python API.

The Python API (mcp_bifrost/api.py) is the stable surface for scripts: `GPU` (async) and `GPUSync`
(blocking), returning the models below. The version follows semver: names in __all__ keep their
meaning within a major version.
"""

__version__ = "0.2.0"

from mcp_bifrost.api import GPU, ExecStream, GPUSync, OutputLine, SyncExecStream  # noqa: E402
from mcp_bifrost.config import Config, load_config  # noqa: E402
from mcp_bifrost.errors import BifrostError  # noqa: E402
from mcp_bifrost.models import (  # noqa: E402
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
    "GPUSync",
    "ExecStream",
    "SyncExecStream",
    "OutputLine",
    "Config",
    "load_config",
    "BifrostError",
    "ExecResult",
    "JobInfo",
    "JobLogs",
    "JobCancelResult",
    "PushResult",
    "CopyResult",
    "TargetsReport",
    "SmokeReport",
    "FanoutSmokeReport",
    "ProfileReport",
    "HistoryReport",
    "ProblemsReport",
    "__version__",
]
