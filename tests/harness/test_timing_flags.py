"""Flags read from timing numbers, on synthetic numbers (no GPU): work the events missed, judged
against the cost of synchronising and on most samples, so that a busy host or a shared GPU does
not raise it; and the speed-up limit."""

from gpu_harness.timing_flags import hidden_work, speedup_insane


def rounds(cand_host, null_host, ref_host, cand_call=0.03, null_call=0.01, ref_call=0.1):
    n = len(cand_host)
    return {
        "candidate": ([cand_call] * n, cand_host),
        "null": ([null_call] * n, null_host),
        "reference": ([ref_call] * n, ref_host),
    }


def test_work_on_a_side_stream_is_seen_on_every_sample():
    # events see 0.01 ms; the host waits 0.8 ms for a matmul on another stream; syncing costs 0.03 ms
    detail = hidden_work([0.01] * 20, rounds([0.85] * 10, [0.04] * 10, [2.75] * 10), [2.6] * 20)
    assert detail and "side stream" in detail


def test_a_busy_host_inflates_the_null_call_too_and_raises_nothing():
    # the lead's H100 case: events 0.19 ms, host 0.78 ms under contention; a null call also takes 0.6 ms
    assert hidden_work([0.19] * 20, rounds([0.78] * 10, [0.62] * 10, [2.69] * 10), [2.6] * 20) is None


def test_an_excess_on_a_few_samples_only_is_noise():
    cand = [0.85, 0.85, 0.85] + [0.23] * 7
    assert hidden_work([0.19] * 20, rounds(cand, [0.04] * 10, [2.75] * 10), [2.6] * 20) is None


def test_speedup_limit():
    assert speedup_insane(12.0, 10.0) and speedup_insane(9.0, 10.0) is None
