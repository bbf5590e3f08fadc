"""One deadline per evaluation: every stage asks it how much time is left, nothing is killed silently.

The client calls the worker with a budget (45 s per call); the evaluation must answer inside it,
with a partial report if it has to stop. The worker's hard kill (timeout_s) stays above the
deadline as the backstop for a call that never returns.
"""

from __future__ import annotations

import time

DEFAULT_DEADLINE_S = 40.0  # the client's 45 s call budget, less start-up and transfer
KILL_GRACE_S = 5.0  # hard kill this long after the deadline: one call that never returns
DEFAULT_TIMEOUT_S = DEFAULT_DEADLINE_S + KILL_GRACE_S  # the worker's hard kill when none is given
REPORT_RESERVE_S = 0.5  # kept back for the report itself
# Compiling (the candidate's import: load_inline's nvcc; its first call: Triton JIT, torch.compile)
# does not count against the deadline (nor the hard kill), up to this much in all: a first CUDA
# compile takes 30-90 s. A request's `compile_allowance_s` changes it (0: compiling counts too).
COMPILE_ALLOWANCE_S = 120.0
COMPILE_FREE_S = 1.0  # an import or first call shorter than this is not called compiling


class Deadline:
    """Monotonic deadline; `share(n)` splits what is left among n remaining pieces of work."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = float(seconds)
        self._clock = clock
        self.start = clock()
        self.end = self.start + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self._clock() - REPORT_RESERVE_S)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def elapsed(self) -> float:
        return self._clock() - self.start

    def share(self, pieces: int) -> float:
        return self.remaining() / max(pieces, 1)

    def extend(self, seconds: float) -> None:
        self.seconds += seconds
        self.end += seconds


def resolve(deadline_s: float | None, timeout_s: float | None) -> tuple[float, float]:
    """(deadline, hard-kill timeout) from what a request gave: either, both or neither."""
    if deadline_s is None:
        deadline_s = (
            DEFAULT_DEADLINE_S
            if timeout_s is None
            else max(float(timeout_s) - KILL_GRACE_S, 0.75 * float(timeout_s))
        )
    if timeout_s is None:
        timeout_s = float(deadline_s) + KILL_GRACE_S
    return float(deadline_s), max(float(timeout_s), float(deadline_s))
