"""Every cheat candidate and the honest kernels through the harness, with the verdict each got and
the flags it raised: the table issue 18 asks for (attack, verdict, flags), plus the judge's own
clock beside the candidate's claim. Prints the table and writes $OUT/judge_suite.json.

    OUT=/some/dir python3 bench/harness/judge_suite.py [--only NAME ...] [--timeout S]

Runs on the GPU host (on a CPU-only machine it runs too, on the CPU sizes). Each row says what the
verdict must be: `fail` (not passed), `pass` (passed, no flag), `flag:NAME` (that flag raised).
"""

import argparse
import time
from pathlib import Path

from common import KERNELS, REPO, WorkerClient, save

CANDIDATES = REPO / "tests" / "harness" / "candidates"
FIXTURES = REPO / "tests" / "harness" / "fixtures"
CHEATS = CANDIDATES / "cheats"
JUDGE = CHEATS / "judge"
SOFTMAX_PLAIN = FIXTURES / "softmax_plain"
VECTORADD = KERNELS / "vectoradd"
PREFIX_SUM = KERNELS / "prefix_sum"
MATMUL = KERNELS / "matmul"
SLOWED = "flag:timing_disagrees"  # the judge's clock against a candidate that slowed the harness's own
LARGE = FIXTURES / "vectoradd_large"

# (attack, problem, candidate file, mode, expected), by the folder the candidates live in
JUDGE_ROWS = [
    ("judge: harness comparison patched, zeros", VECTORADD, "patch_compare.py", "test", "fail"),
    ("judge: problem's own check patched, zeros", PREFIX_SUM, "patch_problem_check.py", "test", "fail"),
    ("judge: Report.to_json patched, zeros", VECTORADD, "patch_report.py", "test", "fail"),
    ("judge: sys.modules['gpu_harness.*'] replaced, zeros", VECTORADD, "sys_modules.py", "test", "fail"),
    (
        "judge: torch comparison functions replaced, zeros",
        VECTORADD,
        "replace_torch_functions.py",
        "test",
        "fail",
    ),
    ("judge: gc walk for expected outputs (NaN, copy)", VECTORADD, "gc_expected.py", "test", "fail"),
    ("judge: forged report on every fd", VECTORADD, "forge_channel_fd_scan.py", "test", "flag:report_forged"),
    ("judge: ptrace / /proc mem / fd writes upward", VECTORADD, "ptrace_judge.py", "test", "fail"),
    ("judge: perf_counter_ns / events slowed 10x", VECTORADD, "patch_perf_counter.py", "both", SLOWED),
    ("judge: timed_call wrapped, times / 10", VECTORADD, "patch_timed_call.py", "both", SLOWED),
    ("judge: timed_call wrapped, times / 4", VECTORADD, "patch_timed_call_by_four.py", "both", SLOWED),
    ("judge: batches memoised, times / 4", VECTORADD, "memoize_batches.py", "both", SLOWED),
    ("judge: correct, hangs only when timed", VECTORADD, "hang_when_timed.py", "both", "not_timed"),
]
CHEAT_ROWS = [
    ("output aliases an input", SOFTMAX_PLAIN, "alias_input.py", "test", "flag:output_aliases_input"),
    ("reference output reuse (gc scan)", SOFTMAX_PLAIN, "reference_output_reuse.py", "test", "fail"),
    ("input mutation", VECTORADD, "input_mutation.py", "test", "flag:input_mutated"),
    *[
        (f"replay keyed on {key}", SOFTMAX_PLAIN, f"replay_cache_{key}.py", "test", "flag:result_replay")
        for key in ("pointer", "id", "version")
    ],
    ("work in a thread", SOFTMAX_PLAIN, "thread.py", "test", "fail"),
    ("lazy subclass output", SOFTMAX_PLAIN, "lazy_subclass.py", "test", "flag:lazy_output"),
    ("broadcast output", SOFTMAX_PLAIN, "broadcast_output.py", "test", "flag:odd_output_storage"),
    ("patched timer", SOFTMAX_PLAIN, "patched_timer.py", "both", "fail"),
    ("patched allclose", SOFTMAX_PLAIN, "patched_allclose.py", "test", "flag:patched_allclose"),
    ("patched synchronize", SOFTMAX_PLAIN, "patched_synchronize.py", "both", "fail"),
    ("patched elapsed_time", SOFTMAX_PLAIN, "patched_elapsed_time.py", "both", "fail"),
    ("non-determinism", SOFTMAX_PLAIN, "nondeterministic.py", "test", "flag:nondeterministic"),
    ("partial compute", VECTORADD, "partial_compute.py", "test", "fail"),
    ("partial above a size threshold", VECTORADD, "partial_above_threshold.py", "both", "fail"),
    ("precision downcast", SOFTMAX_PLAIN, "precision_downcast.py", "test", "fail"),
    ("stale allocation", SOFTMAX_PLAIN, "stale_allocation.py", "test", "fail"),
    ("forged report on pipes (old)", SOFTMAX_PLAIN, "forge_result_channel.py", "test", "fail"),
    ("impossible time (replay when timed)", VECTORADD, "impossible_time.py", "both", "fail"),
    ("answer cache keyed on the inputs' contents", MATMUL, "content_cache.py", "both", "speedup<1.5"),
]
GPU_ROWS = [
    ("side stream (GPU)", MATMUL, "side_stream.py", "both", "fail"),
    ("racy side stream (GPU)", MATMUL, "side_stream_racy.py", "both", "fail"),
    ("thread launching GPU work (GPU)", MATMUL, "thread_gpu.py", "both", "fail"),
    # open as far as known (2026-12-07): the claim / 4 and the batches' calls spread over four streams
    ("claim / 4, batch calls on four streams (GPU)", VECTORADD, "concurrent_batches.py", "both", SLOWED),
]
ROWS = [
    (attack, problem, folder / name, mode, expected)
    for folder, rows in ((JUDGE, JUDGE_ROWS), (CHEATS, CHEAT_ROWS), (CANDIDATES / "gpu", GPU_ROWS))
    for attack, problem, name, mode, expected in rows
]
HONEST = [
    (f"honest: {p} {c}", KERNELS / p, KERNELS / p / "examples" / c, "both", "pass")
    for p in ("vectoradd", "softmax", "matmul", "rmsnorm", "prefix_sum")
    for c in ("submission_torch.py", "submission_triton.py", "submission_reference.py")
]


def verdict_ok(answer, expected):
    flags = {f["name"] for f in answer.get("flags", [])}
    if expected == "pass":
        return answer.get("passed") is True and not flags
    if expected == "fail":
        return answer.get("passed") is False and answer.get("status") == "failed"
    if expected == "not_timed":
        error = answer.get("error") or {}
        return answer.get("status") == "error" and str(error.get("message", "")).startswith(
            "correct, not timed"
        )
    if expected.startswith("speedup<"):  # whatever the verdict, no timed case gains more than this
        limit = float(expected.split("<", 1)[1])
        timing = answer.get("timing") or []
        return bool(timing) and all((t.get("speedup") or 0) < limit for t in timing)
    return answer.get("passed") is False and expected.split(":", 1)[1] in flags


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None, help="rows whose attack contains one of these")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    rows = [r for r in ROWS + HONEST if r[2].exists()]
    if args.only:
        rows = [r for r in rows if any(o in r[0] for o in args.only)]
    worker = WorkerClient()
    results = []
    for attack, problem, candidate, mode, expected in rows:
        started = time.perf_counter()
        extra = (
            {"timeout_s": 20, "deadline_s": 15, "compile_allowance_s": 0}
            if expected == "not_timed"
            else {"timeout_s": args.timeout}
        )
        answer = worker.smoke(problem, candidate, mode, **extra)
        timing = answer.get("timing") or []
        judged = [
            {
                "case": t["case"],
                "speedup": t.get("speedup"),
                "claimed_ms": (t["candidate"] or {}).get("claimed_median_ms")
                or (t["candidate"] or {}).get("median_ms"),
                "judge_ms": (t["candidate"] or {}).get("judge_ms"),
                "single_ms": (t["candidate"] or {}).get("judge_single_ms"),
                "ref_ms": (t["reference"] or {}).get("median_ms"),
                "ref_judge_ms": (t["reference"] or {}).get("judge_ms"),
            }
            for t in timing
        ]
        error = answer.get("error") or {}
        results.append(
            {
                "attack": attack,
                "problem": Path(problem).name,
                "candidate": Path(candidate).name,
                "mode": mode,
                "expected": expected,
                "ok": verdict_ok(answer, expected),
                "status": answer.get("status"),
                "flags": [f["name"] for f in answer.get("flags", [])],
                "error": f"{error.get('kind')}: {str(error.get('message'))[:160]}" if error else "",
                "timing": judged,
                "wall_s": round(time.perf_counter() - started, 2),
                "isolation": answer.get("isolation"),
            }
        )
        r = results[-1]
        print(
            f"{'ok ' if r['ok'] else 'BAD'} {attack:55} {r['status']:8} {','.join(r['flags']) or '-':40} "
            f"{r['wall_s']:6.1f} s {r['error'][:80]}",
            flush=True,
        )
    worker.close()
    bad = [r["attack"] for r in results if not r["ok"]]
    save("judge_suite", {"rows": results, "bad": bad, "startup_s": worker.startup_s})
    print(f"{len(results) - len(bad)} of {len(results)} rows as expected" + (f"; not: {bad}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
