"""mcp-bifrost: GPU work on a machine you are not sitting at, as MCP tools."""

__version__ = "0.1.0"
