# CUDA C++ bf16 matmul on tensor cores through WMMA (mma.sync), float32 accumulation.
#
# Block tile 128x256, K step 32, 8 warps in a 2x4 grid; each warp owns a 64x64 piece of C as 4x4
# WMMA 16x16x16 fragments (128 accumulator registers a thread): every fragment of A loaded from
# shared memory is used 4 times, every fragment of B 4 times. Tiles move global -> shared with
# cp.async (16 bytes a thread, no register staging) in a 3-stage pipeline: while tile k is
# multiplied, tiles k+1 and k+2 are in flight. Shared rows are padded by 8 elements so that the
# fragment loads of 8 rows hit 8 different bank groups. The K, M and N tails are zero-filled
# (cp.async with a source size of 0); when K or N is not a multiple of 8 (or a pointer is not
# 16-byte aligned) the tiles are filled element by element instead.
# Hopper's fastest path (wgmma + TMA, which Triton and cuBLAS use) is beyond WMMA: the Triton
# example is the fast one; this shows the classic tiled, pipelined structure. Measured on an H100
# (harness, 2026-11-25): 0.72 ms at 4096^3, 25 % of cuBLAS's rate; next steps would be mma.sync
# with ldmatrix from swizzled shared memory, then wgmma.
from task import input_t, output_t
from torch.utils.cpp_extension import load_inline

cuda_sources = r"""
#include <mma.h>
#include <cuda_bf16.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
using namespace nvcuda;

constexpr int BM = 128, BN = 256, BK = 32, PAD = 8, STAGES = 3, THREADS = 256;
constexpr int A_STAGE = BM * (BK + PAD), B_STAGE = BK * (BN + PAD);        // elements per stage
constexpr int SMEM_BYTES = STAGES * (A_STAGE + B_STAGE) * 2;                // 81408 bytes
typedef __nv_bfloat16 bf16;
typedef bf16 ATile[BK + PAD];
typedef bf16 BTile[BN + PAD];

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    int bytes = valid ? 16 : 0;                       // 0: nothing read, 16 zero bytes written
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_stages() { asm volatile("cp.async.wait_group %0;\n" :: "n"(STAGES - 2)); }

// One stage: A[m0:m0+BM, k0:k0+BK] and B[k0:k0+BK, n0:n0+BN] into shared memory, zero-filled outside.
__device__ __forceinline__ void load_stage(ATile* As, BTile* Bs, const bf16* A, const bf16* B,
                                           int M, int N, int K, int m0, int n0, int k0, bool fast) {
    const bf16 zero = __float2bfloat16(0.f);
#pragma unroll
    for (int c = threadIdx.x; c < BM * BK / 8; c += THREADS) {       // A: BM rows of BK/8 chunks
        const int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
        const int gm = m0 + r, gk = k0 + kc;
        if (fast) {
            const bool ok = gm < M && gk < K;
            cp_async16(&As[r][kc], ok ? A + (int64_t)gm * K + gk : A, ok);
        } else {
            for (int e = 0; e < 8; ++e) As[r][kc + e] = (gm < M && gk + e < K) ? A[(int64_t)gm * K + gk + e] : zero;
        }
    }
#pragma unroll
    for (int c = threadIdx.x; c < BK * BN / 8; c += THREADS) {       // B: BK rows of BN/8 chunks
        const int r = c / (BN / 8), nc = (c % (BN / 8)) * 8;
        const int gk = k0 + r, gn = n0 + nc;
        if (fast) {
            const bool ok = gk < K && gn < N;
            cp_async16(&Bs[r][nc], ok ? B + (int64_t)gk * N + gn : B, ok);
        } else {
            for (int e = 0; e < 8; ++e) Bs[r][nc + e] = (gk < K && gn + e < N) ? B[(int64_t)gk * N + gn + e] : zero;
        }
    }
}

__global__ void __launch_bounds__(THREADS, 1) mm_kernel(const bf16* __restrict__ A, const bf16* __restrict__ B,
                                                        bf16* __restrict__ C, int M, int N, int K, bool fast) {
    extern __shared__ __align__(128) unsigned char smem[];
    ATile* As = reinterpret_cast<ATile*>(smem);                                   // [STAGES * BM]
    BTile* Bs = reinterpret_cast<BTile*>(smem + STAGES * A_STAGE * sizeof(bf16));  // [STAGES * BK]

    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = (warp / 4) * 64, wn = (warp % 4) * 64;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[i][j], 0.f);

    const int tiles = (K + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {          // prologue: the first STAGES-1 tiles in flight
        if (s < tiles) load_stage(As + s * BM, Bs + s * BK, A, B, M, N, K, m0, n0, s * BK, fast);
        cp_async_commit();                           // one group per tile, empty or not: counts stay exact
    }
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait_stages();                      // tile t has landed (at most STAGES-2 groups pending)
        __syncthreads();                             // ... for every thread; and stage (t-1) is free again
        const int next = t + STAGES - 1;
        if (next < tiles) {
            const int s = next % STAGES;
            load_stage(As + s * BM, Bs + s * BK, A, B, M, N, K, m0, n0, next * BK, fast);
        }
        cp_async_commit();
        const ATile* a = As + (t % STAGES) * BM;
        const BTile* b = Bs + (t % STAGES) * BK;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], &a[wm + i * 16][kk], BK + PAD);
#pragma unroll
            for (int j = 0; j < 4; ++j) wmma::load_matrix_sync(fb[j], &b[kk][wn + j * 16], BN + PAD);
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
    __syncthreads();                                 // the pipeline's shared memory becomes epilogue scratch

    // Epilogue: each fragment goes through a per-warp 16x16 float scratch, then 8 bf16 per lane.
    float* mine = reinterpret_cast<float*>(smem) + warp * 256;
    const int r = lane / 2, c = (lane % 2) * 8;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            wmma::store_matrix_sync(mine, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            const int gm = m0 + wm + i * 16 + r, gn = n0 + wn + j * 16 + c;
            if (gm < M) {
                if (fast && gn + 8 <= N) {           // one 16-byte store
                    uint4 packed;
                    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
                    for (int e = 0; e < 4; ++e) h[e] = __floats2bfloat162_rn(mine[r * 16 + c + 2 * e], mine[r * 16 + c + 2 * e + 1]);
                    *reinterpret_cast<uint4*>(C + (int64_t)gm * N + gn) = packed;
                } else {
                    for (int e = 0; e < 8; ++e)
                        if (gn + e < N) C[(int64_t)gm * N + gn + e] = __float2bfloat16_rn(mine[r * 16 + c + e]);
                }
            }
            __syncwarp();
        }
    }
}

torch::Tensor mm(torch::Tensor a, torch::Tensor b) {
    TORCH_CHECK(a.is_cuda() && a.scalar_type() == at::kBFloat16 && b.scalar_type() == at::kBFloat16, "bf16 CUDA tensors");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && a.size(1) == b.size(0), "contiguous (m,k) @ (k,n)");
    const int M = (int)a.size(0), K = (int)a.size(1), N = (int)b.size(1);
    auto c = torch::empty({M, N}, a.options());
    if (M == 0 || N == 0) return c;
    const bf16* pa = reinterpret_cast<const bf16*>(a.data_ptr<at::BFloat16>());
    const bf16* pb = reinterpret_cast<const bf16*>(b.data_ptr<at::BFloat16>());
    bf16* pc = reinterpret_cast<bf16*>(c.data_ptr<at::BFloat16>());
    const bool fast = K % 8 == 0 && N % 8 == 0 &&
                      ((reinterpret_cast<uintptr_t>(pa) | reinterpret_cast<uintptr_t>(pb) | reinterpret_cast<uintptr_t>(pc)) % 16) == 0;
    static bool configured = false;                  // more than 48 KB of dynamic shared memory needs an opt-in
    if (!configured) {
        C10_CUDA_CHECK(cudaFuncSetAttribute(mm_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
        configured = true;
    }
    dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
    mm_kernel<<<grid, THREADS, SMEM_BYTES, at::cuda::getCurrentCUDAStream()>>>(pa, pb, pc, M, N, K, fast);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return c;
}
"""
cpp_sources = "torch::Tensor mm(torch::Tensor a, torch::Tensor b);"

_module = load_inline(
    name="bifrost_matmul_bf16_v2",
    cpp_sources=cpp_sources,
    cuda_sources=cuda_sources,
    functions=["mm"],
    extra_cuda_cflags=["-O3"],
    verbose=False,
)


def custom_kernel(data: input_t) -> output_t:
    a, b = data
    return _module.mm(a.contiguous(), b.contiguous())
