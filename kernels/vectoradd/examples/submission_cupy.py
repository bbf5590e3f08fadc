import cupy
import torch
from task import input_t, output_t

_add = cupy.RawKernel(r"""
#include <cuda_fp16.h>
extern "C" __global__ void add(const __half* a, const __half* b, __half* c, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = __hadd(a[i], b[i]);
}
""", "add")
THREADS = 256


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    n = A.numel()
    stream = cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)
    with stream:
        _add(((n + THREADS - 1) // THREADS,), (THREADS,),
             (cupy.asarray(A).ravel(), cupy.asarray(B).ravel(), cupy.asarray(C).ravel(), cupy.int64(n)))
    return C
