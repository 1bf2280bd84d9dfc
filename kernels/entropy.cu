/* kernels/entropy.cu: the policy's entropy per token from the fp32 logits and their
 * log-sum-exp, as src/learn/entropy.c (a metric of the learner step):
 *     H_n = lse_n - sum_v p_v logit_v,   p_v = exp(logit_v - lse_n)
 * Launch shape: one 256-thread block per row; each thread sums its strided elements in
 * double (as the CPU's row sum), then a shared-memory tree merges the threads. Rows
 * whose mask is negative are written 0 and not read. */
#include "gpu_ops.h"
#include "cuda_check.h"

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    token_entropy_kernel(float *entropy, const float *logits, const float *lse, const int *mask, int V) {
    __shared__ double part[kThreads];
    const int n = blockIdx.x;
    if (mask && mask[n] < 0) { /* uniform across the block */
        if (threadIdx.x == 0) entropy[n] = 0.0f;
        return;
    }
    const float *x = logits + (size_t)n * V;
    const float m = lse[n];
    double ex = 0.0;
    for (int v = threadIdx.x; v < V; v += kThreads) ex += (double)expf(x[v] - m) * x[v];
    part[threadIdx.x] = ex;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) entropy[n] = (float)(m - part[0]);
}

} // namespace

extern "C" cada_status gpu_token_entropy(float *entropy, const float *logits, const float *lse, const int *mask, int N,
                                         int V, cudaStream_t stream) {
    if (!entropy || !logits || !lse)
        return CADA_ERR(CADA_ERR_ARG, "gpu_token_entropy: %s is NULL", !entropy ? "entropy" : !logits ? "logits" : "lse");
    if (N <= 0 || V <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_token_entropy: N=%d, V=%d must be > 0", N, V);
    token_entropy_kernel<<<N, kThreads, 0, stream>>>(entropy, logits, lse, mask, V);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
