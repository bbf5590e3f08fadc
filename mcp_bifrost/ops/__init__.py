"""What we do with a target: plain async functions, no MCP, no CLI."""
