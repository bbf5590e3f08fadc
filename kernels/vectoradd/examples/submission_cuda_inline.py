import torch
from task import input_t, output_t
from torch.utils.cpp_extension import load_inline

cuda_sources = r"""
#include <cuda_fp16.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void add_kernel(const __half* a, const __half* b, __half* c, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = __hadd(a[i], b[i]);
}
torch::Tensor add_into(torch::Tensor a, torch::Tensor b, torch::Tensor c) {
    int64_t n = a.numel();
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    add_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        reinterpret_cast<const __half*>(a.data_ptr<at::Half>()),
        reinterpret_cast<const __half*>(b.data_ptr<at::Half>()),
        reinterpret_cast<__half*>(c.data_ptr<at::Half>()), n);
    return c;
}
"""
cpp_sources = "torch::Tensor add_into(torch::Tensor a, torch::Tensor b, torch::Tensor c);"

_module = load_inline(name="bifrost_vectoradd", cpp_sources=cpp_sources, cuda_sources=cuda_sources,
                      functions=["add_into"], extra_cuda_cflags=["-O3"], verbose=False)


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    return _module.add_into(A, B, C)
