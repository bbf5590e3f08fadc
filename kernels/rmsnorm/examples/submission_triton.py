# Triton RMSNorm, one program per row.
#
# Rows up to MAX_FUSED columns are loaded once into registers (bfloat16 -> float32), squared and
# summed, scaled and stored: one read of x, one write of y. The weight vector is loaded with the
# default cache policy (every row reuses it, so it stays in L2/L1), x with evict_first (read once).
# Longer rows loop twice over the row in chunks: sum of squares, then normalise.
import torch
import triton
import triton.language as tl
from task import input_t, output_t

EPS = 1e-6
MAX_FUSED = 32768
LOOP_BLOCK = 4096


@triton.jit
def rmsnorm_kernel(x_ptr, w_ptr, y_ptr, cols, x_stride, y_stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < cols
    x = tl.load(x_ptr + row * x_stride + offs, mask=mask, other=0.0, eviction_policy="evict_first").to(
        tl.float32
    )
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    inv = tl.rsqrt(tl.sum(x * x, axis=0) / cols + eps)
    tl.store(y_ptr + row * y_stride + offs, (x * inv * w).to(tl.bfloat16), mask=mask)


@triton.jit
def rmsnorm_looped_kernel(x_ptr, w_ptr, y_ptr, cols, x_stride, y_stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_stride
    acc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        x = tl.load(x_row + offs, mask=offs < cols, other=0.0).to(tl.float32)
        acc += x * x
    inv = tl.rsqrt(tl.sum(acc, axis=0) / cols + eps)
    for start in range(0, cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < cols
        x = tl.load(x_row + offs, mask=mask, other=0.0, eviction_policy="evict_first").to(tl.float32)
        w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_ptr + row * y_stride + offs, (x * inv * w).to(tl.bfloat16), mask=mask)


def custom_kernel(data: input_t) -> output_t:
    x, weight = data
    rows, cols = x.shape
    assert x.stride(1) == 1 and weight.is_contiguous(), "rows and weight must be contiguous"
    y = torch.empty_like(x)
    if cols <= MAX_FUSED:
        block = triton.next_power_of_2(cols)
        warps = min(32, max(4, block // 1024))  # about 32 values per thread
        rmsnorm_kernel[(rows,)](
            x, weight, y, cols, x.stride(0), y.stride(0), EPS, BLOCK=block, num_warps=warps
        )
    else:
        rmsnorm_looped_kernel[(rows,)](
            x, weight, y, cols, x.stride(0), y.stride(0), EPS, BLOCK=LOOP_BLOCK, num_warps=8
        )
    return y
