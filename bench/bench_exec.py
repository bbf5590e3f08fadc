"""Call overhead: `exec("true")` through `mcp-bifrost serve` (stdio, warm connection) vs `ssh host true`.

Both against the same loopback sshd, interleaved in one run. Goal (issue 2): the MCP call's median is
at most one third of ssh's. Run: python bench/bench_exec.py [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp import Client, StdioServerParameters  # noqa: E402

from tests.support.configs import write_config  # noqa: E402
from tests.support.sshd import start_sshd  # noqa: E402


async def main(n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    sshd = start_sshd(root / "sshd")
    config = write_config(root / "config.toml", sshd, str(root / "wd"))
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "mcp_bifrost", "serve", "--config", str(config), "--workspace", str(root)])
    mcp_times, ssh_times = [], []
    try:
        async with Client(params) as client:
            for _ in range(3):  # warm: connection, pre-warmed channel, workspace dir
                await client.call_tool("exec", {"command": "true"})
            for _ in range(n):
                t = time.perf_counter()
                result = await client.call_tool("exec", {"command": "true"})
                mcp_times.append(time.perf_counter() - t)
                assert result.structured_content["exit_code"] == 0
                t = time.perf_counter()
                subprocess.run(sshd.ssh_argv() + ["true"], check=True)
                ssh_times.append(time.perf_counter() - t)
    finally:
        sshd.stop()
    m_mcp, m_ssh = statistics.median(mcp_times), statistics.median(ssh_times)
    q = lambda xs: statistics.quantiles(xs, n=10)  # noqa: E731
    print(f"n={n} interleaved, loopback sshd ({subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()})")
    print(f"MCP exec('true') warm : median {m_mcp * 1000:7.1f} ms  p10 {q(mcp_times)[0] * 1000:6.1f}  p90 {q(mcp_times)[-1] * 1000:6.1f}")
    print(f"ssh host true (fresh) : median {m_ssh * 1000:7.1f} ms  p10 {q(ssh_times)[0] * 1000:6.1f}  p90 {q(ssh_times)[-1] * 1000:6.1f}")
    print(f"ratio MCP/ssh         : {m_mcp / m_ssh:.3f}  (goal <= 0.333; bifrost's client: 125 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    asyncio.run(main(parser.parse_args().n))
