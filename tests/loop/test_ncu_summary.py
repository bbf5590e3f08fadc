"""The per-kernel summary of an .ncu-rep, on a stand-in for ncu_report's IAction (the real module needs
Nsight Compute; bench/bench_loop.py runs it on the H100). Metric names are those the H100 report held.
Then the whole call (issue 24): ncu's raw page as CSV (tests/loop/ncu/), every kernel of the NVTX range,
and a launch limit that says when it cut the call."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_harness import ncu_summary
from gpu_harness.profile import ncu_command, whole_call

NCU = Path(__file__).resolve().parent / "ncu"


def kernels(name: str) -> list[dict]:
    return ncu_summary.summarise_csv((NCU / name).read_text())


class Metric:
    def __init__(self, value, unit=""):
        self._value, self._unit = value, unit

    def value(self):
        return self._value

    def unit(self):
        return self._unit


class Rule:
    def __init__(self, title, speedup, message):
        self._title, self._speedup, self._message = title, speedup, message

    def name(self):
        return self._title

    def has_speedup_estimation(self):
        return self._speedup is not None

    def speedup_estimation(self):
        return {"type": 0, "speedup": self._speedup}

    def has_rule_message(self):
        return True

    def rule_message(self):
        return {"title": self._title, "message": self._message, "type": 1}


class Action:
    NameBase_DEMANGLED = 1

    def __init__(self, metrics, rules=()):
        self._metrics, self._rules = metrics, list(rules)

    def name(self, base=None):
        return "add_kernel"

    def metric_by_name(self, name):
        return self._metrics.get(name)

    def metric_names(self):
        return tuple(self._metrics)

    def rule_results(self):
        return tuple(self._rules)


class Module:
    IAction = Action


H100_VECTORADD = {
    "gpu__time_duration.sum": Metric(127040.0, "nsecond"),
    "sm__throughput.avg.pct_of_peak_sustained_elapsed": Metric(8.0, "%"),
    "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed": Metric(90.5, "%"),
    "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed": Metric(89.8, "%"),
    "dram__bytes.sum.per_second": Metric(3.008e12, "byte/s"),
    "launch__grid_dim_x": Metric(65536),
    "launch__grid_dim_y": Metric(1),
    "launch__grid_dim_z": Metric(1),
    "launch__block_dim_x": Metric(128),
    "launch__block_dim_y": Metric(1),
    "launch__block_dim_z": Metric(1),
    "launch__registers_per_thread": Metric(20),
    "launch__occupancy_limit_warps": Metric(16),
    "launch__occupancy_limit_registers": Metric(24),
    "smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio": Metric(229.2),
    "smsp__average_warps_issue_stalled_drain_per_issue_active.ratio": Metric(7.9),
    "smsp__average_warps_issue_stalled_wait_per_issue_active.ratio": Metric(2.0),
    "smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio": Metric(0.0),
    "smsp__average_warps_issue_stalled_math_per_issue_active.ratio": Metric(0.5),
}


def test_a_memory_bound_kernel_is_summarised_from_the_report_numbers():
    rules = [
        Rule("Achieved Occupancy", 4.0, "small"),
        Rule("Long Scoreboard Stalls", 9.1, "big"),
        Rule("No estimate", None, "skipped"),
        Rule("Issue Slot Utilization", 6.5, "middle"),
    ]
    k = ncu_summary.kernel(Action(H100_VECTORADD, rules), Module)
    assert k["bound"] == "memory" and k["duration_us"] == 127.04
    assert k["grid"] == "(65536, 1, 1)" and k["block"] == "(128, 1, 1)" and k["registers_per_thread"] == 20
    assert abs(k["dram_bytes"] - 3.008e12 * 127.04e-6) < 1e3  # rate x duration: ~382 MB for 3 x 8192^2 fp16
    assert k["occupancy_limiter"] == "warps per SM"
    assert [s.split(" ")[0] for s in k["top_stalls"]] == ["long_scoreboard", "drain", "wait"]
    assert [a.split(",")[0] for a in k["advice"]] == [
        "[Long Scoreboard Stalls",
        "[Issue Slot Utilization",
        "[Achieved Occupancy",
    ]
    assert k["tensor_pipe_pct"] is None and k["l2_hit_pct"] is None  # absent metrics are null, never invented


def test_the_bound_follows_speed_of_light():
    assert ncu_summary.classify(8, 90) == "memory"
    assert ncu_summary.classify(75, 30) == "compute"
    assert ncu_summary.classify(20, 35) == "latency"
    assert ncu_summary.classify(None, 35) == "unknown"


def test_the_raw_page_gives_every_kernel_of_the_call_with_its_duration():
    ref, cand = kernels("reference_2kernels.csv"), kernels("candidate_1kernel.csv")
    assert len(ref) == 2 and len(cand) == 1
    assert all(k["duration_us"] and k["duration_us"] > 10 for k in ref + cand)  # '85,120' nsecond -> 85.12 us
    assert ref[0]["name"] != ref[1]["name"]
    assert all(k["bound"] == "memory" for k in ref + cand)
    assert all(k["top_stalls"] and k["top_stalls"][0].startswith("long_scoreboard") for k in ref + cand)


def test_csv_numbers_keep_their_thousands_and_refuse_text():
    assert ncu_summary.csv_number("3,153,712,121,212.12") == pytest.approx(3153712121212.12)
    assert ncu_summary.csv_number("85,120") == 85120.0
    assert ncu_summary.csv_number("n/a") == "n/a"


def test_ncu_is_not_capped_unless_asked_and_a_limit_asks_for_one_more_to_see_a_cut():
    cmd = ncu_command("ncu", "/tmp/r", ["SpeedOfLight"], None, None, ["python", "x"])
    assert "--launch-count" not in cmd and cmd[cmd.index("--nvtx-include") + 1] == "bifrost/"
    cmd = ncu_command("ncu", "/tmp/r", ["SpeedOfLight"], None, 1, ["python", "x"])
    assert cmd[cmd.index("--launch-count") + 1] == "2"


def test_a_side_is_the_whole_call_with_its_total_and_a_limit_says_when_it_cut():
    ref = kernels("reference_2kernels.csv")
    whole = whole_call(ref, None)
    assert whole["kernel_count"] == 2 and not whole["cut_by_launch_limit"]
    assert whole["total_us"] == pytest.approx(ref[0]["duration_us"] + ref[1]["duration_us"])
    cut = whole_call(ref, 1)
    assert cut["kernel_count"] == 1 and cut["cut_by_launch_limit"] and cut["launch_limit"] == 1
    assert not whole_call(ref[:1], 1)["cut_by_launch_limit"]  # exactly the limit, nothing after it: no cut


def test_without_ncu_report_the_report_is_read_through_ncu_import_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(
        ncu_summary,
        "load_ncu_report",
        lambda ncu: (_ for _ in ()).throw(ncu_summary.NcuReportMissing("no ncu_report here")),
    )
    fake = tmp_path / "ncu"  # prints what `ncu --import REP --csv --page raw --print-units base` prints
    fake.write_text(
        f'#!/bin/sh\n[ "$1 $3 $4 $5 $6 $7" = "--import --csv --page raw --print-units base" ] '
        f'|| exit 3\necho "==PROF== a line before the header"\ncat {NCU / "reference_2kernels.csv"}\n'
    )
    fake.chmod(0o755)
    got = ncu_summary.summarise(str(tmp_path / "reference.ncu-rep"), str(fake))
    assert [k["duration_us"] for k in got] == [k["duration_us"] for k in kernels("reference_2kernels.csv")]
    assert len(got) == 2
