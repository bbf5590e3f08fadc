"""Every process the client starts is reaped before its event loop closes.

A GPU lock command reaped aside (after the call) made a quick CLI call end with asyncio's
"Loop ... that handles pid ... is closed" and an `Event loop is closed` traceback on stderr (seen in CI
after a smoke test whose harness could not start); a stopped harness worker was never waited for either.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import asyncio, os, signal, sys, threading, time
    from pathlib import Path
    from mcp_bifrost.app import Bifrost
    from mcp_bifrost.config import load_config
    from mcp_bifrost.errors import HarnessProtocolError
    from mcp_bifrost.loop.gpu_lock import gpu_lock
    from mcp_bifrost.loop.harness import Worker, run_oneshot
    from mcp_bifrost.targets.local import LocalTarget

    started = []
    original_start = LocalTarget.start

    async def recording_start(self, *args, **kwargs):
        proc = await original_start(self, *args, **kwargs)
        started.append(proc)
        return proc

    LocalTarget.start = recording_start  # to find the lock command's process group; it runs as it is

    async def main(tmp):
        app = Bifrost(load_config(Path(tmp) / "config.toml"), Path(tmp))
        target = app.target("local")
        try:
            await Worker.start(target, "sleep 0.3; echo 'not ready'; sleep 0.2; exit 1", 10)
        except HarnessProtocolError:
            pass
        try:
            await run_oneshot(target, "sleep 30", 0.3)
        except HarnessProtocolError:
            pass
        async with gpu_lock(target, 0, "test", timeout_s=10, lock_base=tmp + "/locks", shared_dir=tmp + "/shared"):
            # a slow host, made certain: the lock command ends 0.5 s after the call has returned
            pgid = started[-1].pgid
            os.killpg(pgid, signal.SIGSTOP)
            threading.Timer(0.5, os.killpg, (pgid, signal.SIGCONT)).start()
        await app.close()

    asyncio.run(main(sys.argv[1]))
    time.sleep(1)  # a child left unreaped ends now, after the loop: asyncio complains here
""")


def test_every_started_process_is_reaped_before_the_loop_closes(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'[targets.local]\nkind = "local"\nworkdir = "{tmp_path / "wd"}"\n')
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert "is closed" not in done.stderr and "Traceback" not in done.stderr, done.stderr
