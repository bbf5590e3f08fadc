import triton
import triton.language as tl


@triton.jit
def wild_store(c_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK).to(tl.int64) * (1 << 36)  # terabytes past the buffer
    tl.store(c_ptr + offs, tl.zeros((BLOCK,), dtype=tl.float16))


def custom_kernel(data):
    A, B, C = data
    wild_store[(1,)](C, BLOCK=128)
    return C
