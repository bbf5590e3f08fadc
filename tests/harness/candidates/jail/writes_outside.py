# Attack: at import, write beside the candidate (the workspace), into the harness's own package and into
# /tmp; the kernel is honest. With Landlock each write is refused; the candidate says which got through.
import os
from pathlib import Path

import torch

import gpu_harness

PROBE = "JAIL_WRITE_PROBE"
for folder in (Path(__file__).resolve().parent, Path(gpu_harness.__file__).resolve().parent, Path("/tmp")):
    target = folder / PROBE
    try:
        target.write_text("written by a candidate\n")
        print(f"wrote {target}")
    except OSError as exc:
        print(f"refused {target}: {exc.strerror}")
scratch = Path(os.environ.get("TMPDIR", "/tmp")) / PROBE
scratch.write_text("scratch is writable\n")
print(f"scratch ok {scratch}")


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
