"""Correctness: tensor trees, NaN/Inf-aware comparison, output buffers, poisoning.

Problem data and outputs are trees (tensor, tuple, list, dict). Comparison walks both trees and
compares every element with an allclose that treats NaN and +/-Inf as values: a NaN where the
reference has a number is a mismatch, a NaN where the reference has NaN is a match.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import torch

from gpu_harness.outcome import Comparison

# Default tolerances by dtype: (rtol, atol). A problem overrides them in task.yml.
DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-7),
    torch.float32: (1e-4, 1e-5),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
}
LOW_PRECISION_TOLERANCE = (1e-1, 1e-1)  # fp8 and other narrow floats
MAX_REPORTED_MISMATCHES = 5
# A failed comparison whose every bad element is off by less than this (relative) and that has
# no NaN, Inf or zero-filled hole looks like arithmetic done in a narrower type.
PRECISION_LOSS_MAX_REL = 5e-2
# A failed comparison where at least this share of the bad elements are NaN (the harness's poison)
# or exact zeros looks like work that was skipped.
PARTIAL_OUTPUT_SHARE = 0.5
# Elements compared per step: a multi-GB output is compared in slices of bounded memory.
COMPARE_CHUNK = 1 << 24

REASON_MISMATCH = "mismatch"
REASON_PRECISION_LOSS = "precision_loss"
REASON_PARTIAL_OUTPUT = "partial_output"
REASON_NOT_A_TENSOR = "not_a_tensor"
REASON_WRONG_SHAPE = "wrong_shape"
REASON_WRONG_DTYPE = "wrong_dtype"
REASON_WRONG_DEVICE = "wrong_device"
REASON_WRONG_LAYOUT = "wrong_layout"
REASON_WRONG_STRUCTURE = "wrong_structure"
REASON_PROBLEM_CHECK = "problem_check"


# -- trees ------------------------------------------------------------------------------------
def leaves(tree: Any) -> list[Any]:
    """Every leaf of a tree (tensors and other values), depth first, in order."""
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in leaves(item)]
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in leaves(tree[key])]
    return [tree]


def tensor_leaves(tree: Any) -> list[torch.Tensor]:
    return [leaf for leaf in leaves(tree) if isinstance(leaf, torch.Tensor)]


def map_leaves(tree: Any, fn: Callable[[Any], Any], leaf: type = torch.Tensor) -> Any:
    """The same tree with `fn` applied to every leaf of type `leaf` (other leaves kept as they are):
    one walk for the judge's tensors, the references it sends and the places it keeps."""
    if isinstance(tree, leaf):
        return fn(tree)
    if isinstance(tree, tuple):
        return tuple(map_leaves(x, fn, leaf) for x in tree)
    if isinstance(tree, list):
        return [map_leaves(x, fn, leaf) for x in tree]
    if isinstance(tree, dict):
        return {k: map_leaves(v, fn, leaf) for k, v in tree.items()}
    return tree


def clone_tree(tree: Any) -> Any:
    return map_leaves(tree, lambda t: t.clone())


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equality (NaN equals NaN of the same bits): what 'unchanged' means."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.numel() == 0:
        return True
    return torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)
    )


FINGERPRINT_SAMPLES = 4096
FINGERPRINT_CHUNK = 1 << 24  # bytes summed at once: torch widens them to int64 first (8x the memory)


def fingerprint(tree: Any) -> tuple:
    """A short stand-in for the bits of every tensor in `tree` (shape, dtype, the sum of its bytes and a
    strided sample of them): equal for equal bits and, for different ones, all but never; so that no
    full copy has to be kept to ask later whether an answer came back unchanged."""
    prints = []
    for t in tensor_leaves(tree):
        flat = t.detach().contiguous().reshape(-1).view(torch.uint8)
        step = max(1, flat.numel() // FINGERPRINT_SAMPLES)
        sample = flat[::step].cpu().numpy().tobytes()
        total = _byte_sum(flat)
        prints.append((tuple(t.shape), str(t.dtype), total, hashlib.sha256(sample).hexdigest()))
    return tuple(prints)


def _byte_sum(flat: torch.Tensor) -> int:
    """The sum of a flat uint8 tensor's bytes, a chunk at a time (a 6.4 GB output would need 51 GB widened
    whole), added up on its device."""
    if flat.numel() == 0:
        return 0
    total = torch.zeros((), dtype=torch.int64, device=flat.device)
    for start in range(0, flat.numel(), FINGERPRINT_CHUNK):
        total += flat[start : start + FINGERPRINT_CHUNK].sum(dtype=torch.int64)
    return int(total)


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The bytes the two tensors' elements span overlap. (Not their storages: tensors in the judge's
    shared arenas are views of one storage each, and must not all count as aliases.)"""
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    a0, b0 = a.data_ptr(), b.data_ptr()
    return a0 < b0 + _span(b) and b0 < a0 + _span(a)


def _span(t: torch.Tensor) -> int:
    return (1 + sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride()))) * t.element_size()


def poison(t: torch.Tensor) -> None:
    """Fill a buffer the candidate must overwrite with values no correct output contains."""
    if t.dtype.is_floating_point or t.dtype.is_complex:
        t.fill_(float("nan"))
    elif t.dtype == torch.bool:
        t.fill_(True)
    else:
        t.fill_(torch.iinfo(t.dtype).max)


def tolerance_for(dtype: torch.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    if dtype.is_floating_point or dtype.is_complex:
        default = DEFAULT_TOLERANCES.get(dtype, LOW_PRECISION_TOLERANCE)
    else:
        default = (0.0, 0.0)
    return (default[0] if rtol is None else float(rtol), default[1] if atol is None else float(atol))


# -- comparison -------------------------------------------------------------------------------
def _fail(reason: str, message: str) -> Comparison:
    return Comparison(False, reason, message)


def compare_tensor(got: Any, expected: torch.Tensor, rtol: float | None, atol: float | None) -> Comparison:
    if type(got) is not torch.Tensor:
        name = getattr(got, "type_name", None) or f"{type(got).__module__}.{type(got).__qualname__}"
        return _fail(REASON_NOT_A_TENSOR, f"output is {name}, not torch.Tensor")
    if got.layout != expected.layout or got.is_sparse:
        return _fail(REASON_WRONG_LAYOUT, f"layout {got.layout}, expected {expected.layout}")
    if got.shape != expected.shape:
        return _fail(REASON_WRONG_SHAPE, f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if got.dtype != expected.dtype:
        return _fail(REASON_WRONG_DTYPE, f"dtype {got.dtype}, expected {expected.dtype}")
    if got.device != expected.device:
        return _fail(REASON_WRONG_DEVICE, f"device {got.device}, expected {expected.device}")
    rtol_, atol_ = tolerance_for(expected.dtype, rtol, atol)
    numel = expected.numel()
    if numel == 0:
        return Comparison(True, numel=0, rtol=rtol_, atol=atol_)
    flat_g, flat_e = got.detach().reshape(-1), expected.detach().reshape(-1)
    shape = tuple(expected.shape)
    if expected.dtype.is_complex:
        flat_g, flat_e = torch.view_as_real(flat_g).reshape(-1), torch.view_as_real(flat_e).reshape(-1)
        shape = (*shape, 2)
    work = torch.float32 if expected.dtype in (torch.float16, torch.bfloat16) else torch.float64
    tally = _Tally(numel, rtol_, atol_)
    for start in range(0, flat_e.numel(), COMPARE_CHUNK):
        chunk = slice(start, start + COMPARE_CHUNK)
        tally.add(flat_g[chunk].to(work), flat_e[chunk].to(work), start)
    return tally.verdict(shape)


class _Tally:
    """Running statistics of a chunked comparison (memory stays bounded on multi-GB outputs), kept in
    the Comparison they fill, with what names the likeliest cause of a failure."""

    def __init__(self, numel: int, rtol: float, atol: float):
        self.rtol, self.atol = rtol, atol
        self.result = Comparison(True, max_abs_err=0.0, max_rel_err=0.0, numel=numel, rtol=rtol, atol=atol)
        self.holes = self.bad_finite = 0
        self.bad_rel_max = 0.0
        self.first: list[tuple[int, float, float]] = []

    def add(self, g: torch.Tensor, e: torch.Tensor, offset: int) -> None:
        if self._all_within(g, e):
            return
        result = self.result
        g_nan, e_nan = torch.isnan(g), torch.isnan(e)
        g_inf, e_inf = torch.isinf(g), torch.isinf(e)
        both_finite = ~(g_nan | e_nan | g_inf | e_inf)
        diff = torch.where(both_finite, (g - e).abs(), torch.zeros_like(g))
        bad = (
            (g_nan ^ e_nan)
            | (g_inf & e_inf & (torch.sign(g) != torch.sign(e)))
            | (g_inf ^ e_inf)
            | (both_finite & (diff > self.atol + self.rtol * e.abs()))
        )
        rel = torch.where(
            both_finite & (e.abs() > 0), diff / e.abs().clamp_min(1e-30), torch.zeros_like(diff)
        )
        bad_finite = bad & both_finite
        holes = bad & (g_nan | (g == 0))
        # One synchronisation per chunk: every statistic comes back in one transfer.
        max_abs, max_rel, count, hole_count, finite_count, bad_rel_max = torch.stack(
            [
                diff.max().double(),
                rel.max().double(),
                bad.sum().double(),
                holes.sum().double(),
                bad_finite.sum().double(),
                torch.where(bad_finite, rel, torch.zeros_like(rel)).max().double(),
            ]
        ).tolist()
        result.max_abs_err = max(result.max_abs_err, max_abs)
        result.max_rel_err = max(result.max_rel_err, max_rel)
        if not count:
            return
        result.mismatches += int(count)
        self.holes += int(hole_count)
        self.bad_finite += int(finite_count)
        self.bad_rel_max = max(self.bad_rel_max, bad_rel_max)
        room = MAX_REPORTED_MISMATCHES - len(self.first)
        if room > 0:
            for i in torch.nonzero(bad).reshape(-1)[:room].tolist():
                self.first.append((offset + i, float(g[i].item()), float(e[i].item())))

    def _all_within(self, g: torch.Tensor, e: torch.Tensor) -> bool:
        """The common chunk, in a third of the passes: every element finite and within tolerance. Its
        statistics are then the full path's (no mismatch, the same max errors); any NaN, infinity or
        element beyond tolerance leaves it to the full path (False)."""
        diff = (g - e).abs()  # NaN where either is NaN, or both are infinite; infinite where one is
        magnitude = e.abs()
        rel = torch.where(magnitude > 0, diff / magnitude.clamp_min(1e-30), torch.zeros_like(diff))
        # one transfer, as the full path's: on a GPU each is a synchronisation
        max_abs, within, max_rel = torch.stack(
            [diff.max(), (diff <= self.atol + self.rtol * magnitude).all().to(diff.dtype), rel.max()]
        ).tolist()
        if not (within and math.isfinite(max_abs)):  # an infinite diff: some element was infinite
            return False
        result = self.result
        result.max_abs_err = max(result.max_abs_err, max_abs)
        result.max_rel_err = max(result.max_rel_err, max_rel)
        return True

    def verdict(self, shape: tuple[int, ...]) -> Comparison:
        """The Comparison, once every chunk is in: a failure's first elements, by index into `shape`,
        and its likeliest cause (work skipped, arithmetic in a narrower type, or plain mismatch)."""
        result, wrong = self.result, self.result.mismatches
        result.passed = wrong == 0
        if not wrong:
            return result
        for flat, g, e in self.first:
            result.first_mismatches.append({"index": _unravel(flat, shape), "got": g, "expected": e})
        if self.holes >= PARTIAL_OUTPUT_SHARE * wrong:
            result.reason = REASON_PARTIAL_OUTPUT
            result.message = (
                f"{self.holes} of {wrong} wrong elements are NaN (never written over the "
                f"harness's poison) or zero: part of the output was not computed"
            )
        elif self.holes == 0 and self.bad_finite == wrong and self.bad_rel_max < PRECISION_LOSS_MAX_REL:
            result.reason = REASON_PRECISION_LOSS
            result.message = (
                f"{wrong} of {result.numel} elements off by at most {result.max_rel_err:.2e} relative, "
                f"above rtol={self.rtol:g}/atol={self.atol:g}: arithmetic in a narrower type?"
            )
        else:
            result.reason = REASON_MISMATCH
            result.message = (
                f"{wrong} of {result.numel} elements differ (max abs err {result.max_abs_err:.3e})"
            )
        return result


def _unravel(flat: int, shape: tuple[int, ...]) -> list[int]:
    if not shape:
        return [0]
    index = []
    for size in reversed(shape):
        index.append(flat % size if size else 0)
        flat //= size if size else 1
    return list(reversed(index))


def compare(got: Any, expected: Any, rtol: float | None = None, atol: float | None = None) -> Comparison:
    """Compare an output tree with the reference's, leaf by leaf; the worst leaf decides."""
    if isinstance(expected, torch.Tensor):
        return compare_tensor(got, expected, rtol, atol)
    exp_leaves = leaves(expected)
    got_leaves = leaves(got) if isinstance(got, (tuple, list, dict)) else None
    if got_leaves is None or len(got_leaves) != len(exp_leaves):
        return _fail(
            REASON_WRONG_STRUCTURE,
            f"output is {type(got).__name__} with "
            f"{len(leaves(got))} leaves, expected {type(expected).__name__} with {len(exp_leaves)}",
        )
    total = Comparison(True, rtol=rtol, atol=atol)
    for g, e in zip(got_leaves, exp_leaves):
        if isinstance(e, torch.Tensor):
            part = compare_tensor(g, e, rtol, atol)
        else:
            part = Comparison(g == e, "" if g == e else REASON_MISMATCH, "" if g == e else f"{g!r} != {e!r}")
        total.numel += part.numel
        total.mismatches += part.mismatches
        for attr in ("max_abs_err", "max_rel_err"):
            value = getattr(part, attr)
            if value is not None:
                setattr(total, attr, max(value, getattr(total, attr) or 0.0))
        if not part.passed and total.passed:
            total.passed, total.reason, total.message = False, part.reason, part.message
            total.first_mismatches = part.first_mismatches
        total.rtol, total.atol = part.rtol, part.atol
    return total


def outputs_within_tolerance(a: Any, b: Any, rtol: float | None, atol: float | None) -> bool:
    return compare(a, b, rtol, atol).passed


def outputs_same_bits(a: Any, b: Any) -> bool:
    la, lb = tensor_leaves(a), tensor_leaves(b)
    return len(la) == len(lb) and all(
        type(x) is torch.Tensor and type(y) is torch.Tensor and same_bits(x, y) for x, y in zip(la, lb)
    )


def scrub(tree: Any) -> None:
    """Overwrite a harness-held result before letting it go, so that freed memory a candidate's
    torch.empty() may be handed by the allocator holds poison, never an answer."""
    for t in tensor_leaves(tree):
        if type(t) is torch.Tensor and t.numel():
            try:
                poison(t)
            except RuntimeError:
                pass
