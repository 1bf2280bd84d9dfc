/* kernels/attention.cu: causal grouped-query attention inside packed documents on
 * tensor cores (bf16 in, fp32 accumulation), the GPU side of src/ops/attention.c.
 *
 * Visibility (as ops.h): key j is visible to query i of the same row iff
 *   start(i) = i - pos[i] <= j <= i;
 * start is clamped to [0, i] so a malformed pos never leaves a query without its own
 * key (the CPU reference would produce inf/NaN there instead).
 *
 * Building block: mma.sync.m16n8k16 (bf16 x bf16 -> fp32) with ldmatrix from shared
 * memory. A warp owns 16 rows of a product; the fp32 accumulator of one 16x8 tile
 * lives in 4 registers per lane (rows g and g+8, columns 2t and 2t+1 where g = lane/4,
 * t = lane%4), which is also the layout of an A operand once two adjacent n-tiles are
 * packed to bf16: scores become the A operand of the next product without leaving
 * registers (the FlashAttention-2 trick). Shared rows are padded by 8 elements (16
 * bytes) so the 8 row addresses of one ldmatrix hit 8 different bank groups.
 *
 * Forward (flash-attention-2): one block of 4 warps per (row b, head h, 64 queries).
 *   Q (64 x D) is read once into registers (A fragments); K and V tiles of 64 keys
 *   stream through a double-buffered cp.async pipeline; per key tile
 *   S = Q K^T (fp32), mask, online softmax in the log2 domain (scores prescaled by
 *   log2(e)/sqrt(D), exp2f), O += P V with P rounded to bf16. Only key tiles between
 *   the tile's earliest document start and its diagonal are visited, and only tiles
 *   that straddle a document start or the diagonal pay for the mask. The heaviest
 *   query tiles (last ones) are launched first. Per lane: O D/2 floats, Q fragments
 *   D/4 registers, S 32 floats. Shared: (64 + 4*64) x (D+8) bf16 = 87040 bytes for
 *   D = 128 (2 blocks/SM), 46080 for D = 64.
 *   Writes out (B*T, H*D) bf16 and lse (B, H, T) fp32 (natural log of the sum of exp
 *   of the scaled scores).
 *
 * Backward (flash-attention-2): three kernels and a memset.
 *   1. delta[b,h,i] = sum_d dout * out (fp32) and, per (b, query tile), the min and
 *      max of start(i) over the tile (to skip tiles and masking).
 *   2. one block of 8 warps per (b, kv head, 128 keys); warp w owns keys 16w..16w+15.
 *      K and V stay in shared memory; the block walks every query head of its group
 *      and every query tile (BQ queries: 32 for D = 128, 64 for D = 64) that can see
 *      its keys, Q / dO / lse / delta / pos double-buffered through cp.async:
 *        S^T = K Q^T, P^T = exp2(S^T * scale*log2e - lse*log2e)  (masked -> 0)
 *        dP^T = V dO^T, dS^T = P^T * (dP^T - delta)
 *        dV += P^T dO, dK += dS^T Q   (fp32 registers: GQA sums stay in the block)
 *        dS^T -> shared (bf16), then dQ = dS K (a 16 x 32 piece per warp), added to an
 *        fp32 scratch with atomicAdd (float2 reductions on sm_90), times 1/sqrt(D).
 *      dK (times 1/sqrt(D)) and dV are written as bf16 into dqkv's k and v parts.
 *   3. dq scratch (fp32) -> q part of dqkv (bf16).
 *   Per lane: dK, dV D/2 floats each, S and dP BQ/2 floats each. Shared: 115456 bytes
 *   (D = 128) / 93696 (D = 64) plus 4 bytes per query tile of the row (visible list);
 *   one block (8 warps) per SM.
 *
 * Decode (flash-decoding): one block per (sequence, kv head, chunk of CH keys) runs
 *   all query heads of the group against the chunk, so the K/V chunk is read once
 *   per group (GQA makes decode memory-bound on the cache read): scores into shared,
 *   chunk max / sum, then sum_j p_j v_j, with 16-byte loads, 4 in flight per lane;
 *   (max, sum, o) per chunk to scratch; a combine kernel rescales and sums the chunks.
 *   CH is 64..512, picked from (n, max_len) so small batches still spread over the GPU.
 *
 * What limits it: the forward reaches tensor-core rate only when the row has many
 *   visible key tiles (T >= 1k); each block keeps the whole O (64 x D) in registers
 *   and every warp reads all of K and V from shared memory (ldmatrix), so it is bound
 *   by shared-memory bandwidth and the non-overlapped softmax (mma.sync, no wgmma).
 *   The backward pays fp32 atomics for dQ (one per element per 128-key tile) and
 *   recomputes P; its dK/dV registers cap it at one 8-warp block per SM. Decode is
 *   bound by memory-level parallelism for short caches and small batches.
 *   Numerics: P is rounded to bf16 before P V and dS to bf16 before dQ / dK (the sums
 *   use fp32), as in FlashAttention-2; dQ is summed by atomics in a run-dependent
 *   order (not bit-reproducible). */
#include "gpu_ops.h"

#include "cuda_check.h"

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

#define ATT_LOG2E 1.4426950408889634f
#define ATT_LN2 0.6931471805599453f

/* ---- PTX helpers ------------------------------------------------------------------------ */

static __device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, asynchronously; pred false fills the 16 bytes with zeros
 * (src-size 0: nothing is read from src, which must still be a valid address). */
static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool pred) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(pred ? 16 : 0));
}
static __device__ __forceinline__ void cp_async4(void *smem, const void *gmem, bool pred) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(pred ? 4 : 0));
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
static __device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

/* Four 8x8 bf16 matrices; lanes 8m..8m+7 give the row addresses of matrix m; register m
 * of a lane receives row lane/4, columns 2(lane%4), +1 of matrix m (of its transpose
 * with .trans). */
static __device__ __forceinline__ void ldsm4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
static __device__ __forceinline__ void ldsm4t(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

/* c(16x8 fp32) += a(16x16 bf16, row) * b(16x8 bf16, col). */
static __device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Two floats -> bf16x2, the lower column in the low half (the A/B fragment order). */
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

/* p[0] += x, p[1] += y (p 8-byte aligned): one vector reduction on sm_90, two scalar
 * ones before. */
static __device__ __forceinline__ void add2(float *p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    atomicAdd((float2 *)p, make_float2(x, y));
#else
    atomicAdd(p, x);
    atomicAdd(p + 1, y);
#endif
}

static __device__ __forceinline__ int doc_start(int i, int p) {
    int s = i - p;
    return s < 0 ? 0 : (s > i ? i : s);
}

/* ---- forward ------------------------------------------------------------------------------ */

#define FWD_WARPS 4 /* 8 warps (128 queries) measured slower: registers cap it at 1 block/SM */
#define FWD_BQ (16 * FWD_WARPS)
#define FWD_BK 64

template <int D>
static constexpr size_t fwd_smem_bytes() {
    return (size_t)(FWD_BQ + 4 * FWD_BK) * (D + 8) * sizeof(bf16);
}

/* Grid: 1-D, nqt * B * H blocks, heaviest query tiles first. */
template <int D>
__global__ void __launch_bounds__(FWD_WARPS * 32, 8 / FWD_WARPS)
    attention_forward_kernel(bf16 *__restrict__ out, float *__restrict__ lse, const bf16 *__restrict__ qkv,
                             const int *__restrict__ pos, int B, int T, int H, int KVH, float scale_log2) {
    constexpr int LDS = D + 8;
    constexpr int KSTEPS = D / 16; /* k-steps of Q K^T */
    constexpr int CHUNKS = D / 8;  /* 16-byte chunks per row */
    extern __shared__ __align__(16) unsigned char att_smem[];
    bf16 *sQ = (bf16 *)att_smem;      /* (BQ, LDS) */
    bf16 *sK = sQ + FWD_BQ * LDS;     /* 2 x (BK, LDS) */
    bf16 *sV = sK + 2 * FWD_BK * LDS; /* 2 x (BK, LDS) */
    __shared__ int s_min_start[FWD_WARPS];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const int nqt = (T + FWD_BQ - 1) / FWD_BQ;
    const int bh = blockIdx.x % (B * H);
    const int qt = nqt - 1 - (int)(blockIdx.x / (B * H));
    const int b = bh / H, h = bh % H;
    const int kvh = h / (H / KVH);
    const int QKV = (H + 2 * KVH) * D;
    const bf16 *rowbase = qkv + (size_t)b * T * QKV;
    const int *rpos = pos + (size_t)b * T;
    const int q0 = qt * FWD_BQ;

    /* This lane's two query rows; rows past T behave as row T-1 (never written). */
    const int r_lo = q0 + warp * 16 + g, r_hi = r_lo + 8;
    const int i_lo = min(r_lo, T - 1), i_hi = min(r_hi, T - 1);
    const int st_lo = doc_start(i_lo, __ldg(rpos + i_lo)), st_hi = doc_start(i_hi, __ldg(rpos + i_hi));
    int wmin = min(st_lo, st_hi), wmax = max(st_lo, st_hi);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        wmin = min(wmin, __shfl_xor_sync(0xffffffffu, wmin, o));
        wmax = max(wmax, __shfl_xor_sync(0xffffffffu, wmax, o));
    }
    if (lane == 0) s_min_start[warp] = wmin;
    const int warp_min_i = min(q0 + warp * 16, T - 1);

    /* Q tile and the first K/V tile. */
    const bf16 *qbase = rowbase + h * D;
    const bf16 *kbase = rowbase + H * D + kvh * D;
    const bf16 *vbase = rowbase + (H + KVH) * D + kvh * D;
    for (int c = tid; c < FWD_BQ * CHUNKS; c += FWD_WARPS * 32) {
        int r = c / CHUNKS, cc = c % CHUNKS, row = q0 + r;
        bool ok = row < T;
        cp_async16(sQ + r * LDS + cc * 8, qbase + (size_t)(ok ? row : 0) * QKV + cc * 8, ok);
    }
    __syncthreads(); /* s_min_start */
    int bmin = s_min_start[0];
#pragma unroll
    for (int w = 1; w < FWD_WARPS; w++) bmin = min(bmin, s_min_start[w]);
    const int kt_lo = bmin / FWD_BK;
    const int kt_hi = min(q0 + FWD_BQ - 1, T - 1) / FWD_BK;
    const int n_it = kt_hi - kt_lo + 1;

    auto load_kv = [&](int kt, int buf) {
        bf16 *dk = sK + buf * FWD_BK * LDS, *dv = sV + buf * FWD_BK * LDS;
        for (int c = tid; c < FWD_BK * CHUNKS; c += FWD_WARPS * 32) {
            int r = c / CHUNKS, cc = c % CHUNKS, row = kt * FWD_BK + r;
            bool ok = row < T;
            size_t off = (size_t)(ok ? row : 0) * QKV + cc * 8;
            cp_async16(dk + r * LDS + cc * 8, kbase + off, ok);
            cp_async16(dv + r * LDS + cc * 8, vbase + off, ok);
        }
    };
    load_kv(kt_lo, 0);
    cp_async_commit();

    uint32_t qf[KSTEPS][4];
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

    for (int it = 0; it < n_it; it++) {
        const int kt = kt_lo + it, buf = it & 1;
        cp_async_wait_all();
        __syncthreads(); /* tile `it` visible to all; everyone is done with tile it-1 */
        if (it == 0) {
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++)
                ldsm4(qf[kk], sQ + (warp * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
        }
        if (it + 1 < n_it) load_kv(kt + 1, buf ^ 1);
        cp_async_commit();

        const bf16 *cK = sK + buf * FWD_BK * LDS, *cV = sV + buf * FWD_BK * LDS;
        /* S = Q K^T: B operand (k = d, n = key) col-major is K row-major: no transpose. */
        float s[FWD_BK / 8][4];
#pragma unroll
        for (int n = 0; n < FWD_BK / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
            for (int np = 0; np < FWD_BK / 16; np++) {
                uint32_t r[4];
                ldsm4(r, cK + (np * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                mma_bf16(s[2 * np], qf[kk], r[0], r[1]);
                mma_bf16(s[2 * np + 1], qf[kk], r[2], r[3]);
            }
        }
        const int k0 = kt * FWD_BK;
        const bool need_mask = (k0 + FWD_BK - 1 > warp_min_i) || (k0 < wmax);
        float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
        for (int n = 0; n < FWD_BK / 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float v = s[n][e] * scale_log2;
                if (need_mask) {
                    int j = k0 + n * 8 + 2 * t4 + (e & 1);
                    bool vis = (e < 2) ? (j >= st_lo && j <= i_lo) : (j >= st_hi && j <= i_hi);
                    v = vis ? v : -INFINITY;
                }
                s[n][e] = v;
            }
            mx_lo = fmaxf(mx_lo, fmaxf(s[n][0], s[n][1]));
            mx_hi = fmaxf(mx_hi, fmaxf(s[n][2], s[n][3]));
        }
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
        /* Online softmax: a row that has seen no visible key yet keeps max -inf; its
         * reference point is then 0 so exp2(-inf - 0) = 0 and no NaN appears. */
        const float mn_lo = fmaxf(m_lo, mx_lo), mn_hi = fmaxf(m_hi, mx_hi);
        const float ref_lo = mn_lo == -INFINITY ? 0.0f : mn_lo;
        const float ref_hi = mn_hi == -INFINITY ? 0.0f : mn_hi;
        const float a_lo = exp2f(m_lo - ref_lo), a_hi = exp2f(m_hi - ref_hi);
        m_lo = mn_lo;
        m_hi = mn_hi;
        float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
        for (int n = 0; n < FWD_BK / 8; n++) {
            s[n][0] = exp2f(s[n][0] - ref_lo);
            s[n][1] = exp2f(s[n][1] - ref_lo);
            s[n][2] = exp2f(s[n][2] - ref_hi);
            s[n][3] = exp2f(s[n][3] - ref_hi);
            sum_lo += s[n][0] + s[n][1];
            sum_hi += s[n][2] + s[n][3];
        }
        l_lo = l_lo * a_lo + sum_lo;
        l_hi = l_hi * a_hi + sum_hi;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            o[n][0] *= a_lo;
            o[n][1] *= a_lo;
            o[n][2] *= a_hi;
            o[n][3] *= a_hi;
        }
        /* O += P V: A = P from the accumulators; B (k = key, n = d) is V row-major, so
         * ldmatrix.trans. */
#pragma unroll
        for (int kk = 0; kk < FWD_BK / 16; kk++) {
            uint32_t a[4];
            a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < D / 16; dp++) {
                uint32_t r[4];
                ldsm4t(r, cV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dp * 16 + (lane >> 4) * 8);
                mma_bf16(o[2 * dp], a, r[0], r[1]);
                mma_bf16(o[2 * dp + 1], a, r[2], r[3]);
            }
        }
    }
    cp_async_wait_all(); /* nothing is pending, but leave no group behind */

    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
    /* Every valid row sees its own key, so l > 0 there. */
    const float inv_lo = 1.0f / l_lo, inv_hi = 1.0f / l_hi;
    const int HD = H * D;
    if (r_lo < T) {
        bf16 *dst = out + ((size_t)b * T + r_lo) * HD + h * D + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *(__nv_bfloat162 *)(dst + n * 8) = __floats2bfloat162_rn(o[n][0] * inv_lo, o[n][1] * inv_lo);
        if (t4 == 0) lse[((size_t)b * H + h) * T + r_lo] = (m_lo + log2f(l_lo)) * ATT_LN2;
    }
    if (r_hi < T) {
        bf16 *dst = out + ((size_t)b * T + r_hi) * HD + h * D + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *(__nv_bfloat162 *)(dst + n * 8) = __floats2bfloat162_rn(o[n][2] * inv_hi, o[n][3] * inv_hi);
        if (t4 == 0) lse[((size_t)b * H + h) * T + r_hi] = (m_hi + log2f(l_hi)) * ATT_LN2;
    }
}

/* ---- backward ------------------------------------------------------------------------------- */

#define BWD_WARPS 8 /* 128 keys per block: half the dQ atomics of 64 (7% faster at 8B shapes) */
#define BWD_BK (16 * BWD_WARPS)

template <int D>
struct bwd_cfg {
    static constexpr int BQ = D >= 128 ? 32 : 64; /* query tile: bounded by registers */
    static constexpr int LDS = D + 8;
    static constexpr int LDSS = BQ + 8; /* dS^T row stride */
    /* sK, sV (BK, LDS); sQ, sdO 2 x (BQ, LDS); sdS (BK, LDSS); lse, delta, pos 2 x BQ. */
    static constexpr size_t fixed_bytes = (size_t)(2 * BWD_BK + 4 * BQ) * LDS * sizeof(bf16) +
                                          (size_t)BWD_BK * LDSS * sizeof(bf16) + (size_t)6 * BQ * 4;
};

/* delta[b,h,i] = sum_d dout[b*T+i, h*D+d] * out[...] in fp32: one warp per (token, head). */
__global__ void attention_delta_kernel(float *__restrict__ delta, const bf16 *__restrict__ dout,
                                       const bf16 *__restrict__ out, int B, int T, int H, int D) {
    const long long w = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (w >= (long long)B * T * H) return;
    const long long row = w / H; /* b*T + i */
    const int h = (int)(w % H);
    const bf16 *a = dout + row * H * D + (size_t)h * D;
    const bf16 *c = out + row * H * D + (size_t)h * D;
    float acc = 0.0f;
    for (int d = 2 * lane; d < D; d += 64) {
        float2 x = __bfloat1622float2(*(const __nv_bfloat162 *)(a + d));
        float2 y = __bfloat1622float2(*(const __nv_bfloat162 *)(c + d));
        acc += x.x * y.x + x.y * y.y;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) {
        long long b = row / T, i = row % T;
        delta[(b * H + h) * T + i] = acc;
    }
}

/* tile_start[(b*nqt + qt)*2 + {0,1}] = min, max of start(i) over the valid rows of
 * query tile qt of row b: one warp per (b, qt). */
__global__ void attention_tile_start_kernel(int *__restrict__ tile_start, const int *__restrict__ pos, int B, int T,
                                            int BQ) {
    const long long w = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    const int nqt = (T + BQ - 1) / BQ;
    if (w >= (long long)B * nqt) return;
    const int b = (int)(w / nqt), qt = (int)(w % nqt);
    int mn = INT32_MAX, mx = 0;
    for (int r = lane; r < BQ; r += 32) {
        int i = qt * BQ + r;
        if (i < T) {
            int s = doc_start(i, pos[(size_t)b * T + i]);
            mn = min(mn, s);
            mx = max(mx, s);
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        mn = min(mn, __shfl_xor_sync(0xffffffffu, mn, o));
        mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    if (lane == 0) {
        tile_start[w * 2] = mn;
        tile_start[w * 2 + 1] = mx;
    }
}

/* Grid: 1-D, nkt * B * KVH blocks, key tile slowest so the heavy (early) key tiles of
 * every (b, kv head) start first. */
template <int D>
__global__ void __launch_bounds__(BWD_WARPS * 32)
    attention_backward_kernel(bf16 *__restrict__ dqkv, float *__restrict__ dq, const float *__restrict__ delta,
                              const int *__restrict__ tile_start, const bf16 *__restrict__ dout,
                              const float *__restrict__ lse, const bf16 *__restrict__ qkv,
                              const int *__restrict__ pos, int B, int T, int H, int KVH, float scale,
                              float scale_log2) {
    typedef bwd_cfg<D> C;
    constexpr int BQ = C::BQ, LDS = C::LDS, LDSS = C::LDSS, CHUNKS = D / 8;
    constexpr int WQ = BQ / 16;      /* dQ: warps along queries */
    constexpr int DW = D * WQ / BWD_WARPS; /* dQ: columns per warp */
    static_assert(BWD_WARPS % WQ == 0 && DW % 16 == 0, "dQ warp split");
    extern __shared__ __align__(16) unsigned char att_smem[];
    bf16 *sK = (bf16 *)att_smem;          /* (BK, LDS) */
    bf16 *sV = sK + BWD_BK * LDS;         /* (BK, LDS) */
    bf16 *sQ = sV + BWD_BK * LDS;         /* 2 x (BQ, LDS) */
    bf16 *sdO = sQ + 2 * BQ * LDS;        /* 2 x (BQ, LDS) */
    bf16 *sdS = sdO + 2 * BQ * LDS;       /* (BK, LDSS): dS^T, key-major */
    float *sLse = (float *)(sdS + BWD_BK * LDSS); /* 2 x BQ */
    float *sDelta = sLse + 2 * BQ;                /* 2 x BQ */
    int *sPos = (int *)(sDelta + 2 * BQ);         /* 2 x BQ */
    int *sList = sPos + 2 * BQ;                   /* nqt: visible query tiles */
    __shared__ int s_cnt[BWD_WARPS];
    __shared__ int s_nvis;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const int nqt = (T + BQ - 1) / BQ;
    const int kt = (int)(blockIdx.x / (B * KVH));
    const int bk = blockIdx.x % (B * KVH);
    const int b = bk / KVH, kvh = bk % KVH;
    const int G = H / KVH;
    const int QKV = (H + 2 * KVH) * D, HD = H * D;
    const int k0 = kt * BWD_BK;
    const bf16 *rowbase = qkv + (size_t)b * T * QKV;
    const bf16 *dobase = dout + (size_t)b * T * HD;
    const int *rpos = pos + (size_t)b * T;

    /* K and V of this key tile (rows past T zero). */
    for (int c = tid; c < BWD_BK * CHUNKS; c += BWD_WARPS * 32) {
        int r = c / CHUNKS, cc = c % CHUNKS, row = k0 + r;
        bool ok = row < T;
        size_t off = (size_t)(ok ? row : 0) * QKV + cc * 8;
        cp_async16(sK + r * LDS + cc * 8, rowbase + H * D + kvh * D + off, ok);
        cp_async16(sV + r * LDS + cc * 8, rowbase + (H + KVH) * D + kvh * D + off, ok);
    }

    /* The query tiles that can see a key of this tile: qt*BQ + BQ - 1 >= k0 (causal) and
     * the tile's earliest document start <= the tile's last key. Compacted in order. */
    if (tid == 0) s_nvis = 0;
    const int last_key = min(k0 + BWD_BK, T) - 1;
    const int *ts = tile_start + (size_t)b * nqt * 2;
    for (int base = k0 / BQ; base < nqt; base += BWD_WARPS * 32) {
        int qt = base + tid;
        bool vis = qt < nqt && ts[qt * 2] <= last_key;
        unsigned bal = __ballot_sync(0xffffffffu, vis);
        __syncthreads(); /* s_nvis written (first pass) / s_cnt read (previous pass) */
        if (lane == 0) s_cnt[warp] = __popc(bal);
        __syncthreads();
        int off = s_nvis;
        for (int w = 0; w < warp; w++) off += s_cnt[w];
        if (vis) sList[off + __popc(bal & ((1u << lane) - 1u))] = qt;
        __syncthreads(); /* everyone read s_nvis before it moves */
        if (tid == 0) {
            int tot = 0;
            for (int w = 0; w < BWD_WARPS; w++) tot += s_cnt[w];
            s_nvis += tot;
        }
    }
    __syncthreads();
    const int nvis = s_nvis;
    const int n_it = nvis * G;

    auto load_q = [&](int it, int buf) {
        const int h = kvh * G + it / nvis, qt = sList[it % nvis], q0 = qt * BQ;
        bf16 *dq_ = sQ + buf * BQ * LDS, *ddo = sdO + buf * BQ * LDS;
        for (int c = tid; c < BQ * CHUNKS; c += BWD_WARPS * 32) {
            int r = c / CHUNKS, cc = c % CHUNKS, row = q0 + r;
            bool ok = row < T;
            int rr = ok ? row : 0;
            cp_async16(dq_ + r * LDS + cc * 8, rowbase + (size_t)rr * QKV + h * D + cc * 8, ok);
            cp_async16(ddo + r * LDS + cc * 8, dobase + (size_t)rr * HD + h * D + cc * 8, ok);
        }
        for (int r = tid; r < BQ; r += BWD_WARPS * 32) {
            int row = q0 + r;
            bool ok = row < T;
            size_t li = ((size_t)b * H + h) * T + (ok ? row : 0);
            cp_async4(sLse + buf * BQ + r, lse + li, ok);
            cp_async4(sDelta + buf * BQ + r, delta + li, ok);
            cp_async4(sPos + buf * BQ + r, rpos + (ok ? row : 0), ok);
        }
    };
    if (n_it > 0) load_q(0, 0);
    cp_async_commit();

    float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0.0f;

    const int kw0 = warp * 16; /* this warp's keys inside the tile */
    const int key_lo = k0 + kw0 + g, key_hi = key_lo + 8;

    for (int it = 0; it < n_it; it++) {
        const int buf = it & 1;
        const int h = kvh * G + it / nvis, qt = sList[it % nvis], q0 = qt * BQ;
        cp_async_wait_all();
        __syncthreads(); /* tile `it` (and K, V) visible; iteration it-1 fully done */
        if (it + 1 < n_it) load_q(it + 1, buf ^ 1);
        cp_async_commit();

        const bf16 *cQ = sQ + buf * BQ * LDS, *cdO = sdO + buf * BQ * LDS;
        const float *cLse = sLse + buf * BQ, *cDelta = sDelta + buf * BQ;
        const int *cPos = sPos + buf * BQ;

        /* S^T = K Q^T and dP^T = V dO^T (16 keys x BQ queries per warp). */
        float s[BQ / 8][4], dp[BQ / 8][4];
#pragma unroll
        for (int n = 0; n < BQ / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t ak[4], av[4];
            ldsm4(ak, sK + (kw0 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
            ldsm4(av, sV + (kw0 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int np = 0; np < BQ / 16; np++) {
                uint32_t r[4];
                const int boff = (np * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8;
                ldsm4(r, cQ + boff);
                mma_bf16(s[2 * np], ak, r[0], r[1]);
                mma_bf16(s[2 * np + 1], ak, r[2], r[3]);
                ldsm4(r, cdO + boff);
                mma_bf16(dp[2 * np], av, r[0], r[1]);
                mma_bf16(dp[2 * np + 1], av, r[2], r[3]);
            }
        }

        /* P^T and dS^T = P^T (dP^T - delta), in place in s and dp. */
        const bool need_mask =
            (k0 + kw0 + 15 > q0) || (q0 + BQ > T) || (k0 + kw0 < ts[qt * 2 + 1]);
#pragma unroll
        for (int n = 0; n < BQ / 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int c = n * 8 + 2 * t4 + (e & 1); /* query column in the tile */
                float p = exp2f(s[n][e] * scale_log2 - cLse[c] * ATT_LOG2E);
                if (need_mask) {
                    const int q = q0 + c, key = (e < 2) ? key_lo : key_hi;
                    const bool vis = q < T && key <= q && key >= doc_start(q, cPos[c]);
                    p = vis ? p : 0.0f;
                }
                s[n][e] = p;
                dp[n][e] = p * (dp[n][e] - cDelta[c]);
            }
        }

        /* dV += P^T dO and dK += dS^T Q: A from registers, B (k = query, n = d) row-major
         * in shared -> ldmatrix.trans. */
#pragma unroll
        for (int kk = 0; kk < BQ / 16; kk++) {
            uint32_t ap[4], ad[4];
            ap[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            ap[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            ap[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            ap[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            ad[0] = pack_bf16(dp[2 * kk][0], dp[2 * kk][1]);
            ad[1] = pack_bf16(dp[2 * kk][2], dp[2 * kk][3]);
            ad[2] = pack_bf16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]);
            ad[3] = pack_bf16(dp[2 * kk + 1][2], dp[2 * kk + 1][3]);
            /* dS^T to shared for dQ (rows g and g+8 of this warp's 16 keys). */
            {
                bf16 *d0 = sdS + (kw0 + g) * LDSS + kk * 16 + 2 * t4;
                *(uint32_t *)(d0) = ad[0];
                *(uint32_t *)(d0 + 8 * LDSS) = ad[1];
                *(uint32_t *)(d0 + 8) = ad[2];
                *(uint32_t *)(d0 + 8 * LDSS + 8) = ad[3];
            }
#pragma unroll
            for (int np = 0; np < D / 16; np++) {
                uint32_t r[4];
                const int boff = (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + np * 16 + (lane >> 4) * 8;
                ldsm4t(r, cdO + boff);
                mma_bf16(dv[2 * np], ap, r[0], r[1]);
                mma_bf16(dv[2 * np + 1], ap, r[2], r[3]);
                ldsm4t(r, cQ + boff);
                mma_bf16(dk[2 * np], ad, r[0], r[1]);
                mma_bf16(dk[2 * np + 1], ad, r[2], r[3]);
            }
        }
        __syncthreads(); /* dS^T complete */

        /* dQ (BQ x D) = dS (BQ x BK) K (BK x D); warp: 16 queries x DW columns. A = dS from
         * the key-major dS^T -> ldmatrix.trans; B (k = key, n = d) = K row-major ->
         * ldmatrix.trans. */
        {
            const int wq = warp % WQ, wd = warp / WQ;
            float acc[DW / 8][4];
#pragma unroll
            for (int n = 0; n < DW / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < BWD_BK / 16; kk++) {
                uint32_t a[4];
                ldsm4t(a, sdS + (kk * 16 + (lane & 7) + (lane >> 4) * 8) * LDSS + wq * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                for (int np = 0; np < DW / 16; np++) {
                    uint32_t r[4];
                    ldsm4t(r, sK + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + wd * DW + np * 16 +
                                  (lane >> 4) * 8);
                    mma_bf16(acc[2 * np], a, r[0], r[1]);
                    mma_bf16(acc[2 * np + 1], a, r[2], r[3]);
                }
            }
            const int qa = q0 + wq * 16 + g, qb = qa + 8;
            float *dqa = dq + ((size_t)b * T + qa) * HD + h * D + wd * DW + 2 * t4;
            float *dqb = dqa + (size_t)8 * HD;
            if (qa < T) {
#pragma unroll
                for (int n = 0; n < DW / 8; n++) add2(dqa + n * 8, acc[n][0] * scale, acc[n][1] * scale);
            }
            if (qb < T) {
#pragma unroll
                for (int n = 0; n < DW / 8; n++) add2(dqb + n * 8, acc[n][2] * scale, acc[n][3] * scale);
            }
        }
    }
    cp_async_wait_all();

    /* dK = scale * sum dS^T Q, dV = sum P^T dO: straight into dqkv. */
    bf16 *dbase = dqkv + (size_t)b * T * QKV;
    if (key_lo < T) {
        bf16 *pk = dbase + (size_t)key_lo * QKV + H * D + kvh * D + 2 * t4;
        bf16 *pv = dbase + (size_t)key_lo * QKV + (H + KVH) * D + kvh * D + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            *(__nv_bfloat162 *)(pk + n * 8) = __floats2bfloat162_rn(dk[n][0] * scale, dk[n][1] * scale);
            *(__nv_bfloat162 *)(pv + n * 8) = __floats2bfloat162_rn(dv[n][0], dv[n][1]);
        }
    }
    if (key_hi < T) {
        bf16 *pk = dbase + (size_t)key_hi * QKV + H * D + kvh * D + 2 * t4;
        bf16 *pv = dbase + (size_t)key_hi * QKV + (H + KVH) * D + kvh * D + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            *(__nv_bfloat162 *)(pk + n * 8) = __floats2bfloat162_rn(dk[n][2] * scale, dk[n][3] * scale);
            *(__nv_bfloat162 *)(pv + n * 8) = __floats2bfloat162_rn(dv[n][2], dv[n][3]);
        }
    }
}

/* dqkv[row, 0:HD] = bf16(dq[row, :]): 4 elements per thread (HD is a multiple of 64). */
__global__ void attention_dq_convert_kernel(bf16 *__restrict__ dqkv, const float *__restrict__ dq, long long rows,
                                            int HD, int QKV) {
    const long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= rows * HD) return;
    const long long row = i / HD;
    const int c = (int)(i % HD);
    float4 v = *(const float4 *)(dq + i);
    bf16 *dst = dqkv + row * QKV + c;
    *(__nv_bfloat162 *)(dst) = __floats2bfloat162_rn(v.x, v.y);
    *(__nv_bfloat162 *)(dst + 2) = __floats2bfloat162_rn(v.z, v.w);
}

/* ---- decode ------------------------------------------------------------------------------- */

#define DEC_WARPS 4
#define DEC_HB 8 /* query heads held in registers per pass */
#define DEC_UNROLL 4 /* cache rows loaded per lane before use */

/* Keys per decode chunk: doubled from 64 while the (sequence, chunk) pairs stay >= 128,
 * so one long sequence still spreads over the SMs and a big batch uses long chunks (less
 * combine work). A function of (n, max_len) only: the scratch size depends on it. */
static int decode_chunk(int n, int max_len) {
    int ch = 64;
    while (ch < 512 && (long long)n * ((max_len + 2 * ch - 1) / (2 * ch)) >= 128) ch *= 2;
    return ch;
}

/* One block per (chunk, kv head, sequence). part[((r*H + h)*nch + c)*(D+2) + {0: max
 * (log2 domain), 1: sum, 2..: unnormalised o}]. Shared: q (G, D) fp32 prescaled,
 * scores (G, CH) fp32, reduction (DEC_WARPS, DEC_HB, D) fp32. */
template <int D>
__global__ void __launch_bounds__(DEC_WARPS * 32)
    attention_decode_partial_kernel(float *__restrict__ part, const bf16 *__restrict__ qkv,
                                    const bf16 *__restrict__ k_cache, const bf16 *__restrict__ v_cache,
                                    size_t slot_stride, const int *__restrict__ slots, const int *__restrict__ lens,
                                    int H, int KVH, int max_len, int CH, int nch, float scale_log2) {
    constexpr int LPK = D / 8;   /* lanes per key row (8 elements, 16 bytes each) */
    constexpr int KPW = 32 / LPK; /* key rows per warp step */
    constexpr int KG = DEC_WARPS * 32 / LPK; /* key groups in the P V pass */
    extern __shared__ __align__(16) unsigned char att_smem[];
    const int G = H / KVH;
    float *sq = (float *)att_smem; /* (G, D) */
    float *ss = sq + G * D;        /* (G, CH) */
    float *sred = ss + G * CH;     /* (DEC_WARPS, DEC_HB, D) */

    const int c = blockIdx.x, kvh = blockIdx.y, r = blockIdx.z;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int len = min(lens[r], max_len);
    const int c0 = c * CH;
    if (c0 >= len) return; /* whole block: past the sequence */
    const int cend = min(c0 + CH, len), cnt = cend - c0;
    const int QKV = (H + 2 * KVH) * D, KVD = KVH * D;
    const bf16 *qrow = qkv + (size_t)r * QKV + (size_t)kvh * G * D;
    const size_t slot = (size_t)slots[r] * slot_stride;
    const bf16 *kb = k_cache + slot + (size_t)kvh * D;
    const bf16 *vb = v_cache + slot + (size_t)kvh * D;

    for (int i = tid; i < G * D; i += DEC_WARPS * 32) sq[i] = __bfloat162float(qrow[i]) * scale_log2;
    __syncthreads();

    /* Scores: LPK lanes per key, reduced with shuffles inside the lane group. */
    const int sub = lane / LPK, dl = lane % LPK;
    for (int h0 = 0; h0 < G; h0 += DEC_HB) {
        float qr[DEC_HB][8];
#pragma unroll
        for (int hh = 0; hh < DEC_HB; hh++)
#pragma unroll
            for (int e = 0; e < 8; e++) qr[hh][e] = (h0 + hh < G) ? sq[(h0 + hh) * D + dl * 8 + e] : 0.0f;
        /* DEC_UNROLL independent 16-byte loads in flight per lane before any use: decode
         * is bound by memory-level parallelism, not arithmetic. */
        for (int jb = c0 + warp * KPW; jb < cend; jb += DEC_UNROLL * DEC_WARPS * KPW) {
            uint4 u[DEC_UNROLL];
#pragma unroll
            for (int s = 0; s < DEC_UNROLL; s++) {
                const int j = jb + s * DEC_WARPS * KPW + sub;
                u[s] = j < cend ? __ldg((const uint4 *)(kb + (size_t)j * KVD + dl * 8)) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int s = 0; s < DEC_UNROLL; s++) {
                const int j = jb + s * DEC_WARPS * KPW + sub;
                float kf[8];
                const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&u[s];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 f = __bfloat1622float2(p2[e]);
                    kf[2 * e] = f.x;
                    kf[2 * e + 1] = f.y;
                }
#pragma unroll
                for (int hh = 0; hh < DEC_HB; hh++) {
                    if (h0 + hh < G) { /* uniform over the block */
                        float sdot = 0.0f;
#pragma unroll
                        for (int e = 0; e < 8; e++) sdot += qr[hh][e] * kf[e];
#pragma unroll
                        for (int o = LPK / 2; o > 0; o >>= 1) sdot += __shfl_xor_sync(0xffffffffu, sdot, o);
                        if (dl == 0 && j < cend) ss[(h0 + hh) * CH + (j - c0)] = sdot;
                    }
                }
            }
        }
    }
    __syncthreads();

    /* Chunk max and sum per head; p overwrites the scores. */
    float *pr = part + ((size_t)r * H + (size_t)kvh * G) * nch * (D + 2);
    for (int hh = warp; hh < G; hh += DEC_WARPS) {
        float *sh = ss + hh * CH;
        float mx = -INFINITY;
        for (int j = lane; j < cnt; j += 32) mx = fmaxf(mx, sh[j]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.0f;
        for (int j = lane; j < cnt; j += 32) {
            float p = exp2f(sh[j] - mx);
            sh[j] = p;
            sum += p;
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (lane == 0) {
            float *pc = pr + ((size_t)hh * nch + c) * (D + 2);
            pc[0] = mx;
            pc[1] = sum;
        }
    }
    __syncthreads();

    /* o[h][d] = sum_j p[h][j] v[j][d]: thread = (key group kg, 8 columns dl). */
    const int kg = tid / LPK;
    for (int h0 = 0; h0 < G; h0 += DEC_HB) {
        float acc[DEC_HB][8];
#pragma unroll
        for (int hh = 0; hh < DEC_HB; hh++)
#pragma unroll
            for (int e = 0; e < 8; e++) acc[hh][e] = 0.0f;
        for (int jb = c0 + kg; jb < cend; jb += DEC_UNROLL * KG) {
            uint4 u[DEC_UNROLL];
#pragma unroll
            for (int s = 0; s < DEC_UNROLL; s++) {
                const int j = jb + s * KG;
                u[s] = j < cend ? __ldg((const uint4 *)(vb + (size_t)j * KVD + dl * 8)) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int s = 0; s < DEC_UNROLL; s++) {
                const int j = jb + s * KG;
                if (j >= cend) break;
                const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&u[s];
                float vf[8];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 f = __bfloat1622float2(p2[e]);
                    vf[2 * e] = f.x;
                    vf[2 * e + 1] = f.y;
                }
#pragma unroll
                for (int hh = 0; hh < DEC_HB; hh++) {
                    if (h0 + hh < G) {
                        const float p = ss[(h0 + hh) * CH + (j - c0)];
#pragma unroll
                        for (int e = 0; e < 8; e++) acc[hh][e] += p * vf[e];
                    }
                }
            }
        }
        /* Reduce the key groups of a warp (lanes differing in the bits above LPK), then
         * the warps through shared memory. */
#pragma unroll
        for (int hh = 0; hh < DEC_HB; hh++)
#pragma unroll
            for (int e = 0; e < 8; e++)
#pragma unroll
                for (int o = 16; o >= LPK; o >>= 1) acc[hh][e] += __shfl_xor_sync(0xffffffffu, acc[hh][e], o);
        if (lane < LPK) {
#pragma unroll
            for (int hh = 0; hh < DEC_HB; hh++)
#pragma unroll
                for (int e = 0; e < 8; e++) sred[(warp * DEC_HB + hh) * D + dl * 8 + e] = acc[hh][e];
        }
        __syncthreads();
        for (int i = tid; i < DEC_HB * D; i += DEC_WARPS * 32) {
            const int hh = i / D, d = i % D;
            if (h0 + hh < G) {
                float v = 0.0f;
#pragma unroll
                for (int w = 0; w < DEC_WARPS; w++) v += sred[(w * DEC_HB + hh) * D + d];
                pr[((size_t)(h0 + hh) * nch + c) * (D + 2) + 2 + d] = v;
            }
        }
        __syncthreads(); /* sred reused by the next pass */
    }
}

/* One block of D threads per (sequence, head): out = sum_c 2^(m_c - M) o_c / sum_c
 * 2^(m_c - M) l_c over the chunks that hold keys. A sequence with len <= 0 gets zeros. */
__global__ void attention_decode_combine_kernel(bf16 *__restrict__ out, const float *__restrict__ part,
                                                const int *__restrict__ lens, int H, int D, int max_len, int CH,
                                                int nch) {
    const int rh = blockIdx.x, r = rh / H, d = threadIdx.x;
    const int len = min(lens[r], max_len);
    bf16 *dst = out + (size_t)rh * D + d;
    if (len <= 0) {
        *dst = __float2bfloat16(0.0f);
        return;
    }
    const int nv = (len + CH - 1) / CH;
    const float *p = part + (size_t)rh * nch * (D + 2);
    float M = -INFINITY;
    for (int c = 0; c < nv; c++) M = fmaxf(M, p[(size_t)c * (D + 2)]);
    float L = 0.0f, acc = 0.0f;
    for (int c = 0; c < nv; c++) {
        const float *pc = p + (size_t)c * (D + 2);
        const float w = exp2f(pc[0] - M);
        L += w * pc[1];
        acc += w * pc[2 + d];
    }
    *dst = __float2bfloat16(acc / L);
}

/* Row r: k and v parts of qkv row r -> slot slots[r], position positions[r]. One block
 * per row; VEC copies 16 bytes at a time. */
template <bool VEC>
__global__ void kv_append_kernel(bf16 *__restrict__ k_cache, bf16 *__restrict__ v_cache, size_t slot_stride,
                                 const bf16 *__restrict__ qkv, const int *__restrict__ slots,
                                 const int *__restrict__ positions, int H, int KVH, int D) {
    const int r = blockIdx.x;
    const int KVD = KVH * D, QKV = (H + 2 * KVH) * D;
    const size_t dst = (size_t)slots[r] * slot_stride + (size_t)positions[r] * KVD;
    const bf16 *src = qkv + (size_t)r * QKV + (size_t)H * D;
    if (VEC) {
        for (int i = threadIdx.x; i < KVD / 8; i += blockDim.x) {
            ((uint4 *)(k_cache + dst))[i] = ((const uint4 *)src)[i];
            ((uint4 *)(v_cache + dst))[i] = ((const uint4 *)(src + KVD))[i];
        }
    } else {
        for (int i = threadIdx.x; i < KVD; i += blockDim.x) {
            k_cache[dst + i] = src[i];
            v_cache[dst + i] = src[KVD + i];
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int misaligned16(const void *p) { return ((uintptr_t)p & 15u) != 0; }

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

/* Shape checks shared by forward and backward. */
static cada_status check_shape(const char *op, int B, int T, int H, int KVH, int D) {
    if (B <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: B = %d must be > 0", op, B);
    if (T <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: T = %d must be > 0", op, T);
    if (H <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: H = %d must be > 0", op, H);
    if (KVH <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: KVH = %d must be > 0", op, KVH);
    if (D <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: D = %d must be > 0", op, D);
    if (H % KVH != 0) return CADA_ERR(CADA_ERR_ARG, "%s: H = %d is not a multiple of KVH = %d", op, H, KVH);
    if (D != 64 && D != 128)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: head size D = %d (supported: 64, 128)", op, D);
    if ((long long)B * T * (H + 2 * KVH) * D >= (1LL << 40))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: B*T*QKV = %lld elements is too large", op,
                        (long long)B * T * (H + 2 * KVH) * D);
    return CADA_OK;
}

/* Sets the dynamic shared-memory limit of `func` when `bytes` exceeds the default 48 KB,
 * and refuses sizes past the device's opt-in maximum. */
static cada_status smem_prepare(const void *func, size_t bytes, const char *op) {
    if (bytes <= 48 * 1024) return CADA_OK;
    int dev = 0, optin = 0;
    CADA_CUDA_TRY(cudaGetDevice(&dev));
    CADA_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (bytes > (size_t)optin)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: needs %zu bytes of shared memory per block, the device allows %d",
                        op, bytes, optin);
    CADA_CUDA_TRY(cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return CADA_OK;
}

template <int D>
static cada_status launch_forward(bf16 *out, float *lse, const bf16 *qkv, const int *pos, int B, int T, int H,
                                  int KVH, cudaStream_t stream) {
    const size_t smem = fwd_smem_bytes<D>();
    CADA_TRY(smem_prepare((const void *)attention_forward_kernel<D>, smem, "gpu_attention_forward"));
    const long long nqt = (T + FWD_BQ - 1) / FWD_BQ;
    const long long blocks = nqt * B * H;
    if (blocks > INT32_MAX)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "gpu_attention_forward: %lld blocks is too many", blocks);
    const float scale_log2 = ATT_LOG2E / sqrtf((float)D);
    attention_forward_kernel<D><<<(unsigned)blocks, FWD_WARPS * 32, smem, stream>>>(out, lse, qkv, pos, B, T, H, KVH,
                                                                                    scale_log2);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_attention_forward(cada_bf16 *out, float *lse, const cada_bf16 *qkv, const int *pos, int B,
                                             int T, int H, int KVH, int D, cudaStream_t stream) {
    const char *op = "gpu_attention_forward";
    if (!out) return CADA_ERR(CADA_ERR_ARG, "%s: out is NULL", op);
    if (!lse) return CADA_ERR(CADA_ERR_ARG, "%s: lse is NULL", op);
    if (!qkv) return CADA_ERR(CADA_ERR_ARG, "%s: qkv is NULL", op);
    if (!pos) return CADA_ERR(CADA_ERR_ARG, "%s: pos is NULL", op);
    CADA_TRY(check_shape(op, B, T, H, KVH, D));
    if (misaligned16(qkv) || misaligned16(out))
        return CADA_ERR(CADA_ERR_ARG, "%s: qkv and out must be 16-byte aligned", op);
    if (D == 64) return launch_forward<64>((bf16 *)out, lse, (const bf16 *)qkv, pos, B, T, H, KVH, stream);
    return launch_forward<128>((bf16 *)out, lse, (const bf16 *)qkv, pos, B, T, H, KVH, stream);
}

static int bwd_bq(int D) { return D >= 128 ? bwd_cfg<128>::BQ : bwd_cfg<64>::BQ; }

/* Scratch: dq (B*T, H*D) fp32 | delta (B, H, T) fp32 | tile starts (B, nqt, 2) int. */
extern "C" size_t gpu_attention_backward_scratch_bytes(int B, int T, int H, int KVH, int D) {
    (void)KVH;
    if (B <= 0 || T <= 0 || H <= 0 || D <= 0) return 0;
    const int BQ = bwd_bq(D);
    const size_t nqt = (size_t)(T + BQ - 1) / BQ;
    return align256((size_t)B * T * H * D * sizeof(float)) + align256((size_t)B * H * T * sizeof(float)) +
           align256((size_t)B * nqt * 2 * sizeof(int));
}

template <int D>
static cada_status launch_backward(bf16 *dqkv, void *scratch, const bf16 *dout, const bf16 *out, const float *lse,
                                   const bf16 *qkv, const int *pos, int B, int T, int H, int KVH,
                                   cudaStream_t stream) {
    typedef bwd_cfg<D> C;
    const char *op = "gpu_attention_backward";
    const int BQ = C::BQ;
    const long long nqt = (T + BQ - 1) / BQ, nkt = (T + BWD_BK - 1) / BWD_BK;
    const size_t dq_bytes = align256((size_t)B * T * H * D * sizeof(float));
    const size_t delta_bytes = align256((size_t)B * H * T * sizeof(float));
    float *dq = (float *)scratch;
    float *delta = (float *)((char *)scratch + dq_bytes);
    int *tstart = (int *)((char *)scratch + dq_bytes + delta_bytes);
    const size_t smem = C::fixed_bytes + (size_t)nqt * sizeof(int);
    CADA_TRY(smem_prepare((const void *)attention_backward_kernel<D>, smem, op));
    const long long blocks = nkt * B * KVH;
    const long long rows = (long long)B * T;
    const long long warps_delta = rows * H, warps_tiles = (long long)B * nqt;
    const long long conv_threads = rows * H * D / 4;
    if (blocks > INT32_MAX || (warps_delta + 7) / 8 > INT32_MAX || (conv_threads + 255) / 256 > INT32_MAX)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: B = %d, T = %d, H = %d is too large for the grid", op, B, T, H);

    CADA_CUDA_TRY(cudaMemsetAsync(dq, 0, (size_t)rows * H * D * sizeof(float), stream));
    attention_delta_kernel<<<(unsigned)((warps_delta + 7) / 8), 256, 0, stream>>>(delta, dout, out, B, T, H, D);
    CADA_CUDA_TRY(cudaGetLastError());
    attention_tile_start_kernel<<<(unsigned)((warps_tiles + 7) / 8), 256, 0, stream>>>(tstart, pos, B, T, BQ);
    CADA_CUDA_TRY(cudaGetLastError());
    const float scale = 1.0f / sqrtf((float)D);
    attention_backward_kernel<D><<<(unsigned)blocks, BWD_WARPS * 32, smem, stream>>>(
        dqkv, dq, delta, tstart, dout, lse, qkv, pos, B, T, H, KVH, scale, scale * ATT_LOG2E);
    CADA_CUDA_TRY(cudaGetLastError());
    const int QKV = (H + 2 * KVH) * D;
    attention_dq_convert_kernel<<<(unsigned)((conv_threads + 255) / 256), 256, 0, stream>>>(dqkv, dq, rows, H * D,
                                                                                           QKV);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_attention_backward(cada_bf16 *dqkv, void *scratch, const cada_bf16 *dout,
                                              const cada_bf16 *out, const float *lse, const cada_bf16 *qkv,
                                              const int *pos, int B, int T, int H, int KVH, int D,
                                              cudaStream_t stream) {
    const char *op = "gpu_attention_backward";
    if (!dqkv) return CADA_ERR(CADA_ERR_ARG, "%s: dqkv is NULL", op);
    if (!scratch) return CADA_ERR(CADA_ERR_ARG, "%s: scratch is NULL", op);
    if (!dout) return CADA_ERR(CADA_ERR_ARG, "%s: dout is NULL", op);
    if (!out) return CADA_ERR(CADA_ERR_ARG, "%s: out is NULL", op);
    if (!lse) return CADA_ERR(CADA_ERR_ARG, "%s: lse is NULL", op);
    if (!qkv) return CADA_ERR(CADA_ERR_ARG, "%s: qkv is NULL", op);
    if (!pos) return CADA_ERR(CADA_ERR_ARG, "%s: pos is NULL", op);
    CADA_TRY(check_shape(op, B, T, H, KVH, D));
    if (misaligned16(qkv) || misaligned16(dout) || misaligned16(out) || misaligned16(dqkv) || misaligned16(scratch))
        return CADA_ERR(CADA_ERR_ARG, "%s: dqkv, scratch, dout, out and qkv must be 16-byte aligned", op);
    if (D == 64)
        return launch_backward<64>((bf16 *)dqkv, scratch, (const bf16 *)dout, (const bf16 *)out, lse,
                                   (const bf16 *)qkv, pos, B, T, H, KVH, stream);
    return launch_backward<128>((bf16 *)dqkv, scratch, (const bf16 *)dout, (const bf16 *)out, lse, (const bf16 *)qkv,
                                pos, B, T, H, KVH, stream);
}

extern "C" cada_status gpu_kv_append(cada_bf16 *k_cache, cada_bf16 *v_cache, size_t slot_stride,
                                     const cada_bf16 *qkv, const int *slots, const int *positions, int n, int H,
                                     int KVH, int D, cudaStream_t stream) {
    const char *op = "gpu_kv_append";
    if (!k_cache) return CADA_ERR(CADA_ERR_ARG, "%s: k_cache is NULL", op);
    if (!v_cache) return CADA_ERR(CADA_ERR_ARG, "%s: v_cache is NULL", op);
    if (!qkv) return CADA_ERR(CADA_ERR_ARG, "%s: qkv is NULL", op);
    if (!slots) return CADA_ERR(CADA_ERR_ARG, "%s: slots is NULL", op);
    if (!positions) return CADA_ERR(CADA_ERR_ARG, "%s: positions is NULL", op);
    if (n <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: n = %d must be > 0", op, n);
    if (H <= 0 || KVH <= 0 || D <= 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: H = %d, KVH = %d, D = %d must be > 0", op, H, KVH, D);
    if (H % KVH != 0) return CADA_ERR(CADA_ERR_ARG, "%s: H = %d is not a multiple of KVH = %d", op, H, KVH);
    if (slot_stride < (size_t)KVH * D)
        return CADA_ERR(CADA_ERR_ARG, "%s: slot_stride = %zu is smaller than one position (KVH*D = %d)", op,
                        slot_stride, KVH * D);
    /* 16-byte copies need 16-byte aligned rows in qkv (stride QKV, k part at H*D) and
     * in the cache (slot_stride, KVH*D). */
    const bool vec = (KVH * D) % 8 == 0 && (H * D) % 8 == 0 && slot_stride % 8 == 0 && !misaligned16(qkv) &&
                     !misaligned16(k_cache) && !misaligned16(v_cache);
    if (vec)
        kv_append_kernel<true><<<n, 128, 0, stream>>>((bf16 *)k_cache, (bf16 *)v_cache, slot_stride,
                                                      (const bf16 *)qkv, slots, positions, H, KVH, D);
    else
        kv_append_kernel<false><<<n, 128, 0, stream>>>((bf16 *)k_cache, (bf16 *)v_cache, slot_stride,
                                                       (const bf16 *)qkv, slots, positions, H, KVH, D);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" size_t gpu_attention_decode_scratch_bytes(int n, int H, int D, int max_len) {
    if (n <= 0 || H <= 0 || D <= 0 || max_len <= 0) return 0;
    const int ch = decode_chunk(n, max_len);
    const size_t nch = (size_t)(max_len + ch - 1) / ch;
    return (size_t)n * H * nch * (D + 2) * sizeof(float);
}

template <int D>
static cada_status launch_decode(bf16 *out, float *part, const bf16 *qkv, const bf16 *k_cache, const bf16 *v_cache,
                                 size_t slot_stride, const int *slots, const int *lens, int n, int H, int KVH,
                                 int max_len, cudaStream_t stream) {
    const char *op = "gpu_attention_decode";
    const int G = H / KVH;
    const int ch = decode_chunk(n, max_len);
    const int nch = (max_len + ch - 1) / ch;
    const size_t smem = ((size_t)G * D + (size_t)G * ch + (size_t)DEC_WARPS * DEC_HB * D) * sizeof(float);
    CADA_TRY(smem_prepare((const void *)attention_decode_partial_kernel<D>, smem, op));
    const float scale_log2 = ATT_LOG2E / sqrtf((float)D);
    dim3 grid((unsigned)nch, (unsigned)KVH, (unsigned)n);
    attention_decode_partial_kernel<D><<<grid, DEC_WARPS * 32, smem, stream>>>(
        part, qkv, k_cache, v_cache, slot_stride, slots, lens, H, KVH, max_len, ch, nch, scale_log2);
    CADA_CUDA_TRY(cudaGetLastError());
    attention_decode_combine_kernel<<<(unsigned)((long long)n * H), D, 0, stream>>>(out, part, lens, H, D, max_len,
                                                                                    ch, nch);
    CADA_CUDA_TRY(cudaGetLastError());
    return CADA_OK;
}

extern "C" cada_status gpu_attention_decode(cada_bf16 *out, void *scratch, const cada_bf16 *qkv,
                                            const cada_bf16 *k_cache, const cada_bf16 *v_cache, size_t slot_stride,
                                            const int *slots, const int *lens, int n, int H, int KVH, int D,
                                            int max_len, cudaStream_t stream) {
    const char *op = "gpu_attention_decode";
    if (!out) return CADA_ERR(CADA_ERR_ARG, "%s: out is NULL", op);
    if (!scratch) return CADA_ERR(CADA_ERR_ARG, "%s: scratch is NULL", op);
    if (!qkv) return CADA_ERR(CADA_ERR_ARG, "%s: qkv is NULL", op);
    if (!k_cache) return CADA_ERR(CADA_ERR_ARG, "%s: k_cache is NULL", op);
    if (!v_cache) return CADA_ERR(CADA_ERR_ARG, "%s: v_cache is NULL", op);
    if (!slots) return CADA_ERR(CADA_ERR_ARG, "%s: slots is NULL", op);
    if (!lens) return CADA_ERR(CADA_ERR_ARG, "%s: lens is NULL", op);
    if (n <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: n = %d must be > 0", op, n);
    if (max_len <= 0) return CADA_ERR(CADA_ERR_ARG, "%s: max_len = %d must be > 0", op, max_len);
    if (H <= 0 || KVH <= 0 || D <= 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: H = %d, KVH = %d, D = %d must be > 0", op, H, KVH, D);
    if (H % KVH != 0) return CADA_ERR(CADA_ERR_ARG, "%s: H = %d is not a multiple of KVH = %d", op, H, KVH);
    if (D != 64 && D != 128)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: head size D = %d (supported: 64, 128)", op, D);
    if (n > 65535 || KVH > 65535)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: n = %d or KVH = %d exceeds the grid limit 65535", op, n, KVH);
    if (slot_stride < (size_t)max_len * KVH * D)
        return CADA_ERR(CADA_ERR_ARG, "%s: slot_stride = %zu is smaller than max_len*KVH*D = %zu", op, slot_stride,
                        (size_t)max_len * KVH * D);
    if (slot_stride % 8 != 0 || misaligned16(k_cache) || misaligned16(v_cache))
        return CADA_ERR(CADA_ERR_ARG, "%s: k_cache, v_cache and slot_stride must be 16-byte aligned", op);
    if (D == 64)
        return launch_decode<64>((bf16 *)out, (float *)scratch, (const bf16 *)qkv, (const bf16 *)k_cache,
                                 (const bf16 *)v_cache, slot_stride, slots, lens, n, H, KVH, max_len, stream);
    return launch_decode<128>((bf16 *)out, (float *)scratch, (const bf16 *)qkv, (const bf16 *)k_cache,
                              (const bf16 *)v_cache, slot_stride, slots, lens, n, H, KVH, max_len, stream);
}
