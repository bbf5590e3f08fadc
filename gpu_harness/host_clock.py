"""Host-clock samples (time_case step 4): what a call costs the CPU that launches it, and the time from
one device-wide synchronize to the next around it. The reference is sampled here, in the judge; the
candidate and a null call in the candidate's process, by the same `host_call`; rounds rotate the order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpu_harness.check import scrub
from gpu_harness.clocks import ColdCache, reset_persisting_l2
from gpu_harness.guard import cuda_synchronize, perf_counter_ns
from gpu_harness.remote import RemoteCandidate
from gpu_harness.rotation import InputRotation


def host_call(fn: Callable[[Any], Any], data: Any, cold: ColdCache) -> tuple[float, float, Any]:
    """(host time inside the call, host time from a device-wide synchronize to the next, output)."""
    on_gpu = cold.device.type == "cuda"
    if on_gpu:
        reset_persisting_l2()
    cold.flush()
    if on_gpu:
        cuda_synchronize()
    t0 = perf_counter_ns()
    out = fn(data)
    t_call = perf_counter_ns()
    if on_gpu:
        cuda_synchronize()
    t1 = perf_counter_ns()
    return (t_call - t0) / 1e6, (t1 - t0) / 1e6, out


def host_rounds(
    reference: Callable[[Any], Any],
    remote: RemoteCandidate,
    rotation: InputRotation,
    first: int,
    cold: ColdCache,
    count: int,
) -> dict[str, tuple[list[float], list[float]]]:
    """`count` interleaved host samples of the reference (here), the candidate and a null call (in its
    process), rotating order: {who: (call ms, host ms)}."""
    rounds: dict[str, tuple[list[float], list[float]]] = {
        who: ([], []) for who in ("reference", "candidate", "null")
    }
    names = list(rounds)
    for i in range(count):
        order = names[i % len(names) :] + names[: i % len(names)]
        for who in order:
            k = rotation.refill(first + i)
            if who == "reference":
                call_ms, host_ms, out = host_call(reference, rotation.private[k], cold)
                scrub(out)  # before release, so that no later allocation hands it out
                del out
            else:
                remote.sync()
                call_ms, host_ms = remote.host_sample(rotation.shared[k], null=who == "null")
            rounds[who][0].append(call_ms)
            rounds[who][1].append(host_ms)
    return rounds
