import triton
import triton.language as tl
from task import input_t, output_t

BLOCK = 1024


@triton.jit
def add_kernel(a_ptr, b_ptr, c_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(a_ptr + offs, mask=mask)
    b = tl.load(b_ptr + offs, mask=mask)
    tl.store(c_ptr + offs, a + b, mask=mask)


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    n = A.numel()
    add_kernel[(triton.cdiv(n, BLOCK),)](A, B, C, n, BLOCK=BLOCK)
    return C
