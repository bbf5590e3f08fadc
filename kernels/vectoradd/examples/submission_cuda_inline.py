# CUDA C++ through load_inline: 16-byte vector loads (8 halves per thread, added as 4 half2), with
# streaming cache hints (__ldcs / __stcs: read once, write once, keep them out of L2's way). A scalar
# kernel finishes the last n % 8 elements; unaligned buffers (views) take the scalar path entirely.
from task import input_t, output_t
from torch.utils.cpp_extension import load_inline

cuda_sources = r"""
#include <cuda_fp16.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void add_vec8(const uint4* __restrict__ a, const uint4* __restrict__ b, uint4* __restrict__ c,
                         int64_t n8) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n8) return;
    uint4 x = __ldcs(a + i), y = __ldcs(b + i), z;
    const __half2* x2 = reinterpret_cast<const __half2*>(&x);
    const __half2* y2 = reinterpret_cast<const __half2*>(&y);
    __half2* z2 = reinterpret_cast<__half2*>(&z);
#pragma unroll
    for (int j = 0; j < 4; ++j) z2[j] = __hadd2(x2[j], y2[j]);
    __stcs(c + i, z);
}

__global__ void add_scalar(const __half* __restrict__ a, const __half* __restrict__ b, __half* __restrict__ c,
                           int64_t start, int64_t n) {
    int64_t i = start + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = __hadd(a[i], b[i]);
}

torch::Tensor add_into(torch::Tensor a, torch::Tensor b, torch::Tensor c) {
    TORCH_CHECK(a.is_cuda() && a.scalar_type() == at::kHalf, "a must be a CUDA float16 tensor");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && c.is_contiguous(), "inputs must be contiguous");
    TORCH_CHECK(a.numel() == b.numel() && a.numel() == c.numel(), "sizes differ");
    const int64_t n = a.numel();
    if (n == 0) return c;
    auto stream = at::cuda::getCurrentCUDAStream();
    const __half* pa = reinterpret_cast<const __half*>(a.data_ptr<at::Half>());
    const __half* pb = reinterpret_cast<const __half*>(b.data_ptr<at::Half>());
    __half* pc = reinterpret_cast<__half*>(c.data_ptr<at::Half>());
    const bool aligned = ((reinterpret_cast<uintptr_t>(pa) | reinterpret_cast<uintptr_t>(pb) |
                           reinterpret_cast<uintptr_t>(pc)) % 16) == 0;
    const int threads = 256;
    int64_t done = 0;
    if (aligned) {
        const int64_t n8 = n / 8;
        if (n8 > 0) {
            add_vec8<<<(unsigned)((n8 + threads - 1) / threads), threads, 0, stream>>>(
                reinterpret_cast<const uint4*>(pa), reinterpret_cast<const uint4*>(pb),
                reinterpret_cast<uint4*>(pc), n8);
        }
        done = n8 * 8;
    }
    if (done < n) {
        add_scalar<<<(unsigned)((n - done + threads - 1) / threads), threads, 0, stream>>>(pa, pb, pc, done, n);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return c;
}
"""
cpp_sources = "torch::Tensor add_into(torch::Tensor a, torch::Tensor b, torch::Tensor c);"

_module = load_inline(
    name="bifrost_vectoradd_v2",
    cpp_sources=cpp_sources,
    cuda_sources=cuda_sources,
    functions=["add_into"],
    extra_cuda_cflags=["-O3"],
    verbose=False,
)


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    return _module.add_into(A, B, C)
