"""CPU results said as CPU results: no roofline share on a host clock, no GPU in a CPU fan-out's summary,
and a candidate the target could not run (no GPU) never counted or drawn as a failure."""

from __future__ import annotations

import json
from pathlib import Path

import mcp_bifrost.loop.history as history
from mcp_bifrost.loop.fanout import Outcome
from mcp_bifrost.loop.reports import parse_smoke
from mcp_bifrost.loop.smoke import fanout_report as _fanout_smoke_report
from mcp_bifrost.models import HistoryEntry, SmokeReport

NOT_RUN = json.loads(Path(__file__).with_name("not_run_report.json").read_text())


def timed_doc(device: dict, clock: str) -> dict:
    case = {"name": "b0", "kind": "benchmark", "params": {"size": 1024}, "passed": True}
    summary = {"median_ms": 0.010, "p10_ms": 0.009, "p90_ms": 0.011, "n": 50}
    return {
        "schema": 1,
        "passed": True,
        "problem": "p",
        "candidate": "c",
        "mode": "both",
        "device": device,
        "flags": [],
        "cases": [case],
        "status": "passed",
        "timing": [
            {
                "case": "b0",
                "params": {"size": 1024},
                "clock": clock,
                "reference": summary,
                "candidate": summary,
                "speedup": 1.43,
                "floor_ms": 0.0141,
            }
        ],
        "score": {"speedup": 1.43, "candidate_ms": 0.010, "reference_ms": 0.0143},
    }


def _parsed(doc: dict, candidate: str, *, target: str) -> SmokeReport:
    """The harness's document as the client reads it, for problem `p`."""
    return parse_smoke(doc, target=target, problem="p", candidate=candidate, runner="x")


def test_a_cpu_result_has_no_roofline_fraction_and_a_gpu_result_keeps_it():
    cpu = _parsed(timed_doc({"type": "cpu", "name": "cpu"}, "host"), "c", target="local")
    assert cpu.roofline_fraction is None and cpu.timing[0].roofline_fraction is None
    assert "roofline" not in cpu.summary and "CPU" in cpu.summary and "GPU" not in cpu.summary
    gpu = _parsed(timed_doc({"type": "cuda", "name": "NVIDIA H100"}, "cuda_events"), "c", target="gpu")
    assert gpu.roofline_fraction == 1.41 and "141% of roofline" in gpu.summary


def _outcome(index: int, report) -> Outcome:
    return Outcome(
        index=index,
        candidate=str(index),
        slot=None,
        result=report,
        error=None,
        score=None if report.status != "passed" else -1.0,
        seconds=1.0,
    )


def test_not_run_is_not_counted_as_a_failure_and_a_cpu_fanout_names_no_gpu():
    passed = _parsed(timed_doc({"type": "cpu", "name": "cpu"}, "host"), "ok.py", target="local")
    skipped = _parsed(NOT_RUN, "cupy.py", target="local")
    report = _fanout_smoke_report("local", "p", 1, [_outcome(0, passed), _outcome(1, skipped)], 2.0)
    assert report.failed == [] and len(report.not_run) == 1
    assert "1 pass, 0 fail, 1 not run" in report.summary, report.summary
    assert "GPU" not in report.summary and "CPU" in report.summary


def _entry(i: int, status: str, passed: bool) -> HistoryEntry:
    return HistoryEntry(
        id=i,
        time="t",
        kind="smoke",
        problem="p",
        candidate="c",
        candidate_sha256=None,
        target="local",
        gpu=None,
        passed=passed,
        status=status,
        candidate_us=None,
        speedup=None,
        flags=[],
        summary="",
    )


def test_the_history_plot_draws_not_run_apart_from_failures():
    failed, not_run = history.plot_marks(
        [_entry(1, "passed", True), _entry(2, "not_run", False), _entry(3, "failed", False)]
    )
    assert (failed, not_run) == ([3], [2])
