# Triton: a flat 1-D kernel over the contiguous buffers. Each program adds BLOCK elements; with
# 8 warps that is 16 halves (two 16-byte vectors) per thread, enough bytes in flight per SM to reach
# HBM bandwidth. Triton vectorises the loads itself once it knows the pointers are 16-byte aligned.
import triton
import triton.language as tl
from task import input_t, output_t

BLOCK = 4096


@triton.jit
def add_kernel(a_ptr, b_ptr, c_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(a_ptr + offs, mask=mask, eviction_policy="evict_first")  # read once: don't keep in L2
    b = tl.load(b_ptr + offs, mask=mask, eviction_policy="evict_first")
    tl.store(c_ptr + offs, a + b, mask=mask)


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    n = A.numel()
    add_kernel[(triton.cdiv(n, BLOCK),)](A, B, C, n, BLOCK=BLOCK, num_warps=8)
    return C
