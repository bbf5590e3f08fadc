# CuPy RawKernel: the same 16-byte vector add as the CUDA C++ example, compiled by NVRTC at import.
# Each thread handles 8 halves as 4 half2; the last n % 8 elements are handled by the first threads
# in a short scalar tail. The kernel runs on torch's current stream, so it is ordered with torch's work.
import cupy
import torch
from task import input_t, output_t

_add = cupy.RawKernel(
    r"""
#include <cuda_fp16.h>
extern "C" __global__ void add8(const uint4* __restrict__ a, const uint4* __restrict__ b,
                                uint4* __restrict__ c, long long n8, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n8) {
        uint4 x = a[i], y = b[i], z;
        const __half2* x2 = reinterpret_cast<const __half2*>(&x);
        const __half2* y2 = reinterpret_cast<const __half2*>(&y);
        __half2* z2 = reinterpret_cast<__half2*>(&z);
#pragma unroll
        for (int j = 0; j < 4; ++j) z2[j] = __hadd2(x2[j], y2[j]);
        c[i] = z;
    }
    long long t = n8 * 8 + i;           // tail: threads 0..(n % 8 - 1) add one more element each
    if (i < 8 && t < n) {
        const __half* ah = reinterpret_cast<const __half*>(a);
        const __half* bh = reinterpret_cast<const __half*>(b);
        __half* ch = reinterpret_cast<__half*>(c);
        ch[t] = __hadd(ah[t], bh[t]);
    }
}
""",
    "add8",
)
THREADS = 256


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    n = A.numel()
    n8 = n // 8
    blocks = max(1, (n8 + THREADS - 1) // THREADS)
    # torch allocations are 256-byte aligned and these are contiguous, so 16-byte vectors are safe.
    with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
        _add(
            (blocks,),
            (THREADS,),
            (cupy.asarray(A), cupy.asarray(B), cupy.asarray(C), cupy.int64(n8), cupy.int64(n)),
        )
    return C
