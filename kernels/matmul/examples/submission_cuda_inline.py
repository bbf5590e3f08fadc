import torch
from task import input_t, output_t
from torch.utils.cpp_extension import load_inline

# A shared-memory tiled matmul: 32x32 tiles, float32 accumulation.
cuda_sources = r"""
#include <cuda_fp16.h>
#include <ATen/cuda/CUDAContext.h>
#define TILE 32
__global__ void mm_kernel(const __half* A, const __half* B, __half* C, int M, int N, int K) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.f;
    for (int t = 0; t < K; t += TILE) {
        As[threadIdx.y][threadIdx.x] = (row < M && t + threadIdx.x < K) ? __half2float(A[(long long)row * K + t + threadIdx.x]) : 0.f;
        Bs[threadIdx.y][threadIdx.x] = (col < N && t + threadIdx.y < K) ? __half2float(B[(long long)(t + threadIdx.y) * N + col]) : 0.f;
        __syncthreads();
        for (int i = 0; i < TILE; ++i) acc += As[threadIdx.y][i] * Bs[i][threadIdx.x];
        __syncthreads();
    }
    if (row < M && col < N) C[(long long)row * N + col] = __float2half(acc);
}
torch::Tensor mm(torch::Tensor a, torch::Tensor b) {
    int M = a.size(0), K = a.size(1), N = b.size(1);
    auto c = torch::empty({M, N}, a.options());
    dim3 block(TILE, TILE), grid((N + TILE - 1) / TILE, (M + TILE - 1) / TILE);
    mm_kernel<<<grid, block, 0, at::cuda::getCurrentCUDAStream()>>>(
        reinterpret_cast<const __half*>(a.data_ptr<at::Half>()), reinterpret_cast<const __half*>(b.data_ptr<at::Half>()),
        reinterpret_cast<__half*>(c.data_ptr<at::Half>()), M, N, K);
    return c;
}
"""
cpp_sources = "torch::Tensor mm(torch::Tensor a, torch::Tensor b);"

_module = load_inline(name="bifrost_matmul", cpp_sources=cpp_sources, cuda_sources=cuda_sources,
                      functions=["mm"], extra_cuda_cflags=["-O3"], verbose=False)


def custom_kernel(data: input_t) -> output_t:
    a, b = data
    return _module.mm(a.contiguous(), b.contiguous())
