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
LARGE = FIXTURES / "vectoradd_large"

ROWS = [
    # (attack, problem, candidate, mode, expected)
    ("judge: harness comparison patched, zeros", VECTORADD, JUDGE / "patch_compare.py", "test", "fail"),
    (
        "judge: problem's own check patched, zeros",
        KERNELS / "prefix_sum",
        JUDGE / "patch_problem_check.py",
        "test",
        "fail",
    ),
    ("judge: Report.to_json patched, zeros", VECTORADD, JUDGE / "patch_report.py", "test", "fail"),
    (
        "judge: sys.modules['gpu_harness.*'] replaced, zeros",
        VECTORADD,
        JUDGE / "sys_modules.py",
        "test",
        "fail",
    ),
    (
        "judge: torch comparison functions replaced, zeros",
        VECTORADD,
        JUDGE / "replace_torch_functions.py",
        "test",
        "fail",
    ),
    ("judge: gc walk for expected outputs (NaN, copy)", VECTORADD, JUDGE / "gc_expected.py", "test", "fail"),
    (
        "judge: forged report on every fd",
        VECTORADD,
        JUDGE / "forge_channel_fd_scan.py",
        "test",
        "flag:report_forged",
    ),
    ("judge: ptrace / /proc mem / fd writes upward", VECTORADD, JUDGE / "ptrace_judge.py", "test", "fail"),
    (
        "judge: perf_counter_ns / events slowed 10x",
        VECTORADD,
        JUDGE / "patch_perf_counter.py",
        "both",
        "flag:timing_disagrees",
    ),
    (
        "judge: timed_call wrapped, times / 10",
        VECTORADD,
        JUDGE / "patch_timed_call.py",
        "both",
        "flag:timing_disagrees",
    ),
    ("judge: correct, hangs only when timed", VECTORADD, JUDGE / "hang_when_timed.py", "both", "not_timed"),
    (
        "output aliases an input",
        SOFTMAX_PLAIN,
        CHEATS / "alias_input.py",
        "test",
        "flag:output_aliases_input",
    ),
    ("reference output reuse (gc scan)", SOFTMAX_PLAIN, CHEATS / "reference_output_reuse.py", "test", "fail"),
    ("input mutation", VECTORADD, CHEATS / "input_mutation.py", "test", "flag:input_mutated"),
    (
        "replay keyed on pointer",
        SOFTMAX_PLAIN,
        CHEATS / "replay_cache_pointer.py",
        "test",
        "flag:result_replay",
    ),
    ("replay keyed on id", SOFTMAX_PLAIN, CHEATS / "replay_cache_id.py", "test", "flag:result_replay"),
    (
        "replay keyed on version",
        SOFTMAX_PLAIN,
        CHEATS / "replay_cache_version.py",
        "test",
        "flag:result_replay",
    ),
    ("work in a thread", SOFTMAX_PLAIN, CHEATS / "thread.py", "test", "fail"),
    ("lazy subclass output", SOFTMAX_PLAIN, CHEATS / "lazy_subclass.py", "test", "flag:lazy_output"),
    ("broadcast output", SOFTMAX_PLAIN, CHEATS / "broadcast_output.py", "test", "flag:odd_output_storage"),
    ("patched timer", SOFTMAX_PLAIN, CHEATS / "patched_timer.py", "both", "fail"),
    ("patched allclose", SOFTMAX_PLAIN, CHEATS / "patched_allclose.py", "test", "flag:patched_allclose"),
    ("patched synchronize", SOFTMAX_PLAIN, CHEATS / "patched_synchronize.py", "both", "fail"),
    ("patched elapsed_time", SOFTMAX_PLAIN, CHEATS / "patched_elapsed_time.py", "both", "fail"),
    ("non-determinism", SOFTMAX_PLAIN, CHEATS / "nondeterministic.py", "test", "flag:nondeterministic"),
    ("partial compute", VECTORADD, CHEATS / "partial_compute.py", "test", "fail"),
    ("partial above a size threshold", VECTORADD, CHEATS / "partial_above_threshold.py", "both", "fail"),
    ("precision downcast", SOFTMAX_PLAIN, CHEATS / "precision_downcast.py", "test", "fail"),
    ("stale allocation", SOFTMAX_PLAIN, CHEATS / "stale_allocation.py", "test", "fail"),
    ("forged report on pipes (old)", SOFTMAX_PLAIN, CHEATS / "forge_result_channel.py", "test", "fail"),
    ("impossible time (replay when timed)", VECTORADD, CHEATS / "impossible_time.py", "both", "fail"),
    ("side stream (GPU)", KERNELS / "matmul", CANDIDATES / "gpu" / "side_stream.py", "both", "fail"),
    (
        "racy side stream (GPU)",
        KERNELS / "matmul",
        CANDIDATES / "gpu" / "side_stream_racy.py",
        "both",
        "fail",
    ),
    (
        "thread launching GPU work (GPU)",
        KERNELS / "matmul",
        CANDIDATES / "gpu" / "thread_gpu.py",
        "both",
        "fail",
    ),
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
