"""Issue 24 on the GPU host: does profile_ncu compare whole calls, and agree with run_smoke_test?

    OUT=/tmp/pwc python3 bench/harness/profile_whole_call.py        # ncu on PATH (or GPU_HARNESS_NCU); ~3 min

Problem: tests/harness/fixtures/kernelbench/axpb_2kernels.py (`2*a + b`, 32 Mi float32: torch runs a
multiply, then an add) against its fused Triton candidate. Steps, each a `python -m gpu_harness`
command as the client runs it: smoke --json; profile --baseline reference (whole calls); the same with
--launch-count 1 (the old default: it must say that it cut the reference and give no ratio); each
.ncu-rep's raw page as CSV (`ncu --import R --csv --page raw --print-units base`, the recorded-fixture
format: copy $OUT/ncu/*.csv over tests/loop/ncu/); the CSV reader checked against ncu_report on the same
reports; the client's summary line, where mcp_bifrost imports; the gpu-marked test.
Writes $OUT/profile_whole_call.json (and prints it), $OUT/ncu/*.csv, and everything in
$OUT/profile_whole_call.tgz. Exit status 0 when the profile's ratio is within 10 % of the smoke test's.
"""

import json
import os
import subprocess
import sys
import tarfile
import time

from common import OUT, REPO

PROBLEM = REPO / "tests" / "harness" / "fixtures" / "kernelbench" / "axpb_2kernels.py"
FUSED = REPO / "tests" / "harness" / "fixtures" / "kernelbench" / "axpb_2kernels_triton.py"
AGREEMENT = 0.10
ENV = dict(
    os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1"
)


def harness(name, *args, timeout_s):
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gpu_harness", *args, "--json"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    (OUT / f"{name}.json").write_text(done.stdout)
    (OUT / f"{name}.stderr").write_text(done.stderr)
    print(f"{name}: exit {done.returncode} in {time.perf_counter() - started:.1f} s", flush=True)
    return json.loads(done.stdout)


def raw_csv(ncu, report, dest):
    done = subprocess.run(
        [ncu, "--import", str(report), "--csv", "--page", "raw", "--print-units", "base"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dest.write_text(done.stdout)
    return done.stdout


def side_text(side):
    if not side:
        return None
    return {
        "kernels": [(k["name"][:70], k["duration_us"]) for k in side["kernels"]],
        "kernel_count": side.get("kernel_count"),
        "total_us": side.get("total_us"),
        "cut_by_launch_limit": side.get("cut_by_launch_limit"),
    }


def client_summary(doc):
    """The line an agent reads, from the client's own parser (skipped when its packages are not here)."""
    try:
        from mcp_bifrost.loop.reports import parse_profile
    except ImportError as exc:
        return f"(mcp_bifrost not importable here: {exc})"
    return parse_profile(doc, target="local", problem=PROBLEM.name, candidate=FUSED.name).summary


def main():
    sys.path.insert(0, str(REPO))
    from gpu_harness import ncu_summary
    from gpu_harness.info import ncu_path

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ncu").mkdir(exist_ok=True)
    ncu = ncu_path()
    result = {
        "ncu": ncu,
        "problem": str(PROBLEM.relative_to(REPO)),
        "candidate": str(FUSED.relative_to(REPO)),
    }
    if ncu is None:
        result["error"] = "no ncu on this host (PATH, /opt/nvidia/nsight-compute, GPU_HARNESS_NCU)"
        print(json.dumps(result, indent=2))
        return 2
    smoke = harness("smoke", "smoke", str(PROBLEM), str(FUSED), timeout_s=240)
    whole = harness(
        "profile",
        "profile",
        str(PROBLEM),
        str(FUSED),
        "--baseline",
        "reference",
        "--out",
        str(OUT / "reports"),
        timeout_s=300,
    )
    cut = harness(
        "profile_cut",
        "profile",
        str(PROBLEM),
        str(FUSED),
        "--baseline",
        "reference",
        "--launch-count",
        "1",
        "--sections",
        "SpeedOfLight",
        "--out",
        str(OUT / "reports_cut"),
        timeout_s=300,
    )
    timed = (smoke.get("score") or {}).get("speedup")
    ref, cand = whole.get("baseline") or {}, whole.get("candidate") or {}
    profiled = ref["total_us"] / cand["total_us"] if ref.get("total_us") and cand.get("total_us") else None
    result.update(
        {
            "smoke_passed": smoke.get("passed"),
            "smoke_speedup": timed,
            "smoke_us": {
                "reference": (smoke.get("score") or {}).get("reference_ms"),
                "candidate": (smoke.get("score") or {}).get("candidate_ms"),
            },
            "profile_error": whole.get("error"),
            "reference": side_text(ref),
            "candidate": side_text(cand),
            "profile_speedup": profiled,
            "within_10pct": bool(profiled and timed and abs(profiled / timed - 1) <= AGREEMENT),
            "cut_reference": side_text(cut.get("baseline")),
            "cut_error": cut.get("error"),
            "device": whole.get("device"),
            "ncu_command": whole.get("ncu_command"),
            "client_summary": client_summary(whole) if not whole.get("error") else None,
            "client_summary_cut": client_summary(cut) if not cut.get("error") else None,
        }
    )
    for side, name in (("baseline", "reference_2kernels.csv"), ("candidate", "candidate_1kernel.csv")):
        rep = (whole.get(side) or {}).get("report_path")
        if rep:
            text = raw_csv(ncu, rep, OUT / "ncu" / name)
            from_csv = [k["duration_us"] for k in ncu_summary.summarise_csv(text)]
            from_module = [k["duration_us"] for k in whole[side]["kernels"]]
            result[f"csv_reader_matches_ncu_report_{side}"] = from_csv == from_module
            result[f"csv_durations_{side}"] = from_csv
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "--confcutdir=tests/harness",
            "tests/harness/test_profile_gpu.py",
        ],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (OUT / "pytest.txt").write_text(tests.stdout + tests.stderr)
    result["gpu_test"] = (tests.stdout.strip().splitlines() or ["?"])[-1]
    (OUT / "profile_whole_call.json").write_text(json.dumps(result, indent=2))
    with tarfile.open(OUT / "profile_whole_call.tgz", "w:gz") as tar:
        for path in sorted(OUT.iterdir()):
            if path.name != "profile_whole_call.tgz":
                tar.add(path, arcname=path.name)
    print(json.dumps(result, indent=2))
    return 0 if result["within_10pct"] else 1


if __name__ == "__main__":
    sys.exit(main())
