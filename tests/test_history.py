"""History is per project, target and GPU: "best so far" never names another project's file or
another machine's run, and a history written before projects existed still opens."""

from __future__ import annotations

import sqlite3

from mcp_bifrost.loop.history import History, best_so_far
from mcp_bifrost.models import SmokeReport

H100, A100 = "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"


def smoke(
    speedup: float, *, candidate: str = "fused.py", target: str = "gpu", gpu: str = H100
) -> SmokeReport:
    return SmokeReport(
        summary=f"PASS · {speedup:.2f}x",
        status="passed",
        passed=True,
        problem="matmul",
        candidate=candidate,
        candidate_sha256="abc",
        target=target,
        mode="both",
        cases_passed=1,
        cases_total=1,
        speedup=speedup,
        runner="warm",
        device={"name": gpu},
    )


def test_best_so_far_never_crosses_projects_targets_or_gpus(tmp_path):
    db = tmp_path / "h.sqlite3"
    theirs, mine = History(db, project="proj-aaaa1111"), History(db, project="proj-bbbb2222")
    theirs.record(smoke(9.0, candidate="their_kernel.py"))  # another project, same problem name
    mine.record(smoke(5.0, candidate="on_the_a100.py", gpu=A100))  # another GPU
    mine.record(smoke(4.0, candidate="on_the_cluster.py", target="cluster"))  # another target
    mine.record(smoke(1.5, candidate="mine.py"))
    mine.record(smoke(1.2, candidate="mine_v2.py"))
    report = mine.report("matmul")
    assert report.best is not None and report.best.candidate == "mine.py"
    assert report.project == "proj-bbbb2222"
    assert "their_kernel.py" not in report.table and report.total == 4
    assert theirs.report("matmul").best.candidate == "their_kernel.py"


def test_the_plotted_best_so_far_line_is_the_reported_best_never_another_machines(tmp_path):
    """The plot's line drew a 5x from an A100 and a 4x from another target above this H100's 1.5x."""
    db = tmp_path / "h.sqlite3"
    theirs, mine = History(db, project="proj-aaaa1111"), History(db, project="proj-bbbb2222")
    theirs.record(smoke(9.0, candidate="their_kernel.py"))
    mine.record(smoke(5.0, candidate="on_the_a100.py", gpu=A100))
    mine.record(smoke(1.5, candidate="mine.py"))
    mine.record(smoke(4.0, candidate="on_the_cluster.py", target="cluster"))
    mine.record(smoke(1.2, candidate="mine_v2.py"))
    entries, _ = mine.entries("matmul")
    smoke_rows = [e for e in reversed(entries) if e.kind == "smoke"]
    assert best_so_far(smoke_rows, mine.project) == [None, 1.5, 1.5, 1.5]
    assert max(v for v in best_so_far(smoke_rows, mine.project) if v) == mine.report("matmul").best.speedup
    assert mine.plot("matmul").startswith(b"\x89PNG")


def test_a_history_from_before_projects_opens_and_its_rows_are_listed_but_never_best(tmp_path):
    db = tmp_path / "h.sqlite3"
    with sqlite3.connect(db) as conn:  # the table as it was, with one old row
        conn.execute(
            "CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT "
            "NULL, problem TEXT NOT NULL, candidate TEXT NOT NULL, candidate_sha256 TEXT, target TEXT NOT "
            "NULL, gpu TEXT, passed INTEGER NOT NULL, status TEXT NOT NULL, candidate_us REAL, speedup REAL, "
            "flags TEXT NOT NULL, summary TEXT NOT NULL, report TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO results (time, kind, problem, candidate, target, gpu, passed, status, speedup, flags,"
            " summary, report) VALUES ('t', 'smoke', 'matmul', 'old.py', 'gpu', ?, 1, 'passed', 50.0, '[]',"
            " 'PASS', '{}')",
            (H100,),
        )
    h = History(db, project="proj-bbbb2222")
    h.record(smoke(1.5, candidate="mine.py"))
    report = h.report("matmul")
    assert [e.candidate for e in report.entries] == ["mine.py", "old.py"]
    assert report.entries[1].project is None and report.best.candidate == "mine.py"
