"""Which inputs are output buffers (destination-passing style, GPU MODE's convention).

GPU MODE's `generate_input` often returns the inputs plus an empty output tensor (`c =
torch.empty(m, n)`); the reference ignores it and returns a new tensor, and a correct submission
writes into it and returns it. The rule: an input the reference does not READ (its output is the
same whether that tensor holds NaN or garbage) is an output buffer. The candidate may write into it
and return it; the harness poisons it before every candidate call, so that returning it unwritten
or half-written fails. An input the reference reads may not be written or returned, unless the
reference itself writes it in place (an in-place problem states that contract by example).
A format that declares its outputs (task.yml `output_buffers`, KernelBench: none) wins over this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gpu_harness.check import clone_tree, compare, poison, same_bits, scrub, shares_memory, tensor_leaves

GARBAGE_SEED = 0x5EED


@dataclass
class BufferPlan:
    """Input leaves (by position in the input tree) the candidate may write.

    `poisonable`: output buffers (not read by the reference), poisoned before every candidate call.
    `writable`: those plus inputs the reference itself writes in place.
    """

    writable: set[int] = field(default_factory=set)
    poisonable: set[int] = field(default_factory=set)
    how: str = "inferred"  # "inferred" from the reference, or "declared" by the format


def declared(indices: list[int] | set[int]) -> BufferPlan:
    outputs = {int(i) for i in indices}
    return BufferPlan(writable=set(outputs), poisonable=set(outputs), how="declared")


def learn_buffers(
    data: Any, reference: Callable[[Any], Any], rtol: float | None = None, atol: float | None = None
) -> BufferPlan:
    """Run the reference on copies of `data` (a throwaway draw) to learn which inputs it does not read.

    A floating-point leaf is an output buffer when the reference's output is unchanged (within
    tolerance, NaN equal to NaN) with that leaf poisoned with NaN and with it filled with garbage; an
    integer leaf (maybe indices), when it is unchanged with the leaf zeroed and with its values
    rolled by one place. Inputs the reference writes in place (bitwise changed after the call) are
    writable as well.
    """
    pristine = tensor_leaves(data)
    first = clone_tree(data)
    baseline = reference(first)
    baseline_leaves = tensor_leaves(baseline)
    plan = BufferPlan()
    for i, (before, after) in enumerate(zip(pristine, tensor_leaves(first))):
        if not same_bits(before, after):
            plan.writable.add(i)
    for i, leaf in enumerate(pristine):
        if leaf.numel() == 0 or not baseline_leaves:
            continue
        fills = (
            (poison, _garbage) if leaf.dtype.is_floating_point or leaf.dtype.is_complex else (_zeros, _rolled)
        )
        if all(_unchanged_without(data, i, fill, reference, baseline, rtol, atol) for fill in fills):
            plan.poisonable.add(i)
            plan.writable.add(i)
    # An input the reference returns (the same storage) is its output, whatever it read.
    for i, after in enumerate(tensor_leaves(first)):
        if any(shares_memory(o, after) for o in baseline_leaves) and i not in plan.poisonable:
            plan.writable.add(i)
    scrub(baseline)
    scrub(first)
    return plan


def _unchanged_without(
    data: Any,
    index: int,
    fill: Callable[[torch.Tensor], None],
    reference,
    baseline: Any,
    rtol: float | None,
    atol: float | None,
) -> bool:
    copy = clone_tree(data)
    fill(tensor_leaves(copy)[index])
    try:
        out = reference(copy)
    except Exception:  # the reference choked on the garbage: it reads that input
        return False
    same = compare(out, baseline, rtol, atol).passed
    scrub(out)
    scrub(copy)
    return same


def _zeros(t: torch.Tensor) -> None:
    t.zero_()


def _rolled(t: torch.Tensor) -> None:
    """The same values in other places. Integer inputs are often indices: values out of their range
    would trip a device-side assert, which kills the CUDA context; these stay in range."""
    t.copy_(t.reshape(-1).roll(1).reshape(t.shape))


def _garbage(t: torch.Tensor) -> None:
    """Values unlike any draw: large and of both signs for floats, arbitrary for integers."""
    gen = torch.Generator(device=t.device)
    gen.manual_seed(GARBAGE_SEED)  # its own generator: the problem's RNG state is left alone
    if t.dtype.is_floating_point or t.dtype.is_complex:
        t.copy_((torch.rand(t.shape, device=t.device, generator=gen) * 2 - 1).mul_(1e4).to(t.dtype))
    elif t.dtype == torch.bool:
        t.fill_(False)
    else:
        info = torch.iinfo(t.dtype)
        t.copy_(
            torch.randint(
                max(info.min, -1000), min(info.max, 1000) + 1, t.shape, device=t.device, generator=gen
            ).to(t.dtype)
        )
