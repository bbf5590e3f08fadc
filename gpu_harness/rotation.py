"""Input rotation for timing: working sets with fixed pointers, refilled in place with new values before
every sample (version counters kept), output buffers poisoned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gpu_harness import memory
from gpu_harness.check import clone_tree, poison, scrub, tensor_leaves
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


class InputRotation:
    """Working sets with fixed pointers, refilled in place before every sample: from value sets
    drawn up front, or (memory floor) from a fresh draw each time. Each working set has two
    copies: the judge's own, which the reference is timed on, and one in shared memory, which the
    candidate's process is timed on. The values a set holds now (`current`) are the judge's and
    are what a verified output is checked against."""

    def __init__(
        self,
        first: Any,
        generate: Callable[[int], Any],
        seed: int,
        plan: memory.SetPlan,
        poisonable: set[int],
        candidate: RemoteCandidate,
    ):
        self.generate, self.seed, self.plan, self.poisonable = generate, seed, plan, poisonable
        self.count = plan.working
        self.private = [first] + [generate(seed + 1 + k) for k in range(plan.working - 1)]
        self.values = [generate(seed + 1000 + k) for k in range(plan.values)]  # values = working + 1: coprime
        self.current: list[Any] = [clone_tree(w) for w in self.private]
        self.shared = [candidate.stage_data(w, poisonable) for w in self.private]

    def refill(self, sample: int) -> int:
        """Working set for `sample`, both copies refilled in place with new values; output buffers poisoned."""
        k = sample % self.count
        source = (
            self.values[sample % len(self.values)]
            if self.values
            else self.generate(self.seed + 2000 + sample)
        )
        refill_in_place(self.private[k], source, self.poisonable)
        refill_in_place(self.shared[k], source, self.poisonable)
        self.current[k] = source
        return k

    def close(self) -> None:
        for tree in self.values:
            scrub(tree)
        self.private.clear()
        self.shared.clear()
        self.values.clear()
        self.current.clear()
