"""Flags read from timing numbers: work the CUDA events missed, impossible speed-ups.

Plain functions of numbers, so each can be tested without a GPU. (The roofline floor is roofline.py.)
"""

from __future__ import annotations

# A candidate whose (host clock - event time) exceeds the reference's by this factor AND by this
# many milliseconds did work that CUDA events on its stream did not see.
EVENT_HOST_EXCESS_RATIO = 3.0
EVENT_HOST_EXCESS_MIN_MS = 0.05
# A speed-up above the sanity limit is flagged only when the candidate's p90 is below this share of
# the roofline floor (or there is no floor): a kernel at the floor is honest, the reference just slow.
SPEEDUP_FLOOR_SHARE = 0.9
# Below this median, launch latency dominates: say so instead of pretending precision.
TIMING_RESOLUTION_MS = 0.010


def events_miss_work(cand_event_ms: float, cand_host_ms: float, cand_call_ms: float,
                     ref_event_ms: float, ref_host_ms: float, ref_call_ms: float) -> str | None:
    """Host time from synchronize to synchronize that neither the events nor the host time inside
    the call explain; a candidate with far more of it than the reference hid work from the events."""
    cand_excess = cand_host_ms - cand_event_ms - cand_call_ms
    ref_excess = max(ref_host_ms - ref_event_ms - ref_call_ms, 0.0)
    if cand_excess > EVENT_HOST_EXCESS_RATIO * ref_excess and cand_excess - ref_excess > EVENT_HOST_EXCESS_MIN_MS:
        return (f"CUDA events saw {cand_event_ms:.4f} ms but the host clock around a device-wide synchronize "
                f"saw {cand_host_ms:.4f} ms, {cand_call_ms:.4f} ms of it inside the call (reference: "
                f"{ref_event_ms:.4f} / {ref_host_ms:.4f} / {ref_call_ms:.4f} ms): work on a side stream, in a "
                "thread or deferred past the end event")
    return None


def speedup_insane(speedup: float, limit: float) -> str | None:
    if speedup > limit:
        return (f"speedup {speedup:.1f}x over the reference (reference p10 / candidate p90) is above the sanity "
                f"limit {limit:g}x: flagged for review")
    return None


