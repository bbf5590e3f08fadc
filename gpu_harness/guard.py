"""Anti-cheat checks. Every flag has a name that says which exploit it caught.

The harness binds its own references to timers, comparison and synchronisation functions when
this module is imported (before any candidate is), and checks after every candidate call that
nobody replaced them. Checks that need timing numbers (events vs host clock, roofline floor,
speedup sanity) take those numbers as arguments, so they are plain functions of data.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import torch

from gpu_harness.check import same_bits, shares_memory, tensor_leaves

# Flags: any flag fails the run.
FLAG_OUTPUT_ALIASES_INPUT = "output_aliases_input"
FLAG_OUTPUT_ALIASES_REFERENCE = "output_aliases_reference"
FLAG_INPUT_MUTATED = "input_mutated"
FLAG_RESULT_REPLAY = "result_replay"
FLAG_SIDE_STREAM = "side_stream_or_deferred_work"
FLAG_THREAD_SPAWNED = "thread_spawned"  # no longer raised: threads are judged by effect (FLAG_SIDE_STREAM)
FLAG_LAZY_OUTPUT = "lazy_output"
FLAG_ODD_OUTPUT_STORAGE = "odd_output_storage"
FLAG_PATCHED_TIMER = "patched_timer"
FLAG_PATCHED_ALLCLOSE = "patched_allclose"
FLAG_PATCHED_SYNCHRONIZE = "patched_synchronize"
FLAG_PATCHED_ELAPSED_TIME = "patched_elapsed_time"
FLAG_PATCHED_TORCH = "patched_torch"
FLAG_BELOW_ROOFLINE = "below_roofline"
FLAG_SPEEDUP_SANITY = "speedup_above_sanity_limit"
FLAG_NONDETERMINISTIC = "nondeterministic"

# Threads the candidate leaves running get this long to show an effect on its output.
THREAD_WATCH_S = 0.5

# Notes: reported, never failing.
NOTE_NO_OWN_KERNEL = "no_own_kernel"
NOTE_BITWISE_DIFFERENCES = "bitwise_differences"
NOTE_BELOW_TIMING_RESOLUTION = "below_timing_resolution"
NOTE_HOST_CLOCK = "timing_on_host_clock"
NOTE_TIMING_SKIPPED = "timing_skipped"
NOTE_THREADS_LEFT_RUNNING = "threads_left_running"
NOTE_COMPILE_TIME_EXCLUDED = "compile_time_excluded"
NOTE_PLAN_DOES_NOT_FIT = "plan_does_not_fit"

# Ops that move no data of their own: a candidate made only of these and the reference's ops
# launched no kernel of its own.
TRIVIAL_OPS = frozenset(
    {
        "aten::empty",
        "aten::empty_like",
        "aten::empty_strided",
        "aten::view",
        "aten::reshape",
        "aten::_reshape_alias",
        "aten::as_strided",
        "aten::expand",
        "aten::t",
        "aten::transpose",
        "aten::permute",
        "aten::select",
        "aten::slice",
        "aten::unsqueeze",
        "aten::squeeze",
        "aten::detach",
        "aten::alias",
        "aten::resize_",
        "aten::contiguous",
        "aten::lift_fresh",
        "aten::item",
        "aten::_local_scalar_dense",
        "aten::to",
        "aten::result_type",
        "aten::size",
        "aten::stride",
        "aten::numel",
        "aten::is_nonzero",
        "aten::clone",
        "aten::copy_",
        "aten::_to_copy",
        "aten::zeros",
        "aten::zero_",
        "aten::fill_",
        "aten::empty_permuted",
        "aten::_unsafe_view",
        "aten::flatten",
        "aten::split",
        "aten::chunk",
        "aten::narrow",
        "aten::dim",
        "aten::lift",
        "aten::set_",
    }
)


# -- patched functions ------------------------------------------------------------------------
# Every function a cheat would want to replace: (flag, owner, the owner's attributes). An owner is
# named from its root and looked up when the watch is bound, so the report names what was replaced.
WATCHED: tuple[tuple[str, str, str], ...] = (
    (
        FLAG_PATCHED_TIMER,
        "time",
        "perf_counter perf_counter_ns time time_ns monotonic monotonic_ns process_time process_time_ns sleep",
    ),
    (
        FLAG_PATCHED_ALLCLOSE,
        "torch",
        "allclose isclose equal eq ne isnan isinf abs sub where all any nonzero",
    ),
    (FLAG_PATCHED_ALLCLOSE, "torch.testing", "assert_close"),
    (
        FLAG_PATCHED_ALLCLOSE,
        "torch.Tensor",
        "allclose isclose equal eq __eq__ ne __ne__ sub __sub__ abs all any item sum max gt __gt__ le __le__",
    ),
    (
        FLAG_PATCHED_SYNCHRONIZE,
        "torch.cuda",
        "synchronize current_stream default_stream Event Stream stream set_stream",
    ),
    (FLAG_PATCHED_SYNCHRONIZE, "torch.cuda.Event", "synchronize wait"),
    (FLAG_PATCHED_SYNCHRONIZE, "torch.cuda.Stream", "synchronize wait_stream"),
    (FLAG_PATCHED_ELAPSED_TIME, "torch.cuda.Event", "elapsed_time record query __init__ __new__"),
    (
        FLAG_PATCHED_TORCH,
        "torch.Tensor",
        "clone copy_ fill_ zero_ to contiguous view reshape data_ptr untyped_storage "
        "__torch_function__ __torch_dispatch__",
    ),
    (FLAG_PATCHED_TORCH, "torch", "empty empty_like randn rand clone matmul mm"),
)
_WATCH_ROOTS = {"time": time, "torch": torch}


def _watch_list() -> list[tuple[str, Any, str, str]]:
    """(flag, owner, owner name, attribute) for every watched function, owners as they are now."""
    found = []
    for flag, owner_name, attrs in WATCHED:
        root, *path = owner_name.split(".")
        owner = functools.reduce(getattr, path, _WATCH_ROOTS[root])
        found += [(flag, owner, owner_name, attr) for attr in attrs.split()]
    return found


class PatchWatch:
    """Identities of watched functions, bound before any candidate is imported."""

    def __init__(self):
        self.rebind()

    def rebind(self) -> None:
        self.bound = [
            (flag, owner, owner_name, attr, owner.__dict__.get(attr, getattr(owner, attr, None)))
            for flag, owner, owner_name, attr in _watch_list()
        ]

    def changed(self) -> list[tuple[str, str]]:
        """[(flag, 'owner.attr')] for each watched function that is no longer the original."""
        found = []
        for flag, owner, owner_name, attr, original in self.bound:
            now = owner.__dict__.get(attr, getattr(owner, attr, None))
            if now is not original:
                found.append((flag, f"{owner_name}.{attr}"))
        return found

    def restore(self) -> None:
        """Put the originals back so that later checks run on real functions (the run is flagged)."""
        for _flag, owner, _name, attr, original in self.bound:
            if owner.__dict__.get(attr, getattr(owner, attr, None)) is not original:
                try:
                    setattr(owner, attr, original)
                except (AttributeError, TypeError):
                    pass


PATCH_WATCH = PatchWatch()  # bound at import: the harness imports this before any candidate

# Bound references the harness itself uses for measurement (taken before any candidate import).
perf_counter_ns = time.perf_counter_ns
cuda_synchronize = torch.cuda.synchronize
cuda_sleep = torch.cuda._sleep
CudaEvent = torch.cuda.Event


# -- threads ---------------------------------------------------------------------------------
def live_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return sorted(
        (t for t in threading.enumerate() if t not in before and t.is_alive()), key=lambda t: t.name
    )


def changed_after_return(
    output: Any, threads: list[threading.Thread], on_gpu: bool, wait_s: float = THREAD_WATCH_S
) -> bool:
    """Threads are judged by their effect, not their existence: snapshot the output as returned,
    give the new threads `wait_s` to finish (compile workers and progress monitors never do, and
    touch nothing), then see whether the output changed."""
    leaves = [t for t in tensor_leaves(output) if type(t) is torch.Tensor]
    snapshot = [t.clone() for t in leaves]
    end = time.monotonic() + wait_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    if on_gpu:
        cuda_synchronize()
    return not all(same_bits(now, then) for now, then in zip(leaves, snapshot))


# -- outputs ----------------------------------------------------------------------------------
def output_type_problems(output: Any) -> list[tuple[str, str]]:
    """Flags for outputs that are not plain, dense tensors (lazy or subclassed, odd storage)."""
    problems = []
    leaves = [output] if not isinstance(output, (tuple, list, dict)) else None
    if leaves is None:
        from gpu_harness.check import leaves as all_leaves

        leaves = all_leaves(output)
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor) and type(leaf) is not torch.Tensor:
            problems.append(
                (
                    FLAG_LAZY_OUTPUT,
                    f"output is a {type(leaf).__module__}.{type(leaf).__qualname__}, "
                    "a torch.Tensor subclass: lazy or deferred results are refused",
                )
            )
        elif type(leaf) is torch.Tensor:
            if leaf.layout != torch.strided or leaf.is_meta:
                problems.append(
                    (FLAG_ODD_OUTPUT_STORAGE, f"output has layout {leaf.layout}, meta={leaf.is_meta}")
                )
            elif leaf.numel() and leaf.untyped_storage().nbytes() < _span_bytes(leaf):
                problems.append(
                    (FLAG_ODD_OUTPUT_STORAGE, "output's storage is smaller than its elements need")
                )
            elif leaf.numel() > 1 and 0 in leaf.stride() and any(s > 1 for s in leaf.shape):
                problems.append(
                    (
                        FLAG_ODD_OUTPUT_STORAGE,
                        f"output is a broadcast view (strides {leaf.stride()}): elements share memory",
                    )
                )
    return problems


def _span_bytes(t: torch.Tensor) -> int:
    span = 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()) if size > 0)
    return (t.storage_offset() + span) * t.element_size()


def alias_problems(
    output: Any, inputs: list[torch.Tensor], writable: set[int], harness_held: list[torch.Tensor]
) -> list[tuple[str, str]]:
    problems = []
    for out in tensor_leaves(output):
        for i, inp in enumerate(inputs):
            if i not in writable and shares_memory(out, inp):
                problems.append(
                    (
                        FLAG_OUTPUT_ALIASES_INPUT,
                        f"output shares memory with input #{i}, which the reference does not write",
                    )
                )
        for held in harness_held:
            if shares_memory(out, held):
                problems.append(
                    (
                        FLAG_OUTPUT_ALIASES_REFERENCE,
                        "output shares memory with a tensor the harness holds (reference output or "
                        "pristine inputs)",
                    )
                )
                break
    return problems


# -- kernels of its own -----------------------------------------------------------------------
def op_names(fn) -> set[str]:
    """Names of the aten ops `fn` dispatches, seen through a dispatch mode (no profiler start-up:
    the kineto profiler costs seconds on first use, this costs nothing when idle)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: set[str] = set()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func._schema.name)
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return {name for name in seen if name.startswith("aten::")}


def fallback_detail(candidate_ops: set[str], reference_ops: set[str]) -> str | None:
    """If the candidate's work is only the reference's own ops, say so (a note, not a flag)."""
    own = candidate_ops - TRIVIAL_OPS
    ref = reference_ops - TRIVIAL_OPS
    if own and own <= ref:
        return (
            f"every op the candidate dispatched ({', '.join(sorted(own))}) is one the reference uses: "
            "no kernel of its own, a fallback to the reference op"
        )
    return None
