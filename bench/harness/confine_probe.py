"""What CUDA needs under the candidate's confinement: in a fresh process per variant, torch imported
and asked for a GPU through NVML first (as the worker does), then Landlock/seccomp as `confine`
applies them with a variant of the writable folders and the capabilities dropped (as in the
candidate's process), then the harness's CUDA warm-up, the current stream and torch's device count,
a cuBLAS call, a second stream and a Triton kernel. The child is a file: Triton reads its kernels'
source.

    python3 bench/harness/confine_probe.py        # prints one line per variant, writes $OUT/confine_probe.json
"""

import json
import os
import subprocess
import sys
import tempfile

from common import REPO, save

VARIANTS = {
    "none": None,  # no confinement at all
    "as_shipped": (),  # confine_candidate as it is (ALWAYS_WRITABLE included)
    "without_proc_task": ("-/proc/self/task",),
    "with_all_proc": ("/proc",),
}

CHILD = r"""
import json, os, sys, tempfile
import torch
from gpu_harness import candidate_process, confine
from gpu_harness.warmup import initialise_cuda
variant = json.loads(sys.argv[1])
out = {"variant": variant, "nvml_says_gpu": torch.cuda.is_available()}
if variant is not None:
    drop = [v[1:] for v in variant if v.startswith("-")]
    confine.ALWAYS_WRITABLE = tuple(p for p in confine.ALWAYS_WRITABLE if p not in drop)
    iso = confine.confine_candidate(tempfile.mkdtemp(), writable=[v for v in variant if not v.startswith("-")])
    out["isolation"] = iso.to_json()
    out["capabilities_dropped"] = candidate_process.drop_capabilities()
steps = []
try:
    initialise_cuda(comparisons=False); steps.append("warmup")
    torch.cuda.current_stream(); steps.append("current_stream")
    out["device_count"] = torch.cuda.device_count()
    torch.cuda.init(); steps.append("init")
    x = torch.ones(256, 256, device="cuda"); steps.append("tensor")
    torch.mm(x, x); torch.cuda.synchronize(); steps.append("cublas")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y = x * 2
    s.synchronize(); steps.append("stream")
    import triton, triton.language as tl

    @triton.jit
    def k(p, n: tl.constexpr):
        i = tl.arange(0, n)
        tl.store(p + i, tl.load(p + i) + 1)

    z = torch.zeros(64, device="cuda"); k[(1,)](z, 64); torch.cuda.synchronize()
    assert float(z.sum()) == 64; steps.append("triton")
    out["ok"] = True
except Exception as exc:
    out["ok"] = False; out["error"] = f"{type(exc).__name__}: {exc}"[:400]
out["steps"] = steps
print(json.dumps(out))
"""


def main():
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        TRITON_CACHE_DIR=tempfile.mkdtemp(),
        PYTORCH_NVML_BASED_CUDA_CHECK="1",
    )
    child = os.path.join(tempfile.mkdtemp(), "confine_probe_child.py")
    with open(child, "w") as f:
        f.write(CHILD)
    rows = []
    for name, variant in VARIANTS.items():
        done = subprocess.run(
            [sys.executable, child, json.dumps(variant)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        try:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            row = {"ok": False, "error": f"exit {done.returncode}: {done.stderr[-400:]}"}
        row["name"] = name
        rows.append(row)
        print(f"{name:20} ok={row['ok']} steps={row.get('steps')} {row.get('error', '')}", flush=True)
    save("confine_probe", {"rows": rows})


if __name__ == "__main__":
    main()
