/* kernels/swiglu.cu: SwiGLU (Shazeer 2020) on bf16 activations with fp32 math, as
 * src/ops/elementwise.c: h = silu(g) * u with silu(g) = g * sigmoid(g), gu (N, 2I) =
 * [gate | up] per row, h (N, I); backward writes dgu.
 *
 * Launch shape: a 1-D grid-stride loop of 256-thread blocks over the N * I outputs
 * (size_t; the row and column come from one division per access), grid capped at 8192
 * blocks. When I % 8 == 0 and the pointers are 16-byte aligned a thread handles 8
 * adjacent columns with 16-byte loads and stores; otherwise one column. expf (not the
 * fast intrinsic) for the sigmoid. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include "kernel_util.cuh"

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

using namespace cada_kernel;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The CPU op's order: (g * s(g)) * u. */
__device__ __forceinline__ float swiglu(float g, float u) { return g * sigmoid(g) * u; }

/* du = dy g s; dg = dy u s (1 + g (1 - s)), the CPU op's order. */
__device__ __forceinline__ void swiglu_grad(float dy, float g, float u, float *dg, float *du) {
    const float s = sigmoid(g);
    *du = dy * g * s;
    *dg = dy * u * s * (1.0f + g * (1.0f - s));
}

__device__ __forceinline__ void unpack8(uint4 v, float *f) {
    float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
    f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y, f[4] = c.x, f[5] = c.y, f[6] = d.x, f[7] = d.y;
}

__device__ __forceinline__ uint4 pack8(const float *f) {
    uint4 v;
    v.x = pack_bf16x2(f[0], f[1]);
    v.y = pack_bf16x2(f[2], f[3]);
    v.z = pack_bf16x2(f[4], f[5]);
    v.w = pack_bf16x2(f[6], f[7]);
    return v;
}

__global__ void swiglu_forward_kernel(__nv_bfloat16 *h, const __nv_bfloat16 *gu, size_t N, size_t I, bool vec) {
    const size_t start = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    if (vec) {
        const size_t per_row = I / 8, total = N * per_row;
        for (size_t t = start; t < total; t += step) {
            const size_t n = t / per_row, c = t - n * per_row;
            const uint4 *g8 = reinterpret_cast<const uint4 *>(gu + n * 2 * I);
            float g[8], u[8], y[8];
            unpack8(g8[c], g);
            unpack8(g8[per_row + c], u);
            for (int k = 0; k < 8; k++) y[k] = swiglu(g[k], u[k]);
            reinterpret_cast<uint4 *>(h + n * I)[c] = pack8(y);
        }
    } else {
        const size_t total = N * I;
        for (size_t t = start; t < total; t += step) {
            const size_t n = t / I, i = t - n * I;
            const __nv_bfloat16 *row = gu + n * 2 * I;
            h[t] = __float2bfloat16(swiglu(__bfloat162float(row[i]), __bfloat162float(row[I + i])));
        }
    }
}

__global__ void swiglu_backward_kernel(__nv_bfloat16 *dgu, const __nv_bfloat16 *dh, const __nv_bfloat16 *gu,
                                       size_t N, size_t I, bool vec) {
    const size_t start = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    if (vec) {
        const size_t per_row = I / 8, total = N * per_row;
        for (size_t t = start; t < total; t += step) {
            const size_t n = t / per_row, c = t - n * per_row;
            const uint4 *g8 = reinterpret_cast<const uint4 *>(gu + n * 2 * I);
            uint4 *d8 = reinterpret_cast<uint4 *>(dgu + n * 2 * I);
            float g[8], u[8], dy[8], dg[8], du[8];
            unpack8(g8[c], g);
            unpack8(g8[per_row + c], u);
            unpack8(reinterpret_cast<const uint4 *>(dh + n * I)[c], dy);
            for (int k = 0; k < 8; k++) swiglu_grad(dy[k], g[k], u[k], &dg[k], &du[k]);
            d8[c] = pack8(dg);
            d8[per_row + c] = pack8(du);
        }
    } else {
        const size_t total = N * I;
        for (size_t t = start; t < total; t += step) {
            const size_t n = t / I, i = t - n * I;
            const __nv_bfloat16 *row = gu + n * 2 * I;
            float dg, du;
            swiglu_grad(__bfloat162float(dh[t]), __bfloat162float(row[i]), __bfloat162float(row[I + i]), &dg, &du);
            dgu[n * 2 * I + i] = __float2bfloat16(dg);
            dgu[n * 2 * I + I + i] = __float2bfloat16(du);
        }
    }
}

} // namespace

extern "C" cada_status gpu_swiglu_forward(cada_bf16 *h, const cada_bf16 *gu, int N, int I, cudaStream_t stream) {
    if (!h || !gu) return CADA_ERR(CADA_ERR_ARG, "gpu_swiglu_forward: %s is NULL", !h ? "h" : "gu");
    if (N <= 0 || I <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_swiglu_forward: N=%d, I=%d must be > 0", N, I);
    const bool vec = I % 8 == 0 && aligned16(h) && aligned16(gu);
    const size_t work = (size_t)N * I / (vec ? 8 : 1);
    swiglu_forward_kernel<<<grid_for(work), kThreads, 0, stream>>>(reinterpret_cast<__nv_bfloat16 *>(h),
                                                                  reinterpret_cast<const __nv_bfloat16 *>(gu),
                                                                  (size_t)N, (size_t)I, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_swiglu_backward(cada_bf16 *dgu, const cada_bf16 *dh, const cada_bf16 *gu, int N, int I,
                                           cudaStream_t stream) {
    if (!dgu || !dh || !gu)
        return CADA_ERR(CADA_ERR_ARG, "gpu_swiglu_backward: %s is NULL", !dgu ? "dgu" : !dh ? "dh" : "gu");
    if (N <= 0 || I <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_swiglu_backward: N=%d, I=%d must be > 0", N, I);
    const bool vec = I % 8 == 0 && aligned16(dgu) && aligned16(dh) && aligned16(gu);
    const size_t work = (size_t)N * I / (vec ? 8 : 1);
    swiglu_backward_kernel<<<grid_for(work), kThreads, 0, stream>>>(
        reinterpret_cast<__nv_bfloat16 *>(dgu), reinterpret_cast<const __nv_bfloat16 *>(dh),
        reinterpret_cast<const __nv_bfloat16 *>(gu), (size_t)N, (size_t)I, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
