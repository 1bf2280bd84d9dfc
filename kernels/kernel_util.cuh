/* kernels/kernel_util.cuh: launch-shape and bf16 packing helpers shared by the
 * elementwise kernel files (grid-stride loops over n elements, 16-byte vector paths). */
#ifndef CADA_KERNELS_KERNEL_UTIL_CUH
#define CADA_KERNELS_KERNEL_UTIL_CUH

#include <cuda_bf16.h>
#include <stddef.h>
#include <stdint.h>

namespace cada_kernel {

constexpr int kThreads = 256;
/* Enough blocks to fill any current GPU; grid-stride loops cover the rest. */
constexpr size_t kMaxBlocks = 8192;

inline unsigned grid_for(size_t work) {
    size_t b = (work + kThreads - 1) / kThreads;
    if (b > kMaxBlocks) b = kMaxBlocks;
    return b ? (unsigned)b : 1u;
}

inline bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Two floats -> two bf16 (round to nearest even) packed low-first, as they lie in memory. */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ float2 unpack_bf16x2(uint32_t bits) {
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162 *>(&bits);
    return __bfloat1622float2(v);
}

__device__ __forceinline__ size_t thread_index() { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ size_t grid_stride() { return (size_t)gridDim.x * blockDim.x; }

} // namespace cada_kernel

#endif
