import triton
import triton.language as tl


@triton.jit
def broken(a_ptr, c_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, 3)  # not a power of two: Triton refuses it
    tl.store(c_ptr + offs, tl.load(a_ptr + offs))


def custom_kernel(data):
    A, B, C = data
    broken[(1,)](A, C, A.numel(), BLOCK=4)
    return C
