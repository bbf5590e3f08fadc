"""Slurm target: fan-out against one-at-a-time, and srun through SSH against a bare srun on the login node.

Both on the test fixture's real single-node Slurm with two fake GPUs (tests/support/slurm.py), whose
login node is a loopback sshd. In one run:
- fan-out: six candidates (each holds its GPU ~1 s, as a GPU-bound evaluation does) fanned out over
  the two GPUs, one Slurm job each, against the same six one after another on one GPU (a second
  cluster, same fixture, with one fake GPU); rounds alternate the order. Goal (issue 11): fan-out wall
  <= 0.6x sequential. Context: one after another on the two-GPU cluster, where Slurm alternates GPUs
  and so hides the ~1 s it takes to hand a finished job's GPU to the next job.
- per call: `exec("true")` on the Slurm target (warm ssh connection; srun on the login node with the
  target's partition/gres/time) against `srun` with the same options run directly on the login node,
  interleaved. Goal: <= 1.5x.
Run: python bench/bench_slurm.py [--n 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_bifrost.app import Bifrost  # noqa: E402
from mcp_bifrost.config import Config  # noqa: E402
from mcp_bifrost.requests import ExecRequest  # noqa: E402
from tests.support.slurm import slurm_target, start_slurm  # noqa: E402

CANDIDATE = "python3 -c 'import time; time.sleep(1.0); print({score})'"


def config(cluster, workdir: str, kind: str = "slurm", **slurm) -> Config:
    login = cluster.login
    if kind == "ssh":
        return Config.model_validate(
            {
                "default_target": "login",
                "targets": {
                    "login": {
                        "kind": "ssh",
                        "host": f"{login.user}@127.0.0.1:{login.port}",
                        "identity_file": str(login.client_key),
                        "known_hosts": str(login.known_hosts),
                        "workdir": workdir,
                    }
                },
            }
        )
    target = slurm_target(cluster, workdir, **slurm)
    return Config.model_validate({"default_target": "cluster", "targets": {"cluster": target}})


def q(xs: list[float]) -> str:
    deciles = statistics.quantiles(xs, n=10)
    return f"median {statistics.median(xs) * 1000:7.1f} ms  p10 {deciles[0] * 1000:6.1f}  p90 {deciles[-1] * 1000:6.1f}"


async def main(n: int, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bifrost-bench-slurm-"))
    cluster = start_slurm(root / "slurm")
    single = start_slurm(root / "slurm1", gpus=1)
    workdir = str(root / "wd")
    fan = Bifrost(config(cluster, workdir), root)
    one = Bifrost(config(single, str(root / "wd1"), max_parallel=1), root)  # one GPU, one at a time
    alt = Bifrost(config(cluster, workdir, max_parallel=1), root)  # two GPUs, one at a time
    ssh = Bifrost(config(cluster, workdir, kind="ssh"), root)  # the login node as a plain ssh target
    try:
        commands = [CANDIDATE.format(score=s) for s in (3, 1, 6, 0.5, 2, 4)]
        for app in (fan, one, alt):
            await app.exec(ExecRequest(command="true"))
        fan_walls, seq_walls, alt_walls = [], [], []
        for r in range(rounds):
            order = [(fan, fan_walls), (one, seq_walls), (alt, alt_walls)]
            for app, walls in order if r % 2 == 0 else reversed(order):
                t = time.perf_counter()
                result = await app.exec_candidates(commands, timeout_s=120)
                walls.append(time.perf_counter() - t)
                assert result.ranking == [3, 1, 4, 0, 5, 2], result
        exec_times, srun_times, ssh_times, ssh_srun_times = [], [], [], []
        bare = ["srun", f"--partition={cluster.partition}", "--gres=gpu:1", "--time=10", "true"]
        for _ in range(3):
            await fan.exec(ExecRequest(command="true"))
            await ssh.exec(ExecRequest(command="true"))
        for _ in range(n):
            t = time.perf_counter()
            assert (await fan.exec(ExecRequest(command="true"))).exit_code == 0
            exec_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(bare, env=cluster.env, check=True)
            srun_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert (await ssh.exec(ExecRequest(command="true"))).exit_code == 0
            ssh_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert (await ssh.exec(ExecRequest(command=" ".join(bare)))).exit_code == 0
            ssh_srun_times.append(time.perf_counter() - t)
    finally:
        for app in (fan, one, alt, ssh):
            await app.close()
        cluster.stop()
        single.stop()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"{when}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"{subprocess.run(['/usr/sbin/slurmctld', '-V'], capture_output=True, text=True).stdout.strip()}"
    )
    f, s = statistics.median(fan_walls), statistics.median(seq_walls)
    a = statistics.median(alt_walls)
    walls = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(
        f"six ~1 s candidates, {rounds} rounds: fan-out over 2 GPUs median {f:.2f} s ({walls(fan_walls)}); "
        f"one at a time on 1 GPU median {s:.2f} s ({walls(seq_walls)}); one at a time on 2 GPUs "
        f"median {a:.2f} s ({walls(alt_walls)})"
    )
    print(f"ratio fan-out/sequential : {f / s:.3f}  (goal <= 0.6; ideal with 2 GPUs 0.5)")
    print(f"context: fan-out / one at a time on the 2-GPU cluster: {f / a:.3f}")
    print(f"exec('true') via ssh+srun: {q(exec_times)}   (n={n}, interleaved)")
    print(f"bare srun true, login    : {q(srun_times)}")
    print(
        f"ratio exec/srun          : {statistics.median(exec_times) / statistics.median(srun_times):.3f}  (goal <= 1.5)"
    )
    print(f"context: exec('true') on the login node as an ssh target: {q(ssh_times)}")
    print(
        f"context: exec('{' '.join(bare)}') on the ssh target (srun without our wrapper): {q(ssh_srun_times)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
