# CUDA C++ row softmax (load_inline), one block per row, float32 or bfloat16 in and out.
#
# Pass 1 reads the row once with 16-byte vector loads and keeps an online (max, sum) per thread:
# each 16-byte vector's max is folded in with one rescale, so there is one __expf per element.
# The (max, sum) pairs are merged across the warp with shuffles, then across warps in shared
# memory. Pass 2 reads the row again (it was just read by this block, so it comes from L2, not HBM)
# and writes y with streaming stores. Rows whose length is not a multiple of the vector width, or
# that are not 16-byte aligned, take the scalar path of the same kernel.
from task import input_t, output_t
from torch.utils.cpp_extension import load_inline

cuda_sources = r"""
#include <cuda_bf16.h>
#include <ATen/cuda/CUDAContext.h>

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Merge two (max, sum-of-exp relative to max) pairs. Written so that (-inf, 0) pairs merge to (-inf, 0).
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
    float mn = fmaxf(m, m2);
    s = (m == mn ? s : s * __expf(m - mn)) + (m2 == mn ? s2 : s2 * __expf(m2 - mn));
    m = mn;
}

template <typename T, bool VEC>
__global__ void softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int cols) {
    constexpr int N = 16 / sizeof(T);                  // elements per 16-byte vector
    const T* row = x + (int64_t)blockIdx.x * cols;
    T* out = y + (int64_t)blockIdx.x * cols;
    float m = -INFINITY, s = 0.f;
    if (VEC) {
        for (int j = threadIdx.x * N; j < cols; j += blockDim.x * N) {
            uint4 raw = *reinterpret_cast<const uint4*>(row + j);
            const T* e = reinterpret_cast<const T*>(&raw);
            float v[N], mx = -INFINITY;
#pragma unroll
            for (int k = 0; k < N; ++k) { v[k] = to_f32(e[k]); mx = fmaxf(mx, v[k]); }
            if (mx > m) { s *= __expf(m - mx); m = mx; }
#pragma unroll
            for (int k = 0; k < N; ++k) s += __expf(v[k] - m);
        }
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            float v = to_f32(row[j]);
            if (v > m) { s *= __expf(m - v); m = v; }
            s += __expf(v - m);
        }
    }
    // Block-wide merge: warp shuffles, then one pair per warp through shared memory.
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
        merge(m, s, __shfl_xor_sync(0xffffffff, m, off), __shfl_xor_sync(0xffffffff, s, off));
    __shared__ float sm[32], ss[32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    if (lane == 0) { sm[warp] = m; ss[warp] = s; }
    __syncthreads();
    m = lane < warps ? sm[lane] : -INFINITY;
    s = lane < warps ? ss[lane] : 0.f;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
        merge(m, s, __shfl_xor_sync(0xffffffff, m, off), __shfl_xor_sync(0xffffffff, s, off));
    const float inv = 1.f / s;
    if (VEC) {
        for (int j = threadIdx.x * N; j < cols; j += blockDim.x * N) {
            uint4 raw = __ldcs(reinterpret_cast<const uint4*>(row + j)), res;
            const T* e = reinterpret_cast<const T*>(&raw);
            T* r = reinterpret_cast<T*>(&res);
#pragma unroll
            for (int k = 0; k < N; ++k) r[k] = from_f32<T>(__expf(to_f32(e[k]) - m) * inv);
            __stcs(reinterpret_cast<uint4*>(out + j), res);
        }
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x)
            out[j] = from_f32<T>(__expf(to_f32(row[j]) - m) * inv);
    }
}

template <typename T>
void launch(const T* x, T* y, int64_t rows, int cols, cudaStream_t stream) {
    constexpr int N = 16 / sizeof(T);
    // About 4 vectors per thread: enough work to amortise the two block reductions, and small
    // blocks for short rows so that many rows (blocks) are in flight on each SM.
    int threads = 32;
    while (threads < 1024 && threads * N * 4 < cols) threads *= 2;
    const bool vec = cols % N == 0 && ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) % 16) == 0;
    if (vec) softmax_kernel<T, true><<<(unsigned)rows, threads, 0, stream>>>(x, y, cols);
    else softmax_kernel<T, false><<<(unsigned)rows, threads, 0, stream>>>(x, y, cols);
}

torch::Tensor softmax_into(torch::Tensor x, torch::Tensor out) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.is_contiguous() && out.is_contiguous(), "x: contiguous 2-D CUDA tensor");
    TORCH_CHECK(out.sizes() == x.sizes() && out.scalar_type() == x.scalar_type(), "out must match x");
    const int64_t rows = x.size(0);
    const int cols = (int)x.size(1);
    if (rows == 0 || cols == 0) return out;
    auto stream = at::cuda::getCurrentCUDAStream();
    if (x.scalar_type() == at::kFloat) {
        launch<float>(x.data_ptr<float>(), out.data_ptr<float>(), rows, cols, stream);
    } else {
        TORCH_CHECK(x.scalar_type() == at::kBFloat16, "float32 or bfloat16 only");
        launch<__nv_bfloat16>(reinterpret_cast<const __nv_bfloat16*>(x.data_ptr<at::BFloat16>()),
                              reinterpret_cast<__nv_bfloat16*>(out.data_ptr<at::BFloat16>()), rows, cols, stream);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}
"""
cpp_sources = "torch::Tensor softmax_into(torch::Tensor x, torch::Tensor out);"

_module = load_inline(
    name="bifrost_softmax",
    cpp_sources=cpp_sources,
    cuda_sources=cuda_sources,
    functions=["softmax_into"],
    extra_cuda_cflags=["-O3"],
    verbose=False,
)


def custom_kernel(data: input_t) -> output_t:
    x, out = data
    return _module.softmax_into(x, out)
