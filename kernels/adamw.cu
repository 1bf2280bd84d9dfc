/* kernels/adamw.cu: the AdamW update of learn/adamw.h on the fp32 master weights (with
 * the bf16 copy written in the same pass) and the fp64 sum of squares used for the
 * global gradient norm.
 *
 * gpu_sqnorm: a fixed partition, so the result is the same run to run: block b of 256
 * threads sums chunk b (kChunk elements; each thread a fixed strided subset, in fp64)
 * and reduces it in a fixed tree into scratch[b]; one block then sums the partials the
 * same way. No atomics, so no order depends on scheduling.
 * gpu_adamw_step: a 1-D grid-stride loop of 256-thread blocks (grid capped at 8192),
 * 4 elements per thread step (float4, 8-byte bf16 store) when every pointer allows. The
 * scalars (bias corrections, decay factor) are computed on the host in double as
 * learn/adamw.c does and passed as floats. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxBlocks = 8192;
constexpr size_t kChunk = 65536; /* elements per partial sum of gpu_sqnorm */

unsigned grid_for(size_t work) {
    size_t b = (work + kThreads - 1) / kThreads;
    if (b > kMaxBlocks) b = kMaxBlocks;
    return b ? (unsigned)b : 1u;
}

bool aligned(const void *p, unsigned bytes) { return ((uintptr_t)p & (bytes - 1)) == 0; }

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* Fixed-order block sum (256 threads): a shared-memory tree, the same for every launch. */
__device__ double block_sum_fixed(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    return sh[0];
}

__global__ void __launch_bounds__(kThreads) sqnorm_partial_kernel(double *part, const float *g, size_t n) {
    __shared__ double sh[kThreads];
    const size_t lo = (size_t)blockIdx.x * kChunk;
    const size_t hi = lo + kChunk < n ? lo + kChunk : n;
    double s = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += kThreads) s += (double)g[i] * g[i];
    s = block_sum_fixed(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void __launch_bounds__(kThreads) sqnorm_final_kernel(double *out, const double *part, size_t chunks) {
    __shared__ double sh[kThreads];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < chunks; i += kThreads) s += part[i];
    s = block_sum_fixed(s, sh);
    if (threadIdx.x == 0) *out = s;
}

struct AdamwScalars {
    float clip, decay, b1, b2, one_b1, one_b2, step_size, inv_bc2_sqrt, eps;
};

/* The order of learn/adamw.c, element for element. */
__device__ __forceinline__ float adamw_one(float p, float grad, float &m, float &v, const AdamwScalars &k) {
    const float g = grad * k.clip;
    const float pd = p * k.decay;
    const float mi = k.b1 * m + k.one_b1 * g;
    const float vi = k.b2 * v + k.one_b2 * g * g;
    m = mi;
    v = vi;
    return pd - k.step_size * mi / (sqrtf(vi) * k.inv_bc2_sqrt + k.eps);
}

__global__ void adamw_kernel(float *params, __nv_bfloat16 *params_bf16, const float *grads, float *m, float *v,
                             size_t n, AdamwScalars k, bool vec) {
    const size_t start = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 4;
        float4 *p4 = reinterpret_cast<float4 *>(params);
        const float4 *g4 = reinterpret_cast<const float4 *>(grads);
        float4 *m4 = reinterpret_cast<float4 *>(m);
        float4 *v4 = reinterpret_cast<float4 *>(v);
        for (size_t i = start; i < nv; i += step) {
            float4 p = p4[i], g = g4[i], mm = m4[i], vv = v4[i];
            p.x = adamw_one(p.x, g.x, mm.x, vv.x, k);
            p.y = adamw_one(p.y, g.y, mm.y, vv.y, k);
            p.z = adamw_one(p.z, g.z, mm.z, vv.z, k);
            p.w = adamw_one(p.w, g.w, mm.w, vv.w, k);
            p4[i] = p;
            m4[i] = mm;
            v4[i] = vv;
            if (params_bf16)
                reinterpret_cast<uint2 *>(params_bf16)[i] = make_uint2(pack_bf16x2(p.x, p.y), pack_bf16x2(p.z, p.w));
        }
        done = nv * 4;
    }
    for (size_t i = done + start; i < n; i += step) {
        float mi = m[i], vi = v[i];
        const float p = adamw_one(params[i], grads[i], mi, vi, k);
        params[i] = p;
        m[i] = mi;
        v[i] = vi;
        if (params_bf16) params_bf16[i] = __float2bfloat16(p);
    }
}

} // namespace

extern "C" size_t gpu_sqnorm_scratch_bytes(size_t n) {
    const size_t chunks = (n + kChunk - 1) / kChunk;
    return (chunks ? chunks : 1) * sizeof(double);
}

extern "C" cada_status gpu_sqnorm(double *out, void *scratch, const float *g, size_t n, cudaStream_t stream) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_sqnorm: out is NULL");
    if (n == 0) { /* the empty sum */
        CADA_CUDA_TRY(cudaMemsetAsync(out, 0, sizeof(double), stream));
        return CADA_OK;
    }
    if (!scratch || !g) return CADA_ERR(CADA_ERR_ARG, "gpu_sqnorm: %s is NULL", !scratch ? "scratch" : "g");
    const size_t chunks = (n + kChunk - 1) / kChunk;
    if (chunks > 0x7fffffffu) return CADA_ERR(CADA_ERR_UNSUPPORTED, "gpu_sqnorm: n=%zu too large", n);
    double *part = static_cast<double *>(scratch);
    sqnorm_partial_kernel<<<(unsigned)chunks, kThreads, 0, stream>>>(part, g, n);
    CADA_CUDA_TRY(cudaGetLastError());
    sqnorm_final_kernel<<<1, kThreads, 0, stream>>>(out, part, chunks);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_adamw_step(float *params, cada_bf16 *params_bf16, const float *grads, float *m, float *v,
                                      size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                                      float grad_scale, long long t, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!params || !grads || !m || !v)
        return CADA_ERR(CADA_ERR_ARG, "gpu_adamw_step: %s is NULL",
                        !params ? "params" : !grads ? "grads" : !m ? "m" : "v");
    if (t < 1) return CADA_ERR(CADA_ERR_ARG, "gpu_adamw_step: step t=%lld must be >= 1", t);
    if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f) || !(eps > 0.0f))
        return CADA_ERR(CADA_ERR_ARG, "gpu_adamw_step: betas (%g, %g), eps %g: need betas in [0, 1), eps > 0",
                        (double)beta1, (double)beta2, (double)eps);
    AdamwScalars k;
    k.clip = grad_scale;
    k.decay = (float)(1.0 - (double)lr * (double)weight_decay);
    k.b1 = beta1;
    k.b2 = beta2;
    k.one_b1 = (float)(1.0 - (double)beta1);
    k.one_b2 = (float)(1.0 - (double)beta2);
    k.step_size = (float)((double)lr / (1.0 - pow((double)beta1, (double)t)));
    k.inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow((double)beta2, (double)t)));
    k.eps = eps;
    const bool vec = aligned(params, 16) && aligned(grads, 16) && aligned(m, 16) && aligned(v, 16) &&
                     (!params_bf16 || aligned(params_bf16, 8));
    adamw_kernel<<<grid_for(vec ? n / 4 : n), kThreads, 0, stream>>>(
        params, reinterpret_cast<__nv_bfloat16 *>(params_bf16), grads, m, v, n, k, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
