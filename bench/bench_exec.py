"""Call overhead: `exec("true")` through `mcp-bifrost serve` (stdio, warm connection) vs `ssh host true`.

Two loopback sshds: a plain one, and one whose sessions' shell start-up sleeps 0.1 s (BASH_ENV,
standing in for the pyenv/conda ~/.bashrc that GPU hosts almost always have). Three patterns on
each: calls with a pause between them, calls back to back (the worst honest pattern), and a fresh
`ssh host true` for scale. Goal (issue 7): back-to-back median <= 25 ms and <= 0.1 of `ssh host true`.
Run: python bench/bench_exec.py [--n 30]
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
from tests.support.sshd import SshServer, start_sshd  # noqa: E402

PAUSE_S = 0.2


def _ms(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=10)
    return f"median {statistics.median(xs) * 1000:7.1f} ms  p10 {q[0] * 1000:6.1f}  p90 {q[-1] * 1000:6.1f}"


async def _exec_true(client: Client) -> float:
    t = time.perf_counter()
    result = await client.call_tool("exec", {"command": "true"})
    took = time.perf_counter() - t
    assert result.structured_content["exit_code"] == 0, result
    return took


async def measure(label: str, sshd: SshServer, root: Path, n: int) -> dict[str, float]:
    config = write_config(root / f"config-{label}.toml", sshd, str(root / f"wd-{label}"))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--config", str(config), "--workspace", str(root)],
    )
    spaced, back_to_back, ssh_times = [], [], []
    async with Client(params) as client:
        for _ in range(3):  # warm: connection, dispatcher, workspace
            await _exec_true(client)
        for _ in range(n):
            await asyncio.sleep(PAUSE_S)
            spaced.append(await _exec_true(client))
            t = time.perf_counter()
            subprocess.run(sshd.ssh_argv() + ["true"], check=True)
            ssh_times.append(time.perf_counter() - t)
        for _ in range(n):
            back_to_back.append(await _exec_true(client))
    ratio = statistics.median(back_to_back) / statistics.median(ssh_times)
    print(f"[{label}]")
    print(f"  exec('true'), {PAUSE_S:g} s apart : {_ms(spaced)}")
    print(f"  exec('true'), back to back : {_ms(back_to_back)}")
    print(f"  ssh host true (fresh)      : {_ms(ssh_times)}")
    print(f"  back-to-back / ssh         : {ratio:.3f}  (goal <= 0.1, and <= 25 ms)")
    return {"back_to_back_ms": statistics.median(back_to_back) * 1000, "ratio": ratio}


async def main(n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    slow_rc = root / "slow-rc.sh"
    slow_rc.write_text("sleep 0.1\n")
    servers = {
        "plain": start_sshd(root / "sshd-plain"),
        "rc sleeps 0.1 s": start_sshd(root / "sshd-slow", extra_config=f"SetEnv BASH_ENV={slow_rc}\n"),
    }
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"n={n}, loopback sshd ({ssh_version}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    try:
        for label, server in servers.items():
            await measure(label, server, root, n)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    asyncio.run(main(parser.parse_args().n))
