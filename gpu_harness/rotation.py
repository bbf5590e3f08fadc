"""Input rotation for timing: working sets with fixed pointers, refilled in place before every call with
values from a fresh draw (version counters kept), output buffers poisoned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gpu_harness import memory
from gpu_harness.check import clone_tree, poison, tensor_leaves
from gpu_harness.remote import RemoteCandidate


def set_version(t: torch.Tensor, version: int) -> None:
    setter = torch._C._autograd._unsafe_set_version_counter
    try:
        setter((t,), (version,))
    except TypeError:
        setter(t, version)


def refill_in_place(data: Any, values: Any, poisonable: set[int]) -> None:
    """Copy `values` into `data`'s buffers (same pointers, ids and version counters); poison the
    output buffers."""
    for i, (dst, src) in enumerate(zip(tensor_leaves(data), tensor_leaves(values))):
        version = dst._version
        if i in poisonable:
            poison(dst)
        else:
            dst.copy_(src)
        set_version(dst, version)


# Seeds of the fresh draws: away from the working sets' first draws (seed + 1 + k).
FRESH_SEED_OFFSET = 2000


class InputRotation:
    """Working sets with fixed pointers, refilled in place before every call from a fresh draw. Each
    working set has two copies: the judge's own, which the reference is timed on, and one in shared
    memory, which the candidate's process is timed on. The values a set holds now (`current`) are
    the judge's and are what a verified output is checked against.

    No timed call sees values an earlier call saw: with a few drawn value sets reused, a cache keyed
    on the inputs' contents (a strided sample of a few elements costs nothing) answered every call
    after the first from memory (red team, 2026-12-07: 5.5x reported for torch.matmul itself)."""

    def __init__(
        self,
        first: Any,
        generate: Callable[[int], Any],
        seed: int,
        plan: memory.SetPlan,
        poisonable: set[int],
        candidate: RemoteCandidate,
    ):
        self.generate, self.seed, self.poisonable = generate, seed, poisonable
        self.count = plan.working
        self.private = [first] + [generate(seed + 1 + k) for k in range(plan.working - 1)]
        self.current: list[Any] = [clone_tree(w) for w in self.private]
        self.shared = [candidate.stage_data(w, poisonable) for w in self.private]
        self._drawn: tuple[int, Any] | None = None

    def refill(self, sample: int, slot: int | None = None) -> int:
        """Working set for `sample` (`slot`, or the rotation's turn), both copies refilled in place
        with the values of draw `sample`; output buffers poisoned. The reference's and the
        candidate's calls of one sample share its draw."""
        k = sample % self.count if slot is None else slot
        source = self._draw(sample)
        refill_in_place(self.private[k], source, self.poisonable)
        refill_in_place(self.shared[k], source, self.poisonable)
        self.current[k] = source
        return k

    def _draw(self, sample: int) -> Any:
        if self._drawn is None or self._drawn[0] != sample:
            self._drawn = None  # the last draw goes (unless a set still holds it) before the next is made
            self._drawn = (sample, self.generate(self.seed + FRESH_SEED_OFFSET + sample))
        return self._drawn[1]

    def close(self) -> None:
        self._drawn = None
        self.private.clear()
        self.shared.clear()
        self.current.clear()
