"""Old name of ops/output_cap.py, kept only until every branch is merged; then delete."""

from mcp_bifrost.ops.output_cap import HeadTail  # noqa: F401
