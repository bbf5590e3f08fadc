"""Shared by the harness benchmarks: a client for `python -m gpu_harness serve`, paths, output."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KERNELS = REPO / "kernels"
OUT = Path(os.environ.get("OUT", REPO / ".bench"))


class WorkerClient:
    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gpu_harness", "serve"],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=1,
        )
        self.ready = json.loads(self.proc.stdout.readline())
        self.startup_s = time.perf_counter() - started

    def smoke(self, problem, candidate, mode, **extra):
        request = {"op": "smoke", "problem": str(problem), "candidate": str(candidate), "mode": mode, **extra}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.write('{"op": "shutdown"}\n')
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def save(name, doc):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
