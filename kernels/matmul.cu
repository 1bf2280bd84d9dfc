/* kernels/matmul.cu: the linear layers of the GPU path through cuBLASLt (gpu_ops.h).
 *
 * Row-major to cuBLAS column-major. cuBLAS reads matrices column-major; a row-major
 * (R, K) buffer is the column-major (K, R) matrix, its transpose, with the same leading
 * dimension K. So every row-major product Y = X W^T is computed as Y^T = W X^T:
 *
 *   forward   out(N, OC) = inp(N, C) @ weight(OC, C)^T
 *             column-major: out^T (OC, N) = op(A) (OC, C) x op(B) (C, N)
 *             A = weight, stored (C, OC) ld C, transa = T  -> (OC, C)
 *             B = inp,    stored (C, N)  ld C, transb = N  -> (C, N)
 *             C/D = residual / out, (OC, N) ld OC; m = OC, n = N, k = C
 *             bias (OC) is per row of the column-major D = per column of row-major out.
 *   dinp      dinp(N, C) = dout(N, OC) @ weight(OC, C)
 *             column-major: dinp^T (C, N) = weight^T (C, OC) x dout^T (OC, N)
 *             A = weight, stored (C, OC) ld C, transa = N
 *             B = dout,   stored (OC, N) ld OC, transb = N
 *             D = dinp, (C, N) ld C, bf16, beta = 0; m = C, n = N, k = OC
 *   dweight   dweight(OC, C) += dout(N, OC)^T @ inp(N, C)
 *             column-major: dweight^T (C, OC) += inp^T (C, N) x dout (N, OC)
 *             A = inp,  stored (C, N)  ld C,  transa = N
 *             B = dout, stored (OC, N) ld OC, transb = T  -> (N, OC)
 *             C = D = dweight, (C, OC) ld C, fp32, beta = 1; m = C, n = OC, k = N
 *   dbias     dbias(OC) += column sums of dout(N, OC): a small kernel below, not the
 *             BGRADB epilogue, because the epilogue writes the bias gradient where the
 *             contract (and gradient accumulation over micro-batches) needs +=.
 *
 * Precision: A and B bf16, CUBLAS_COMPUTE_32F with fp32 alpha/beta (scale type), C/D fp32
 * or bf16. No TF32 or reduced-precision accumulation is requested.
 *
 * Alignment. cuBLASLt's fast (tensor-core, TMA) kernels want every matrix pointer aligned
 * to 16 bytes and leading dimensions whose rows stay 16-byte aligned: for bf16, C and OC
 * multiples of 8 (lda, ldb, ldc are C, OC in bytes x2). Pointers are checked here: one not
 * 16-byte aligned is an error naming the argument. Odd widths are not an error: the
 * heuristic then picks slower kernels that accept them. The heuristic also assumes, by
 * default, 256-byte aligned buffers; pointers carved out of a flat buffer often are not,
 * so the alignment every pointer of a call has in common (16..256 bytes) is passed as the
 * MIN_ALIGNMENT preference and is part of the plan key below: an algorithm chosen for
 * 256-byte pointers is never run on 16-byte ones.
 *
 * Plans. Building descriptors and asking cublasLtMatmulAlgoGetHeuristic costs tens of
 * microseconds of host time per call; a training step repeats a handful of shapes, so
 * each (op, N, C, OC, output type, bias, beta, alignment) gets a plan: the matmul
 * descriptor, the four layouts and the chosen algorithm, kept in a small table (least
 * recently used evicted). Only the bias pointer changes between calls; it is set on
 * the cached descriptor before each matmul.
 *
 * Bias data type: the bias is bf16 (gpu_ops.h). cuBLASLt documents the bias type as the
 * output type unless CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE says otherwise. With bf16
 * output the bias is fused. With fp32 output cuBLASLt 13.1 (H200) refuses a bf16 bias
 * (the heuristic answers CUBLAS_STATUS_INVALID_VALUE): the plan then falls back to the
 * plain matmul plus bias_add_kernel (one more pass over the output; the same sum up to
 * fp32 rounding order), decided once per plan and logged at debug level. Asking first
 * keeps the fused path for a library that accepts the combination.
 *
 * Concurrency: a cada_gpu_blas has one workspace, so its calls must be ordered: one
 * stream per handle, or calls from one host thread on one stream. The handle belongs
 * to the device that was current at gpu_blas_create; calling it with another current
 * device is an error (the cached algorithms are device-specific). */
#define CADA_HAVE_CUBLAS_CHECK
#include "gpu_ops.h"

#include "cuda_check.h"

extern "C" {
#include "base/log.h"
}

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_DEFAULT_WORKSPACE ((size_t)32 << 20)
#define MM_PLANS 64

enum { MM_FWD = 0, MM_DINP = 1, MM_DWEIGHT = 2 };

typedef struct {
    int used;
    /* key */
    int kind, N, C, OC;
    int out_bf16;  /* D type bf16 (forward only) */
    int has_bias;  /* forward only */
    int beta_one;  /* residual add (forward) or accumulate (dweight) */
    unsigned align; /* alignment (bytes) common to every pointer of the calls it serves */
    /* plan */
    int bias_epilogue; /* 1: bias fused; 0: bias added by bias_add_kernel */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatmulAlgo_t algo;
    unsigned long long last_use;
} mm_plan;

struct cada_gpu_blas {
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
    int device;
    int sm_count;
    unsigned long long clock;
    mm_plan plans[MM_PLANS];
};

/* A cuBLASLt call inside a function that has `ctx` (the op and its shape). */
#define LT_TRY(call)                                                                    \
    do {                                                                                \
        cublasStatus_t lt_rc_ = (call);                                                 \
        if (lt_rc_ != CUBLAS_STATUS_SUCCESS)                                            \
            return cada_error_set(CADA_ERR_CUDA, __FILE__, __LINE__, "rank %d: %s: %s failed: %s", \
                                  cada_get_rank(), ctx, #call, cublasGetStatusString(lt_rc_));    \
    } while (0)

static void plan_release(mm_plan *p) {
    if (p->desc) cublasLtMatmulDescDestroy(p->desc);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->ld) cublasLtMatrixLayoutDestroy(p->ld);
    memset(p, 0, sizeof *p);
}

/* ---- handle ------------------------------------------------------------------------------ */

extern "C" cada_status gpu_blas_create(cada_gpu_blas **out, size_t workspace_bytes) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_blas_create: out is NULL");
    *out = NULL;
    if (workspace_bytes == 0) workspace_bytes = MM_DEFAULT_WORKSPACE;
    cada_gpu_blas *b = (cada_gpu_blas *)calloc(1, sizeof *b);
    if (!b) return CADA_ERR(CADA_ERR_NOMEM, "gpu_blas_create: %zu bytes for the handle", sizeof *b);
    const char *ctx = "gpu_blas_create";
    cudaError_t rc = cudaGetDevice(&b->device);
    if (rc == cudaSuccess) rc = cudaDeviceGetAttribute(&b->sm_count, cudaDevAttrMultiProcessorCount, b->device);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        free(b);
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: no usable CUDA device: %s (%s)", cada_get_rank(), ctx,
                        cudaGetErrorString(rc), cudaGetErrorName(rc));
    }
    cublasStatus_t st = cublasLtCreate(&b->lt);
    if (st != CUBLAS_STATUS_SUCCESS) {
        const int dev = b->device;
        free(b);
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cublasLtCreate on device %d failed: %s", cada_get_rank(), ctx,
                        dev, cublasGetStatusString(st));
    }
    rc = cudaMalloc(&b->workspace, workspace_bytes);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        cublasLtDestroy(b->lt);
        free(b);
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cudaMalloc of the %.1f MiB cuBLASLt workspace failed: %s",
                        cada_get_rank(), ctx, (double)workspace_bytes / (1 << 20), cudaGetErrorString(rc));
    }
    b->workspace_bytes = workspace_bytes;
    *out = b;
    return CADA_OK;
}

extern "C" void gpu_blas_destroy(cada_gpu_blas *b) {
    if (!b) return;
    for (int i = 0; i < MM_PLANS; i++)
        if (b->plans[i].used) plan_release(&b->plans[i]);
    cudaFree(b->workspace);
    cublasLtDestroy(b->lt);
    free(b);
}

/* ---- plans ------------------------------------------------------------------------------- */

/* The largest power of two (16..256) dividing the address; 0 when not 16-byte aligned. */
static unsigned ptr_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al >= 16 && (a % al) != 0) al >>= 1;
    return al >= 16 ? al : 0;
}

/* Folds one pointer into the common alignment; NULL pointers do not count. */
static cada_status fold_align(unsigned *common, const void *p, const char *arg, const char *ctx) {
    if (!p) return CADA_OK;
    unsigned a = ptr_align(p);
    if (a == 0)
        return CADA_ERR(CADA_ERR_ARG,
                        "%s: %s = %p is not 16-byte aligned (cuBLASLt needs 16-byte aligned matrices; carve "
                        "buffers at multiples of 8 bf16 / 4 fp32 elements)",
                        ctx, arg, p);
    if (a < *common) *common = a;
    return CADA_OK;
}

static cada_status set_op(cublasLtMatmulDesc_t desc, cublasOperation_t ta, cublasOperation_t tb, const char *ctx) {
    int32_t a = (int32_t)ta, b = (int32_t)tb;
    LT_TRY(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &a, sizeof a));
    LT_TRY(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &b, sizeof b));
    return CADA_OK;
}

/* Descriptor and layouts of plan p (key filled in); with_bias asks for the BIAS
 * epilogue with a bf16 bias at `bias`. */
static cada_status plan_describe(mm_plan *p, int with_bias, const void *bias, const char *ctx) {
    LT_TRY(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    int32_t scale_type = CUDA_R_32F;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_SCALE_TYPE, &scale_type, sizeof scale_type));
    const uint64_t N = (uint64_t)p->N, C = (uint64_t)p->C, OC = (uint64_t)p->OC;
    switch (p->kind) {
    case MM_FWD: {
        CADA_TRY(set_op(p->desc, CUBLAS_OP_T, CUBLAS_OP_N, ctx));
        cudaDataType_t dt = p->out_bf16 ? CUDA_R_16BF : CUDA_R_32F;
        LT_TRY(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, C, OC, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, C, N, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, dt, OC, N, (int64_t)OC));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->ld, dt, OC, N, (int64_t)OC));
        uint32_t epi = with_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        if (with_bias) {
            int32_t bias_type = CUDA_R_16BF;
            LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                  sizeof bias_type));
            /* the heuristic reads the pointer's alignment, so set it before asking */
            LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
        }
        break;
    }
    case MM_DINP:
        CADA_TRY(set_op(p->desc, CUBLAS_OP_N, CUBLAS_OP_N, ctx));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, C, OC, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, OC, N, (int64_t)OC));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_16BF, C, N, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->ld, CUDA_R_16BF, C, N, (int64_t)C));
        break;
    case MM_DWEIGHT:
        CADA_TRY(set_op(p->desc, CUBLAS_OP_N, CUBLAS_OP_T, ctx));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, C, N, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, OC, N, (int64_t)OC));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, C, OC, (int64_t)C));
        LT_TRY(cublasLtMatrixLayoutCreate(&p->ld, CUDA_R_32F, C, OC, (int64_t)C));
        break;
    default:
        return CADA_ERR(CADA_ERR_INTERNAL, "%s: unknown matmul kind %d", ctx, p->kind);
    }
    return CADA_OK;
}

/* Asks the heuristic for the best algorithm of p; *found = 0 when there is none. */
static cada_status plan_choose(cada_gpu_blas *b, mm_plan *p, int *found, const char *ctx) {
    *found = 0;
    cublasLtMatmulPreference_t pref = NULL;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = (uint64_t)b->workspace_bytes;
    uint32_t al = p->align;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                             sizeof ws);
    const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
        st = cublasLtMatmulPreferenceSetAttribute(pref, align_attr[i], &al, sizeof al);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulPreferenceDestroy(pref);
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cublasLtMatmulPreferenceSetAttribute failed: %s",
                        cada_get_rank(), ctx, cublasGetStatusString(st));
    }
    cublasLtMatmulHeuristicResult_t res;
    memset(&res, 0, sizeof res);
    int count = 0;
    st = cublasLtMatmulAlgoGetHeuristic(b->lt, p->desc, p->la, p->lb, p->lc, p->ld, pref, 1, &res, &count);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) return CADA_OK; /* no heuristic for this configuration */
    if (st != CUBLAS_STATUS_SUCCESS)
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cublasLtMatmulAlgoGetHeuristic failed: %s", cada_get_rank(),
                        ctx, cublasGetStatusString(st));
    if (count < 1 || res.state != CUBLAS_STATUS_SUCCESS) return CADA_OK;
    p->algo = res.algo;
    *found = 1;
    return CADA_OK;
}

static cada_status plan_build(cada_gpu_blas *b, mm_plan *p, const void *bias, const char *ctx) {
    int found = 0;
    if (p->kind == MM_FWD && p->has_bias) {
        /* any refusal here (attribute, heuristic) only means "not fused" */
        cada_status s = plan_describe(p, 1, bias, ctx);
        if (s == CADA_OK) s = plan_choose(b, p, &found, ctx);
        if (s == CADA_OK && found) {
            p->bias_epilogue = 1;
            return CADA_OK;
        }
        CADA_DEBUG("%s: no cuBLASLt algorithm fuses the bf16 bias (%s); adding it with bias_add_kernel", ctx,
                   s == CADA_OK ? "none found" : cada_error_message());
        cada_error_clear();
        /* no algorithm fuses a bf16 bias here: plain matmul + bias_add_kernel */
        mm_plan keep = *p;
        keep.desc = NULL;
        keep.la = keep.lb = keep.lc = keep.ld = NULL;
        plan_release(p);
        *p = keep;
    }
    CADA_TRY(plan_describe(p, 0, NULL, ctx));
    CADA_TRY(plan_choose(b, p, &found, ctx));
    if (!found)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "rank %d: %s: cuBLASLt has no algorithm for this shape (bf16 inputs, %s output, %u-byte "
                        "aligned pointers, %.1f MiB workspace)",
                        cada_get_rank(), ctx, ((p->kind == MM_FWD && p->out_bf16) || p->kind == MM_DINP) ? "bf16" : "fp32",
                        p->align, (double)b->workspace_bytes / (1 << 20));
    p->bias_epilogue = 0;
    return CADA_OK;
}

/* The plan for a key: cached, or built now in the least recently used slot. */
static cada_status plan_get(cada_gpu_blas *b, const mm_plan *key, const void *bias, mm_plan **out, const char *ctx) {
    mm_plan *victim = &b->plans[0];
    for (int i = 0; i < MM_PLANS; i++) {
        mm_plan *p = &b->plans[i];
        if (p->used && p->kind == key->kind && p->N == key->N && p->C == key->C && p->OC == key->OC &&
            p->out_bf16 == key->out_bf16 && p->has_bias == key->has_bias && p->beta_one == key->beta_one &&
            p->align == key->align) {
            p->last_use = ++b->clock;
            *out = p;
            return CADA_OK;
        }
        if (!p->used) {
            if (victim->used) victim = p;
        } else if (victim->used && p->last_use < victim->last_use) {
            victim = p;
        }
    }
    if (victim->used) plan_release(victim);
    *victim = *key;
    victim->desc = NULL;
    victim->la = victim->lb = victim->lc = victim->ld = NULL;
    cada_status s = plan_build(b, victim, bias, ctx);
    if (s != CADA_OK) {
        plan_release(victim);
        return s;
    }
    victim->used = 1;
    victim->last_use = ++b->clock;
    *out = victim;
    return CADA_OK;
}

static cada_status check_device(const cada_gpu_blas *b, const char *ctx) {
    int dev = -1;
    cudaError_t rc = cudaGetDevice(&dev);
    if (rc != cudaSuccess)
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cudaGetDevice failed: %s", cada_get_rank(), ctx,
                        cudaGetErrorString(rc));
    if (dev != b->device)
        return CADA_ERR(CADA_ERR_ARG, "%s: the cuBLASLt handle was made on device %d but device %d is current", ctx,
                        b->device, dev);
    return CADA_OK;
}

static cada_status run_plan(cada_gpu_blas *b, mm_plan *p, const void *A, const void *B, const void *Cm, void *D,
                            float beta, cudaStream_t stream, const char *ctx) {
    const float alpha = 1.0f;
    LT_TRY(cublasLtMatmul(b->lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, Cm, p->lc, D, p->ld, &p->algo,
                          b->workspace, b->workspace_bytes, stream));
    return CADA_OK;
}

/* ---- kernels ----------------------------------------------------------------------------- */

/* out(N, OC) += bias(OC), fp32 math; the fallback when no algorithm fuses the bias. */
template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16(v); }

template <typename T>
__global__ void bias_add_kernel(T *out, const __nv_bfloat16 *__restrict__ bias, size_t total, int OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = from_f32<T>(to_f32<T>(out[i]) + __bfloat162float(bias[i % (size_t)OC]));
}

/* dbias(OC) += sum over rows of dout(N, OC). Block (32, 8): 32 adjacent columns (a warp
 * reads 64 contiguous bytes of a row), 8 row lanes striding through the block's row
 * chunk, fp32 partial sums combined in shared memory; one add per column per block
 * (atomicAdd only when the rows are split over several blocks). */
#define CS_COLS 32
#define CS_LANES 8
__global__ void colsum_kernel(float *dbias, const __nv_bfloat16 *__restrict__ dout, int N, int OC, int rows_per_block) {
    __shared__ float part[CS_LANES][CS_COLS + 1];
    const int col = blockIdx.x * CS_COLS + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = min(N, r0 + rows_per_block);
    float s = 0.0f;
    if (col < OC)
        for (int r = r0 + threadIdx.y; r < r1; r += CS_LANES) s += __bfloat162float(dout[(size_t)r * OC + col]);
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && col < OC) {
        float t = 0.0f;
        for (int i = 0; i < CS_LANES; i++) t += part[i][threadIdx.x];
        if (gridDim.y == 1)
            dbias[col] += t;
        else
            atomicAdd(&dbias[col], t);
    }
}

static cada_status launch_check(const char *ctx, const char *kernel) {
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess)
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: launching %s failed: %s (%s)", cada_get_rank(), ctx, kernel,
                        cudaGetErrorString(rc), cudaGetErrorName(rc));
    return CADA_OK;
}

static unsigned grid_for(size_t total, int threads) {
    size_t g = (total + (size_t)threads - 1) / (size_t)threads;
    if (g > 65535u * 8u) g = 65535u * 8u; /* grid-stride loop covers the rest */
    return (unsigned)(g ? g : 1);
}

/* ---- entry points ------------------------------------------------------------------------- */

extern "C" cada_status gpu_matmul_forward(cada_gpu_blas *b, float *out_f32, cada_bf16 *out_bf16,
                                          const float *residual, const cada_bf16 *inp, const cada_bf16 *weight,
                                          const cada_bf16 *bias, int N, int C, int OC, cudaStream_t stream) {
    char ctx[160];
    snprintf(ctx, sizeof ctx, "gpu_matmul_forward (N=%d C=%d OC=%d, %s out%s%s)", N, C, OC,
             out_f32 ? "fp32" : "bf16", bias ? ", bias" : "", residual ? ", residual" : "");
    if (!b) return CADA_ERR(CADA_ERR_ARG, "%s: the cuBLASLt handle is NULL", ctx);
    if (N <= 0 || C <= 0 || OC <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: sizes must be positive", ctx);
    if (!inp) return CADA_ERR(CADA_ERR_ARG, "%s: inp is NULL", ctx);
    if (!weight) return CADA_ERR(CADA_ERR_ARG, "%s: weight is NULL", ctx);
    if (!out_f32 && !out_bf16) return CADA_ERR(CADA_ERR_ARG, "%s: out_f32 and out_bf16 are both NULL", ctx);
    if (out_f32 && out_bf16)
        return CADA_ERR(CADA_ERR_ARG, "%s: out_f32 and out_bf16 are both set; pass exactly one output", ctx);
    if (out_bf16 && residual)
        return CADA_ERR(CADA_ERR_ARG, "%s: a residual needs the fp32 output (out_f32), not out_bf16", ctx);
    unsigned al = 256;
    CADA_TRY(fold_align(&al, inp, "inp", ctx));
    CADA_TRY(fold_align(&al, weight, "weight", ctx));
    CADA_TRY(fold_align(&al, bias, "bias", ctx));
    CADA_TRY(fold_align(&al, residual, "residual", ctx));
    CADA_TRY(fold_align(&al, out_f32, "out_f32", ctx));
    CADA_TRY(fold_align(&al, out_bf16, "out_bf16", ctx));
    CADA_TRY(check_device(b, ctx));

    mm_plan key;
    memset(&key, 0, sizeof key);
    key.kind = MM_FWD;
    key.N = N, key.C = C, key.OC = OC;
    key.out_bf16 = out_f32 ? 0 : 1;
    key.has_bias = bias != NULL;
    key.beta_one = residual != NULL;
    key.align = al;
    mm_plan *p = NULL;
    CADA_TRY(plan_get(b, &key, bias, &p, ctx));
    if (p->bias_epilogue) {
        const void *bp = bias;
        LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
    }
    void *D = out_f32 ? (void *)out_f32 : (void *)out_bf16;
    const void *Cm = residual ? (const void *)residual : (const void *)D;
    CADA_TRY(run_plan(b, p, weight, inp, Cm, D, residual ? 1.0f : 0.0f, stream, ctx));
    if (bias && !p->bias_epilogue) {
        const size_t total = (size_t)N * (size_t)OC;
        const __nv_bfloat16 *bb = reinterpret_cast<const __nv_bfloat16 *>(bias);
        if (out_f32)
            bias_add_kernel<float><<<grid_for(total, 256), 256, 0, stream>>>(out_f32, bb, total, OC);
        else
            bias_add_kernel<__nv_bfloat16>
                <<<grid_for(total, 256), 256, 0, stream>>>(reinterpret_cast<__nv_bfloat16 *>(out_bf16), bb, total, OC);
        CADA_TRY(launch_check(ctx, "bias_add_kernel"));
    }
    return CADA_OK;
}

extern "C" cada_status gpu_matmul_backward(cada_gpu_blas *b, cada_bf16 *dinp, float *dweight, float *dbias,
                                           const cada_bf16 *dout, const cada_bf16 *inp, const cada_bf16 *weight,
                                           int N, int C, int OC, cudaStream_t stream) {
    char ctx[160];
    snprintf(ctx, sizeof ctx, "gpu_matmul_backward (N=%d C=%d OC=%d%s%s)", N, C, OC, dinp ? ", dinp" : "",
             dbias ? ", dbias" : "");
    if (!b) return CADA_ERR(CADA_ERR_ARG, "%s: the cuBLASLt handle is NULL", ctx);
    if (N <= 0 || C <= 0 || OC <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: sizes must be positive", ctx);
    if (!dout) return CADA_ERR(CADA_ERR_ARG, "%s: dout is NULL", ctx);
    if (!dweight) return CADA_ERR(CADA_ERR_ARG, "%s: dweight is NULL", ctx);
    if (!inp) return CADA_ERR(CADA_ERR_ARG, "%s: inp is NULL (needed for dweight)", ctx);
    if (dinp && !weight) return CADA_ERR(CADA_ERR_ARG, "%s: weight is NULL but dinp is requested", ctx);
    CADA_TRY(check_device(b, ctx));

    if (dinp) {
        char c2[192];
        snprintf(c2, sizeof c2, "%s: dinp = dout @ weight", ctx);
        unsigned al = 256;
        CADA_TRY(fold_align(&al, dinp, "dinp", c2));
        CADA_TRY(fold_align(&al, dout, "dout", c2));
        CADA_TRY(fold_align(&al, weight, "weight", c2));
        mm_plan key;
        memset(&key, 0, sizeof key);
        key.kind = MM_DINP;
        key.N = N, key.C = C, key.OC = OC;
        key.out_bf16 = 1;
        key.align = al;
        mm_plan *p = NULL;
        CADA_TRY(plan_get(b, &key, NULL, &p, c2));
        CADA_TRY(run_plan(b, p, weight, dout, dinp, dinp, 0.0f, stream, c2));
    }
    {
        char c2[192];
        snprintf(c2, sizeof c2, "%s: dweight += dout^T @ inp", ctx);
        unsigned al = 256;
        CADA_TRY(fold_align(&al, dweight, "dweight", c2));
        CADA_TRY(fold_align(&al, dout, "dout", c2));
        CADA_TRY(fold_align(&al, inp, "inp", c2));
        mm_plan key;
        memset(&key, 0, sizeof key);
        key.kind = MM_DWEIGHT;
        key.N = N, key.C = C, key.OC = OC;
        key.beta_one = 1;
        key.align = al;
        mm_plan *p = NULL;
        CADA_TRY(plan_get(b, &key, NULL, &p, c2));
        CADA_TRY(run_plan(b, p, inp, dout, dweight, dweight, 1.0f, stream, c2));
    }
    if (dbias) {
        /* enough blocks to cover the SMs about twice; rows split only when columns are few */
        const int gx = (OC + CS_COLS - 1) / CS_COLS;
        const int want = 2 * (b->sm_count > 0 ? b->sm_count : 100);
        int gy = (want + gx - 1) / gx;
        const int max_gy = (N + 63) / 64; /* at least 64 rows per block */
        if (gy > max_gy) gy = max_gy;
        if (gy < 1) gy = 1;
        if (gy > 65535) gy = 65535;
        const int rows = (N + gy - 1) / gy;
        gy = (N + rows - 1) / rows;
        colsum_kernel<<<dim3((unsigned)gx, (unsigned)gy), dim3(CS_COLS, CS_LANES), 0, stream>>>(
            dbias, reinterpret_cast<const __nv_bfloat16 *>(dout), N, OC, rows);
        CADA_TRY(launch_check(ctx, "colsum_kernel (dbias)"));
    }
    return CADA_OK;
}
