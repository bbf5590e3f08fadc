# Not a cheat: a probe of its compile caches. It prints whether its Triton cache folder is its own
# store (compile_cache.store_of this file) and what the folder already holds (a second evaluation of
# the same file finds the first's marker: warm), leaves a marker, and tries to plant an entry in the
# store of `rival.py` beside it, in the folder of all stores and in the judge's temporary folder (a
# sibling of its own). Computes the right answer.
import os

import torch

from gpu_harness import compile_cache

own = os.environ["TRITON_CACHE_DIR"]
print("own is its store:", own == str(compile_cache.store_of(__file__) / "triton"), flush=True)
print("own held:", ",".join(sorted(os.listdir(own))) or "-", flush=True)
with open(os.path.join(own, "marker"), "w") as f:
    f.write("warm")
rival = compile_cache.store_of(os.path.join(os.path.dirname(__file__), "rival.py")) / "triton"
tmp = os.environ["TMPDIR"]
judge_tmp = next(
    (
        p
        for p in (os.path.join(os.path.dirname(tmp), "judge"), os.path.join(tmp, "judge"))
        if os.path.isdir(p)
    ),
    "no judge folder",
)
for who, folder in {"rival": rival, "stores": rival.parent.parent, "judge tmp": judge_tmp}.items():
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "planted"), "w") as f:
            f.write("slow binary")
        print(f"{who}: written", flush=True)
    except OSError as exc:
        print(f"{who}: {exc.strerror}", flush=True)


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
