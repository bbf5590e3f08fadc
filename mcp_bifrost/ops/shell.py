"""Old name of ops/remote_command.py, kept only while branches that import it are merged; then delete."""

from mcp_bifrost.ops.remote_command import Completed, drain, home_path, quote, run_capture  # noqa: F401
