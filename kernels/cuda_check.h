/* kernels/cuda_check.h: check macros for the CUDA runtime, cuBLAS(Lt) and NCCL, in the
 * status-returning form of base/error.h: each records the library's own error text,
 * the call, and file:line, and returns CADA_ERR_CUDA. */
#ifndef CADA_KERNELS_CUDA_CHECK_H
#define CADA_KERNELS_CUDA_CHECK_H

#include "base/error.h"

#include <cuda_runtime.h>

#define CADA_CUDA_TRY(call)                                                             \
    do {                                                                                \
        cudaError_t cada_cuda_rc_ = (call);                                             \
        if (cada_cuda_rc_ != cudaSuccess)                                               \
            return cada_error_set(CADA_ERR_CUDA, __FILE__, __LINE__, "rank %d: %s failed: %s (%s)", \
                                  cada_get_rank(), #call, cudaGetErrorString(cada_cuda_rc_),       \
                                  cudaGetErrorName(cada_cuda_rc_));                                 \
    } while (0)

#ifdef CADA_HAVE_CUBLAS_CHECK
#include <cublasLt.h>
#define CADA_CUBLAS_TRY(call)                                                           \
    do {                                                                                \
        cublasStatus_t cada_cublas_rc_ = (call);                                        \
        if (cada_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                   \
            return cada_error_set(CADA_ERR_CUDA, __FILE__, __LINE__, "rank %d: %s failed: %s", \
                                  cada_get_rank(), #call, cublasGetStatusString(cada_cublas_rc_)); \
    } while (0)
#endif

#ifdef CADA_HAVE_NCCL_CHECK
#include <nccl.h>
#define CADA_NCCL_TRY(call)                                                             \
    do {                                                                                \
        ncclResult_t cada_nccl_rc_ = (call);                                            \
        if (cada_nccl_rc_ != ncclSuccess)                                               \
            return cada_error_set(CADA_ERR_CUDA, __FILE__, __LINE__, "rank %d: %s failed: %s", \
                                  cada_get_rank(), #call, ncclGetErrorString(cada_nccl_rc_));   \
    } while (0)
#endif

#endif
