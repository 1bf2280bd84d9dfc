/* kernels/logsoftmax.cu: log-softmax over the vocabulary gathered at the target tokens,
 * and its gradient, as src/ops/logsoftmax.c (fp32 logits (N, V), V up to 152064).
 *
 * Launch shape: one 512-thread block per row (a 1-D grid over N). Forward reads the row
 * once: each thread keeps an online (max, sum of exp(x - max)) pair over its strided
 * elements (Milakov & Gimelshein 2018), rescaling the sum when its max grows; the pairs
 * are merged by warp shuffles and then across warps through shared memory. float4 loads
 * when V % 4 == 0 and the logits are 16-byte aligned (both vocabularies of interest are
 * multiples of 8). Backward reads the row once more and writes bf16 dlogits, 8 per
 * thread step (two float4 in, one 16-byte store) when V % 8 == 0 and both pointers are
 * 16-byte aligned. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* Merges (m2, s2) into (m, s): s = s e^(m - M) + s2 e^(m2 - M), M = max(m, m2). A pair
 * that has seen only -inf has s = 0 and stays harmless (no -inf - -inf). */
__device__ __forceinline__ void merge(float &m, float &s, float m2, float s2) {
    const float M = fmaxf(m, m2);
    if (M == -INFINITY) return;
    s = (m == -INFINITY ? 0.0f : s * expf(m - M)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - M));
    m = M;
}

/* Adds x to the online pair. */
__device__ __forceinline__ void push(float &m, float &s, float x) {
    if (x > m) {
        s = (m == -INFINITY ? 0.0f : s * expf(m - x));
        m = x;
    }
    if (m != -INFINITY) s += expf(x - m);
}

template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    logsoftmax_gather_kernel(float *logprob, float *lse, const float *logits, const int *targets, int V) {
    __shared__ float sm[kWarps], ss[kWarps];
    const int n = blockIdx.x;
    const float *l = logits + (size_t)n * V;
    float m = -INFINITY, s = 0.0f;
    if (VEC) {
        const float4 *l4 = reinterpret_cast<const float4 *>(l);
        for (int i = threadIdx.x; i < V / 4; i += kThreads) {
            const float4 v = l4[i];
            const float mv = fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w));
            if (mv > m) {
                s = (m == -INFINITY ? 0.0f : s * expf(m - mv));
                m = mv;
            }
            if (m != -INFINITY) s += expf(v.x - m) + expf(v.y - m) + expf(v.z - m) + expf(v.w - m);
        }
    } else {
        for (int i = threadIdx.x; i < V; i += kThreads) push(m, s, l[i]);
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sm[warp] = m, ss[warp] = s;
    __syncthreads();
    if (warp == 0) {
        m = lane < kWarps ? sm[lane] : -INFINITY;
        s = lane < kWarps ? ss[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            merge(m, s, m2, s2);
        }
        if (lane == 0) {
            const float z = m + logf(s);
            const int t = targets[n];
            lse[n] = z;
            logprob[n] = t >= 0 ? l[t] - z : 0.0f;
        }
    }
}

/* dlogits[v] = -g e^(l[v] - z) (+ g at the target), g = dlogprob[n]: the CPU op's order. */
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    logsoftmax_backward_kernel(__nv_bfloat16 *dlogits, const float *logits, const float *lse, const int *targets,
                               const float *dlogprob, int V) {
    const int n = blockIdx.x;
    const int t = targets[n];
    const float g = t >= 0 ? dlogprob[n] : 0.0f;
    const float *l = logits + (size_t)n * V;
    __nv_bfloat16 *d = dlogits + (size_t)n * V;
    if (g == 0.0f) { /* uniform across the block: the row is zero, the logits are not read */
        if (VEC) {
            uint4 *d8 = reinterpret_cast<uint4 *>(d);
            for (int i = threadIdx.x; i < V / 8; i += kThreads) d8[i] = make_uint4(0, 0, 0, 0);
        } else {
            for (int i = threadIdx.x; i < V; i += kThreads) d[i] = __float2bfloat16(0.0f);
        }
        return;
    }
    const float z = lse[n];
    if (VEC) {
        const float4 *l4 = reinterpret_cast<const float4 *>(l);
        uint4 *d8 = reinterpret_cast<uint4 *>(d);
        for (int i = threadIdx.x; i < V / 8; i += kThreads) {
            const float4 a = l4[2 * i], b = l4[2 * i + 1];
            float y[8] = {-g * expf(a.x - z), -g * expf(a.y - z), -g * expf(a.z - z), -g * expf(a.w - z),
                          -g * expf(b.x - z), -g * expf(b.y - z), -g * expf(b.z - z), -g * expf(b.w - z)};
            const int k = t - 8 * i;
            if (k >= 0 && k < 8) y[k] += g;
            d8[i] = make_uint4(pack_bf16x2(y[0], y[1]), pack_bf16x2(y[2], y[3]), pack_bf16x2(y[4], y[5]),
                               pack_bf16x2(y[6], y[7]));
        }
    } else {
        for (int i = threadIdx.x; i < V; i += kThreads) {
            float y = -g * expf(l[i] - z);
            if (i == t) y += g;
            d[i] = __float2bfloat16(y);
        }
    }
}

} // namespace

extern "C" cada_status gpu_logsoftmax_gather(float *logprob, float *lse, const float *logits, const int *targets,
                                             int N, int V, cudaStream_t stream) {
    if (!logprob || !lse || !logits || !targets)
        return CADA_ERR(CADA_ERR_ARG, "gpu_logsoftmax_gather: %s is NULL",
                        !logprob ? "logprob" : !lse ? "lse" : !logits ? "logits" : "targets");
    if (N <= 0 || V <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_logsoftmax_gather: N=%d, V=%d must be > 0", N, V);
    if (V % 4 == 0 && aligned16(logits))
        logsoftmax_gather_kernel<true><<<N, kThreads, 0, stream>>>(logprob, lse, logits, targets, V);
    else
        logsoftmax_gather_kernel<false><<<N, kThreads, 0, stream>>>(logprob, lse, logits, targets, V);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_logsoftmax_gather_backward(cada_bf16 *dlogits, const float *logits, const float *lse,
                                                      const int *targets, const float *dlogprob, int N, int V,
                                                      cudaStream_t stream) {
    if (!dlogits || !logits || !lse || !targets || !dlogprob)
        return CADA_ERR(CADA_ERR_ARG, "gpu_logsoftmax_gather_backward: %s is NULL",
                        !dlogits ? "dlogits" : !logits ? "logits" : !lse ? "lse" : !targets ? "targets" : "dlogprob");
    if (N <= 0 || V <= 0)
        return CADA_ERR(CADA_ERR_ARG, "gpu_logsoftmax_gather_backward: N=%d, V=%d must be > 0", N, V);
    __nv_bfloat16 *d = reinterpret_cast<__nv_bfloat16 *>(dlogits);
    if (V % 8 == 0 && aligned16(logits) && aligned16(dlogits))
        logsoftmax_backward_kernel<true><<<N, kThreads, 0, stream>>>(d, logits, lse, targets, dlogprob, V);
    else
        logsoftmax_backward_kernel<false><<<N, kThreads, 0, stream>>>(d, logits, lse, targets, dlogprob, V);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
