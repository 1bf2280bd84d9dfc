/* kernels/elementwise.cu: conversions (fp32 <-> bf16), fills (constant, counter-based
 * normal draws), the residual add and the bf16-into-fp32 gradient add.
 *
 * Launch shape: 1-D grid-stride loops of 256-thread blocks over size_t indices, the grid
 * capped at 8192 blocks (2M threads, more than any supported GPU keeps resident), so any
 * n fits without touching the grid limits. Every op is memory-bound: when all pointers
 * are 16-byte aligned a thread moves 16 bytes per access (float4, or 8 bf16 in a uint4)
 * and a scalar loop finishes the tail; otherwise the scalar loop does everything. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include "kernel_util.cuh"

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

using namespace cada_kernel;


/* ---- casts ---------------------------------------------------------------------------- */

__global__ void cast_f32_to_bf16_kernel(__nv_bfloat16 *out, const float *in, size_t n, bool vec) {
    size_t done = 0;
    if (vec) { /* 8 elements: two float4 in, one uint4 out */
        const size_t nv = n / 8;
        const float4 *in4 = reinterpret_cast<const float4 *>(in);
        uint4 *out8 = reinterpret_cast<uint4 *>(out);
        for (size_t i = thread_index(); i < nv; i += grid_stride()) {
            float4 a = in4[2 * i], b = in4[2 * i + 1];
            uint4 o;
            o.x = pack_bf16x2(a.x, a.y);
            o.y = pack_bf16x2(a.z, a.w);
            o.z = pack_bf16x2(b.x, b.y);
            o.w = pack_bf16x2(b.z, b.w);
            out8[i] = o;
        }
        done = nv * 8;
    }
    for (size_t i = done + thread_index(); i < n; i += grid_stride()) out[i] = __float2bfloat16(in[i]);
}

__global__ void cast_bf16_to_f32_kernel(float *out, const __nv_bfloat16 *in, size_t n, bool vec) {
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 8;
        const uint4 *in8 = reinterpret_cast<const uint4 *>(in);
        float4 *out4 = reinterpret_cast<float4 *>(out);
        for (size_t i = thread_index(); i < nv; i += grid_stride()) {
            uint4 v = in8[i];
            float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
            out4[2 * i] = make_float4(a.x, a.y, b.x, b.y);
            out4[2 * i + 1] = make_float4(c.x, c.y, d.x, d.y);
        }
        done = nv * 8;
    }
    for (size_t i = done + thread_index(); i < n; i += grid_stride()) out[i] = __bfloat162float(in[i]);
}

/* ---- fills ------------------------------------------------------------------------------ */

/* splitmix64's output function (Steele, Lea, Flood 2014). The k-th output of a splitmix64
 * stream seeded with s is mix(s + k * golden), so it is a counter-based generator: any
 * element can be drawn without the ones before it. */
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Box-Muller on the pair j: elements 2j and 2j+1 of the output. u1 in (0, 1] keeps the
 * log finite; 24-bit uniforms are exact in fp32. */
__device__ __forceinline__ float2 normal_pair(uint64_t seed, size_t j) {
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    uint64_t a = mix64(seed + (2 * (uint64_t)j + 1) * golden);
    uint64_t b = mix64(seed + (2 * (uint64_t)j + 2) * golden);
    float u1 = ((float)(a >> 40) + 1.0f) * 0x1p-24f;
    float u2 = (float)(b >> 40) * 0x1p-24f;
    float r = sqrtf(-2.0f * logf(u1));
    float s, c;
    sincospif(2.0f * u2, &s, &c);
    return make_float2(r * c, r * s);
}

__device__ __forceinline__ void store_value(float *p, float v) { *p = v; }
__device__ __forceinline__ void store_value(__nv_bfloat16 *p, float v) { *p = __float2bfloat16(v); }

/* One thread per pair of outputs; the values depend on (seed, index) only. */
template <typename T>
__global__ void fill_normal_kernel(T *out, size_t n, uint64_t seed, float scale) {
    const size_t pairs = (n + 1) / 2;
    for (size_t j = thread_index(); j < pairs; j += grid_stride()) {
        float2 z = normal_pair(seed, j);
        store_value(out + 2 * j, scale * z.x);
        if (2 * j + 1 < n) store_value(out + 2 * j + 1, scale * z.y);
    }
}

__global__ void fill_f32_kernel(float *out, size_t n, float value, bool vec) {
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 4;
        float4 *out4 = reinterpret_cast<float4 *>(out);
        const float4 v4 = make_float4(value, value, value, value);
        for (size_t i = thread_index(); i < nv; i += grid_stride()) out4[i] = v4;
        done = nv * 4;
    }
    for (size_t i = done + thread_index(); i < n; i += grid_stride()) out[i] = value;
}

/* ---- adds --------------------------------------------------------------------------------- */

/* out may alias a: every element is read before it is written, by the same thread. */
__global__ void residual_kernel(float *out, const float *a, const float *b, size_t n, bool vec) {
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 4;
        const float4 *a4 = reinterpret_cast<const float4 *>(a);
        const float4 *b4 = reinterpret_cast<const float4 *>(b);
        float4 *o4 = reinterpret_cast<float4 *>(out);
        for (size_t i = thread_index(); i < nv; i += grid_stride()) {
            float4 x = a4[i], y = b4[i];
            o4[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
        }
        done = nv * 4;
    }
    for (size_t i = done + thread_index(); i < n; i += grid_stride()) out[i] = a[i] + b[i];
}

__global__ void add_bf16_to_f32_kernel(float *out, const __nv_bfloat16 *in, size_t n, bool vec) {
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 8;
        const uint4 *in8 = reinterpret_cast<const uint4 *>(in);
        float4 *o4 = reinterpret_cast<float4 *>(out);
        for (size_t i = thread_index(); i < nv; i += grid_stride()) {
            uint4 v = in8[i];
            float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
            float4 lo = o4[2 * i], hi = o4[2 * i + 1];
            o4[2 * i] = make_float4(lo.x + a.x, lo.y + a.y, lo.z + b.x, lo.w + b.y);
            o4[2 * i + 1] = make_float4(hi.x + c.x, hi.y + c.y, hi.z + d.x, hi.w + d.y);
        }
        done = nv * 8;
    }
    for (size_t i = done + thread_index(); i < n; i += grid_stride()) out[i] += __bfloat162float(in[i]);
}

} // namespace

/* ---- launchers --------------------------------------------------------------------------- */

extern "C" cada_status gpu_cast_f32_to_bf16(cada_bf16 *out, const float *in, size_t n, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out || !in) return CADA_ERR(CADA_ERR_ARG, "gpu_cast_f32_to_bf16: %s is NULL", !out ? "out" : "in");
    __nv_bfloat16 *o = reinterpret_cast<__nv_bfloat16 *>(out);
    const bool vec = aligned16(out) && aligned16(in);
    cast_f32_to_bf16_kernel<<<grid_for(vec ? n / 8 : n), kThreads, 0, stream>>>(o, in, n, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_cast_bf16_to_f32(float *out, const cada_bf16 *in, size_t n, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out || !in) return CADA_ERR(CADA_ERR_ARG, "gpu_cast_bf16_to_f32: %s is NULL", !out ? "out" : "in");
    const __nv_bfloat16 *i = reinterpret_cast<const __nv_bfloat16 *>(in);
    const bool vec = aligned16(out) && aligned16(in);
    cast_bf16_to_f32_kernel<<<grid_for(vec ? n / 8 : n), kThreads, 0, stream>>>(out, i, n, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_fill_normal(float *out, size_t n, uint64_t seed, float scale, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_fill_normal: out is NULL");
    fill_normal_kernel<float><<<grid_for((n + 1) / 2), kThreads, 0, stream>>>(out, n, seed, scale);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_fill_normal_bf16(cada_bf16 *out, size_t n, uint64_t seed, float scale,
                                           cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_fill_normal_bf16: out is NULL");
    __nv_bfloat16 *o = reinterpret_cast<__nv_bfloat16 *>(out);
    fill_normal_kernel<__nv_bfloat16><<<grid_for((n + 1) / 2), kThreads, 0, stream>>>(o, n, seed, scale);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_fill_f32(float *out, size_t n, float value, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_fill_f32: out is NULL");
    const bool vec = aligned16(out);
    fill_f32_kernel<<<grid_for(vec ? n / 4 : n), kThreads, 0, stream>>>(out, n, value, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_residual_forward(float *out, const float *a, const float *b, size_t n,
                                           cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out || !a || !b)
        return CADA_ERR(CADA_ERR_ARG, "gpu_residual_forward: %s is NULL", !out ? "out" : !a ? "a" : "b");
    const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
    residual_kernel<<<grid_for(vec ? n / 4 : n), kThreads, 0, stream>>>(out, a, b, n, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_add_bf16_to_f32(float *out, const cada_bf16 *in, size_t n, cudaStream_t stream) {
    if (n == 0) return CADA_OK;
    if (!out || !in) return CADA_ERR(CADA_ERR_ARG, "gpu_add_bf16_to_f32: %s is NULL", !out ? "out" : "in");
    const __nv_bfloat16 *i = reinterpret_cast<const __nv_bfloat16 *>(in);
    const bool vec = aligned16(out) && aligned16(in);
    add_bf16_to_f32_kernel<<<grid_for(vec ? n / 8 : n), kThreads, 0, stream>>>(out, i, n, vec);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
