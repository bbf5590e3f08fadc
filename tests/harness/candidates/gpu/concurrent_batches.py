# Exploit (red team, 2026-12-07; not yet run on a GPU): latency against throughput. The claim is the
# timing wrap of patch_timed_call_by_four.py (every cold call reported at a quarter of its time). The
# judge's batches time back-to-back calls, one per working set, and the code that serves a batch runs
# in this process: here it spreads the calls over four streams. The kernel leaves most of the GPU idle
# (a few programs, each looping over its share), so four calls run at once and the batch's time per
# call falls to about a quarter too, where the false claim would fit under the judge's clock. A judge
# that holds the claim to per-call latency must flag it (timing_disagrees); if it does not, the hole is
# open (bench/harness/judge_suite.py shows which).
import torch
import triton
import triton.language as tl

import gpu_harness.candidate_host
import gpu_harness.timing

PROGRAMS = 8
BLOCK = 4096
STREAMS = 4

_timed_call = gpu_harness.timing.timed_call
_batch = gpu_harness.candidate_host.Host.op_batch


@triton.jit
def add_kernel(a_ptr, b_ptr, c_ptr, n, BLOCK: tl.constexpr, PROGRAMS: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, PROGRAMS * BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < n
        a = tl.load(a_ptr + offs, mask=mask)
        b = tl.load(b_ptr + offs, mask=mask)
        tl.store(c_ptr + offs, a + b, mask=mask)


def _forged(fn, data, cold, cover_cycles):
    event_ms, host_ms, out = _timed_call(fn, data, cold, cover_cycles)
    return event_ms / STREAMS, host_ms / STREAMS, out


def _spread_over_streams(self, msg):
    streams = [torch.cuda.Stream() for _ in range(STREAMS)]
    for stream in streams:
        stream.wait_stream(torch.cuda.current_stream())
    serial, turn = self.candidate, [0]

    def on_next_stream(data):
        stream = streams[turn[0] % STREAMS]
        turn[0] += 1
        with torch.cuda.stream(stream):
            return serial(data)

    self.candidate = on_next_stream
    try:
        return _batch(self, msg)  # it synchronises the whole device before it answers
    finally:
        self.candidate = serial


gpu_harness.timing.timed_call = _forged
gpu_harness.candidate_host.Host.op_batch = _spread_over_streams


def custom_kernel(data):
    A, B, C = data
    add_kernel[(PROGRAMS,)](A, B, C, A.numel(), BLOCK=BLOCK, PROGRAMS=PROGRAMS, num_warps=8)
    return C
