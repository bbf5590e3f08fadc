"""Where a warm evaluation's time goes: cProfile of `evaluate` inside fresh forked children, as the worker runs it.

The parent imports what the worker imports (CUDA untouched); each child initialises CUDA as a ready child
does, then evaluates the latency problem (vectoradd, 5 tests + 1 benchmark, Triton) under cProfile. The first
child warms Triton's disk cache; the others are the warm case. Writes $OUT/profile_eval_<i>.txt (top
functions by cumulative and by own time, and the report's stage_s).

    OUT=/tmp/out PYTHONPATH=. python bench/harness/profile_eval.py
"""

import cProfile
import io
import json
import os
import pstats
import sys

from common import KERNELS, OUT, REPO

from gpu_harness import worker

PROBLEM = REPO / "bench" / "harness" / "latency_problem"
CANDIDATE = os.environ.get("LATENCY_CANDIDATE", KERNELS / "vectoradd" / "examples" / "submission_triton.py")
CHILDREN = 3


def child(index: int) -> None:
    init = cProfile.Profile()
    init.enable()
    worker._initialise_cuda()  # a ready child does this before its job arrives
    init.disable()
    from gpu_harness.evaluate import evaluate

    profile = cProfile.Profile()
    profile.enable()
    report = evaluate(str(PROBLEM), str(CANDIDATE), "both")
    profile.disable()
    text = io.StringIO()
    doc = report.to_json()
    text.write(
        f"passed {doc['passed']} wall_s {doc['wall_s']:.3f} stage_s {json.dumps(doc.get('stage_s'))}\n\n"
    )
    for key in ("cumulative", "tottime"):
        pstats.Stats(profile, stream=text).sort_stats(key).print_stats(45)
    text.write("\n--- the ready child's CUDA initialisation (before the job) ---\n")
    pstats.Stats(init, stream=text).sort_stats("cumulative").print_stats(20)
    (OUT / f"profile_eval_{index}.txt").write_text(text.getvalue())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    worker.warm_imports(freeze=True)
    for index in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(index)
            except BaseException as exc:  # noqa: BLE001 - a diagnostic: say what broke
                print(f"child {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                code = 1
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
        head = (
            (OUT / f"profile_eval_{index}.txt").read_text().splitlines()[:1]
            if (OUT / f"profile_eval_{index}.txt").exists()
            else ["(no profile)"]
        )
        print(f"child {index}: {head[0]}")


if __name__ == "__main__":
    main()
