"""push vs `rsync -az --delete` over ssh, against the same loopback sshd, in one run.

Anchors: rsync with a fresh ssh connection per call (what a plain `rsync -e ssh` pays), and rsync
over a warm OpenSSH ControlMaster (a power user's set-up: `-o ControlMaster=auto -o ControlPersist`),
opened once before the first timed call.
Parts (--parts):
- small: a generated workspace (~2,000 files, ~40 MB: source-like text plus some incompressible
  binaries): first push, no change, one file changed, ten changed + one deleted; both anchors.
- big: one 512 MiB incompressible file: first push, no change, +1 MiB appended, 1 MiB rewritten in
  the middle (issue 21.1: by delta); against the ControlMaster anchor.
- count: 2,000 / 20,000 / 100,000 small source files (~7.5 kB each): first push once, then no change
  and one changed --count-reps times each (issue 21.3: how the per-file cost grows); against the
  ControlMaster anchor.
Each repetition starts from empty remote folders; the order of the tools alternates between
repetitions. After every step each remote tree is checked against the local one (untimed).
Run: python bench/bench_push.py [--reps 5] [--parts small,big,count] [--counts 2000,20000,100000]
     [--count-reps 3]
push keeps what it remembers of each destination (ops/push/tree_cache.py) in the bench's own folder.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_bifrost.config import Limits
from mcp_bifrost.ops.push import push
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.targets.ssh import SshTarget
from tests.support.sshd import SshServer, start_sshd

WORDS = [  # a kernel author's vocabulary, so that text packs like source code does
    "tile",
    "block",
    "warp",
    "thread",
    "load",
    "store",
    "sum",
    "acc",
    "float",
    "half",
    "bf16",
    "mask",
    "offset",
    "stride",
    "ptr",
    "grid",
    "program_id",
    "tl.arange",
    "tl.load",
    "tl.store",
    "num_warps",
    "BLOCK_M",
    "BLOCK_N",
    "BLOCK_K",
    "dot",
    "for",
    "if",
    "return",
    "def",
    "import",
    "torch",
    "triton",
    "kernel",
    "x",
    "y",
    "z",
    "out",
    "in0",
    "in1",
    "shape",
    "dtype",
    "device",
    "cuda",
]
TEXT_FILES, BINARY_FILES = 1900, 100
TEXT_BYTES, BINARY_BYTES = 11_000, 200_000  # averages: ~21 MB of text, ~20 MB of binaries
STEPS = ("first push", "no change", "one changed", "ten changed + one deleted")
BIG_BYTES = 512 << 20
BIG_STEPS = ("big: first push", "big: no change", "big: +1 MiB appended", "big: 1 MiB edited in the middle")
LIMITS = Limits(max_file_bytes=1 << 30, max_push_bytes=4 << 30)  # the 512 MiB file is over the default caps
COUNT_FILE_BYTES = 7500  # average, as in issue 21's 20,000 files / ~150 MB


def generate_workspace(root: Path, seed: int = 1) -> None:
    rng = random.Random(seed)
    for i in range(TEXT_FILES):
        path = root / f"pkg{i % 20}" / f"mod{i % 7}" / f"kernel_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = rng.randint(TEXT_BYTES // 4, TEXT_BYTES * 7 // 4)
        lines, size = [], 0
        while size < n:
            line = "    " * rng.randint(0, 3) + " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
            lines.append(line)
            size += len(line) + 1
        path.write_text("\n".join(lines) + "\n")
    for i in range(BINARY_FILES):
        path = root / "data" / f"tensor_{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(BINARY_BYTES // 2, BINARY_BYTES * 3 // 2)))


def touch_edit(path: Path, tag: str) -> None:
    path.write_text(path.read_text() + f"# edit {tag}\n")


def change_workspace(local: Path, step: str, rep: int) -> None:
    """What the agent did before this step's push."""
    files = sorted(local.rglob("kernel_*.py"))
    if step == "one changed":
        touch_edit(files[rep], "one")
    elif step == "ten changed + one deleted":
        for path in files[100:110]:
            touch_edit(path, "ten")
        files[200].unlink()


def local_digest(root: Path) -> str:
    """sha256 over `sha256sum` lines of every file, sorted by path (as the target computes it)."""
    paths = sorted((p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()), key=str.encode)
    lines = "".join(f"{hashlib.sha256((root / p).read_bytes()).hexdigest()}  {p}\n" for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


async def remote_digest(target: SshTarget, remote_dir: str) -> str:
    """The same digest, computed on the target from its own files."""
    script = (
        f"cd {quote(remote_dir)} && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | "
        "xargs -0 -r sha256sum -- | sha256sum | cut -c1-64"
    )
    done = await run_capture(target, script)
    done.check("remote digest")
    return done.stdout.decode().strip()


def ssh_command(server: SshServer, master: Path | None) -> str:
    """The `-e` of rsync: a fresh connection, or one multiplexed over a warm ControlMaster."""
    if master is None:
        return f"ssh -F {server.ssh_config}"
    return f"ssh -F {server.ssh_config} -o ControlMaster=auto -o ControlPath={master} -o ControlPersist=600"


def open_master(server: SshServer, master: Path) -> None:
    subprocess.run(ssh_command(server, master).split() + [server.alias, "true"], check=True)


def close_master(server: SshServer, master: Path) -> None:
    subprocess.run(
        ssh_command(server, master).split() + ["-O", "exit", server.alias], capture_output=True, check=False
    )


async def rsync(server: SshServer, local: Path, remote_dir: str, master: Path | None = None) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "rsync",
        "-az",
        "--delete",
        "-e",
        ssh_command(server, master),
        f"{local}/",
        f"{server.alias}:{remote_dir}/",
    )
    if await proc.wait() != 0:
        raise RuntimeError("rsync failed")
    return time.perf_counter() - started


async def ours(target: SshTarget, local: Path, remote_dir: str, cache_dir: Path) -> float:
    started = time.perf_counter()
    await push(target, local, remote_dir, limits=LIMITS, cache_dir=cache_dir)
    return time.perf_counter() - started


def generate_big(root: Path, seed: int) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    path = root / "model.bin"
    with open(path, "wb") as f:
        f.writelines(rng.randbytes(1 << 24) for _ in range(BIG_BYTES >> 24))
    return path


def change_big(path: Path, step: str, rep: int) -> None:
    rng = random.Random(1000 + rep)
    if step == "big: +1 MiB appended":
        with open(path, "ab") as f:
            f.write(rng.randbytes(1 << 20))
    elif step == "big: 1 MiB edited in the middle":
        with open(path, "r+b") as f:
            f.seek(BIG_BYTES // 2 + 4321)
            f.write(rng.randbytes(1 << 20))


def generate_many(root: Path, count: int, seed: int = 7) -> None:
    """`count` source-like files, 100 to a folder; lines drawn from one pool (fast at 100,000 files)."""
    rng = random.Random(seed)
    pool = [
        "    " * rng.randint(0, 3) + " ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(5000)
    ]
    for i in range(count):
        folder = root / f"pkg{i // 1000}" / f"mod{i // 100 % 10}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        lines, size, target = [], 0, rng.randint(COUNT_FILE_BYTES // 4, COUNT_FILE_BYTES * 7 // 4)
        start = rng.randrange(len(pool))
        while size < target:
            line = pool[(start + len(lines)) % len(pool)]
            lines.append(line)
            size += len(line) + 1
        (folder / f"kernel_{i}.py").write_text("\n".join(lines) + "\n")


class Runner:
    """The tools under test, each timed into `times[tool, step]` (order alternating by repetition)."""

    def __init__(self, target: SshTarget, server: SshServer, master: Path, cache_dir: Path) -> None:
        self.target, self.server, self.master = target, server, master
        self.cache_dir = cache_dir  # what push remembers of each destination (ops/push/tree_cache.py)
        self.times: dict[tuple[str, str], list[float]] = {}

    async def step(self, step: str, rep: int, local: Path, dirs: dict[str, str]) -> None:
        runs = {
            "push": lambda: ours(self.target, local, dirs["push"], self.cache_dir),
            "rsync": lambda: rsync(self.server, local, dirs["rsync"]),
            "rsync-cm": lambda: rsync(self.server, local, dirs["rsync-cm"], self.master),
        }
        order = [t for t in runs if t in dirs]
        for tool in order if rep % 2 == 0 else order[::-1]:
            self.times.setdefault((tool, step), []).append(await runs[tool]())
        want = await asyncio.to_thread(local_digest, local)
        for tool, remote_dir in dirs.items():
            assert await remote_digest(self.target, remote_dir) == want, (
                f"{tool} left a different tree ({step})"
            )


async def main(reps: int, parts: list[str], counts: list[int], big_reps: int, count_reps: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bifrost-bench-push-"))
    os.chmod(root, 0o755)
    server = start_sshd(root / "sshd")
    (root / "rsync").mkdir()
    workdir = root / "remote"
    target = SshTarget(
        "bench",
        "127.0.0.1",
        port=server.port,
        user=server.user,
        identity_file=str(server.client_key),
        known_hosts=str(server.known_hosts),
        workdir=str(workdir),
    )
    master = root / "cm.sock"
    runner = Runner(target, server, master, root / "push-trees")
    load = [os.getloadavg()]

    def dirs(name: str, tools: tuple[str, ...]) -> dict[str, str]:
        return {
            t: str(workdir / "workspaces" / f"{name}-{t}")
            if t == "push"
            else str(root / "rsync" / f"{name}-{t}")
            for t in tools
        }

    try:
        await run_capture(target, "true")  # warm: the pooled connection and its spare channel
        open_master(server, master)  # warm: the power user's ControlMaster
        if "small" in parts:
            for rep in range(reps):
                local = root / f"ws{rep}"
                generate_workspace(local, seed=rep)
                for step in STEPS:
                    change_workspace(local, step, rep)
                    await runner.step(step, rep, local, dirs(f"small{rep}", ("push", "rsync", "rsync-cm")))
            load.append(os.getloadavg())
        if "big" in parts:
            for rep in range(big_reps):
                local = root / f"big{rep}"
                path = await asyncio.to_thread(generate_big, local, rep)
                for step in BIG_STEPS:
                    change_big(path, step, rep)
                    await runner.step(step, rep, local, dirs(f"big{rep}", ("push", "rsync-cm")))
                shutil.rmtree(local)
                await run_capture(target, f"rm -rf {quote(dirs(f'big{rep}', ('push',))['push'])}")
                shutil.rmtree(dirs(f"big{rep}", ("rsync-cm",))["rsync-cm"])
            load.append(os.getloadavg())
        for count in counts if "count" in parts else []:
            local = root / f"many{count}"
            await asyncio.to_thread(generate_many, local, count)  # the loop keeps pinging the dispatcher
            files = sorted(local.rglob("kernel_*.py"))
            where = dirs(f"many{count}", ("push", "rsync-cm"))
            await runner.step(f"{count} files: first push", 0, local, where)
            for rep in range(count_reps):
                await runner.step(f"{count} files: no change", rep, local, where)
                touch_edit(files[len(files) // 2 + rep], "one")
                await runner.step(f"{count} files: one changed", rep, local, where)
            load.append(os.getloadavg())
    finally:
        close_master(server, master)
        await target.close()
        server.stop()
    report(runner.times, reps, root, load)
    shutil.rmtree(root, ignore_errors=True)  # the big part leaves gigabytes behind otherwise


def report(
    times: dict[tuple[str, str], list[float]], reps: int, root: Path, load: list[tuple[float, ...]]
) -> None:
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=True).stderr.strip()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; loopback sshd ({ssh_version}); "
        f"Python {platform.python_version()}; {os.cpu_count()} cores; load average (1 min) at start and after "
        f"each part: {' '.join(f'{la[0]:.2f}' for la in load)}"
    )
    if (root / "ws0").exists():
        size = sum(p.stat().st_size for p in (root / "ws0").rglob("*") if p.is_file())
        count = sum(1 for p in (root / "ws0").rglob("*") if p.is_file())
        print(f"small workspace: {count} files, {size / 1e6:.1f} MB; {reps} repetitions")
    print(
        f"{'step':40} {'push':>9} {'rsync':>9} {'rsync-cm':>9} {'push/rsync':>10} {'push/cm':>8}   push runs (s)"
    )
    steps = list(dict.fromkeys(step for _, step in times))
    for step in steps:
        med = {
            tool: statistics.median(times[tool, step])
            for tool in ("push", "rsync", "rsync-cm")
            if (tool, step) in times
        }
        cells = [
            f"{med[t] * 1000:7.0f}ms" if t in med else f"{'-':>9}" for t in ("push", "rsync", "rsync-cm")
        ]
        ratios = [f"{med['push'] / med[t]:.2f}" if t in med else "-" for t in ("rsync", "rsync-cm")]
        runs = " ".join(f"{t:.3f}" for t in times["push", step])
        print(f"{step:40} {' '.join(cells)} {ratios[0]:>10} {ratios[1]:>8}   {runs}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--big-reps", type=int, default=2)
    parser.add_argument("--parts", default="small,big,count")
    parser.add_argument("--counts", default="2000,20000")
    parser.add_argument("--count-reps", type=int, default=3, help="no change / one changed, per count")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.reps,
            args.parts.split(","),
            [int(c) for c in args.counts.split(",")],
            args.big_reps,
            args.count_reps,
        )
    )
