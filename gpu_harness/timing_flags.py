"""Flags read from timing numbers: work the CUDA events missed, impossible speed-ups, and a
candidate's claimed time that the judge's own clock does not support.

Plain functions of numbers, so each can be tested without a GPU. (The roofline floor is roofline.py.)
"""

from __future__ import annotations

import math
import statistics

# A candidate whose host clock exceeds its event time, its call's host time and the cost of
# synchronising by this many milliseconds (and by this factor over the reference's unexplained
# time) did work that CUDA events on its stream did not see.
EVENT_HOST_EXCESS_RATIO = 3.0
EVENT_HOST_EXCESS_MIN_MS = 0.05
HIDDEN_SHARE = 0.5  # unexplained time must be at least half the candidate's event time
HIDDEN_MAJORITY = 0.8  # on at least this share of samples, in each of two rounds
# A speed-up above the sanity limit is flagged only when the candidate's p90 is below this share of
# the roofline floor (or there is no floor): a kernel at the floor is honest, the reference just slow.
SPEEDUP_FLOOR_SHARE = 0.9
# Below this median, launch latency dominates: say so instead of pretending precision.
TIMING_RESOLUTION_MS = 0.010
# The judge's check: the candidate claims a per-call time (its events, in its process); the judge
# measures wall time per call over batches it ordered. Honest batches run warm and back to back, so
# they are mostly faster than a cold timed call; they are slower only by the host's launch cost of
# a tiny kernel (allowed below) and noise (the factor). Beyond both, the claim is not believed.
FLAG_TIMING_DISAGREES = "timing_disagrees"
NOTE_HOST_BOUND = "host_bound_calls"
JUDGE_NOISE_FACTOR = {"cuda": 1.25, "cpu": 1.5}
LAUNCH_ALLOWANCE_MS = {"cuda": 0.05, "cpu": 0.005}
# The claim is of cold, cache-flushed calls; the batches run warm. How much slower cold is than warm for
# this problem on this machine the reference shows on the judge's own clock (its cold samples over its
# batches), and an honest candidate's ratio is near it: a claim that puts the candidate's ratio below
# the reference's by more than the slack is not believed either. (Red team, 2026-12-07: a wrap of the
# timing function dividing by four hid in that gap on the CPU, where cold is ~3x warm: 5.1x reported,
# unflagged.) Batches of launch-bound calls say nothing about cold against warm: they are left out.
# On the CPU the reference's small sets sit in cache when warm (cold ~3x warm) while the candidate's batches
# go through its process: rmsnorm's torch candidate was failed now and then at a slack of 2 (1239 us
# claimed, 1357 us allowed). A wrap dividing by four stays outside 3 wherever calibration applies.
CALIBRATION_SLACK = {"cuda": 2.0, "cpu": 3.0}
CALIBRATION_MIN_BATCH_MS = {"cuda": 0.2, "cpu": 0.1}
CALIBRATION_SPAN = 4.0  # the candidate's batches within this factor of the reference's (cold_over_warm)
# A batch calls each working set once (judge_clock.py), so it is as long as the sets are many, and it
# carries a fixed cost the judge cannot take off itself: the request, waking the candidate's process,
# the answer (what handing the outputs back costs it measures with its own code and takes off). That
# cost is allowed, spread over the batch's calls; a false claim may hide in it too, so the window is
# this much over the calls: a few microseconds at 64 sets, more where memory allows only a few (calls
# of multi-GB inputs, which take milliseconds). On the CPU, softmax on one set (its memory floor) was
# failed without it (580 us claimed, 619 us allowed).
BATCH_FIXED_MS = {"cuda": 0.5, "cpu": 0.5}
# Batches of one call (judge_clock.SINGLE_ROUNDS) bound the latency where a batch's calls could overlap
# (red team, 2026-12-07: the claim divided by four, the batch's calls spread over four streams by a kernel
# that leaves the GPU idle). A one-call batch's fixed cost is not the calls' and is allowed whole: on
# the H100 a batch's fixed cost came to 1-1.5 ms (2026-12-07, seventh run: vectoradd's honest batches of
# 40 / 11 / 3 calls ran 1.5 / 1.1 / 0.95 ms over their claims), so this bound bites only where calls take
# a few milliseconds; below, the batches' bound is the one that holds.
SINGLE_FIXED_MS = {"cuda": 3.0, "cpu": 3.0}


# On the CPU the reference runs on one thread; a candidate that raises torch's thread count (or calls a
# threaded library) is timed on more cores than the reference, and its speed-up says nothing (1.5x for
# torch.matmul itself on 2 cores, 2026-12-07). The kernel's own count of the candidate's CPU time over
# the judge's wall time of its fastest batch shows it.
FLAG_CPU_CORES = "cpu_cores_exceeded"
CPU_CORES_LIMIT = 1.4


def cpu_cores_exceeded(cores: float | None, device: str) -> str | None:
    if device != "cpu" or cores is None or cores <= CPU_CORES_LIMIT:
        return None
    return (
        f"the candidate's process used {cores:.1f} cores during the judge's batches (its CPU time over their "
        f"wall time), the reference one: on the CPU both are timed on one thread, so its times are not "
        f"comparable. Keep the candidate to one thread (no torch.set_num_threads, no threaded library)"
    )


def hidden_work(
    cand_event_ms: list[float], rounds: dict[str, tuple[list[float], list[float]]], ref_event_ms: list[float]
) -> str | None:
    """Host time from synchronize to synchronize that neither the candidate's events, nor the host
    time inside its call, nor the cost of synchronising (the null call's, sample by sample) explain:
    work on a side stream, in a thread, or deferred past the end event. It must show on most samples
    and be large against the candidate's own time and the reference's unexplained time, so that a
    busy host or a shared GPU does not raise it."""
    event = statistics.median(cand_event_ms)
    ref_event = statistics.median(ref_event_ms)
    (c_call, c_host), (n_call, n_host) = rounds["candidate"], rounds["null"]
    r_call, r_host = rounds["reference"]
    sync = [max(h - c, 0.0) for c, h in zip(n_call, n_host)]
    excess = [h - event - c - s for c, h, s in zip(c_call, c_host, sync)]
    ref_excess = statistics.median(max(h - ref_event - c - s, 0.0) for c, h, s in zip(r_call, r_host, sync))
    threshold = max(EVENT_HOST_EXCESS_MIN_MS, HIDDEN_SHARE * event, EVENT_HOST_EXCESS_RATIO * ref_excess)
    above = sum(1 for e in excess if e > threshold)
    if not excess or above < HIDDEN_MAJORITY * len(excess):
        return None
    return (
        f"CUDA events saw {event:.4f} ms but the host clock around a device-wide synchronize saw "
        f"{statistics.median(excess):.4f} ms more than the call's own host time "
        f"({statistics.median(c_call):.4f} ms) and the cost of synchronising ({statistics.median(sync):.4f} ms) "
        f"explain, on {above} of {len(excess)} samples (reference: {ref_event:.4f} ms events, "
        f"{ref_excess:.4f} ms unexplained): work on a side stream, in a thread or deferred past the end event"
    )


def speedup_insane(speedup: float, limit: float) -> str | None:
    if speedup > limit:
        return (
            f"speedup {speedup:.1f}x over the reference (reference p10 / candidate p90) is above the sanity "
            f"limit {limit:g}x: flagged for review"
        )
    return None


def cold_over_warm(reference: tuple[float, float] | None, judge_ms: float, device: str) -> float | None:
    """The reference's cold samples over its warm batches (both the judge's); None where there is
    nothing to calibrate on. Above 1 (cold slower: caches) it counts only where both batches are long
    enough to be more than launch cost, and where the candidate's batches are within
    CALIBRATION_SPAN of the reference's: a candidate far slower spends its time elsewhere than the
    reference (a Triton kernel in the CPU interpreter: 0.37 s a call against 0.6 ms, cold as warm,
    was failed), and its claim can make it no faster than the plain bound allows. Below 1 (its
    batches slower: calls bound by the host's work, which events under a launch cover do not see) it
    always counts."""
    if reference is None:
        return None
    cold_ms, warm_ms = reference
    if not (0 < cold_ms < math.inf and 0 < warm_ms < math.inf):
        return None
    ratio = cold_ms / warm_ms
    floor = CALIBRATION_MIN_BATCH_MS[device]
    if ratio > 1 and not (floor <= warm_ms and floor <= judge_ms <= CALIBRATION_SPAN * warm_ms):
        return None
    return ratio


def less_fixed_cost(judge_ms: float, device: str, calls: int) -> float:
    """The batch's time per call less its fixed cost spread over its `calls` (none where not given)."""
    return max(judge_ms - BATCH_FIXED_MS[device] / calls, 0.0) if calls > 0 else judge_ms


def supported_ms(
    judge_ms: float, device: str, reference: tuple[float, float] | None = None, calls: int = 0
) -> float:
    """The fastest per-call time the judge's clock supports: its batch time (less the batch's fixed
    cost over its `calls`, where given) less the launch allowance, over the noise factor; calibrated on
    the reference ((cold median, batch time per call)), the batch time times the reference's cold/warm
    ratio over the slack, which tightens the bound where the reference runs slower cold and loosens it
    where the problem's calls are bound by the host."""
    judge_ms = less_fixed_cost(judge_ms, device, calls)
    plain = max(judge_ms - LAUNCH_ALLOWANCE_MS[device], 0.0) / JUDGE_NOISE_FACTOR[device]
    ratio = cold_over_warm(reference, judge_ms, device)
    if ratio is None:
        return plain
    calibrated = judge_ms * ratio / CALIBRATION_SLACK[device]
    return max(plain, calibrated) if ratio > 1 else min(plain, calibrated)


def single_supported_ms(single_ms: float, device: str) -> float:
    """The fastest per-call time that one-call batches support: their time less the fixed cost and
    the launch allowance, over the noise factor (0 where none were measured)."""
    if not math.isfinite(single_ms):
        return 0.0
    return (
        max(single_ms - SINGLE_FIXED_MS[device] - LAUNCH_ALLOWANCE_MS[device], 0.0)
        / JUDGE_NOISE_FACTOR[device]
    )


def calls_overlap(claimed_ms: float, single_ms: float, judge_ms: float, device: str) -> str | None:
    """A claim below what one call alone takes on the judge's clock, beyond its fixed cost and noise:
    batched, the calls overlapped (or the claim is false)."""
    supported = single_supported_ms(single_ms, device)
    if claimed_ms >= supported:
        return None
    return (
        f"the candidate's own timing says {claimed_ms * 1e3:.2f} us per call, but one call alone took "
        f"{single_ms * 1e3:.2f} us on the judge's clock ({judge_ms * 1e3:.2f} us a call in batches); beyond "
        f"its fixed cost ({SINGLE_FIXED_MS[device] * 1e3:g} us) and noise ({JUDGE_NOISE_FACTOR[device]:g}x), "
        f"that is not believed: calls overlapped in the batches (streams or threads) or the timer was "
        f"tampered with. The speed-up reported uses the one-call bound ({supported * 1e3:.2f} us)"
    )


def host_bound(host_call_ms: float | None, judge_ms: float, device: str) -> str | None:
    """Back to back, a call costs the larger of its host work and its GPU work: where the candidate's
    own host time inside a call explains the judge's batch time, the batch says nothing of its GPU
    time, and a claim below it cannot be refuted (torch.compile's wrappers, many small launches).
    The host time is the candidate's own report, so this only chooses which trusted numbers are
    reported: the judge's clocks, never the claim."""
    if device != "cuda" or host_call_ms is None or host_call_ms * JUDGE_NOISE_FACTOR[device] < judge_ms:
        return None
    return (
        f"back to back a call took {judge_ms * 1e3:.2f} us on the judge's clock and {host_call_ms * 1e3:.2f} us of "
        f"it is host work inside the call: the calls are bound by the host, so the GPU time the candidate "
        f"claims cannot be checked; its time and speed-up are the judge's back-to-back ones, against the "
        f"reference's"
    )


def timing_disagrees(
    claimed_ms: float,
    judge_ms: float,
    calls: int,
    rounds: int,
    device: str,
    reference: tuple[float, float] | None = None,
) -> str | None:
    supported = supported_ms(judge_ms, device, reference, calls)
    if claimed_ms >= supported:
        return None
    adjusted = less_fixed_cost(judge_ms, device, calls)  # what supported_ms calibrated on
    ratio = cold_over_warm(reference, adjusted, device)
    calibrated = (
        f"; the reference's cold calls take {ratio:.1f}x its batched ones on the judge's clock, and the claim "
        f"makes the candidate's {claimed_ms / judge_ms:.1f}x (more than {CALIBRATION_SLACK[device]:g}x apart)"
        if ratio and adjusted * ratio / CALIBRATION_SLACK[device] > claimed_ms
        else ""
    )
    return (
        f"the candidate's own timing says {claimed_ms * 1e3:.2f} us per call, but the judge's clock saw "
        f"{judge_ms * 1e3:.2f} us per call over {rounds} batch(es) of {calls} verified back-to-back calls; "
        f"beyond noise ({JUDGE_NOISE_FACTOR[device]:g}x), launch cost ({LAUNCH_ALLOWANCE_MS[device] * 1e3:g} us) "
        f"and the batch's fixed cost ({BATCH_FIXED_MS[device] * 1e3 / max(calls, 1):.0f} us a call)"
        f"{calibrated}, that is not believed: its timer, events or synchronisation were tampered with, or work "
        f"escapes them. The speed-up reported uses the judge's bound ({supported * 1e3:.2f} us)"
    )
