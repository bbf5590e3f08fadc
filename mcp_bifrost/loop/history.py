"""Every smoke test and profile, remembered in SQLite (the user data dir), so that an agent can see
its attempts at a problem, the best so far, and a plot of the progress.

One table, written once per result; the full report is kept as JSON beside the columns a query needs.
Each row names its project (the workspace's twin name), target and GPU, so that two projects with a
problem of the same name, or two machines, never share a "best so far". Rows written before the
project column existed are listed (marked by an empty project) but never count as anyone's best.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs

from mcp_bifrost.models import HistoryEntry, HistoryReport, ProfileReport, SmokeReport

HISTORY_ENV = "BIFROST_HISTORY_DB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    problem TEXT NOT NULL,
    candidate TEXT NOT NULL,
    candidate_sha256 TEXT,
    target TEXT NOT NULL,
    gpu TEXT,
    passed INTEGER NOT NULL,
    status TEXT NOT NULL,
    candidate_us REAL,
    speedup REAL,
    flags TEXT NOT NULL,
    summary TEXT NOT NULL,
    report TEXT NOT NULL,
    project TEXT
);
CREATE INDEX IF NOT EXISTS results_problem ON results (problem, id);
"""
_COLUMNS = (
    "id, time, kind, problem, candidate, candidate_sha256, target, gpu, passed, status,"
    " candidate_us, speedup, flags, summary, project"
)
_FIELDS = [c.strip() for c in _COLUMNS.split(",")]  # each column is named as HistoryEntry's field


def default_path() -> Path:
    env = os.environ.get(HISTORY_ENV)
    return (
        Path(env).expanduser() if env else Path(platformdirs.user_data_dir("mcp-bifrost")) / "history.sqlite3"
    )


class History:
    """project: whose results these are (the twin's name); None reads every project's rows."""

    def __init__(self, path: Path | None = None, project: str | None = None) -> None:
        self.path = path or default_path()
        self.project = project
        self._ready = False

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            with conn:  # commits, or rolls back on error
                yield conn
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        """A connection per use (callers run in worker threads). WAL with synchronous=NORMAL: a record
        costs ~1 ms instead of an fsync per commit (it sits in the smoke test's critical path)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA synchronous=NORMAL")
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            if "project" not in {row[1] for row in conn.execute("PRAGMA table_info(results)")}:
                conn.execute("ALTER TABLE results ADD COLUMN project TEXT")  # a history from before projects
            self._ready = True
        return conn

    def record(self, report: SmokeReport | ProfileReport) -> int:
        """Store one result; returns its id."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        gpu = report.device.get("name")
        row: tuple[Any, ...]
        if isinstance(report, SmokeReport):
            row = (
                report.passed,
                report.status,
                report.candidate_us,
                report.speedup,
                json.dumps([f.name for f in report.flags]),
            )
        else:
            profile = report.candidate_profile
            row = (True, "profiled", profile.total_duration_us if profile else None, None, "[]")
        with self._session() as conn:
            cur = conn.execute(
                "INSERT INTO results (time, kind, problem, candidate, candidate_sha256, target, gpu, passed, status,"
                " candidate_us, speedup, flags, summary, report, project) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    now,
                    report.kind,
                    _key(report.problem),
                    report.candidate,
                    report.candidate_sha256,
                    report.target,
                    gpu,
                    *row,
                    report.summary,
                    report.model_dump_json(),
                    self.project,
                ),
            )
            return int(cur.lastrowid or 0)

    def _mine(self, problem: str) -> tuple[str, tuple[Any, ...]]:
        """WHERE clause for this problem's rows of this project (and the unkeyed rows of old)."""
        if self.project is None:
            return "problem = ?", (_key(problem),)
        return "problem = ? AND (project = ? OR project IS NULL)", (_key(problem), self.project)

    def entries(self, problem: str, limit: int | None = None) -> tuple[list[HistoryEntry], int]:
        """Newest first, and the total count."""
        where, args = self._mine(problem)
        with self._session() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM results WHERE {where}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM results WHERE {where} ORDER BY id DESC"
                + (" LIMIT ?" if limit else ""),
                (*args, limit) if limit else args,
            ).fetchall()
        return [_entry(r) for r in rows], total

    def best(self, problem: str, target: str, gpu: str | None) -> HistoryEntry | None:
        """The best passing smoke test of this project on this target and GPU: never another's."""
        with self._session() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM results WHERE problem = ? AND project IS ? AND target = ? AND gpu IS ?"
                " AND kind = 'smoke' AND passed = 1 AND speedup IS NOT NULL ORDER BY speedup DESC, id ASC LIMIT 1",
                (_key(problem), self.project, target, gpu),
            ).fetchone()
        return _entry(row) if row else None

    def report(self, problem: str, limit: int = 20) -> HistoryReport:
        """The newest entries; `best` on the machine of the newest smoke test of this project."""
        entries, total = self.entries(problem, limit)
        latest = next((e for e in entries if e.kind == "smoke" and e.project == self.project), None)
        best = self.best(problem, latest.target, latest.gpu) if latest is not None else None
        return HistoryReport(
            problem=_key(problem),
            project=self.project,
            entries=entries,
            best=best,
            table=table(entries),
            total=total,
        )

    def plot(self, problem: str) -> bytes:
        """PNG: speedup of each smoke test in order, failures marked, and the best-so-far line."""
        try:
            import matplotlib
        except ImportError:
            from mcp_bifrost.errors import ConfigError

            raise ConfigError(
                "history plots need matplotlib on the machine running mcp-bifrost: "
                "pip install 'mcp-bifrost[plot]' (or call history without plot)"
            ) from None
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        entries, _ = self.entries(problem)
        smoke = [e for e in reversed(entries) if e.kind == "smoke"]
        fig = Figure(figsize=(7, 3.6), dpi=100)
        ax = fig.subplots()
        xs = list(range(1, len(smoke) + 1))
        ok = [(x, e.speedup) for x, e in zip(xs, smoke) if e.passed and e.speedup is not None]
        bad, skipped = plot_marks(smoke)
        line = best_so_far(smoke, self.project)
        if ok:
            ax.scatter([x for x, _ in ok], [y for _, y in ok], label="passed", color="tab:blue", zorder=3)
        if bad:
            ax.scatter(bad, [0] * len(bad), marker="x", color="tab:red", label="failed", zorder=3)
        if skipped:
            ax.scatter(
                skipped,
                [0] * len(skipped),
                marker="o",
                facecolors="none",
                color="tab:orange",
                label="not run here (needs a GPU, or more memory)",
                zorder=3,
            )
        machine = next(
            (
                f"{e.target}" + (f", {e.gpu}" if e.gpu else "")
                for e in reversed(smoke)
                if e.project == self.project
            ),
            None,
        )
        ax.step(
            xs,
            [y if y is not None else float("nan") for y in line],
            where="post",
            color="tab:green",
            label=f"best so far ({machine})" if machine else "best so far",
        )
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("attempt")
        ax.set_ylabel("speedup vs reference (x)")
        ax.set_title(f"{_key(problem)}: {len(smoke)} smoke tests")
        if smoke:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()


def _key(problem: str) -> str:
    return problem.strip().rstrip("/") or problem


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    """A row of _COLUMNS as an entry: SQLite's integer `passed` as a bool, the flags' JSON as a list."""
    entry = dict(zip(_FIELDS, row))
    return HistoryEntry(**{**entry, "passed": bool(entry["passed"]), "flags": json.loads(entry["flags"])})


def table(entries: list[HistoryEntry]) -> str:
    lines = ["#    time (UTC)           kind     result  speedup  time      candidate"]
    for e in entries:
        speed = f"{e.speedup:.2f}x" if e.speedup is not None else "-"
        us = f"{e.candidate_us:.1f}us" if e.candidate_us is not None else "-"
        flags = f"  flags: {','.join(e.flags)}" if e.flags else ""
        lines.append(
            f"{e.id:<4} {e.time[:19]:20} {e.kind:8} {e.status[:7]:7} {speed:>8} {us:>9}  {e.candidate}{flags}"
        )
    return "\n".join(lines)


def best_so_far(smoke: list[HistoryEntry], project: str | None) -> list[float | None]:
    """The best-so-far line, oldest first, on the machine (target and GPU) of this project's newest
    smoke test, as `best` reports it: a speedup from another machine or project is not comparable."""
    newest = next((e for e in reversed(smoke) if e.project == project), None)
    best, line = 0.0, []
    for e in smoke:
        if (
            newest is not None
            and e.passed
            and e.speedup is not None
            and e.project == project
            and (e.target, e.gpu) == (newest.target, newest.gpu)
        ):
            best = max(best, e.speedup)
        line.append(best or None)
    return line


def plot_marks(smoke: list[HistoryEntry]) -> tuple[list[int], list[int]]:
    """Attempt numbers (1-based) drawn as failed, and as not run: a test the target could not run
    (no GPU) says nothing about the candidate, so it is never drawn as a failure."""
    failed = [x for x, e in enumerate(smoke, 1) if not e.passed and e.status != "not_run"]
    not_run = [x for x, e in enumerate(smoke, 1) if e.status == "not_run"]
    return failed, not_run
