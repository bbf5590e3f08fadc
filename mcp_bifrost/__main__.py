from mcp_bifrost.cli import app

app(prog_name="mcp-bifrost")
