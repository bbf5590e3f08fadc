"""Does a profile's ratio agree with the last smoke test of the same file? Say so, never guess.

The two measure different things: the profile sums the kernel times of one call, each kernel replayed
alone under ncu; the smoke test times whole calls (launch gaps and host work included) on many
samples. They should still point the same way. When they do not, an agent must not be handed the
profile's number as if it were the verdict: the summary names both and what each measured.
"""

from __future__ import annotations

import math
from typing import Protocol

from mcp_bifrost.models import HistoryEntry, ProfileReport

NOISE = 0.25  # ratios further apart than this factor (1.25x either way) disagree
EVEN_MARGIN = 0.05  # a ratio within 5 % of 1.0 sits on neither side of it
SMOKE_LOOKBACK = 200


class History(Protocol):
    """What this check reads of the client's history (mcp_bifrost.loop.history.History)."""

    def entries(self, problem: str, limit: int | None = None) -> tuple[list[HistoryEntry], int]: ...


def verdict(profile: float, smoke: float) -> bool:
    """True when the two ratios agree within noise and sit on the same side of 1.0."""
    if abs(math.log(profile / smoke)) > math.log(1 + NOISE):
        return False

    def side(x: float) -> int:
        return 0 if abs(math.log(x)) <= math.log(1 + EVEN_MARGIN) else (1 if x > 1 else -1)

    return side(profile) * side(smoke) >= 0


def last_smoke(history: History, report: ProfileReport) -> HistoryEntry | None:
    """The newest passed, timed smoke test of this very file (same path, same sha256) on the same target."""
    entries, _ = history.entries(report.problem, SMOKE_LOOKBACK)
    for e in entries:
        if e.kind != "smoke" or e.candidate != report.candidate or e.target != report.target:
            continue
        if report.candidate_sha256 and e.candidate_sha256 and e.candidate_sha256 != report.candidate_sha256:
            return None  # the file changed since its last smoke test: nothing to compare with
        if e.passed and e.speedup is not None:
            return e
    return None


def against_smoke(report: ProfileReport, history: History) -> None:
    """Fill smoke_speedup and consistency, and append a disagreement to the summary (reference baseline only)."""
    base = report.baseline_profile
    if report.speedup is None or base is None or base.label != "reference":
        return
    smoke = last_smoke(history, report)
    if smoke is None or not smoke.speedup:
        return
    report.smoke_speedup = smoke.speedup
    p, s = report.speedup, smoke.speedup
    if verdict(p, s):
        report.consistency = f"agrees with smoke test #{smoke.id} ({s:.2f}x vs reference)"
        report.summary += " · " + report.consistency
        return
    case = f" of case {report.case}" if report.case else ""
    report.consistency = (
        f"DISAGREES with smoke test #{smoke.id}: the profile says {p:.2f}x, the smoke test said {s:.2f}x vs "
        f"reference. The smoke test timed whole calls of its benchmark cases; the profile sums the kernels of "
        f"one call{case}, each replayed alone under ncu (launch gaps and host work are not in it). The smoke "
        "test's number is the verdict; read the profile for where time goes inside the kernels, not for the ratio."
    )
    report.summary += " · " + report.consistency
