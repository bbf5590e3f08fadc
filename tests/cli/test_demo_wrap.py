"""The demo shows a smoke report's whole summary line, wrapped inside its panel, not cropped at its edge."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from mcp_bifrost.demo import _show


def test_a_long_summary_is_wrapped_not_cropped():
    console = Console(width=60, soft_wrap=True, record=True)  # the CLI's console, narrow
    summary = (
        "PASS 5/5 · 1.02x vs reference (41.2 us vs 42.0 us, CPU, host clock, n=120) · no flags END-OF-LINE"
    )
    result = SimpleNamespace(
        structured_content={"summary": summary, "status": "passed"}, is_error=False, content=[]
    )
    _show(console, "smoke", "run_smoke_test", {}, result)
    assert "END-OF-LINE" in console.export_text()
