# CuPy RMSNorm (RawKernel), one block per row; bfloat16 handled as raw 16-bit words (widening is a
# shift, narrowing rounds to nearest-even), so NVRTC needs no header. 16-byte loads of 8 values,
# a warp-shuffle + shared-memory block sum, then a second pass over the row (from L2) that scales,
# multiplies by the weight and stores 16-byte vectors, with streaming cache hints (inline PTX) for x
# and y so they don't evict rows that other blocks will re-read.
import cupy
import torch
from task import input_t, output_t

_rmsnorm = cupy.RawKernel(
    r"""
__device__ __forceinline__ float widen(unsigned short b) { return __uint_as_float(((unsigned)b) << 16); }
__device__ __forceinline__ unsigned short narrow(float v) {
    unsigned u = __float_as_uint(v);
    return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Streaming ("evict first") 16-byte load and store, in PTX (no header needed under NVRTC): the
// second pass reads x for the last time and y is never read back, so neither should push the rows
// that other blocks are about to re-read out of L2.
__device__ __forceinline__ uint4 load_last(const void* p) {
    uint4 v;
    asm("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}
__device__ __forceinline__ void store_once(void* p, uint4 v) {
    asm volatile("st.global.cs.v4.u32 [%0], {%1, %2, %3, %4};"
                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}

extern "C" __global__ void rmsnorm(const unsigned short* __restrict__ x, const unsigned short* __restrict__ w,
                                   unsigned short* __restrict__ y, int cols, float eps) {
    const unsigned short* row = x + (long long)blockIdx.x * cols;
    unsigned short* out = y + (long long)blockIdx.x * cols;
    const bool vec = cols % 8 == 0;
    float ss = 0.f;
    if (vec) {
        for (int j = threadIdx.x * 8; j < cols; j += blockDim.x * 8) {
            uint4 raw = *reinterpret_cast<const uint4*>(row + j);
            const unsigned short* e = reinterpret_cast<const unsigned short*>(&raw);
#pragma unroll
            for (int k = 0; k < 8; ++k) { float f = widen(e[k]); ss += f * f; }
        }
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) { float f = widen(row[j]); ss += f * f; }
    }
    __shared__ float partial[32];
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) partial[warp] = ss;
    __syncthreads();
    ss = lane < (int)(blockDim.x / 32) ? partial[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    const float inv = rsqrtf(ss / cols + eps);
    if (vec) {
        for (int j = threadIdx.x * 8; j < cols; j += blockDim.x * 8) {
            uint4 raw = load_last(row + j);
            uint4 wraw = *reinterpret_cast<const uint4*>(w + j), res;
            const unsigned short* e = reinterpret_cast<const unsigned short*>(&raw);
            const unsigned short* g = reinterpret_cast<const unsigned short*>(&wraw);
            unsigned short* r = reinterpret_cast<unsigned short*>(&res);
#pragma unroll
            for (int k = 0; k < 8; ++k) r[k] = narrow(widen(e[k]) * inv * widen(g[k]));
            store_once(out + j, res);
        }
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = narrow(widen(row[j]) * inv * widen(w[j]));
    }
}
""",
    "rmsnorm",
)
EPS = 1e-6


def custom_kernel(data: input_t) -> output_t:
    x, weight = data
    rows, cols = x.shape
    assert x.is_contiguous() and weight.is_contiguous()
    y = torch.empty_like(x)
    threads = 32  # about 4 vectors of 8 per thread; short rows, small blocks
    while threads < 1024 and threads * 8 * 4 < cols:
        threads *= 2
    with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
        _rmsnorm(
            (rows,),
            (threads,),
            (
                cupy.asarray(x.view(torch.int16)),
                cupy.asarray(weight.view(torch.int16)),
                cupy.asarray(y.view(torch.int16)),
                cupy.int32(cols),
                cupy.float32(EPS),
            ),
        )
    return y
