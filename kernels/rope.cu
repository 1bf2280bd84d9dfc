/* kernels/rope.cu: rotary position embedding in place on bf16 rows, Hugging Face's
 * "rotate half" layout (pairs (i, i + D/2)), as src/ops/rope.c.
 *
 * Launch shape: one block per row (1-D grid over N), 256 threads. The block first takes
 * the D/2 cosines and sines of its row's angles pos[row] * inv_freq[i] (fp32 product,
 * accurate sincosf: the argument reaches 1e5 at long positions, where the fast intrinsic
 * is wrong) into shared memory once, then rotates all n_heads heads with them. When
 * D % 4 == 0 and the row pointers are 4-byte aligned a thread rotates two adjacent pairs
 * with bf16x2 accesses. fp32 math, one bf16 rounding per output. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxHalf = 256; /* D <= 512 */

template <bool PAIRS>
__global__ void __launch_bounds__(kThreads)
    rope_kernel(__nv_bfloat16 *x, int stride, int n_heads, int D, const int *pos, const float *inv_freq,
                float sign) {
    __shared__ float cs[kMaxHalf], sn[kMaxHalf];
    const int row = blockIdx.x;
    const int half = D / 2;
    const float p = (float)pos[row];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float s, c;
        sincosf(p * inv_freq[i], &s, &c);
        cs[i] = c;
        sn[i] = sign * s;
    }
    __syncthreads();
    __nv_bfloat16 *base = x + (size_t)row * stride;
    if (PAIRS) {
        const int hp = half / 2; /* pairs of adjacent i per head */
        const int total = n_heads * hp;
        for (int t = threadIdx.x; t < total; t += blockDim.x) {
            const int h = t / hp, i = (t - h * hp) * 2;
            __nv_bfloat16 *v = base + (size_t)h * D;
            __nv_bfloat162 *pa = reinterpret_cast<__nv_bfloat162 *>(v + i);
            __nv_bfloat162 *pb = reinterpret_cast<__nv_bfloat162 *>(v + i + half);
            float2 a = __bfloat1622float2(*pa), b = __bfloat1622float2(*pb);
            const float c0 = cs[i], c1 = cs[i + 1], s0 = sn[i], s1 = sn[i + 1];
            *pa = __floats2bfloat162_rn(a.x * c0 - b.x * s0, a.y * c1 - b.y * s1);
            *pb = __floats2bfloat162_rn(b.x * c0 + a.x * s0, b.y * c1 + a.y * s1);
        }
    } else {
        const int total = n_heads * half;
        for (int t = threadIdx.x; t < total; t += blockDim.x) {
            const int h = t / half, i = t - h * half;
            __nv_bfloat16 *v = base + (size_t)h * D;
            const float a = __bfloat162float(v[i]), b = __bfloat162float(v[i + half]);
            const float c = cs[i], s = sn[i];
            v[i] = __float2bfloat16(a * c - b * s);
            v[i + half] = __float2bfloat16(b * c + a * s);
        }
    }
}

cada_status rope_launch(const char *op, cada_bf16 *x, int N, int stride, int n_heads, int D, const int *pos,
                        const float *inv_freq, float sign, cudaStream_t stream) {
    if (!x || !pos || !inv_freq)
        return CADA_ERR(CADA_ERR_ARG, "%s: %s is NULL", op, !x ? "x" : !pos ? "pos" : "inv_freq");
    if (N <= 0 || n_heads <= 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: N=%d, n_heads=%d must be > 0", op, N, n_heads);
    if (D <= 0 || D % 2 != 0) return CADA_ERR(CADA_ERR_ARG, "%s: head size D=%d must be even and > 0", op, D);
    if (D > 2 * kMaxHalf) return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: head size D=%d > %d", op, D, 2 * kMaxHalf);
    if ((long long)stride < (long long)n_heads * D)
        return CADA_ERR(CADA_ERR_ARG, "%s: row stride %d < n_heads * D = %lld", op, stride, (long long)n_heads * D);
    __nv_bfloat16 *xb = reinterpret_cast<__nv_bfloat16 *>(x);
    const int half = D / 2;
    const int work = n_heads * half;
    const int threads = work >= kThreads ? kThreads : (work + 31) / 32 * 32;
    if (half % 2 == 0 && stride % 2 == 0 && ((uintptr_t)x & 3u) == 0)
        rope_kernel<true><<<N, threads, 0, stream>>>(xb, stride, n_heads, D, pos, inv_freq, sign);
    else
        rope_kernel<false><<<N, threads, 0, stream>>>(xb, stride, n_heads, D, pos, inv_freq, sign);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

} // namespace

extern "C" cada_status gpu_rope_forward(cada_bf16 *x, int N, int stride, int n_heads, int D, const int *pos,
                                        const float *inv_freq, cudaStream_t stream) {
    return rope_launch("gpu_rope_forward", x, N, stride, n_heads, D, pos, inv_freq, 1.0f, stream);
}

/* The rotation is orthogonal: its transpose, the rotation by -angle, maps the gradient. */
extern "C" cada_status gpu_rope_backward(cada_bf16 *dx, int N, int stride, int n_heads, int D, const int *pos,
                                         const float *inv_freq, cudaStream_t stream) {
    return rope_launch("gpu_rope_backward", dx, N, stride, n_heads, D, pos, inv_freq, -1.0f, stream);
}
