/* kernels/sample.cu: next-token sampling on the GPU, the semantics of
 * src/rollout/sampler.c (cada_sample) for each of n rows of fp32 logits (n, V).
 *
 * What the CPU sampler does, and how it is reproduced without sorting V entries:
 *   - greedy (temperature <= 0): the first index of the maximum logit;
 *   - the model log-prob: logits[token] - (max + log sum exp(logits - max)) in fp64;
 *   - prob[v] = expf((logits[v] - max) / T) (fp32, unnormalised, in [0, 1]);
 *   - without top-k/top-p the draw walks tokens in INDEX order: the first v whose
 *     running sum exceeds u * sum (here: one index-ordered block scan);
 *   - with top-k and/or top-p the CPU sorts by (prob descending, index ascending), keeps
 *     the first k, then the shortest prefix whose sum reaches top_p * (sum of those k),
 *     and walks that SORTED prefix for the draw.
 *   The kept set is always "every prob above a threshold value thr, plus the first
 *   tie_keep tokens (by index) whose prob equals thr" (the sort breaks ties by index).
 *   Probs are non-negative floats, so their bit patterns order like their values; thr
 *   is found by a bitwise descent (30 steps, one block reduction over the row each):
 *     top-k: the largest q with count(prob >= q) >= k is the k-th largest prob;
 *     top-p: the largest q with sum_kept(prob >= q) >= top_p * total is the prob of the
 *            last token of the CPU's prefix; within that tie group the count follows
 *            from the sum above it;
 *     draw:  the largest q with sum_kept(prob >= q) > u * sum_kept is the prob of the
 *            chosen token; within its tie group, the position follows the same way.
 *   The index of the j-th token of a tie group comes from an index-ordered block scan.
 *   Probs are recomputed from the logits in every pass (expf is deterministic), so no
 *   scratch is needed; each pass reads the row from L2.
 *
 * Launch shape: one 512-thread block per row (a 1-D grid over n). Each row costs about
 * 100 passes over V when both filters are on, ~35 with one, 3 without: sampling is a
 * small part of a decode step next to the LM head matmul that produced the logits. */
#include "gpu_ops.h"
#include "cuda_check.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kTopBit = 29; /* probs are <= 1.0f = 0x3f800000 < 2^30 */

/* Shared scratch of the block helpers: kWarps partials and a broadcast slot. */
struct Scratch {
    double d[33];
    int i[33];
    float f[33];
    int j[33];
};

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
    return v;
}

/* Block sums, the result broadcast to every thread. Every thread of the block must call
 * (they contain __syncthreads); the leading barrier protects the slots from the
 * previous call's readers. */
template <typename T> __device__ __forceinline__ T block_sum(T v, T *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        T x = lane < kWarps ? sh[lane] : T(0);
        x = warp_sum(x);
        if (lane == 0) sh[32] = x;
    }
    __syncthreads();
    return sh[32];
}

__device__ __forceinline__ int block_min(int v, int *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(kFull, v, o));
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        int x = lane < kWarps ? sh[lane] : INT_MAX;
        for (int o = 16; o > 0; o >>= 1) x = min(x, __shfl_xor_sync(kFull, x, o));
        if (lane == 0) sh[32] = x;
    }
    __syncthreads();
    return sh[32];
}

/* (value, index) argmax keeping the first index of the maximum; broadcast. */
__device__ __forceinline__ void block_argmax(float &val, int &idx, float *shv, int *shi) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        const float v2 = __shfl_xor_sync(kFull, val, o);
        const int i2 = __shfl_xor_sync(kFull, idx, o);
        if (v2 > val || (v2 == val && i2 < idx)) val = v2, idx = i2;
    }
    __syncthreads();
    if (lane == 0) shv[w] = val, shi[w] = idx;
    __syncthreads();
    if (w == 0) {
        float v = lane < kWarps ? shv[lane] : -INFINITY;
        int i = lane < kWarps ? shi[lane] : INT_MAX;
        for (int o = 16; o > 0; o >>= 1) {
            const float v2 = __shfl_xor_sync(kFull, v, o);
            const int i2 = __shfl_xor_sync(kFull, i, o);
            if (v2 > v || (v2 == v && i2 < i)) v = v2, i = i2;
        }
        if (lane == 0) shv[32] = v, shi[32] = i;
    }
    __syncthreads();
    val = shv[32];
    idx = shi[32];
}

/* Inclusive scan over the block in thread order; *total receives the block's sum. */
template <typename T> __device__ __forceinline__ T block_scan(T v, T *sh, T *total) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        const T y = __shfl_up_sync(kFull, v, o);
        if (lane >= o) v += y;
    }
    __syncthreads();
    if (lane == 31) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        T incl = lane < kWarps ? sh[lane] : T(0);
        for (int o = 1; o < 32; o <<= 1) {
            const T y = __shfl_up_sync(kFull, incl, o);
            if (lane >= o) incl += y;
        }
        T excl = __shfl_up_sync(kFull, incl, 1);
        if (lane == 0) excl = T(0);
        if (lane < kWarps) sh[lane] = excl;
        if (lane == 31) sh[32] = incl;
    }
    __syncthreads();
    *total = sh[32];
    return v + sh[w];
}

/* The row's view: unnormalised tempered probabilities and the kept set. */
struct Row {
    const float *l;
    int V;
    float mx, inv_t;
    /* kept: bits > thr, or bits == thr and index <= cut */
    uint32_t thr;
    int cut;

    __device__ float prob(int v) const { return expf((l[v] - mx) * inv_t); }
    __device__ bool kept(uint32_t bits, int v) const { return bits > thr || (bits == thr && v <= cut); }
};

/* Index (in index order) of the j-th token (j >= 1) whose prob bits equal q and that
 * is kept; -1 if there are fewer. Kept tokens of one value form an index prefix of that
 * value's tokens, so this is also the j-th token of value q when j is within the kept
 * count. */
__device__ __forceinline__ int nth_of_value(const Row &r, uint32_t q, bool only_kept, int j, Scratch &s) {
    int seen = 0;
    int found = -1;
    for (int start = 0; start < r.V; start += kThreads) { /* uniform trip count */
        const int v = start + threadIdx.x;
        int flag = 0;
        if (v < r.V) {
            const uint32_t b = __float_as_uint(r.prob(v));
            flag = b == q && (!only_kept || r.kept(b, v));
        }
        int total;
        const int incl = block_scan(flag, s.i, &total);
        const int hit = flag && seen + incl == j ? v : INT_MAX;
        const int first = block_min(hit, s.j);
        seen += total;
        if (first != INT_MAX) {
            found = first;
            break;
        }
    }
    return found;
}

/* Largest q (bit pattern) with count(prob >= q) >= k over all tokens. */
__device__ __forceinline__ uint32_t descend_count(const Row &r, int k, Scratch &s) {
    uint32_t q = 0;
    for (int bit = kTopBit; bit >= 0; bit--) {
        const uint32_t cand = q | (1u << bit);
        int c = 0;
        for (int v = threadIdx.x; v < r.V; v += kThreads) c += __float_as_uint(r.prob(v)) >= cand;
        if (block_sum(c, s.i) >= k) q = cand;
    }
    return q;
}

/* Largest q with sum_kept(prob >= q) >= P (strict: > P), over the kept set. */
__device__ __forceinline__ uint32_t descend_sum(const Row &r, double P, bool strict, Scratch &s) {
    uint32_t q = 0;
    for (int bit = kTopBit; bit >= 0; bit--) {
        const uint32_t cand = q | (1u << bit);
        double acc = 0.0;
        for (int v = threadIdx.x; v < r.V; v += kThreads) {
            const float p = r.prob(v);
            const uint32_t b = __float_as_uint(p);
            if (b >= cand && r.kept(b, v)) acc += p;
        }
        acc = block_sum(acc, s.d);
        if (strict ? acc > P : acc >= P) q = cand;
    }
    return q;
}

/* Over the kept set: the sum of probs above q and the count of probs equal to q. */
__device__ __forceinline__ void above_and_ties(const Row &r, uint32_t q, double *sum_gt, int *count_eq, Scratch &s) {
    double acc = 0.0;
    int c = 0;
    for (int v = threadIdx.x; v < r.V; v += kThreads) {
        const float p = r.prob(v);
        const uint32_t b = __float_as_uint(p);
        if (!r.kept(b, v)) continue;
        if (b > q) acc += p;
        else if (b == q) c++;
    }
    *sum_gt = block_sum(acc, s.d);
    *count_eq = block_sum(c, s.i);
}

__device__ __forceinline__ double kept_sum(const Row &r, Scratch &s) {
    double acc = 0.0;
    for (int v = threadIdx.x; v < r.V; v += kThreads) {
        const float p = r.prob(v);
        if (r.kept(__float_as_uint(p), v)) acc += p;
    }
    return block_sum(acc, s.d);
}

/* Smallest j in [1, g] with base + j * q > target (or >= when !strict): the position
 * inside a tie group of value q where the CPU's running sum first crosses target. */
__device__ __forceinline__ int position_in_group(double base, double q, double target, bool strict, int g) {
    if (q <= 0.0) return g;
    double jd = floor((target - base) / q);
    long long j = jd < 0.0 ? 0 : jd > (double)g ? (long long)g : (long long)jd;
    while (j > 1 && (strict ? base + (double)(j - 1) * q > target : base + (double)(j - 1) * q >= target)) j--;
    while (j < g && !(strict ? base + (double)j * q > target : base + (double)j * q >= target)) j++;
    if (j < 1) j = 1;
    return (int)j;
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(int *tokens, float *logprob, const float *logits, const float *u, int V, float temperature,
                  int top_k, float top_p) {
    __shared__ Scratch s;
    const int row = blockIdx.x;
    Row r;
    r.l = logits + (size_t)row * V;
    r.V = V;

    /* 1. argmax (first index of the maximum), as the CPU scans. */
    float mx = -INFINITY;
    int best = INT_MAX;
    for (int v = threadIdx.x; v < V; v += kThreads) {
        const float x = r.l[v];
        if (best == INT_MAX || x > mx) mx = x, best = v;
    }
    block_argmax(mx, best, s.f, s.j);
    r.mx = mx;

    /* 2. the model's log-sum-exp at temperature 1, in fp64 as the CPU. */
    double z = 0.0;
    for (int v = threadIdx.x; v < V; v += kThreads) z += exp((double)(r.l[v] - mx));
    z = block_sum(z, s.d);
    const double lse = (double)mx + log(z);

    int chosen = best;
    if (temperature > 0.0f) {
        r.inv_t = 1.0f / temperature;
        r.thr = 0; /* everything kept */
        r.cut = V - 1;
        const double uu = (double)u[row];
        const bool filt_k = top_k > 0 && top_k < V;
        const bool filt_p = top_p < 1.0f;
        if (!filt_k && !filt_p) {
            /* The draw in index order: the first v whose running sum exceeds u * sum. */
            const double target = uu * kept_sum(r, s);
            chosen = V - 1;
            double base = 0.0;
            for (int start = 0; start < V; start += kThreads) {
                const int v = start + threadIdx.x;
                const double p = v < V ? (double)r.prob(v) : 0.0;
                double total;
                const double incl = block_scan(p, s.d, &total);
                const int first = block_min(v < V && base + incl > target ? v : INT_MAX, s.j);
                if (first != INT_MAX) {
                    chosen = first;
                    break;
                }
                base += total;
            }
        } else {
            if (filt_k) {
                const uint32_t q = descend_count(r, top_k, s);
                int gt = 0;
                for (int v = threadIdx.x; v < V; v += kThreads) gt += __float_as_uint(r.prob(v)) > q;
                gt = block_sum(gt, s.i);
                r.cut = nth_of_value(r, q, false, top_k - gt, s);
                r.thr = q;
            }
            if (filt_p) {
                const double total = kept_sum(r, s);
                const double P = (double)top_p * total;
                if (total >= P) { /* else the CPU keeps every candidate */
                    /* P <= 0 (top_p <= 0): the CPU keeps its first token, the maximum
                     * prob, which is exactly expf(0) = 1; the descent cannot find it
                     * because the empty set's sum 0 already reaches P. */
                    const uint32_t q = P > 0.0 ? descend_sum(r, P, false, s) : __float_as_uint(1.0f);
                    double sum_gt;
                    int g;
                    above_and_ties(r, q, &sum_gt, &g, s);
                    const int t = position_in_group(sum_gt, (double)__uint_as_float(q), P, false, g);
                    r.cut = nth_of_value(r, q, true, t, s);
                    r.thr = q;
                }
            }
            /* The draw over the kept set in the CPU's sorted order. */
            const double sum = kept_sum(r, s);
            const double target = uu * sum;
            if (!(sum > target)) {
                chosen = r.cut; /* the CPU's fallback: the last kept token in sorted order */
            } else {
                const uint32_t q = descend_sum(r, target, true, s);
                double sum_gt;
                int g;
                above_and_ties(r, q, &sum_gt, &g, s);
                const int j = position_in_group(sum_gt, (double)__uint_as_float(q), target, true, g);
                chosen = nth_of_value(r, q, true, j, s);
            }
        }
    }
    if (threadIdx.x == 0) {
        tokens[row] = chosen;
        logprob[row] = (float)((double)r.l[chosen] - lse);
    }
}

} // namespace

extern "C" cada_status gpu_sample(int *tokens, float *logprob, const float *logits, const float *u, int n, int V,
                                  float temperature, int top_k, float top_p, cudaStream_t stream) {
    if (!tokens || !logprob || !logits || !u)
        return CADA_ERR(CADA_ERR_ARG, "gpu_sample: %s is NULL",
                        !tokens ? "tokens" : !logprob ? "logprob" : !logits ? "logits" : "u");
    if (n <= 0 || V <= 0) return CADA_ERR(CADA_ERR_ARG, "gpu_sample: n=%d, V=%d must be > 0", n, V);
    if (isnan(temperature) || isnan(top_p))
        return CADA_ERR(CADA_ERR_ARG, "gpu_sample: temperature %g, top_p %g: NaN", (double)temperature,
                        (double)top_p);
    sample_kernel<<<n, kThreads, 0, stream>>>(tokens, logprob, logits, u, V, temperature, top_k, top_p);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}
