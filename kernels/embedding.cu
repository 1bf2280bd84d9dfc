/* kernels/embedding.cu: token embeddings. Forward gathers bf16 table rows into the fp32
 * residual stream; backward scatters fp32 row gradients into the fp32 table gradient.
 *
 * Launch shape: one block per token row (a 1-D grid over N: gridDim.x allows 2^31 - 1),
 * threads across the C columns; 16-byte accesses (8 bf16 / 2 float4 per thread step) when
 * C % 8 == 0 and the pointers are 16-byte aligned, scalar otherwise. Backward uses fp32
 * atomicAdd because two tokens of a batch may share a table row (so the gradient is not
 * bit-reproducible run to run; the CPU op is the bit-exact reference). */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Enough threads for one pass over the row's accesses, a multiple of 32, at most 256. */
int threads_for(int accesses) {
    int t = (accesses + 31) / 32 * 32;
    return t < 32 ? 32 : t > 256 ? 256 : t;
}

__device__ __forceinline__ float2 unpack_bf16x2(uint32_t bits) {
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162 *>(&bits);
    return __bfloat1622float2(v);
}

__global__ void embedding_forward_kernel(float *out, const int *tokens, const __nv_bfloat16 *table, int C,
                                         bool vec) {
    const int n = blockIdx.x;
    const __nv_bfloat16 *src = table + (size_t)tokens[n] * C;
    float *dst = out + (size_t)n * C;
    if (vec) {
        const uint4 *s8 = reinterpret_cast<const uint4 *>(src);
        float4 *d4 = reinterpret_cast<float4 *>(dst);
        for (int i = threadIdx.x; i < C / 8; i += blockDim.x) {
            uint4 v = s8[i];
            float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
            d4[2 * i] = make_float4(a.x, a.y, b.x, b.y);
            d4[2 * i + 1] = make_float4(c.x, c.y, d.x, d.y);
        }
    } else {
        for (int i = threadIdx.x; i < C; i += blockDim.x) dst[i] = __bfloat162float(src[i]);
    }
}

__global__ void embedding_backward_kernel(float *dtable, const float *dout, const int *tokens, int C, bool vec) {
    const int n = blockIdx.x;
    float *dst = dtable + (size_t)tokens[n] * C;
    const float *src = dout + (size_t)n * C;
    if (vec) {
        const float4 *s4 = reinterpret_cast<const float4 *>(src);
        for (int i = threadIdx.x; i < C / 4; i += blockDim.x) {
            float4 v = s4[i];
            atomicAdd(dst + 4 * i, v.x);
            atomicAdd(dst + 4 * i + 1, v.y);
            atomicAdd(dst + 4 * i + 2, v.z);
            atomicAdd(dst + 4 * i + 3, v.w);
        }
    } else {
        for (int i = threadIdx.x; i < C; i += blockDim.x) atomicAdd(dst + i, src[i]);
    }
}

} // namespace

extern "C" cada_status gpu_embedding_forward(float *out, const int *tokens, const cada_bf16 *table, int N, int C,
                                             cudaStream_t stream) {
    if (!out || !tokens || !table)
        return CADA_ERR(CADA_ERR_ARG, "gpu_embedding_forward: %s is NULL", !out ? "out" : !tokens ? "tokens" : "table");
    if (N <= 0 || C <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_embedding_forward: N=%d, C=%d must be > 0", N, C);
    const bool vec = C % 8 == 0 && aligned16(out) && aligned16(table);
    embedding_forward_kernel<<<N, threads_for(vec ? C / 8 : C), 0, stream>>>(
        out, tokens, reinterpret_cast<const __nv_bfloat16 *>(table), C, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C,
                                              cudaStream_t stream) {
    if (!dtable || !dout || !tokens)
        return CADA_ERR(CADA_ERR_ARG, "gpu_embedding_backward: %s is NULL",
                        !dtable ? "dtable" : !dout ? "dout" : "tokens");
    if (N <= 0 || C <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_embedding_backward: N=%d, C=%d must be > 0", N, C);
    const bool vec = C % 4 == 0 && aligned16(dout);
    embedding_backward_kernel<<<N, threads_for(vec ? C / 4 : C), 0, stream>>>(dtable, dout, tokens, C, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
