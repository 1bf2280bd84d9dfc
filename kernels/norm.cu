/* kernels/norm.cu: RMSNorm (Hugging Face's LlamaRMSNorm) forward and backward on the
 * fp32 residual stream with bf16 weights and a bf16 normed output.
 *
 * Launch shape: one warp per row, 8 rows per 256-thread block, a 1-D grid over rows
 * (N may exceed gridDim.y's 65535). A row (C <= a few thousand floats) is read once to
 * reduce (warp shuffles, fp32 partial sums per lane) and once more to write; the second
 * read hits L1/L2. float4 loads (and 4-bf16 8-byte weight/output accesses) when
 * C % 4 == 0 and the pointers are aligned.
 *
 * Backward: each warp handles its rows in turn (grid-stride over rows, at most
 * kMaxBackwardBlocks blocks), the per-column dweight sums of a block accumulate in a
 * shared fp32 array of C floats (shared-memory atomics from the block's 8 warps), and
 * the block adds its partials to dweight with one global atomicAdd per column. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxBackwardBlocks = 512;
constexpr size_t kDefaultSharedBytes = 48 * 1024;

bool aligned(const void *p, unsigned bytes) { return ((uintptr_t)p & (bytes - 1)) == 0; }

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ float2 unpack_bf16x2(uint32_t bits) {
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162 *>(&bits);
    return __bfloat1622float2(v);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* y = w * (x * r), the CPU op's order. */
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_forward_kernel(__nv_bfloat16 *out, float *rstd, const float *inp, const __nv_bfloat16 *weight, int N,
                           int C, float eps) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kWarps + (threadIdx.x >> 5);
    if (row >= N) return; /* the whole warp leaves together; no block barrier follows */
    const float *x = inp + (size_t)row * C;
    __nv_bfloat16 *y = out + (size_t)row * C;
    float ss = 0.0f;
    if (VEC) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        for (int i = lane; i < C / 4; i += 32) {
            float4 v = x4[i];
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int i = lane; i < C; i += 32) ss += x[i] * x[i];
    }
    ss = warp_sum(ss);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    if (lane == 0) rstd[row] = r;
    if (VEC) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        const uint2 *w4 = reinterpret_cast<const uint2 *>(weight);
        uint2 *y4 = reinterpret_cast<uint2 *>(y);
        for (int i = lane; i < C / 4; i += 32) {
            float4 v = x4[i];
            uint2 wb = w4[i];
            float2 w01 = unpack_bf16x2(wb.x), w23 = unpack_bf16x2(wb.y);
            uint2 o;
            o.x = pack_bf16x2(w01.x * (v.x * r), w01.y * (v.y * r));
            o.y = pack_bf16x2(w23.x * (v.z * r), w23.y * (v.w * r));
            y4[i] = o;
        }
    } else {
        for (int i = lane; i < C; i += 32) y[i] = __float2bfloat16(__bfloat162float(weight[i]) * (x[i] * r));
    }
}

/* dx += r w dy - k x with k = r^3 / C * sum_i w_i dy_i x_i (see src/ops/norm.c);
 * dweight += dy x r summed over rows. dw_s: C floats of dynamic shared memory. */
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_backward_kernel(float *dinp, float *dweight, const __nv_bfloat16 *dout, const float *inp,
                            const __nv_bfloat16 *weight, const float *rstd, int N, int C) {
    extern __shared__ float dw_s[];
    for (int i = threadIdx.x; i < C; i += blockDim.x) dw_s[i] = 0.0f;
    __syncthreads();
    const int lane = threadIdx.x & 31;
    /* Warp-uniform loop: every lane of a warp runs the same rows, so the shuffles below
     * always see all 32 lanes. */
    for (int row = blockIdx.x * kWarps + (threadIdx.x >> 5); row < N; row += gridDim.x * kWarps) {
        const float *x = inp + (size_t)row * C;
        const __nv_bfloat16 *dy = dout + (size_t)row * C;
        float *dx = dinp + (size_t)row * C;
        const float r = rstd[row];
        float dot = 0.0f;
        if (VEC) {
            const float4 *x4 = reinterpret_cast<const float4 *>(x);
            const uint2 *dy4 = reinterpret_cast<const uint2 *>(dy);
            const uint2 *w4 = reinterpret_cast<const uint2 *>(weight);
            for (int i = lane; i < C / 4; i += 32) {
                float4 v = x4[i];
                uint2 gb = dy4[i], wb = w4[i];
                float2 g01 = unpack_bf16x2(gb.x), g23 = unpack_bf16x2(gb.y);
                float2 w01 = unpack_bf16x2(wb.x), w23 = unpack_bf16x2(wb.y);
                dot += w01.x * g01.x * v.x + w01.y * g01.y * v.y + w23.x * g23.x * v.z + w23.y * g23.y * v.w;
            }
        } else {
            for (int i = lane; i < C; i += 32)
                dot += __bfloat162float(weight[i]) * __bfloat162float(dy[i]) * x[i];
        }
        dot = warp_sum(dot);
        const float k = dot * r * r * r / (float)C;
        if (VEC) {
            const float4 *x4 = reinterpret_cast<const float4 *>(x);
            const uint2 *dy4 = reinterpret_cast<const uint2 *>(dy);
            const uint2 *w4 = reinterpret_cast<const uint2 *>(weight);
            float4 *dx4 = reinterpret_cast<float4 *>(dx);
            for (int i = lane; i < C / 4; i += 32) {
                float4 v = x4[i];
                uint2 gb = dy4[i], wb = w4[i];
                float2 g01 = unpack_bf16x2(gb.x), g23 = unpack_bf16x2(gb.y);
                float2 w01 = unpack_bf16x2(wb.x), w23 = unpack_bf16x2(wb.y);
                float4 d = dx4[i];
                d.x += r * w01.x * g01.x - k * v.x;
                d.y += r * w01.y * g01.y - k * v.y;
                d.z += r * w23.x * g23.x - k * v.z;
                d.w += r * w23.y * g23.y - k * v.w;
                dx4[i] = d;
                atomicAdd(&dw_s[4 * i], g01.x * v.x * r);
                atomicAdd(&dw_s[4 * i + 1], g01.y * v.y * r);
                atomicAdd(&dw_s[4 * i + 2], g23.x * v.z * r);
                atomicAdd(&dw_s[4 * i + 3], g23.y * v.w * r);
            }
        } else {
            for (int i = lane; i < C; i += 32) {
                const float g = __bfloat162float(dy[i]);
                dx[i] += r * __bfloat162float(weight[i]) * g - k * x[i];
                atomicAdd(&dw_s[i], g * x[i] * r);
            }
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < C; i += blockDim.x) atomicAdd(&dweight[i], dw_s[i]);
}

} // namespace

extern "C" cada_status gpu_rmsnorm_forward(cada_bf16 *out, float *rstd, const float *inp, const cada_bf16 *weight,
                                           int N, int C, float eps, cudaStream_t stream) {
    if (!out || !rstd || !inp || !weight)
        return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_forward: %s is NULL",
                        !out ? "out" : !rstd ? "rstd" : !inp ? "inp" : "weight");
    if (N <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_forward: N=%d must be > 0", N);
    if (C <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_forward: C=%d must be > 0", C);
    if (!(eps >= 0.0f)) return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_forward: eps=%g must be >= 0", (double)eps);
    __nv_bfloat16 *o = reinterpret_cast<__nv_bfloat16 *>(out);
    const __nv_bfloat16 *w = reinterpret_cast<const __nv_bfloat16 *>(weight);
    const unsigned blocks = (unsigned)((N + kWarps - 1) / kWarps);
    if (C % 4 == 0 && aligned(inp, 16) && aligned(out, 8) && aligned(weight, 8))
        rmsnorm_forward_kernel<true><<<blocks, kThreads, 0, stream>>>(o, rstd, inp, w, N, C, eps);
    else
        rmsnorm_forward_kernel<false><<<blocks, kThreads, 0, stream>>>(o, rstd, inp, w, N, C, eps);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_rmsnorm_backward(float *dinp, float *dweight, const cada_bf16 *dout, const float *inp,
                                            const cada_bf16 *weight, const float *rstd, int N, int C,
                                            cudaStream_t stream) {
    if (!dinp || !dweight || !dout || !inp || !weight || !rstd)
        return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_backward: %s is NULL",
                        !dinp ? "dinp" : !dweight ? "dweight" : !dout ? "dout" : !inp ? "inp" : !weight ? "weight" : "rstd");
    if (N <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_backward: N=%d must be > 0", N);
    if (C <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_rmsnorm_backward: C=%d must be > 0", C);
    const __nv_bfloat16 *g = reinterpret_cast<const __nv_bfloat16 *>(dout);
    const __nv_bfloat16 *w = reinterpret_cast<const __nv_bfloat16 *>(weight);
    int blocks = (N + kWarps - 1) / kWarps;
    if (blocks > kMaxBackwardBlocks) blocks = kMaxBackwardBlocks;
    const size_t shmem = (size_t)C * sizeof(float);
    const bool vec = C % 4 == 0 && aligned(inp, 16) && aligned(dinp, 16) && aligned(dout, 8) && aligned(weight, 8);
    auto kernel = vec ? rmsnorm_backward_kernel<true> : rmsnorm_backward_kernel<false>;
    if (shmem > kDefaultSharedBytes) {
        /* Widths past 12288 need the opt-in shared memory (up to 227 KiB on sm_90, 163 KiB
         * on sm_80); the attribute call fails with a CUDA error past the device's limit. */
        CADA_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shmem));
    }
    kernel<<<blocks, kThreads, shmem, stream>>>(dinp, dweight, g, inp, w, rstd, N, C);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
