"""Old name of ops/remote_command.py, kept only until the slurm branch (which imports it) is merged; then delete."""

from mcp_bifrost.ops.remote_command import Completed, drain, home_path, quote, run_capture  # noqa: F401
