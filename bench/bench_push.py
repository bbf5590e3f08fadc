"""push vs `rsync -az --delete` over ssh: first push, no change, one file changed, ten changed + one deleted.

Both against the same loopback sshd, in one run, on a generated workspace (~2,000 files, ~40 MB:
source-like text plus some incompressible binaries; a plain folder, so both send the same set).
Each repetition starts from empty remote folders; the order of the two tools alternates between
repetitions. After every step both remote trees are checked against the local one (untimed).
Goal (issue 3): no change and one changed at least 2x faster than rsync; first push at most 1.5x
rsync's time. Run: python bench/bench_push.py [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.push import push
from mcp_bifrost.targets.ssh import SshTarget
from tests.support.sshd import SshServer, start_sshd

WORDS = [  # a kernel author's vocabulary, so that text packs like source code does
    "tile", "block", "warp", "thread", "load", "store", "sum", "acc", "float", "half", "bf16", "mask",
    "offset", "stride", "ptr", "grid", "program_id", "tl.arange", "tl.load", "tl.store", "num_warps",
    "BLOCK_M", "BLOCK_N", "BLOCK_K", "dot", "for", "if", "return", "def", "import", "torch", "triton",
    "kernel", "x", "y", "z", "out", "in0", "in1", "shape", "dtype", "device", "cuda",
]
TEXT_FILES, BINARY_FILES = 1900, 100
TEXT_BYTES, BINARY_BYTES = 11_000, 200_000  # averages: ~21 MB of text, ~20 MB of binaries
STEPS = ("first push", "no change", "one changed", "ten changed + one deleted")


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
    script = (f"cd {quote(remote_dir)} && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | "
              "xargs -0 -r sha256sum -- | sha256sum | cut -c1-64")
    done = await run_capture(target, script)
    done.check("remote digest")
    return done.stdout.decode().strip()


async def rsync(server: SshServer, local: Path, remote_dir: str) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "rsync", "-az", "--delete", "-e", f"ssh -F {server.ssh_config}",
        f"{local}/", f"{server.alias}:{remote_dir}/",
    )
    if await proc.wait() != 0:
        raise RuntimeError("rsync failed")
    return time.perf_counter() - started


async def ours(target: SshTarget, local: Path, remote_dir: str) -> float:
    started = time.perf_counter()
    await push(target, local, remote_dir)
    return time.perf_counter() - started


async def main(reps: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bifrost-bench-push-"))
    os.chmod(root, 0o755)
    server = start_sshd(root / "sshd")
    (root / "rsync").mkdir()
    workdir = root / "remote"
    target = SshTarget("bench", "127.0.0.1", port=server.port, user=server.user,
                       identity_file=str(server.client_key), known_hosts=str(server.known_hosts),
                       workdir=str(workdir))
    times: dict[tuple[str, str], list[float]] = {(tool, step): [] for tool in ("push", "rsync") for step in STEPS}
    try:
        await run_capture(target, "true")  # warm: the pooled connection and its spare channel
        for rep in range(reps):
            local = root / f"ws{rep}"
            generate_workspace(local, seed=rep)
            ours_dir = str(workdir / "workspaces" / f"bench{rep}")
            rsync_dir = str(root / "rsync" / f"bench{rep}")
            for step in STEPS:
                change_workspace(local, step, rep)
                runs = [("push", ours(target, local, ours_dir)), ("rsync", rsync(server, local, rsync_dir))]
                for tool, run in (runs if rep % 2 == 0 else runs[::-1]):
                    times[tool, step].append(await run)
                want = local_digest(local)
                assert await remote_digest(target, ours_dir) == want, f"push left a different tree ({step})"
                assert await remote_digest(target, rsync_dir) == want, f"rsync left a different tree ({step})"
    finally:
        await target.close()
        server.stop()
    report(times, reps, root)


def report(times: dict[tuple[str, str], list[float]], reps: int, root: Path) -> None:
    size = sum(p.stat().st_size for p in (root / "ws0").rglob("*") if p.is_file())
    count = sum(1 for p in (root / "ws0").rglob("*") if p.is_file())
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=True).stderr.strip()
    print(f"workspace: {count} files, {size / 1e6:.1f} MB; {reps} repetitions; loopback sshd ({ssh_version}); "
          f"Python {platform.python_version()}; {os.cpu_count()} cores")
    print(f"{'step':28} {'push median':>12} {'rsync median':>13} {'push/rsync':>11}   push runs (s)")
    for step in STEPS:
        ours_t, theirs = times["push", step], times["rsync", step]
        ratio = statistics.median(ours_t) / statistics.median(theirs)
        print(f"{step:28} {statistics.median(ours_t) * 1000:9.1f} ms {statistics.median(theirs) * 1000:10.1f} ms "
              f"{ratio:11.2f}   {' '.join(f'{t:.3f}' for t in ours_t)} | rsync {' '.join(f'{t:.3f}' for t in theirs)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    asyncio.run(main(parser.parse_args().reps))
