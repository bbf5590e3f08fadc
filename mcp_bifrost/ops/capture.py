"""Old name of ops/output_cap.py, kept only while branches that import it are merged; then delete."""

from mcp_bifrost.ops.output_cap import HeadTail  # noqa: F401
