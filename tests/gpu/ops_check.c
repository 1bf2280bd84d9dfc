/* tests/gpu/ops_check.c: every op of kernels/gpu_ops.h against its CPU reference.
 *
 * Method (ggml's test-backend-ops, adapted to cada's mixed precision):
 *   - fresh random inputs from a seeded Philox stream, one stream per op group;
 *   - every bf16 input is rounded to bf16 on the host first and the CPU op gets the
 *     rounded values, so both sides start from identical numbers and the error
 *     measured is the kernel's own arithmetic and output rounding;
 *   - GPU outputs that the op writes are poisoned first (0xFF bytes: NaN for fp32, bf16
 *     and fp64, -1 for token ids), so an element the kernel forgot stays non-finite and
 *     fails the check (a non-finite GPU value never passes);
 *   - error = ||gpu - cpu||_2 / ||cpu||_2 over the tensor, in double, plus the largest
 *     absolute difference, against a threshold per op whose reason sits beside it;
 *   - shapes: odd row counts and widths that are multiples of 8 but not of the tile
 *     sizes (real models' widths are multiples of 64; 16-byte vector loads of bf16 need
 *     multiples of 8), plus the real shapes of SmolLM2-135M (C 576, H 9, KVH 3, D 64,
 *     I 1536, V 49152) and Llama-3-8B (C 4096, H 32, KVH 8, D 128, I 14336, V 128256)
 *     at small N;
 *   - each op is then timed once at a Llama-3-8B size (B = 1, T = 4096): median of 20
 *     launches after 3 warm-ups, cudaEvents around each launch; memory-bound ops report
 *     GB/s = (bytes read + bytes written) / time, matmuls and attention TFLOP/s.
 * Output: one `RESULT op shape max_abs rel_err threshold PASS|FAIL` line per check (and
 * `... TIME ms GB/s|TFLOP/s` per timing) on stdout; details in LOG_DIR/ops.log. */
#include "gpu_check.h"

#include "base/error.h"
#include "base/rng.h"
#include "gpu_ops.h"
#include "learn/adamw.h"
#include "model/config.h"
#include "ops/ops.h"
#include "rollout/sampler.h"

#include <cuda_runtime.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

/* ---- state of one gpu_ops_check call -------------------------------------------------- */

static FILE *g_log;
static uint64_t g_seed;
static cada_rng g_rng; /* the current group's stream */
static cudaStream_t g_stream;
static cudaEvent_t g_ev0, g_ev1;
static cada_gpu_blas *g_blas;
static int g_fails, g_checks;
static int g_broken;
static char g_broken_msg[600];
static char g_shape[200]; /* the current case's shape, for every line it prints */

static void logv(const char *fmt, va_list ap) {
    if (!g_log) return;
    vfprintf(g_log, fmt, ap);
    fflush(g_log);
}

/* Details: the log only. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    logv(fmt, ap);
    va_end(ap);
}

/* Result lines: stdout and the log. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    vprintf(fmt, ap);
    fflush(stdout);
    logv(fmt, ap2);
    va_end(ap2);
    va_end(ap);
}

static void set_shape(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_shape(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_shape, sizeof g_shape, fmt, ap);
    va_end(ap);
    note("-- case %s\n", g_shape);
}

static void result(const char *op, double max_abs, double rel, double thr, int pass, const char *extra) {
    g_checks++;
    if (!pass) g_fails++;
    say("RESULT %-32s %-46s max_abs %9.3e  rel %9.3e  thr %7.1e  %s%s%s\n", op, g_shape, max_abs, rel, thr,
        pass ? "PASS" : "FAIL", extra && *extra ? "  " : "", extra ? extra : "");
}

static void fail_line(const char *op, const char *why) {
    g_checks++;
    g_fails++;
    say("RESULT %-32s %-46s -  -  -  FAIL  %s\n", op, g_shape, why);
}

/* After a failure: a non-sticky error is cleared by cudaGetLastError; a sticky one
 * (illegal address, launch failure, ...) keeps failing every later call, and the
 * device synchronise below sees it. Then nothing more may run in this process. */
static void probe_context(const char *during) {
    (void)cudaGetLastError();
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess && !g_broken) {
        g_broken = 1;
        snprintf(g_broken_msg, sizeof g_broken_msg, "%s during %s [%s]", cudaGetErrorString(e), during, g_shape);
    }
}

static const char *g_op = "";

static void fail_cuda(const char *call, cudaError_t e, int line) {
    char why[700];
    snprintf(why, sizeof why, "%s: %s (%s) [ops_check.c:%d]", call, cudaGetErrorString(e), cudaGetErrorName(e), line);
    fail_line(g_op, why);
    probe_context(call);
}

static void fail_status(const char *call, cada_status s, int line) {
    char why[1200];
    snprintf(why, sizeof why, "%s -> %s: %s [raised at %s; ops_check.c:%d]", call, cada_status_name(s),
             cada_error_message(), cada_error_where(), line);
    cada_error_clear();
    fail_line(g_op, why);
    probe_context(call);
}

/* Every CUDA call and launcher is checked; a failure fails the current check (g_op)
 * and jumps to the case's `out:` label, which releases what the case allocated. */
#define CU(call)                                                                        \
    do {                                                                                \
        cudaError_t cu_rc_ = (call);                                                    \
        if (cu_rc_ != cudaSuccess) {                                                    \
            fail_cuda(#call, cu_rc_, __LINE__);                                         \
            goto out;                                                                   \
        }                                                                               \
    } while (0)
#define ST(call)                                                                        \
    do {                                                                                \
        cada_status st_rc_ = (call);                                                    \
        if (st_rc_ != CADA_OK) {                                                        \
            fail_status(#call, st_rc_, __LINE__);                                       \
            goto out;                                                                   \
        }                                                                               \
    } while (0)
#define SYNC() CU(cudaStreamSynchronize(g_stream))
#define OP(name) (g_op = (name))

/* ---- allocations of one case, released together ---------------------------------------- */

#define MAX_TRACKED 128
static void *g_dev[MAX_TRACKED], *g_host[MAX_TRACKED];
static int g_ndev, g_nhost;

static void *halloc(size_t bytes) {
    if (g_nhost == MAX_TRACKED) CADA_FATAL("ops_check: more than %d host buffers in one case", MAX_TRACKED);
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) CADA_FATAL("ops_check: host allocation of %zu bytes failed", bytes);
    g_host[g_nhost++] = p;
    return p;
}
static float *hf(size_t n) { return halloc(n * sizeof(float)); }
static cada_bf16 *hb(size_t n) { return halloc(n * sizeof(cada_bf16)); }
static int *hi(size_t n) { return halloc(n * sizeof(int)); }

static void *dalloc(size_t bytes, const char *what, int line) {
    if (g_ndev == MAX_TRACKED) CADA_FATAL("ops_check: more than %d device buffers in one case", MAX_TRACKED);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        char call[160];
        snprintf(call, sizeof call, "cudaMalloc(%s, %zu bytes)", what, bytes);
        fail_cuda(call, e, line);
        return NULL;
    }
    g_dev[g_ndev++] = p;
    return p;
}

static void release(void) {
    for (int i = 0; i < g_ndev; i++) (void)cudaFree(g_dev[i]);
    for (int i = 0; i < g_nhost; i++) free(g_host[i]);
    g_ndev = g_nhost = 0;
    if (!g_broken) (void)cudaGetLastError();
}

#define DEV(ptr, bytes)                                                                 \
    do {                                                                                \
        if (!((ptr) = dalloc((bytes), #ptr, __LINE__))) goto out;                      \
    } while (0)
#define UP(d, h, bytes) CU(cudaMemcpy((d), (h), (bytes), cudaMemcpyHostToDevice))
#define DOWN(h, d, bytes) CU(cudaMemcpy((h), (d), (bytes), cudaMemcpyDeviceToHost))
#define DUP(d, h, bytes)                                                                \
    do {                                                                                \
        DEV(d, bytes);                                                                  \
        UP(d, h, bytes);                                                                \
    } while (0)
/* 0xFF bytes: NaN as fp32 (0xFFFFFFFF), bf16 (0xFFFF) and fp64; -1 as an int. */
#define POISON(d, bytes) CU(cudaMemsetAsync((d), 0xFF, (bytes), g_stream))

/* ---- bf16 on the host ----------------------------------------------------------------- */

/* Round to nearest even, as __float2bfloat16_rn; NaN stays a (quiet) NaN. */
static cada_bf16 f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (cada_bf16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (cada_bf16)(u >> 16);
}
static float bf2f(cada_bf16 b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static int bf_isnan(cada_bf16 b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0; }

/* x rounded to bf16 in place; the bit patterns in b. */
static void round_bf16(float *x, cada_bf16 *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        b[i] = f2bf(x[i]);
        x[i] = bf2f(b[i]);
    }
}
static float *bf_to_host_f32(const cada_bf16 *b, size_t n) {
    float *x = hf(n);
    for (size_t i = 0; i < n; i++) x[i] = bf2f(b[i]);
    return x;
}

/* ---- random inputs ------------------------------------------------------------------- */

static int rnd_int(int n) { return (int)(cada_rng_u32(&g_rng) % (uint32_t)n); }
/* N(0, scale^2): for inputs whose tails matter (logits, attention scores). */
static void fill_gauss(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * cada_rng_normal(&g_rng);
}
/* Uniform with variance scale^2 (3x faster than normals, for large weights). */
static void fill_unif(float *x, size_t n, float scale) {
    const float a = 1.7320508f * scale;
    for (size_t i = 0; i < n; i++) x[i] = a * (2.0f * cada_rng_uniform(&g_rng) - 1.0f);
}
/* A fresh host tensor with a bf16 twin: x (rounded) for the CPU, *b for the device. */
static float *gauss_bf(size_t n, float scale, cada_bf16 **b) {
    float *x = hf(n);
    fill_gauss(x, n, scale);
    *b = hb(n);
    round_bf16(x, *b, n);
    return x;
}
static float *unif_bf(size_t n, float scale, cada_bf16 **b) {
    float *x = hf(n);
    fill_unif(x, n, scale);
    *b = hb(n);
    round_bf16(x, *b, n);
    return x;
}

/* Packed rows: row 0 of a batch is one document (full causal), the other rows hold
 * documents of random length in [1, max(1, T/3)], so positions restart inside rows. */
static void make_positions(int *pos, int B, int T) {
    for (int b = 0; b < B; b++) {
        int left = 0, p = 0;
        for (int i = 0; i < T; i++) {
            if (b == 0) {
                pos[b * T + i] = i;
                continue;
            }
            if (left == 0) {
                int maxdoc = T / 3 > 1 ? T / 3 : 1;
                left = 1 + rnd_int(maxdoc);
                p = 0;
            }
            pos[b * T + i] = p++;
            left--;
        }
    }
}

/* ---- comparisons ------------------------------------------------------------------------ */

typedef struct {
    double max_abs, rel;
    size_t nonfinite, worst;
} cmp_result;

static cmp_result compare(const float *g, const float *c, size_t n) {
    cmp_result r = {0.0, 0.0, 0, 0};
    double se = 0.0, sr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double gi = g[i], ci = c[i];
        if (!isfinite(gi) || !isfinite(ci)) {
            if (r.nonfinite++ == 0) r.worst = i;
            continue;
        }
        double d = fabs(gi - ci);
        se += d * d;
        sr += ci * ci;
        if (d > r.max_abs) {
            r.max_abs = d;
            if (!r.nonfinite) r.worst = i;
        }
    }
    r.rel = sr > 0.0 ? sqrt(se / sr) : sqrt(se);
    return r;
}

/* Normalised-error check of n values; NaN or Inf on either side fails. */
static int check_close(const char *op, const float *g, const float *c, size_t n, double thr) {
    cmp_result r = compare(g, c, n);
    char extra[160] = "";
    if (r.nonfinite)
        snprintf(extra, sizeof extra, "%zu of %zu non-finite (unwritten or overflow), first at %zu", r.nonfinite, n,
                 r.worst);
    int pass = r.nonfinite == 0 && r.rel <= thr;
    result(op, r.max_abs, r.rel, thr, pass, extra);
    if (n) note("   %s: n %zu, worst at %zu: gpu %.9g cpu %.9g\n", op, n, r.worst, (double)g[r.worst], (double)c[r.worst]);
    return pass;
}

/* Bit-exact check of n elements of 2 or 4 bytes (copies, conversions, exact sums). */
static int check_bits(const char *op, const void *g, const void *c, size_t n, size_t elem) {
    size_t bad = 0, first = 0;
    const unsigned char *gp = g, *cp = c;
    for (size_t i = 0; i < n; i++)
        if (memcmp(gp + i * elem, cp + i * elem, elem) != 0)
            if (bad++ == 0) first = i;
    char extra[160] = "";
    if (bad) snprintf(extra, sizeof extra, "%zu of %zu elements differ, first at %zu", bad, n, first);
    result(op, bad ? NAN : 0.0, n ? (double)bad / (double)n : 0.0, 0.0, bad == 0, extra);
    return bad == 0;
}

/* ---- timing -------------------------------------------------------------------------------- */

#define TIME_WARMUP 3
#define TIME_RUNS 20

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of TIME_RUNS launches after TIME_WARMUP, each bracketed by events. */
#define TIME_MS(ms_out, launch)                                                         \
    do {                                                                                \
        float tm_[TIME_RUNS];                                                           \
        for (int it_ = 0; it_ < TIME_WARMUP + TIME_RUNS; it_++) {                       \
            CU(cudaEventRecord(g_ev0, g_stream));                                       \
            ST(launch);                                                                 \
            CU(cudaEventRecord(g_ev1, g_stream));                                       \
            CU(cudaEventSynchronize(g_ev1));                                            \
            if (it_ >= TIME_WARMUP) CU(cudaEventElapsedTime(&tm_[it_ - TIME_WARMUP], g_ev0, g_ev1)); \
        }                                                                               \
        qsort(tm_, TIME_RUNS, sizeof(float), cmp_float);                                \
        (ms_out) = 0.5 * ((double)tm_[TIME_RUNS / 2 - 1] + (double)tm_[TIME_RUNS / 2]); \
    } while (0)

/* bytes: read + written once each; flops: 0 for memory-bound ops. */
static void perf_line(const char *op, double ms, double bytes, double flops) {
    char rate[64];
    if (flops > 0)
        snprintf(rate, sizeof rate, "%.1f TFLOP/s", flops / (ms * 1e-3) / 1e12);
    else
        snprintf(rate, sizeof rate, "%.1f GB/s", bytes / (ms * 1e-3) / 1e9);
    say("RESULT %-32s %-46s median %.4f ms of %d  TIME  %s\n", op, g_shape, ms, TIME_RUNS, rate);
}

/* ---- model shapes ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int C, H, KVH, D, I, V;
} shape_set;
static const shape_set SMOL = {"smollm2", 576, 9, 3, 64, 1536, 49152};
static const shape_set LLAMA = {"llama3-8b", 4096, 32, 8, 128, 14336, 128256};

static void rope_config(cada_model_config *c, int llama3) {
    memset(c, 0, sizeof *c);
    if (llama3) { /* Llama-3-8B / 3.1: theta 5e5, llama3 scaling factor 8 (1, 4, 8192) */
        c->head_dim = 128;
        c->rope_theta = 500000.0f;
        c->rope_type = CADA_ROPE_LLAMA3;
        c->rope_factor = 8.0f;
        c->rope_low_freq_factor = 1.0f;
        c->rope_high_freq_factor = 4.0f;
        c->rope_original_max_pos = 8192;
    } else { /* SmolLM2-135M: theta 1e5, no scaling */
        c->head_dim = 64;
        c->rope_theta = 100000.0f;
        c->rope_type = CADA_ROPE_DEFAULT;
    }
}

/* ========================================================================================== */
/* conversions, fills, elementwise                                                            */
/* ========================================================================================== */

static void case_cast(size_t n) {
    set_shape("n=%zu", n);
    float *x = hf(n), *back = NULL;
    cada_bf16 *exp_b = hb(n), *got_b = hb(n), *bits = hb(n);
    float *d_x = NULL, *d_y = NULL;
    cada_bf16 *d_b = NULL;
    /* half normal values over many magnitudes, half raw bit patterns (every exponent:
     * subnormals, Inf, NaN), then exact halfway cases that must round to even */
    for (size_t i = 0; i < n; i++) {
        if (i % 2) {
            uint32_t u = cada_rng_u32(&g_rng);
            memcpy(&x[i], &u, 4);
        } else {
            x[i] = cada_rng_normal(&g_rng) * powf(10.0f, (float)(rnd_int(21) - 10));
        }
    }
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, FLT_MAX /* rounds up to Inf */,
                              1e-40f, -1e-45f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials && i < n; i++) x[i] = specials[i];
    for (size_t i = 16; i < n && i < 64; i++) { /* ties: low 16 bits exactly 0x8000 */
        uint32_t u = (cada_rng_u32(&g_rng) & 0x7f7f0000u) | 0x8000u;
        memcpy(&x[i], &u, 4);
    }
    for (size_t i = 0; i < n; i++) exp_b[i] = f2bf(x[i]);

    OP("cast_f32_to_bf16");
    DUP(d_x, x, n * sizeof(float));
    DEV(d_b, n * sizeof(cada_bf16));
    POISON(d_b, n * sizeof(cada_bf16));
    ST(gpu_cast_f32_to_bf16(d_b, d_x, n, g_stream));
    SYNC();
    DOWN(got_b, d_b, n * sizeof(cada_bf16));
    /* any NaN is a correct conversion of a NaN (payloads are not specified) */
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]) && bf_isnan(got_b[i])) got_b[i] = exp_b[i];
    /* exact: round-to-nearest-even is fully specified */
    check_bits("cast_f32_to_bf16", got_b, exp_b, n, 2);

    OP("cast_bf16_to_f32");
    for (size_t i = 0; i < n; i++) bits[i] = (cada_bf16)(i < 65536 ? i : cada_rng_u32(&g_rng) >> 16);
    back = hf(n);
    float *want = hf(n);
    for (size_t i = 0; i < n; i++) want[i] = bf2f(bits[i]);
    UP(d_b, bits, n * sizeof(cada_bf16));
    DEV(d_y, n * sizeof(float));
    POISON(d_y, n * sizeof(float));
    ST(gpu_cast_bf16_to_f32(d_y, d_b, n, g_stream));
    SYNC();
    DOWN(back, d_y, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (isnan(want[i]) && isnan(back[i])) back[i] = want[i];
    /* exact: widening is exact */
    check_bits("cast_bf16_to_f32", back, want, n, 4);
out:
    release();
}

static void perf_cast(void) {
    const size_t n = (size_t)4096 * LLAMA.I; /* an (N, I) activation at T = 4096 */
    set_shape("n=%zu (4096 x %d)", n, LLAMA.I);
    float *d_x = NULL;
    cada_bf16 *d_b = NULL;
    double ms;
    OP("cast_f32_to_bf16");
    DEV(d_x, n * sizeof(float));
    DEV(d_b, n * sizeof(cada_bf16));
    ST(gpu_fill_normal(d_x, n, 1, 1.0f, g_stream));
    TIME_MS(ms, gpu_cast_f32_to_bf16(d_b, d_x, n, g_stream));
    perf_line("cast_f32_to_bf16", ms, 6.0 * (double)n, 0);
    OP("cast_bf16_to_f32");
    TIME_MS(ms, gpu_cast_bf16_to_f32(d_x, d_b, n, g_stream));
    perf_line("cast_bf16_to_f32", ms, 6.0 * (double)n, 0);
out:
    release();
}

static void run_cast(void) {
    case_cast(1000003);
    if (!g_broken) case_cast(7);
    if (!g_broken) perf_cast();
}

/* Moments of n draws that should be N(0, scale^2). Tolerances are ~7 standard errors
 * of each statistic at n = 2^20: mean 1/sqrt(n) = 1e-3, std 1/sqrt(2n) = 7e-4,
 * P(|x| < scale) sqrt(p (1-p) / n) = 4.5e-4. */
static int normal_moments(const char *op, const float *x, size_t n, float scale) {
    double s = 0.0, ss = 0.0;
    size_t inside = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            bad++;
            continue;
        }
        s += x[i];
        ss += (double)x[i] * x[i];
        inside += fabsf(x[i]) < scale;
    }
    double mean = s / (double)n / scale, sd = sqrt(ss / (double)n - (s / (double)n) * (s / (double)n)) / scale;
    double frac = (double)inside / (double)n;
    double err = fabs(mean);
    if (fabs(sd - 1.0) > err) err = fabs(sd - 1.0);
    if (fabs(frac - 0.682689) > err) err = fabs(frac - 0.682689);
    char extra[200];
    snprintf(extra, sizeof extra, "mean %.2e std %.5f P(|x|<s) %.5f (0.68269)%s", mean, sd, frac,
             bad ? " NON-FINITE values" : "");
    int pass = bad == 0 && fabs(mean) < 7e-3 && fabs(sd - 1.0) < 5e-3 && fabs(frac - 0.682689) < 3e-3;
    result(op, err, err, 7e-3, pass, extra);
    return pass;
}

static void run_fill(void) {
    const size_t n = (size_t)1 << 20;
    const float scale = 0.02f;
    const uint64_t seed = g_seed ^ 0x66696c6cULL;
    set_shape("n=%zu scale=%g", n, (double)scale);
    float *a = hf(n), *b = hf(n), *c = hf(n);
    cada_bf16 *hb1 = hb(n), *hb2 = hb(n);
    float *d_a = NULL, *d_b = NULL, *d_c = NULL;
    cada_bf16 *d_h = NULL;
    double ms;

    OP("fill_normal");
    DEV(d_a, n * sizeof(float));
    DEV(d_b, n * sizeof(float));
    DEV(d_c, n * sizeof(float));
    POISON(d_a, n * sizeof(float));
    POISON(d_b, n * sizeof(float));
    POISON(d_c, n * sizeof(float));
    ST(gpu_fill_normal(d_a, n, seed, scale, g_stream));
    ST(gpu_fill_normal(d_b, n, seed, scale, g_stream));
    /* a shorter launch: the same (seed, i) must give the same value whatever the shape */
    ST(gpu_fill_normal(d_c, 1001, seed, scale, g_stream));
    SYNC();
    DOWN(a, d_a, n * sizeof(float));
    DOWN(b, d_b, n * sizeof(float));
    DOWN(c, d_c, n * sizeof(float));
    normal_moments("fill_normal:moments", a, n, scale);
    check_bits("fill_normal:same_seed_same_values", b, a, n, 4);
    check_bits("fill_normal:prefix_launch_shape", c, a, 1001, 4);
    {
        /* c[1001..] must still hold the poison: the op writes n elements, no more */
        size_t touched = 0;
        for (size_t i = 1001; i < n; i++) touched += !isnan(c[i]);
        result("fill_normal:writes_only_n", 0.0, (double)touched, 0.0, touched == 0,
               touched ? "elements past n were written" : "");
    }
    ST(gpu_fill_normal(d_b, n, seed + 1, scale, g_stream));
    SYNC();
    DOWN(b, d_b, n * sizeof(float));
    {
        size_t same = 0;
        for (size_t i = 0; i < n; i++) same += a[i] == b[i];
        /* another seed: equal values only by chance (a few in 2^20 at most) */
        result("fill_normal:other_seed_differs", 0.0, (double)same / (double)n, 1e-3,
               (double)same / (double)n <= 1e-3, "");
    }

    OP("fill_normal_bf16");
    DEV(d_h, n * sizeof(cada_bf16));
    POISON(d_h, n * sizeof(cada_bf16));
    ST(gpu_fill_normal_bf16(d_h, n, seed, scale, g_stream));
    SYNC();
    DOWN(hb1, d_h, n * sizeof(cada_bf16));
    ST(gpu_fill_normal_bf16(d_h, n, seed, scale, g_stream));
    SYNC();
    DOWN(hb2, d_h, n * sizeof(cada_bf16));
    {
        float *x = bf_to_host_f32(hb1, n);
        normal_moments("fill_normal_bf16:moments", x, n, scale);
    }
    check_bits("fill_normal_bf16:same_seed_same_values", hb2, hb1, n, 2);

    OP("fill_f32");
    POISON(d_a, n * sizeof(float));
    ST(gpu_fill_f32(d_a, n - 3, -1.25f, g_stream));
    SYNC();
    DOWN(a, d_a, n * sizeof(float));
    for (size_t i = 0; i < n; i++) b[i] = i < n - 3 ? -1.25f : a[i];
    check_bits("fill_f32", a, b, n, 4);
    {
        size_t touched = 0;
        for (size_t i = n - 3; i < n; i++) touched += !isnan(a[i]);
        result("fill_f32:writes_only_n", 0.0, (double)touched, 0.0, touched == 0,
               touched ? "elements past n were written" : "");
    }

    /* timing: 64M values, 4 bytes written each */
    {
        const size_t big = (size_t)64 << 20;
        float *d_big = NULL;
        set_shape("n=%zu", big);
        OP("fill_normal");
        DEV(d_big, big * sizeof(float));
        TIME_MS(ms, gpu_fill_normal(d_big, big, seed, scale, g_stream));
        perf_line("fill_normal", ms, 4.0 * (double)big, 0);
    }
out:
    release();
}

static void case_residual(size_t n) {
    set_shape("n=%zu", n);
    float *a = hf(n), *b = hf(n), *want = hf(n), *got = hf(n);
    float *d_a = NULL, *d_b = NULL, *d_o = NULL;
    fill_gauss(a, n, 1.0f);
    fill_gauss(b, n, 1.0f);
    residual_forward(want, a, b, (int64_t)n);
    OP("residual_forward");
    DUP(d_a, a, n * sizeof(float));
    DUP(d_b, b, n * sizeof(float));
    DEV(d_o, n * sizeof(float));
    POISON(d_o, n * sizeof(float));
    ST(gpu_residual_forward(d_o, d_a, d_b, n, g_stream));
    SYNC();
    DOWN(got, d_o, n * sizeof(float));
    check_bits("residual_forward", got, want, n, 4); /* exact: one IEEE fp32 add each */
    /* out aliasing a (the residual stream updated in place) */
    ST(gpu_residual_forward(d_a, d_a, d_b, n, g_stream));
    SYNC();
    DOWN(got, d_a, n * sizeof(float));
    check_bits("residual_forward:in_place", got, want, n, 4);
out:
    release();
}

static void run_residual(void) {
    case_residual(1000003);
    if (!g_broken) case_residual(5);
    if (g_broken) return;
    const size_t n = (size_t)4096 * LLAMA.C;
    set_shape("n=%zu (4096 x %d)", n, LLAMA.C);
    float *d_a = NULL, *d_b = NULL;
    double ms;
    OP("residual_forward");
    DEV(d_a, n * sizeof(float));
    DEV(d_b, n * sizeof(float));
    ST(gpu_fill_normal(d_a, n, 2, 1.0f, g_stream));
    ST(gpu_fill_normal(d_b, n, 3, 1.0f, g_stream));
    TIME_MS(ms, gpu_residual_forward(d_a, d_a, d_b, n, g_stream));
    perf_line("residual_forward", ms, 12.0 * (double)n, 0);
out:
    release();
}

static void case_add_bf16(size_t n) {
    set_shape("n=%zu", n);
    float *o = hf(n), *want = hf(n), *got = hf(n);
    cada_bf16 *in_b;
    float *in = gauss_bf(n, 0.5f, &in_b);
    float *d_o = NULL;
    cada_bf16 *d_in = NULL;
    fill_gauss(o, n, 1.0f);
    for (size_t i = 0; i < n; i++) want[i] = o[i] + in[i];
    OP("add_bf16_to_f32");
    DUP(d_o, o, n * sizeof(float));
    DUP(d_in, in_b, n * sizeof(cada_bf16));
    ST(gpu_add_bf16_to_f32(d_o, d_in, n, g_stream));
    SYNC();
    DOWN(got, d_o, n * sizeof(float));
    check_bits("add_bf16_to_f32", got, want, n, 4); /* exact: widening then one fp32 add */
out:
    release();
}

static void run_add_bf16(void) {
    case_add_bf16(1000003);
    if (!g_broken) case_add_bf16(3);
    if (g_broken) return;
    const size_t n = (size_t)4096 * LLAMA.C;
    set_shape("n=%zu (4096 x %d)", n, LLAMA.C);
    float *d_o = NULL;
    cada_bf16 *d_in = NULL;
    double ms;
    OP("add_bf16_to_f32");
    DEV(d_o, n * sizeof(float));
    DEV(d_in, n * sizeof(cada_bf16));
    ST(gpu_fill_f32(d_o, n, 0.0f, g_stream));
    ST(gpu_fill_normal_bf16(d_in, n, 4, 1.0f, g_stream));
    TIME_MS(ms, gpu_add_bf16_to_f32(d_o, d_in, n, g_stream));
    perf_line("add_bf16_to_f32", ms, 10.0 * (double)n, 0);
out:
    release();
}

/* ========================================================================================== */
/* embeddings                                                                                  */
/* ========================================================================================== */

static void case_embedding(int N, int C, int V) {
    set_shape("N=%d C=%d V=%d", N, C, V);
    const size_t NC = (size_t)N * C, VC = (size_t)V * C;
    cada_bf16 *table_b;
    float *table = gauss_bf(VC, 1.0f, &table_b);
    int *tok = hi((size_t)N);
    float *out_c = hf(NC), *out_g = hf(NC), *dout = hf(NC), *dt_c = hf(VC), *dt_g = hf(VC);
    float *d_out = NULL, *d_dout = NULL, *d_dt = NULL;
    cada_bf16 *d_table = NULL;
    int *d_tok = NULL;
    /* half the tokens from a set of 4 (rows shared by several tokens: the backward's
     * accumulation races), the rest anywhere, the last id included */
    for (int n = 0; n < N; n++) tok[n] = n % 2 ? rnd_int(V) : rnd_int(4);
    tok[N - 1] = V - 1;
    embedding_forward(out_c, tok, table, N, C);

    OP("embedding_forward");
    DUP(d_table, table_b, VC * sizeof(cada_bf16));
    DUP(d_tok, tok, (size_t)N * sizeof(int));
    DEV(d_out, NC * sizeof(float));
    POISON(d_out, NC * sizeof(float));
    ST(gpu_embedding_forward(d_out, d_tok, d_table, N, C, g_stream));
    SYNC();
    DOWN(out_g, d_out, NC * sizeof(float));
    check_bits("embedding_forward", out_g, out_c, NC, 4); /* exact: a bf16 -> fp32 copy */

    OP("embedding_backward");
    fill_gauss(dout, NC, 1.0f);
    fill_gauss(dt_c, VC, 1.0f); /* ACCUMULATES: start from non-zero values */
    DUP(d_dt, dt_c, VC * sizeof(float));
    DUP(d_dout, dout, NC * sizeof(float));
    embedding_backward(dt_c, dout, tok, N, C);
    ST(gpu_embedding_backward(d_dt, d_dout, d_tok, N, C, g_stream));
    SYNC();
    DOWN(dt_g, d_dt, VC * sizeof(float));
    /* fp32 sums of the same terms in another order (atomicAdd): each element adds at
     * most N/2 terms, ~2^-24 relative per add, so ~1e-7 normalised; 1e-6 */
    check_close("embedding_backward", dt_g, dt_c, VC, 1e-6);
out:
    release();
}

static void run_embedding(void) {
    case_embedding(77, 584, 1000);
    if (!g_broken) case_embedding(33, SMOL.C, 3001);
    if (!g_broken) case_embedding(9, LLAMA.C, 2000);
    if (g_broken) return;
    const int N = 4096, C = LLAMA.C, V = LLAMA.V;
    set_shape("N=%d C=%d V=%d", N, C, V);
    int *tok = hi((size_t)N);
    for (int n = 0; n < N; n++) tok[n] = rnd_int(V);
    cada_bf16 *d_table = NULL;
    float *d_out = NULL, *d_dt = NULL;
    int *d_tok = NULL;
    double ms;
    OP("embedding_forward");
    DEV(d_table, (size_t)V * C * sizeof(cada_bf16));
    DEV(d_out, (size_t)N * C * sizeof(float));
    DUP(d_tok, tok, (size_t)N * sizeof(int));
    ST(gpu_fill_normal_bf16(d_table, (size_t)V * C, 5, 0.02f, g_stream));
    TIME_MS(ms, gpu_embedding_forward(d_out, d_tok, d_table, N, C, g_stream));
    perf_line("embedding_forward", ms, (double)N * C * (2 + 4) + 4.0 * N, 0);
    OP("embedding_backward");
    DEV(d_dt, (size_t)V * C * sizeof(float));
    ST(gpu_fill_f32(d_dt, (size_t)V * C, 0.0f, g_stream));
    TIME_MS(ms, gpu_embedding_backward(d_dt, d_out, d_tok, N, C, g_stream));
    /* dout read, the touched rows of dtable read and written */
    perf_line("embedding_backward", ms, (double)N * C * (4 + 4 + 4) + 4.0 * N, 0);
out:
    release();
}

/* ========================================================================================== */
/* RMSNorm                                                                                     */
/* ========================================================================================== */

static void case_rmsnorm(int N, int C) {
    const float eps = 1e-5f;
    set_shape("N=%d C=%d", N, C);
    const size_t NC = (size_t)N * C;
    float *inp = hf(NC), *out_c = hf(NC), *rstd_c = hf((size_t)N), *rstd_g = hf((size_t)N), *out_g;
    cada_bf16 *w_b, *dout_b, *out_gb = hb(NC);
    float *w = gauss_bf((size_t)C, 1.0f, &w_b);
    float *d_inp = NULL, *d_rstd = NULL, *d_dinp = NULL, *d_dw = NULL;
    cada_bf16 *d_w = NULL, *d_out = NULL, *d_dout = NULL;
    fill_gauss(inp, NC, 3.0f);
    for (int i = 0; i < C; i++) w[i] = bf2f(w_b[i] = f2bf(1.0f + 0.25f * w[i])); /* around 1, as trained */
    rmsnorm_forward(out_c, rstd_c, inp, w, N, C, eps);

    OP("rmsnorm_forward");
    DUP(d_inp, inp, NC * sizeof(float));
    DUP(d_w, w_b, (size_t)C * sizeof(cada_bf16));
    DEV(d_out, NC * sizeof(cada_bf16));
    DEV(d_rstd, (size_t)N * sizeof(float));
    POISON(d_out, NC * sizeof(cada_bf16));
    POISON(d_rstd, (size_t)N * sizeof(float));
    ST(gpu_rmsnorm_forward(d_out, d_rstd, d_inp, d_w, N, C, eps, g_stream));
    SYNC();
    DOWN(out_gb, d_out, NC * sizeof(cada_bf16));
    DOWN(rstd_g, d_rstd, (size_t)N * sizeof(float));
    out_g = bf_to_host_f32(out_gb, NC);
    /* bf16 output: 2^-9 relative RMS rounding per element; 1e-2 */
    check_close("rmsnorm_forward:out", out_g, out_c, NC, 1e-2);
    /* fp32 sum of C squares against the CPU's fp64 sum: ~sqrt(C) 2^-24 = 4e-6 at
     * C = 4096 in the worst row, far less on average; 1e-5 */
    check_close("rmsnorm_forward:rstd", rstd_g, rstd_c, (size_t)N, 1e-5);

    OP("rmsnorm_backward");
    {
        float *dout = gauss_bf(NC, 1.0f, &dout_b);
        float *dinp_c = hf(NC), *dw_c = hf((size_t)C), *dinp_g = hf(NC), *dw_g = hf((size_t)C);
        /* both ACCUMULATE: start from non-zero values of the increment's size */
        fill_gauss(dinp_c, NC, 0.3f);
        fill_gauss(dw_c, (size_t)C, 3.0f * sqrtf((float)N));
        DUP(d_dinp, dinp_c, NC * sizeof(float));
        DUP(d_dw, dw_c, (size_t)C * sizeof(float));
        DUP(d_dout, dout_b, NC * sizeof(cada_bf16));
        /* both sides get the CPU's rstd: the op's input, identical values */
        UP(d_rstd, rstd_c, (size_t)N * sizeof(float));
        rmsnorm_backward(dinp_c, dw_c, dout, inp, w, rstd_c, N, C);
        ST(gpu_rmsnorm_backward(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, N, C, g_stream));
        SYNC();
        DOWN(dinp_g, d_dinp, NC * sizeof(float));
        DOWN(dw_g, d_dw, (size_t)C * sizeof(float));
        /* fp32 outputs of fp32 math on the same inputs; the row's dot product of C terms
         * in fp32 (CPU fp64) is off by ~sqrt(C) 2^-24 relative: 2e-5 */
        check_close("rmsnorm_backward:dinp", dinp_g, dinp_c, NC, 2e-5);
        /* sum over N rows in another order (atomics or a tree): ~1e-6; 1e-5 */
        check_close("rmsnorm_backward:dweight", dw_g, dw_c, (size_t)C, 1e-5);
    }
out:
    release();
}

static void run_rmsnorm(void) {
    const int shapes[][2] = {{1, SMOL.C}, {7, 584}, {259, SMOL.C}, {17, LLAMA.C}, {3, 8}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && !g_broken; i++) case_rmsnorm(shapes[i][0], shapes[i][1]);
    if (g_broken) return;
    const int N = 4096, C = LLAMA.C;
    set_shape("N=%d C=%d", N, C);
    float *d_inp = NULL, *d_rstd = NULL, *d_dinp = NULL, *d_dw = NULL;
    cada_bf16 *d_w = NULL, *d_out = NULL;
    double ms;
    OP("rmsnorm_forward");
    DEV(d_inp, (size_t)N * C * sizeof(float));
    DEV(d_w, (size_t)C * sizeof(cada_bf16));
    DEV(d_out, (size_t)N * C * sizeof(cada_bf16));
    DEV(d_rstd, (size_t)N * sizeof(float));
    ST(gpu_fill_normal(d_inp, (size_t)N * C, 6, 1.0f, g_stream));
    ST(gpu_fill_normal_bf16(d_w, (size_t)C, 7, 1.0f, g_stream));
    TIME_MS(ms, gpu_rmsnorm_forward(d_out, d_rstd, d_inp, d_w, N, C, 1e-5f, g_stream));
    perf_line("rmsnorm_forward", ms, (double)N * C * (4 + 2) + 2.0 * C + 4.0 * N, 0);
    OP("rmsnorm_backward");
    DEV(d_dinp, (size_t)N * C * sizeof(float));
    DEV(d_dw, (size_t)C * sizeof(float));
    ST(gpu_fill_f32(d_dinp, (size_t)N * C, 0.0f, g_stream));
    ST(gpu_fill_f32(d_dw, (size_t)C, 0.0f, g_stream));
    TIME_MS(ms, gpu_rmsnorm_backward(d_dinp, d_dw, d_out, d_inp, d_w, d_rstd, N, C, g_stream));
    /* dout (bf16) and inp (fp32) read, dinp read and written, weight, rstd, dweight */
    perf_line("rmsnorm_backward", ms, (double)N * C * (2 + 4 + 8) + 2.0 * C + 8.0 * C + 4.0 * N, 0);
out:
    release();
}

/* ========================================================================================== */
/* RoPE                                                                                        */
/* ========================================================================================== */

static void case_rope(const shape_set *m, int N, int max_pos, int llama3) {
    const int H = m->H, KVH = m->KVH, D = m->D, stride = (H + 2 * KVH) * D, nh = H + KVH;
    set_shape("%s N=%d H+KVH=%d D=%d pos<%d", m->name, N, nh, D, max_pos);
    const size_t n = (size_t)N * stride;
    cada_model_config cfg;
    rope_config(&cfg, llama3);
    float *inv = hf((size_t)D / 2);
    cada_config_rope_inv_freq(&cfg, inv);
    int *pos = hi((size_t)N);
    for (int i = 0; i < N; i++) pos[i] = rnd_int(max_pos);
    pos[0] = 0;
    if (N > 1) pos[N - 1] = max_pos - 1;
    float *d_inv = NULL;
    int *d_pos = NULL;
    cada_bf16 *d_x = NULL;
    DUP(d_inv, inv, (size_t)D / 2 * sizeof(float));
    DUP(d_pos, pos, (size_t)N * sizeof(int));
    DEV(d_x, n * sizeof(cada_bf16));
    for (int dir = 0; dir < 2; dir++) {
        const char *name = dir ? "rope_backward" : "rope_forward";
        char op[64];
        OP(name);
        cada_bf16 *xb, *got_b = hb(n);
        float *x = gauss_bf(n, 1.0f, &xb);
        UP(d_x, xb, n * sizeof(cada_bf16));
        if (dir)
            rope_backward(x, N, stride, nh, D, pos, inv);
        else
            rope_forward(x, N, stride, nh, D, pos, inv);
        ST(dir ? gpu_rope_backward(d_x, N, stride, nh, D, d_pos, d_inv, g_stream)
               : gpu_rope_forward(d_x, N, stride, nh, D, d_pos, d_inv, g_stream));
        SYNC();
        DOWN(got_b, d_x, n * sizeof(cada_bf16));
        /* rotated q and k heads, and the v heads past them, which must stay untouched */
        float *rot_g = hf((size_t)N * nh * D), *rot_c = hf((size_t)N * nh * D);
        cada_bf16 *v_g = hb((size_t)N * KVH * D), *v_c = hb((size_t)N * KVH * D);
        for (int r = 0; r < N; r++) {
            for (int j = 0; j < nh * D; j++) {
                rot_g[(size_t)r * nh * D + j] = bf2f(got_b[(size_t)r * stride + j]);
                rot_c[(size_t)r * nh * D + j] = x[(size_t)r * stride + j];
            }
            memcpy(v_g + (size_t)r * KVH * D, got_b + (size_t)r * stride + nh * D, (size_t)KVH * D * 2);
            memcpy(v_c + (size_t)r * KVH * D, xb + (size_t)r * stride + nh * D, (size_t)KVH * D * 2);
        }
        /* fp32 rotation of bf16 values, output rounded to bf16 (2^-9 RMS); the angle is
         * the same fp32 product on both sides and sincosf is accurate to a few ulp even
         * at positions near 1.3e5: 1e-2 */
        snprintf(op, sizeof op, "%s:q_k", name);
        check_close(op, rot_g, rot_c, (size_t)N * nh * D, 1e-2);
        snprintf(op, sizeof op, "%s:v_untouched", name);
        check_bits(op, v_g, v_c, (size_t)N * KVH * D, 2);
    }
out:
    release();
}

static void run_rope(void) {
    case_rope(&SMOL, 37, 2048, 0);
    if (!g_broken) case_rope(&SMOL, 1, 1, 0);
    /* Llama-3: positions up to 131072 reach all three bands of the llama3 scaling */
    if (!g_broken) case_rope(&LLAMA, 17, 131072, 1);
    if (!g_broken) case_rope(&LLAMA, 5, 8192, 1);
    if (g_broken) return;
    const int N = 4096, H = LLAMA.H, KVH = LLAMA.KVH, D = LLAMA.D, stride = (H + 2 * KVH) * D;
    set_shape("N=%d H+KVH=%d D=%d", N, H + KVH, D);
    cada_model_config cfg;
    rope_config(&cfg, 1);
    float *inv = hf((size_t)D / 2), *d_inv = NULL;
    int *pos = hi((size_t)N), *d_pos = NULL;
    cada_bf16 *d_x = NULL;
    double ms;
    cada_config_rope_inv_freq(&cfg, inv);
    for (int i = 0; i < N; i++) pos[i] = i;
    OP("rope_forward");
    DUP(d_inv, inv, (size_t)D / 2 * sizeof(float));
    DUP(d_pos, pos, (size_t)N * sizeof(int));
    DEV(d_x, (size_t)N * stride * sizeof(cada_bf16));
    ST(gpu_fill_normal_bf16(d_x, (size_t)N * stride, 8, 1.0f, g_stream));
    TIME_MS(ms, gpu_rope_forward(d_x, N, stride, H + KVH, D, d_pos, d_inv, g_stream));
    perf_line("rope_forward", ms, 2.0 * 2.0 * N * (H + KVH) * D + 4.0 * N, 0);
    OP("rope_backward");
    TIME_MS(ms, gpu_rope_backward(d_x, N, stride, H + KVH, D, d_pos, d_inv, g_stream));
    perf_line("rope_backward", ms, 2.0 * 2.0 * N * (H + KVH) * D + 4.0 * N, 0);
out:
    release();
}

/* ========================================================================================== */
/* attention                                                                                   */
/* ========================================================================================== */

/* lse (B, H, T): log-sum-exp of each query's scaled scores over its visible keys, in
 * fp64 from the (bf16-rounded) qkv; the CPU op keeps probabilities, not this. */
static void attention_lse_ref(float *lse, const float *qkv, const int *pos, int B, int T, int H, int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D, group = H / KVH;
    const double scale = 1.0 / sqrt((double)D);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * QKV + (size_t)h * D;
                double mx = -INFINITY, sum = 0.0; /* online: one pass over the keys */
                for (int j = i - pos[b * T + i]; j <= i; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * QKV + (size_t)(H + h / group) * D;
                    double dot = 0.0;
                    for (int d = 0; d < D; d++) dot += (double)q[d] * k[d];
                    dot *= scale;
                    if (dot > mx) {
                        sum = sum * exp(mx - dot) + 1.0;
                        mx = dot;
                    } else {
                        sum += exp(dot - mx);
                    }
                }
                lse[((size_t)b * H + h) * T + i] = (float)(mx + log(sum));
            }
}

/* Columns [off, off + width) of an (N, stride) matrix. */
static float *columns(const float *x, int N, int stride, int off, int width) {
    float *y = hf((size_t)N * width);
    for (int r = 0; r < N; r++) memcpy(y + (size_t)r * width, x + (size_t)r * stride + off, (size_t)width * sizeof(float));
    return y;
}

static void case_attention(const shape_set *m, int B, int T) {
    const int H = m->H, KVH = m->KVH, D = m->D, QKV = (H + 2 * KVH) * D, N = B * T;
    set_shape("%s B=%d T=%d H=%d KVH=%d D=%d packed", m->name, B, T, H, KVH, D);
    const size_t nq = (size_t)N * QKV, no = (size_t)N * H * D, nl = (size_t)B * H * T;
    cada_bf16 *qkv_b, *out_gb = hb(no), *dout_b, *dqkv_gb = hb(nq);
    float *qkv = gauss_bf(nq, 1.0f, &qkv_b);
    int *pos = hi((size_t)N);
    make_positions(pos, B, T);
    float *lse_cpu = hf(nl), *out_c = hf(no), *lse_c = hf(nl), *lse_g = hf(nl), *out_g;
    cada_bf16 *d_qkv = NULL, *d_out = NULL, *d_dout = NULL, *d_dqkv = NULL;
    float *d_lse = NULL;
    int *d_pos = NULL;
    void *d_scr = NULL;
    CADA_CHECK(attention_forward(out_c, lse_cpu, qkv, pos, B, T, H, KVH, D));
    attention_lse_ref(lse_c, qkv, pos, B, T, H, KVH, D);

    OP("attention_forward");
    DUP(d_qkv, qkv_b, nq * sizeof(cada_bf16));
    DUP(d_pos, pos, (size_t)N * sizeof(int));
    DEV(d_out, no * sizeof(cada_bf16));
    DEV(d_lse, nl * sizeof(float));
    POISON(d_out, no * sizeof(cada_bf16));
    POISON(d_lse, nl * sizeof(float));
    ST(gpu_attention_forward(d_out, d_lse, d_qkv, d_pos, B, T, H, KVH, D, g_stream));
    SYNC();
    DOWN(out_gb, d_out, no * sizeof(cada_bf16));
    DOWN(lse_g, d_lse, nl * sizeof(float));
    out_g = bf_to_host_f32(out_gb, no);
    /* bf16 output (2^-9 RMS) after P is rounded to bf16 for the P V product (another
     * 2^-9 on each weight, averaged over the keys): 1e-2 */
    check_close("attention_forward:out", out_g, out_c, no, 1e-2);
    /* scores are exact bf16 products summed in fp32 (~D 2^-24 relative), exp/log in
     * fp32: ~1e-6 of |lse| against the fp64 reference; 1e-5 */
    check_close("attention_forward:lse", lse_g, lse_c, nl, 1e-5);

    OP("attention_backward");
    {
        float *dout = gauss_bf(no, 1.0f, &dout_b);
        float *dqkv_c = hf(nq);
        CADA_CHECK(attention_backward(dqkv_c, dout, out_c, lse_cpu, qkv, pos, B, T, H, KVH, D));
        size_t sb = gpu_attention_backward_scratch_bytes(B, T, H, KVH, D);
        note("   backward scratch %zu bytes\n", sb);
        DUP(d_dout, dout_b, no * sizeof(cada_bf16));
        DEV(d_dqkv, nq * sizeof(cada_bf16));
        DEV(d_scr, sb);
        POISON(d_dqkv, nq * sizeof(cada_bf16));
        POISON(d_scr, sb); /* the op owns its scratch: it may not expect zeros */
        /* the GPU's own forward out and lse, as training uses them */
        ST(gpu_attention_backward(d_dqkv, d_scr, d_dout, d_out, d_lse, d_qkv, d_pos, B, T, H, KVH, D, g_stream));
        SYNC();
        DOWN(dqkv_gb, d_dqkv, nq * sizeof(cada_bf16));
        float *dqkv_g = bf_to_host_f32(dqkv_gb, nq);
        /* bf16 output; inside, P and dS = P (dP - rowsum(dO O)) are rounded to bf16 for
         * the tensor-core products, and rowsum uses the bf16 forward out: three or four
         * 2^-9 roundings on the path, 2e-2 */
        const char *part[3] = {"attention_backward:dq", "attention_backward:dk", "attention_backward:dv"};
        const int off[3] = {0, H * D, (H + KVH) * D}, width[3] = {H * D, KVH * D, KVH * D};
        for (int p = 0; p < 3; p++)
            check_close(part[p], columns(dqkv_g, N, QKV, off[p], width[p]), columns(dqkv_c, N, QKV, off[p], width[p]),
                        (size_t)N * width[p], 2e-2);
    }
out:
    release();
}

static void perf_attention(void) {
    const int B = 1, T = 4096, H = LLAMA.H, KVH = LLAMA.KVH, D = LLAMA.D, QKV = (H + 2 * KVH) * D, N = B * T;
    set_shape("llama3-8b B=%d T=%d H=%d KVH=%d D=%d causal", B, T, H, KVH, D);
    int *pos = hi((size_t)N);
    for (int i = 0; i < N; i++) pos[i] = i;
    cada_bf16 *d_qkv = NULL, *d_out = NULL, *d_dout = NULL, *d_dqkv = NULL;
    float *d_lse = NULL;
    int *d_pos = NULL;
    void *d_scr = NULL;
    double ms;
    /* FLOP accounting (FlashAttention's): per head, Q K^T and P V are 2 T^2 D flops each
     * over the full square, halved for the causal mask: fwd = 4 T^2 H D / 2 per row;
     * backward recomputes S and does dP, dV, dQ, dK: 5 products, 2.5x the forward */
    const double fwd_flops = 4.0 * T * (double)T * H * D / 2.0 * B, bwd_flops = 2.5 * fwd_flops;
    OP("attention_forward");
    DEV(d_qkv, (size_t)N * QKV * sizeof(cada_bf16));
    DEV(d_out, (size_t)N * H * D * sizeof(cada_bf16));
    DEV(d_lse, (size_t)B * H * T * sizeof(float));
    DUP(d_pos, pos, (size_t)N * sizeof(int));
    ST(gpu_fill_normal_bf16(d_qkv, (size_t)N * QKV, 9, 1.0f, g_stream));
    TIME_MS(ms, gpu_attention_forward(d_out, d_lse, d_qkv, d_pos, B, T, H, KVH, D, g_stream));
    perf_line("attention_forward", ms, 0, fwd_flops);
    OP("attention_backward");
    size_t sb = gpu_attention_backward_scratch_bytes(B, T, H, KVH, D);
    DEV(d_dout, (size_t)N * H * D * sizeof(cada_bf16));
    DEV(d_dqkv, (size_t)N * QKV * sizeof(cada_bf16));
    DEV(d_scr, sb);
    ST(gpu_fill_normal_bf16(d_dout, (size_t)N * H * D, 10, 1.0f, g_stream));
    TIME_MS(ms, gpu_attention_backward(d_dqkv, d_scr, d_dout, d_out, d_lse, d_qkv, d_pos, B, T, H, KVH, D, g_stream));
    perf_line("attention_backward", ms, 0, bwd_flops);
out:
    release();
}

static void run_attention(void) {
    const int Ts[] = {1, 17, 200, 1024};
    const shape_set *ms[] = {&SMOL, &LLAMA};
    for (int mi = 0; mi < 2 && !g_broken; mi++)
        for (int ti = 0; ti < 4 && !g_broken; ti++) case_attention(ms[mi], 2, Ts[ti]);
    if (!g_broken) perf_attention();
}

/* ---- decode: a packed prefix appended to the KV cache, then each sequence's last
 * token decoded against it, compared with the forward's rows for those tokens ------------ */

static void case_decode(const shape_set *m, const int *lens, int n_docs) {
    const int H = m->H, KVH = m->KVH, D = m->D, QKV = (H + 2 * KVH) * D, KV = KVH * D;
    int T = 0, max_len = 0;
    char lens_s[96] = "";
    for (int s = 0; s < n_docs; s++) {
        T += lens[s];
        if (lens[s] > max_len) max_len = lens[s];
        size_t l = strlen(lens_s);
        snprintf(lens_s + l, sizeof lens_s - l, "%s%d", s ? "," : "", lens[s]);
    }
    set_shape("%s H=%d KVH=%d D=%d lens=%s", m->name, H, KVH, D, lens_s);
    /* slots in reverse order with two unused ones, and room past the longest sequence:
     * the cache regions the kernels must neither write nor read */
    const int n_slots = n_docs + 2, cap = max_len + 7;
    const size_t slot_stride = (size_t)cap * KV, cache_n = (size_t)n_slots * slot_stride;
    cada_bf16 *qkv_b;
    float *qkv = gauss_bf((size_t)T * QKV, 1.0f, &qkv_b);
    int *pos = hi((size_t)T), *row_slot = hi((size_t)T), *last = hi((size_t)n_docs);
    int *dec_slot = hi((size_t)n_docs), *dec_len = hi((size_t)n_docs);
    for (int s = 0, r = 0; s < n_docs; s++) {
        for (int p = 0; p < lens[s]; p++, r++) {
            pos[r] = p;
            row_slot[r] = n_slots - 1 - s;
        }
        last[s] = r - 1;
        dec_slot[s] = n_slots - 1 - s;
        dec_len[s] = lens[s];
    }
    float *lse_c = hf((size_t)H * T), *out_c = hf((size_t)T * H * D);
    CADA_CHECK(attention_forward(out_c, lse_c, qkv, pos, 1, T, H, KVH, D));
    cada_bf16 *exp_k = hb(cache_n), *exp_v = hb(cache_n), *got_k = hb(cache_n), *got_v = hb(cache_n);
    memset(exp_k, 0xFF, cache_n * sizeof(cada_bf16));
    memset(exp_v, 0xFF, cache_n * sizeof(cada_bf16));
    for (int r = 0; r < T; r++) {
        size_t at = (size_t)row_slot[r] * slot_stride + (size_t)pos[r] * KV;
        memcpy(exp_k + at, qkv_b + (size_t)r * QKV + (size_t)H * D, (size_t)KV * sizeof(cada_bf16));
        memcpy(exp_v + at, qkv_b + (size_t)r * QKV + (size_t)(H + KVH) * D, (size_t)KV * sizeof(cada_bf16));
    }
    cada_bf16 *qd = hb((size_t)n_docs * QKV), *out_gb = hb((size_t)n_docs * H * D);
    float *ref = hf((size_t)n_docs * H * D);
    for (int s = 0; s < n_docs; s++) {
        memcpy(qd + (size_t)s * QKV, qkv_b + (size_t)last[s] * QKV, (size_t)QKV * sizeof(cada_bf16));
        memcpy(ref + (size_t)s * H * D, out_c + (size_t)last[s] * H * D, (size_t)H * D * sizeof(float));
    }
    cada_bf16 *d_qkv = NULL, *d_k = NULL, *d_v = NULL, *d_qd = NULL, *d_out = NULL;
    int *d_rslot = NULL, *d_pos = NULL, *d_dslot = NULL, *d_dlen = NULL;
    void *d_scr = NULL;

    OP("kv_append");
    DUP(d_qkv, qkv_b, (size_t)T * QKV * sizeof(cada_bf16));
    DUP(d_rslot, row_slot, (size_t)T * sizeof(int));
    DUP(d_pos, pos, (size_t)T * sizeof(int));
    DEV(d_k, cache_n * sizeof(cada_bf16));
    DEV(d_v, cache_n * sizeof(cada_bf16));
    /* NaN everywhere first: a decode that reads a position past its length (even to
     * multiply it by a zero weight) turns NaN, as it could on a fresh cache */
    POISON(d_k, cache_n * sizeof(cada_bf16));
    POISON(d_v, cache_n * sizeof(cada_bf16));
    ST(gpu_kv_append(d_k, d_v, slot_stride, d_qkv, d_rslot, d_pos, T, H, KVH, D, g_stream));
    SYNC();
    DOWN(got_k, d_k, cache_n * sizeof(cada_bf16));
    DOWN(got_v, d_v, cache_n * sizeof(cada_bf16));
    /* exact copies at their slots and positions, nothing else written */
    check_bits("kv_append:k_cache", got_k, exp_k, cache_n, 2);
    check_bits("kv_append:v_cache", got_v, exp_v, cache_n, 2);

    OP("attention_decode");
    size_t sb = gpu_attention_decode_scratch_bytes(n_docs, H, D, max_len);
    note("   decode scratch %zu bytes\n", sb);
    DUP(d_qd, qd, (size_t)n_docs * QKV * sizeof(cada_bf16));
    DUP(d_dslot, dec_slot, (size_t)n_docs * sizeof(int));
    DUP(d_dlen, dec_len, (size_t)n_docs * sizeof(int));
    DEV(d_out, (size_t)n_docs * H * D * sizeof(cada_bf16));
    DEV(d_scr, sb);
    POISON(d_out, (size_t)n_docs * H * D * sizeof(cada_bf16));
    POISON(d_scr, sb);
    ST(gpu_attention_decode(d_out, d_scr, d_qd, d_k, d_v, slot_stride, d_dslot, d_dlen, n_docs, H, KVH, D, max_len,
                            g_stream));
    SYNC();
    DOWN(out_gb, d_out, (size_t)n_docs * H * D * sizeof(cada_bf16));
    /* as attention_forward:out (bf16 output, bf16 weights in P V, plus the merge of
     * the key-split partial results in fp32): 1e-2 */
    check_close("attention_decode", bf_to_host_f32(out_gb, (size_t)n_docs * H * D), ref, (size_t)n_docs * H * D, 1e-2);
out:
    release();
}

static void perf_decode(int n, int len) {
    const int H = LLAMA.H, KVH = LLAMA.KVH, D = LLAMA.D, QKV = (H + 2 * KVH) * D, KV = KVH * D;
    set_shape("llama3-8b n=%d len=%d", n, len);
    const size_t slot_stride = (size_t)len * KV;
    int *slots = hi((size_t)n), *lens = hi((size_t)n);
    for (int i = 0; i < n; i++) {
        slots[i] = i;
        lens[i] = len;
    }
    cada_bf16 *d_k = NULL, *d_v = NULL, *d_q = NULL, *d_out = NULL;
    int *d_slots = NULL, *d_lens = NULL;
    void *d_scr = NULL;
    double ms;
    OP("attention_decode");
    size_t sb = gpu_attention_decode_scratch_bytes(n, H, D, len);
    DEV(d_k, (size_t)n * slot_stride * sizeof(cada_bf16));
    DEV(d_v, (size_t)n * slot_stride * sizeof(cada_bf16));
    DEV(d_q, (size_t)n * QKV * sizeof(cada_bf16));
    DEV(d_out, (size_t)n * H * D * sizeof(cada_bf16));
    DEV(d_scr, sb);
    DUP(d_slots, slots, (size_t)n * sizeof(int));
    DUP(d_lens, lens, (size_t)n * sizeof(int));
    ST(gpu_fill_normal_bf16(d_k, (size_t)n * slot_stride, 11, 1.0f, g_stream));
    ST(gpu_fill_normal_bf16(d_v, (size_t)n * slot_stride, 12, 1.0f, g_stream));
    ST(gpu_fill_normal_bf16(d_q, (size_t)n * QKV, 13, 1.0f, g_stream));
    TIME_MS(ms, gpu_attention_decode(d_out, d_scr, d_q, d_k, d_v, slot_stride, d_slots, d_lens, n, H, KVH, D, len,
                                     g_stream));
    /* K and V of every position read once, q read, out written */
    perf_line("attention_decode", ms, 2.0 * 2.0 * n * (double)len * KV + 2.0 * 2.0 * n * H * D, 0);
out:
    release();
}

static void perf_kv_append(void) {
    const int T = 4096, H = LLAMA.H, KVH = LLAMA.KVH, D = LLAMA.D, QKV = (H + 2 * KVH) * D, KV = KVH * D;
    set_shape("llama3-8b prefill rows=%d", T);
    int *slots = hi((size_t)T), *pos = hi((size_t)T);
    for (int i = 0; i < T; i++) {
        slots[i] = 0;
        pos[i] = i;
    }
    cada_bf16 *d_k = NULL, *d_v = NULL, *d_qkv = NULL;
    int *d_slots = NULL, *d_pos = NULL;
    double ms;
    OP("kv_append");
    DEV(d_k, (size_t)T * KV * sizeof(cada_bf16));
    DEV(d_v, (size_t)T * KV * sizeof(cada_bf16));
    DEV(d_qkv, (size_t)T * QKV * sizeof(cada_bf16));
    DUP(d_slots, slots, (size_t)T * sizeof(int));
    DUP(d_pos, pos, (size_t)T * sizeof(int));
    ST(gpu_fill_normal_bf16(d_qkv, (size_t)T * QKV, 14, 1.0f, g_stream));
    TIME_MS(ms, gpu_kv_append(d_k, d_v, (size_t)T * KV, d_qkv, d_slots, d_pos, T, H, KVH, D, g_stream));
    perf_line("kv_append", ms, 2.0 * 2.0 * 2.0 * T * (double)KV + 8.0 * T, 0);
out:
    release();
}

static void run_decode(void) {
    const int lens_a[] = {1, 17, 200, 1024, 63}, lens_b[] = {777}, lens_c[] = {1};
    const shape_set *ms[] = {&SMOL, &LLAMA};
    for (int mi = 0; mi < 2 && !g_broken; mi++) {
        case_decode(ms[mi], lens_a, 5);
        if (!g_broken) case_decode(ms[mi], lens_b, 1);
        if (!g_broken) case_decode(ms[mi], lens_c, 1);
    }
    if (!g_broken) perf_kv_append();
    if (!g_broken) perf_decode(1, 4096);
    if (!g_broken) perf_decode(64, 4096);
}

/* ========================================================================================== */
/* SwiGLU                                                                                      */
/* ========================================================================================== */

static void case_swiglu(int N, int I) {
    set_shape("N=%d I=%d", N, I);
    const size_t nh = (size_t)N * I, ng = 2 * nh;
    cada_bf16 *gu_b, *dh_b, *h_gb = hb(nh), *dgu_gb = hb(ng);
    float *gu = gauss_bf(ng, 2.0f, &gu_b), *dh = gauss_bf(nh, 1.0f, &dh_b);
    float *h_c = hf(nh), *dgu_c = hf(ng);
    cada_bf16 *d_gu = NULL, *d_h = NULL, *d_dh = NULL, *d_dgu = NULL;
    swiglu_forward(h_c, gu, N, I);
    swiglu_backward(dgu_c, dh, gu, N, I);
    OP("swiglu_forward");
    DUP(d_gu, gu_b, ng * sizeof(cada_bf16));
    DEV(d_h, nh * sizeof(cada_bf16));
    POISON(d_h, nh * sizeof(cada_bf16));
    ST(gpu_swiglu_forward(d_h, d_gu, N, I, g_stream));
    SYNC();
    DOWN(h_gb, d_h, nh * sizeof(cada_bf16));
    /* elementwise fp32 math, one bf16 rounding of the output (2^-9 RMS): 1e-2 */
    check_close("swiglu_forward", bf_to_host_f32(h_gb, nh), h_c, nh, 1e-2);
    OP("swiglu_backward");
    DUP(d_dh, dh_b, nh * sizeof(cada_bf16));
    DEV(d_dgu, ng * sizeof(cada_bf16));
    POISON(d_dgu, ng * sizeof(cada_bf16));
    ST(gpu_swiglu_backward(d_dgu, d_dh, d_gu, N, I, g_stream));
    SYNC();
    DOWN(dgu_gb, d_dgu, ng * sizeof(cada_bf16));
    check_close("swiglu_backward", bf_to_host_f32(dgu_gb, ng), dgu_c, ng, 1e-2); /* as forward */
out:
    release();
}

static void run_swiglu(void) {
    const int shapes[][2] = {{37, SMOL.I}, {5, LLAMA.I}, {3, 1000}, {1, 8}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && !g_broken; i++) case_swiglu(shapes[i][0], shapes[i][1]);
    if (g_broken) return;
    const int N = 4096, I = LLAMA.I;
    set_shape("N=%d I=%d", N, I);
    cada_bf16 *d_gu = NULL, *d_h = NULL, *d_dgu = NULL;
    double ms;
    OP("swiglu_forward");
    DEV(d_gu, (size_t)N * 2 * I * sizeof(cada_bf16));
    DEV(d_h, (size_t)N * I * sizeof(cada_bf16));
    DEV(d_dgu, (size_t)N * 2 * I * sizeof(cada_bf16));
    ST(gpu_fill_normal_bf16(d_gu, (size_t)N * 2 * I, 15, 1.0f, g_stream));
    TIME_MS(ms, gpu_swiglu_forward(d_h, d_gu, N, I, g_stream));
    perf_line("swiglu_forward", ms, 2.0 * 3.0 * N * (double)I, 0);
    OP("swiglu_backward");
    TIME_MS(ms, gpu_swiglu_backward(d_dgu, d_h, d_gu, N, I, g_stream));
    perf_line("swiglu_backward", ms, 2.0 * 5.0 * N * (double)I, 0);
out:
    release();
}

/* ========================================================================================== */
/* matmuls (cuBLASLt)                                                                          */
/* ========================================================================================== */

enum { MM_BF16 = 0, MM_F32, MM_F32_RESIDUAL, MM_F32_RESIDUAL_IN_PLACE };
static const char *const MM_NAME[] = {"matmul_forward:bf16_out", "matmul_forward:f32_out",
                                      "matmul_forward:f32_out+residual", "matmul_forward:f32_out+=residual(in place)"};

static void case_matmul_forward(const char *label, int N, int C, int OC, int bias, int mode) {
    set_shape("%s N=%d C=%d OC=%d%s", label, N, C, OC, bias ? " bias" : "");
    const size_t no = (size_t)N * OC;
    cada_bf16 *inp_b, *w_b, *b_b = NULL, *out_gb = hb(no);
    float *inp = gauss_bf((size_t)N * C, 1.0f, &inp_b);
    float *w = unif_bf((size_t)OC * C, 1.0f / sqrtf((float)C), &w_b);
    float *bv = bias ? gauss_bf((size_t)OC, 0.5f, &b_b) : NULL;
    float *res = NULL, *out_c = hf(no), *out_g = hf(no);
    cada_bf16 *d_inp = NULL, *d_w = NULL, *d_b = NULL, *d_ob = NULL;
    float *d_of = NULL, *d_res = NULL;
    matmul_forward(out_c, inp, w, bv, N, C, OC);
    if (mode >= MM_F32_RESIDUAL) {
        res = hf(no);
        fill_gauss(res, no, 1.0f);
        for (size_t i = 0; i < no; i++) out_c[i] += res[i];
    }
    OP(MM_NAME[mode]);
    DUP(d_inp, inp_b, (size_t)N * C * sizeof(cada_bf16));
    DUP(d_w, w_b, (size_t)OC * C * sizeof(cada_bf16));
    if (bias) DUP(d_b, b_b, (size_t)OC * sizeof(cada_bf16));
    if (mode == MM_BF16) {
        DEV(d_ob, no * sizeof(cada_bf16));
        POISON(d_ob, no * sizeof(cada_bf16));
    } else {
        DEV(d_of, no * sizeof(float));
        if (mode == MM_F32_RESIDUAL_IN_PLACE) {
            UP(d_of, res, no * sizeof(float));
            d_res = d_of;
        } else {
            POISON(d_of, no * sizeof(float));
            if (mode == MM_F32_RESIDUAL) DUP(d_res, res, no * sizeof(float));
        }
    }
    ST(gpu_matmul_forward(g_blas, d_of, d_ob, d_res, d_inp, d_w, d_b, N, C, OC, g_stream));
    SYNC();
    if (mode == MM_BF16) {
        DOWN(out_gb, d_ob, no * sizeof(cada_bf16));
        out_g = bf_to_host_f32(out_gb, no);
        /* bf16 output of an fp32-accumulated product: 2^-9 RMS rounding; 1e-2 */
        check_close(MM_NAME[mode], out_g, out_c, no, 1e-2);
    } else {
        DOWN(out_g, d_of, no * sizeof(float));
        /* products of bf16 values are exact in fp32; the sums of C of them in another
         * order than OpenBLAS's (tensor-core trees, split-K) differ by ~sqrt(C) 2^-24
         * relative, 7e-6 at C = 14336: 1e-4 */
        check_close(MM_NAME[mode], out_g, out_c, no, 1e-4);
    }
out:
    release();
}

static void case_matmul_backward(const char *label, int N, int C, int OC, int with_dinp, int with_dbias) {
    set_shape("%s N=%d C=%d OC=%d%s%s", label, N, C, OC, with_dinp ? " dinp" : " dinp=NULL",
              with_dbias ? " dbias" : " dbias=NULL");
    cada_bf16 *inp_b, *w_b, *dout_b, *dinp_gb = hb((size_t)N * C);
    float *inp = gauss_bf((size_t)N * C, 1.0f, &inp_b);
    float *w = unif_bf((size_t)OC * C, 1.0f / sqrtf((float)C), &w_b);
    float *dout = gauss_bf((size_t)N * OC, 1.0f, &dout_b);
    float *dinp_c = hf((size_t)N * C), *dw_c = hf((size_t)OC * C), *db_c = hf((size_t)OC);
    float *dw_g = hf((size_t)OC * C), *db_g = hf((size_t)OC);
    cada_bf16 *d_inp = NULL, *d_w = NULL, *d_dout = NULL, *d_dinp = NULL;
    float *d_dw = NULL, *d_db = NULL;
    /* dweight and dbias ACCUMULATE: start from values the size of one increment */
    fill_gauss(dw_c, (size_t)OC * C, sqrtf((float)N));
    fill_gauss(db_c, (size_t)OC, sqrtf((float)N));
    OP("matmul_backward");
    DUP(d_inp, inp_b, (size_t)N * C * sizeof(cada_bf16));
    DUP(d_w, w_b, (size_t)OC * C * sizeof(cada_bf16));
    DUP(d_dout, dout_b, (size_t)N * OC * sizeof(cada_bf16));
    DUP(d_dw, dw_c, (size_t)OC * C * sizeof(float));
    DUP(d_db, db_c, (size_t)OC * sizeof(float));
    if (with_dinp) {
        DEV(d_dinp, (size_t)N * C * sizeof(cada_bf16));
        POISON(d_dinp, (size_t)N * C * sizeof(cada_bf16));
    }
    /* CPU dinp ACCUMULATES into zeros; the GPU's WRITES */
    matmul_backward(with_dinp ? dinp_c : NULL, dw_c, with_dbias ? db_c : NULL, dout, inp, w, N, C, OC);
    ST(gpu_matmul_backward(g_blas, d_dinp, d_dw, with_dbias ? d_db : NULL, d_dout, d_inp, d_w, N, C, OC, g_stream));
    SYNC();
    DOWN(dw_g, d_dw, (size_t)OC * C * sizeof(float));
    DOWN(db_g, d_db, (size_t)OC * sizeof(float));
    if (with_dinp) {
        DOWN(dinp_gb, d_dinp, (size_t)N * C * sizeof(cada_bf16));
        /* bf16 output: 1e-2 as the forward */
        check_close("matmul_backward:dinp", bf_to_host_f32(dinp_gb, (size_t)N * C), dinp_c, (size_t)N * C, 1e-2);
    }
    /* fp32 accumulation of exact bf16 products over N rows (plus the prior value): 1e-4
     * as the forward's fp32 output */
    check_close("matmul_backward:dweight", dw_g, dw_c, (size_t)OC * C, 1e-4);
    /* unchanged when dbias is NULL: the CPU side skipped it too */
    check_close(with_dbias ? "matmul_backward:dbias" : "matmul_backward:dbias_untouched", db_g, db_c, (size_t)OC,
                1e-4);
out:
    release();
}

static void perf_matmul(const char *label, int N, int C, int OC, int f32_residual, int backward) {
    set_shape("%s N=%d C=%d OC=%d%s", label, N, C, OC, f32_residual ? " f32+=residual" : " bf16 out");
    cada_bf16 *d_inp = NULL, *d_w = NULL, *d_ob = NULL, *d_dinp = NULL, *d_dout = NULL;
    float *d_of = NULL, *d_dw = NULL;
    double ms;
    const double flops = 2.0 * N * (double)C * OC;
    OP("matmul_forward");
    DEV(d_inp, (size_t)N * C * sizeof(cada_bf16));
    DEV(d_w, (size_t)OC * C * sizeof(cada_bf16));
    ST(gpu_fill_normal_bf16(d_inp, (size_t)N * C, 16, 1.0f, g_stream));
    ST(gpu_fill_normal_bf16(d_w, (size_t)OC * C, 17, 0.02f, g_stream));
    if (f32_residual) {
        DEV(d_of, (size_t)N * OC * sizeof(float));
        ST(gpu_fill_f32(d_of, (size_t)N * OC, 0.0f, g_stream));
        TIME_MS(ms, gpu_matmul_forward(g_blas, d_of, NULL, d_of, d_inp, d_w, NULL, N, C, OC, g_stream));
    } else {
        DEV(d_ob, (size_t)N * OC * sizeof(cada_bf16));
        TIME_MS(ms, gpu_matmul_forward(g_blas, NULL, d_ob, NULL, d_inp, d_w, NULL, N, C, OC, g_stream));
    }
    perf_line("matmul_forward", ms, 0, flops);
    if (!backward) goto out;
    OP("matmul_backward");
    DEV(d_dout, (size_t)N * OC * sizeof(cada_bf16));
    DEV(d_dinp, (size_t)N * C * sizeof(cada_bf16));
    DEV(d_dw, (size_t)OC * C * sizeof(float));
    ST(gpu_fill_normal_bf16(d_dout, (size_t)N * OC, 18, 1.0f, g_stream));
    ST(gpu_fill_f32(d_dw, (size_t)OC * C, 0.0f, g_stream));
    TIME_MS(ms, gpu_matmul_backward(g_blas, d_dinp, d_dw, NULL, d_dout, d_inp, d_w, N, C, OC, g_stream));
    perf_line("matmul_backward", ms, 0, 2.0 * flops); /* dinp and dweight: two products */
out:
    release();
}

static void run_matmul(void) {
    set_shape("gpu_blas_create");
    OP("gpu_blas_create");
    g_blas = NULL;
    {
        cada_status s = gpu_blas_create(&g_blas, 0);
        if (s != CADA_OK) {
            fail_status("gpu_blas_create(&g_blas, 0)", s, __LINE__);
            return;
        }
    }
    for (int mode = 0; mode < 4 && !g_broken; mode++)
        for (int bias = 0; bias < 2 && !g_broken; bias++) case_matmul_forward("odd", 33, 200, 328, bias, mode);
    /* real shapes: SmolLM2 qkv (with a Qwen2-style bias), MLP down into the residual,
     * LM head; Llama-3-8B qkv, MLP down into the residual, one decode row */
    if (!g_broken) case_matmul_forward("smollm2 qkv", 37, SMOL.C, (SMOL.H + 2 * SMOL.KVH) * SMOL.D, 1, MM_BF16);
    if (!g_broken) case_matmul_forward("smollm2 down", 37, SMOL.I, SMOL.C, 0, MM_F32_RESIDUAL_IN_PLACE);
    if (!g_broken) case_matmul_forward("smollm2 lm_head", 9, SMOL.C, SMOL.V, 0, MM_F32);
    if (!g_broken) case_matmul_forward("llama3-8b qkv", 17, LLAMA.C, (LLAMA.H + 2 * LLAMA.KVH) * LLAMA.D, 0, MM_BF16);
    if (!g_broken) case_matmul_forward("llama3-8b down", 17, LLAMA.I, LLAMA.C, 0, MM_F32_RESIDUAL_IN_PLACE);
    if (!g_broken) case_matmul_forward("llama3-8b o_proj decode", 1, LLAMA.C, LLAMA.C, 0, MM_F32_RESIDUAL);
    if (!g_broken) case_matmul_backward("odd", 33, 200, 328, 1, 1);
    if (!g_broken) case_matmul_backward("odd", 33, 200, 328, 0, 0);
    if (!g_broken) case_matmul_backward("smollm2 gate_up", 37, SMOL.C, 2 * SMOL.I, 1, 0);
    if (!g_broken) case_matmul_backward("llama3-8b qkv", 17, LLAMA.C, (LLAMA.H + 2 * LLAMA.KVH) * LLAMA.D, 1, 1);
    /* timing at T = 4096 tokens of Llama-3-8B */
    if (!g_broken) perf_matmul("llama3-8b qkv", 4096, LLAMA.C, (LLAMA.H + 2 * LLAMA.KVH) * LLAMA.D, 0, 1);
    if (!g_broken) perf_matmul("llama3-8b o_proj", 4096, LLAMA.C, LLAMA.C, 1, 0);
    if (!g_broken) perf_matmul("llama3-8b gate_up", 4096, LLAMA.C, 2 * LLAMA.I, 0, 1);
    if (!g_broken) perf_matmul("llama3-8b down", 4096, LLAMA.I, LLAMA.C, 1, 1);
    if (!g_broken) perf_matmul("llama3-8b lm_head", 4096, LLAMA.C, LLAMA.V, 1, 1);
    if (!g_broken) gpu_blas_destroy(g_blas);
    g_blas = NULL;
}

/* ========================================================================================== */
/* log-softmax over the vocabulary                                                             */
/* ========================================================================================== */

static void case_logsoftmax(int N, int V) {
    set_shape("N=%d V=%d", N, V);
    const size_t nv = (size_t)N * V;
    float *logits = hf(nv), *lp_c = hf((size_t)N), *lse_c = hf((size_t)N), *lp_g = hf((size_t)N),
          *lse_g = hf((size_t)N), *dlp = hf((size_t)N), *dl_c = hf(nv);
    int *tgt = hi((size_t)N);
    cada_bf16 *dl_gb = hb(nv);
    float *d_logits = NULL, *d_lp = NULL, *d_lse = NULL, *d_dlp = NULL;
    int *d_tgt = NULL;
    cada_bf16 *d_dl = NULL;
    fill_gauss(logits, nv, 3.0f);
    fill_gauss(dlp, (size_t)N, 1.0f);
    for (int n = 0; n < N; n++) {
        float *l = logits + (size_t)n * V;
        tgt[n] = n == N - 1 ? V - 1 : rnd_int(V);
        if (n % 2) { /* a confident row: the target above every other logit */
            float mx = l[0];
            for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
            l[tgt[n]] = mx + 1.0f;
        }
    }
    if (N > 2) tgt[1] = -1; /* a row with no target: logprob 0, zero gradient */
    if (N > 3) dlp[2] = 0.0f; /* a row with zero upstream gradient: zero gradient */
    logsoftmax_gather(lp_c, lse_c, logits, tgt, N, V);

    OP("logsoftmax_gather");
    DUP(d_logits, logits, nv * sizeof(float));
    DUP(d_tgt, tgt, (size_t)N * sizeof(int));
    DEV(d_lp, (size_t)N * sizeof(float));
    DEV(d_lse, (size_t)N * sizeof(float));
    POISON(d_lp, (size_t)N * sizeof(float));
    POISON(d_lse, (size_t)N * sizeof(float));
    ST(gpu_logsoftmax_gather(d_lp, d_lse, d_logits, d_tgt, N, V, g_stream));
    SYNC();
    DOWN(lp_g, d_lp, (size_t)N * sizeof(float));
    DOWN(lse_g, d_lse, (size_t)N * sizeof(float));
    /* an fp32 online sum of V exponentials against the CPU's fp64 sum: relative error
     * ~sqrt(V) 2^-24 of the sum at worst, 2e-5 absolute in lse (|lse| ~ 15), so
     * ~2e-6 normalised; 1e-5 */
    check_close("logsoftmax_gather:lse", lse_g, lse_c, (size_t)N, 1e-5);
    check_close("logsoftmax_gather:logprob", lp_g, lp_c, (size_t)N, 1e-5); /* = logit - lse: as lse */

    OP("logsoftmax_gather_backward");
    memcpy(dl_c, logits, nv * sizeof(float));
    logsoftmax_gather_backward(dl_c, lse_c, tgt, dlp, N, V);
    DUP(d_dlp, dlp, (size_t)N * sizeof(float));
    DEV(d_dl, nv * sizeof(cada_bf16));
    POISON(d_dl, nv * sizeof(cada_bf16));
    ST(gpu_logsoftmax_gather_backward(d_dl, d_logits, d_lse, d_tgt, d_dlp, N, V, g_stream));
    SYNC();
    DOWN(dl_gb, d_dl, nv * sizeof(cada_bf16));
    /* bf16 output of fp32 math (one exp, one product): 2^-9 RMS; 1e-2 */
    check_close("logsoftmax_gather_backward", bf_to_host_f32(dl_gb, nv), dl_c, nv, 1e-2);
    {
        size_t nonzero = 0, zn = 0;
        for (int n = 0; n < N; n++) {
            if (tgt[n] >= 0 && dlp[n] != 0.0f) continue;
            zn += (size_t)V;
            for (int v = 0; v < V; v++) nonzero += bf2f(dl_gb[(size_t)n * V + v]) != 0.0f;
        }
        char extra[96] = "";
        if (nonzero) snprintf(extra, sizeof extra, "%zu non-zero (or unwritten) in rows that must be zero", nonzero);
        if (zn)
            result("logsoftmax_gather_backward:zero_rows", 0.0, (double)nonzero / (double)zn, 0.0, nonzero == 0,
                   extra);
    }
out:
    release();
}

/* d logprob / d logits[v] by central differences through the GPU forward, at the
 * target and the three largest other logits of one confident row, against the exact
 * fp64 derivative (1[v == t] - softmax_v) and against the GPU backward's dlogits. */
static void case_logsoftmax_fd(int V) {
    enum { NC = 4 };
    const float eps = 1e-2f;
    set_shape("N=1 V=%d fd eps=%g", V, (double)eps);
    float *l = hf((size_t)V), fd[NC], exact[NC], bwd[NC], one = 1.0f, lp_p, lp_m;
    int coord[NC], t;
    cada_bf16 *dl_b = hb((size_t)V);
    float *d_l = NULL, *d_lp = NULL, *d_lse = NULL, *d_one = NULL;
    int *d_t = NULL;
    cada_bf16 *d_dl = NULL;
    fill_gauss(l, (size_t)V, 3.0f);
    t = rnd_int(V);
    float mx = l[0];
    for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
    l[t] = mx + 1.0f; /* p_t around 0.5: derivatives of order 0.1-0.5 */
    coord[0] = t;
    for (int c = 1; c < NC; c++) { /* the largest logits other than t and those taken */
        int best = -1;
        for (int v = 0; v < V; v++) {
            int taken = 0;
            for (int k = 0; k < c; k++) taken |= coord[k] == v;
            if (!taken && (best < 0 || l[v] > l[best])) best = v;
        }
        coord[c] = best;
    }
    {
        double m = -INFINITY, s = 0.0;
        for (int v = 0; v < V; v++) m = l[v] > m ? l[v] : m;
        for (int v = 0; v < V; v++) s += exp((double)l[v] - m);
        double lse = m + log(s);
        for (int c = 0; c < NC; c++) exact[c] = (float)((coord[c] == t ? 1.0 : 0.0) - exp((double)l[coord[c]] - lse));
    }
    OP("logsoftmax_gather");
    DUP(d_l, l, (size_t)V * sizeof(float));
    DUP(d_t, &t, sizeof(int));
    DUP(d_one, &one, sizeof(float));
    DEV(d_lp, sizeof(float));
    DEV(d_lse, sizeof(float));
    DEV(d_dl, (size_t)V * sizeof(cada_bf16));
    for (int c = 0; c < NC; c++) {
        const float x0 = l[coord[c]], xp = x0 + eps, xm = x0 - eps;
        UP(d_l + coord[c], &xp, sizeof(float));
        ST(gpu_logsoftmax_gather(d_lp, d_lse, d_l, d_t, 1, V, g_stream));
        SYNC();
        DOWN(&lp_p, d_lp, sizeof(float));
        UP(d_l + coord[c], &xm, sizeof(float));
        ST(gpu_logsoftmax_gather(d_lp, d_lse, d_l, d_t, 1, V, g_stream));
        SYNC();
        DOWN(&lp_m, d_lp, sizeof(float));
        UP(d_l + coord[c], &x0, sizeof(float));
        fd[c] = (float)(((double)lp_p - lp_m) / ((double)xp - xm)); /* the step actually taken in fp32 */
        note("   fd coord %d (%s): fd %.7f exact %.7f\n", coord[c], coord[c] == t ? "target" : "other", (double)fd[c],
             (double)exact[c]);
    }
    /* truncation eps^2 |f'''| / 6 < 2e-6; fp32 rounding of logprob (|lp| < 4) and of the
     * V-term sum, ~1e-6 absolute, over 2 eps: ~1e-4 absolute on derivatives of 0.1-0.5,
     * ~1e-3 relative: 5e-3 */
    check_close("logsoftmax_gather:fd_vs_fp64", fd, exact, NC, 5e-3);
    OP("logsoftmax_gather_backward");
    POISON(d_dl, (size_t)V * sizeof(cada_bf16));
    ST(gpu_logsoftmax_gather(d_lp, d_lse, d_l, d_t, 1, V, g_stream));
    ST(gpu_logsoftmax_gather_backward(d_dl, d_l, d_lse, d_t, d_one, 1, V, g_stream));
    SYNC();
    DOWN(dl_b, d_dl, (size_t)V * sizeof(cada_bf16));
    for (int c = 0; c < NC; c++) bwd[c] = bf2f(dl_b[coord[c]]);
    /* dlogits in bf16 (2^-9 RMS, 2^-8 worst) plus the FD noise above: 1e-2 */
    check_close("logsoftmax_gather_backward:fd", bwd, fd, NC, 1e-2);
out:
    release();
}

static void run_logsoftmax(void) {
    case_logsoftmax(5, 50257); /* GPT-2's odd vocabulary */
    if (!g_broken) case_logsoftmax(9, SMOL.V);
    if (!g_broken) case_logsoftmax(17, LLAMA.V);
    if (!g_broken) case_logsoftmax(1, 7);
    if (!g_broken) case_logsoftmax_fd(SMOL.V);
    if (g_broken) return;
    const int N = 4096, V = LLAMA.V;
    set_shape("N=%d V=%d", N, V);
    int *tgt = hi((size_t)N);
    for (int n = 0; n < N; n++) tgt[n] = rnd_int(V);
    float *d_l = NULL, *d_lp = NULL, *d_lse = NULL, *d_dlp = NULL;
    int *d_t = NULL;
    cada_bf16 *d_dl = NULL;
    double ms;
    OP("logsoftmax_gather");
    DEV(d_l, (size_t)N * V * sizeof(float));
    DEV(d_lp, (size_t)N * sizeof(float));
    DEV(d_lse, (size_t)N * sizeof(float));
    DEV(d_dlp, (size_t)N * sizeof(float));
    DUP(d_t, tgt, (size_t)N * sizeof(int));
    ST(gpu_fill_normal(d_l, (size_t)N * V, 19, 3.0f, g_stream));
    ST(gpu_fill_f32(d_dlp, (size_t)N, 1.0f, g_stream));
    TIME_MS(ms, gpu_logsoftmax_gather(d_lp, d_lse, d_l, d_t, N, V, g_stream));
    perf_line("logsoftmax_gather", ms, 4.0 * N * (double)V, 0);
    OP("logsoftmax_gather_backward");
    DEV(d_dl, (size_t)N * V * sizeof(cada_bf16));
    TIME_MS(ms, gpu_logsoftmax_gather_backward(d_dl, d_l, d_lse, d_t, d_dlp, N, V, g_stream));
    perf_line("logsoftmax_gather_backward", ms, 6.0 * N * (double)V, 0);
out:
    release();
}

/* ========================================================================================== */
/* sampling                                                                                    */
/* ========================================================================================== */

/* Expectations, from rollout/sampler.c and the contract in gpu_ops.h:
 *   - greedy: the first index of the maximum on both sides: equal in every row;
 *   - temperature only: both draw over all V in index order with the same uniform, so
 *     the tokens agree except where u * sum lands within the fp32 rounding of the two
 *     cumulative sums (~1e-6 of the range per row): at most 1% of rows (one at least);
 *   - top-k / top-p: the CPU sorts the kept tokens by probability and draws in that
 *     order, the GPU draws over the same kept set in INDEX order: the same uniform then
 *     picks different tokens (agreement is about the sum of squared kept probabilities,
 *     not 95%), so the GPU token is compared with an index-order draw over the CPU's kept
 *     set computed here (same 1% allowance), must lie in the CPU's kept set (ties at the
 *     threshold count, as the contract keeps them), and agreement with the CPU's own
 *     token is reported, not required;
 *   - logprob: the model log-prob of the GPU's token, fp64 reference here, within 1e-4
 *     (an fp32 sum over V: ~2e-5 absolute at V = 128256 and |logprob| < 30). */
typedef struct {
    const char *label;
    float temperature;
    int top_k;
    float top_p;
} sample_mode;

static int by_prob_desc(const void *a, const void *b) {
    const cada_candidate *x = a, *y = b;
    if (x->prob != y->prob) return x->prob < y->prob ? 1 : -1;
    return x->index - y->index;
}

/* The CPU sampler's kept set, with its float arithmetic (rollout/sampler.c): keep[v],
 * the tempered unnormalised probabilities, and the smallest kept probability. */
static float kept_set(const float *l, int V, const cada_sampling *sp, cada_candidate *c, float *prob,
                      unsigned char *keep) {
    int best = 0;
    float mx = l[0];
    for (int v = 1; v < V; v++)
        if (l[v] > mx) {
            mx = l[v];
            best = v;
        }
    memset(keep, 0, (size_t)V);
    if (sp->temperature <= 0.0f) {
        keep[best] = 1;
        prob[best] = 1.0f;
        return 1.0f;
    }
    const float inv_t = 1.0f / sp->temperature;
    for (int v = 0; v < V; v++) {
        prob[v] = expf((l[v] - mx) * inv_t);
        c[v].prob = prob[v];
        c[v].index = v;
    }
    int n = V;
    if ((sp->top_k > 0 && sp->top_k < V) || sp->top_p < 1.0f) {
        qsort(c, (size_t)V, sizeof *c, by_prob_desc);
        if (sp->top_k > 0 && sp->top_k < n) n = sp->top_k;
        if (sp->top_p < 1.0f) {
            double kept = 0.0, total = 0.0;
            for (int i = 0; i < n; i++) total += c[i].prob;
            int k = 0;
            while (k < n) {
                kept += c[k++].prob;
                if (kept >= sp->top_p * total) break;
            }
            n = k;
        }
    }
    float least = INFINITY;
    for (int i = 0; i < n; i++) {
        keep[c[i].index] = 1;
        if (c[i].prob < least) least = c[i].prob;
    }
    return least;
}

static int draw_index_order(const float *prob, const unsigned char *keep, int V, float u) {
    double sum = 0.0, acc = 0.0;
    int last = -1;
    for (int v = 0; v < V; v++)
        if (keep[v]) sum += prob[v];
    double target = (double)u * sum;
    for (int v = 0; v < V; v++)
        if (keep[v]) {
            last = v;
            acc += prob[v];
            if (acc > target) return v;
        }
    return last;
}

static void case_sample(int n, int V, const sample_mode *sm, int mode_id) {
    set_shape("n=%d V=%d %s", n, V, sm->label);
    const size_t nv = (size_t)n * V;
    const cada_sampling sp = {sm->temperature, sm->top_k, sm->top_p};
    const int greedy = sm->temperature <= 0.0f, filtered = !greedy && ((sm->top_k > 0 && sm->top_k < V) || sm->top_p < 1.0f);
    float *logits = hf(nv), *u = hf((size_t)n), *lp_g = hf((size_t)n), *lp_ref = hf((size_t)n), *lp_cpu = hf((size_t)n);
    int *tok_g = hi((size_t)n), *tok_cpu = hi((size_t)n), *tok_ref = hi((size_t)n), *in_set = hi((size_t)n);
    int *tok_idx = hi((size_t)n); /* an index-order draw over the kept set: shows the order matters */
    float *d_logits = NULL, *d_u = NULL, *d_lp = NULL;
    int *d_tok = NULL;
    fill_gauss(logits, nv, 2.0f);
    for (int r = 0; r < n && r < 2; r++) { /* exact ties at the maximum: the first index wins */
        float *l = logits + (size_t)r * V, mx = l[0];
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        int a = rnd_int(V), b = rnd_int(V);
        l[a] = l[b] = mx + 0.5f;
    }
    /* each row's uniform is the first draw of its own Philox stream, as cada_sample takes it */
    for (int r = 0; r < n; r++) {
        cada_rng rr;
        cada_rng_init(&rr, g_seed, 0x53414d50u, (uint64_t)mode_id, (uint64_t)r);
        u[r] = cada_rng_uniform(&rr);
    }
    OP("sample");
    DUP(d_logits, logits, nv * sizeof(float));
    DUP(d_u, u, (size_t)n * sizeof(float));
    DEV(d_tok, (size_t)n * sizeof(int));
    DEV(d_lp, (size_t)n * sizeof(float));
    POISON(d_tok, (size_t)n * sizeof(int));
    POISON(d_lp, (size_t)n * sizeof(float));
    ST(gpu_sample(d_tok, d_lp, d_logits, d_u, n, V, sm->temperature, sm->top_k, sm->top_p, g_stream));
    SYNC();
    DOWN(tok_g, d_tok, (size_t)n * sizeof(int));
    DOWN(lp_g, d_lp, (size_t)n * sizeof(float));
    {
        int nt = omp_get_max_threads();
        cada_candidate *cand = halloc((size_t)nt * V * sizeof(cada_candidate));
        float *prob = hf((size_t)nt * V);
        unsigned char *keep = halloc((size_t)nt * V);
        cada_sampler *smp = halloc((size_t)nt * sizeof(cada_sampler));
        for (int t = 0; t < nt; t++)
            if (cada_sampler_init(&smp[t], V) != 0) CADA_FATAL("ops_check: sampler scratch for V=%d", V);
#pragma omp parallel for schedule(dynamic, 1)
        for (int r = 0; r < n; r++) {
            const int t = omp_get_thread_num();
            const float *l = logits + (size_t)r * V;
            cada_rng rr;
            cada_rng_init(&rr, g_seed, 0x53414d50u, (uint64_t)mode_id, (uint64_t)r);
            tok_cpu[r] = cada_sample(&smp[t], l, &sp, &rr, &lp_cpu[r]);
            float *pr = prob + (size_t)t * V;
            unsigned char *kp = keep + (size_t)t * V;
            float least = kept_set(l, V, &sp, cand + (size_t)t * V, pr, kp);
            const int g = tok_g[r];
            const int valid = g >= 0 && g < V;
            in_set[r] = valid && (kp[g] || (!greedy && pr[g] == least));
            tok_ref[r] = tok_cpu[r]; /* the kernel draws in the CPU's order (gpu_ops.h) */
            tok_idx[r] = filtered ? draw_index_order(pr, kp, V, u[r]) : tok_cpu[r];
            double mx = l[0], z = 0.0;
            for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < V; v++) z += exp((double)l[v] - mx);
            lp_ref[r] = valid ? (float)((double)l[g] - (mx + log(z))) : NAN;
        }
        for (int t = 0; t < nt; t++) cada_sampler_free(&smp[t]);
    }
    {
        int outside = 0, differ = 0, differ_index = 0;
        for (int r = 0; r < n; r++) {
            outside += !in_set[r];
            differ += tok_g[r] != tok_ref[r];
            differ_index += filtered && tok_g[r] != tok_idx[r];
        }
        char extra[160];
        snprintf(extra, sizeof extra, "%d of %d rows outside", outside, n);
        result("sample:token_in_cpu_kept_set", 0.0, (double)outside / n, 0.0, outside == 0, extra);
        const int allowed = greedy ? 0 : (n / 100 > 1 ? n / 100 : 1);
        const char *what = greedy ? "sample:greedy_equals_cpu"
                           : filtered ? "sample:filtered_equals_cpu"
                                      : "sample:equals_cpu";
        snprintf(extra, sizeof extra, "%d of %d rows differ (allowed %d); index-order draw would differ in %d", differ,
                 n, allowed, differ_index);
        result(what, 0.0, (double)differ / n, (double)allowed / n, differ <= allowed, extra);
        for (int r = 0; r < n; r++)
            if (tok_g[r] != tok_ref[r] || !in_set[r])
                note("   row %d: u %.9f gpu %d ref %d cpu %d in_set %d\n", r, (double)u[r], tok_g[r], tok_ref[r],
                     tok_cpu[r], in_set[r]);
    }
    {
        double mx_err = 0.0;
        int bad = 0;
        for (int r = 0; r < n; r++) {
            if (!isfinite(lp_g[r]) || !isfinite(lp_ref[r])) {
                bad++;
                continue;
            }
            double d = fabs((double)lp_g[r] - lp_ref[r]);
            if (d > mx_err) mx_err = d;
        }
        char extra[96] = "";
        if (bad) snprintf(extra, sizeof extra, "%d rows non-finite or with an invalid token", bad);
        /* reason in the comment above case_sample: 1e-4 absolute */
        result("sample:logprob", mx_err, mx_err, 1e-4, bad == 0 && mx_err <= 1e-4, extra);
    }
out:
    release();
}

static void run_sample(void) {
    static const sample_mode modes[] = {
        {"greedy", 0.0f, 0, 1.0f},          {"t=1", 1.0f, 0, 1.0f},
        {"t=0.7 top_k=50", 0.7f, 50, 1.0f}, {"t=1 top_p=0.9", 1.0f, 0, 0.9f},
        {"t=0.8 top_k=40 top_p=0.95", 0.8f, 40, 0.95f},
    };
    const int n_modes = (int)(sizeof modes / sizeof *modes);
    for (int m = 0; m < n_modes && !g_broken; m++) case_sample(256, SMOL.V, &modes[m], m);
    if (!g_broken) case_sample(64, LLAMA.V, &modes[0], 0);
    if (!g_broken) case_sample(64, LLAMA.V, &modes[3], 3);
    if (!g_broken) case_sample(5, 1003, &modes[1], 1);
    if (!g_broken) case_sample(5, 1003, &modes[4], 4);
    for (int m = 0; m < n_modes && !g_broken; m += 3) { /* greedy and top-p */
        const int n = 64, V = LLAMA.V;
        set_shape("n=%d V=%d %s", n, V, modes[m].label);
        float *d_l = NULL, *d_u = NULL, *d_lp = NULL;
        int *d_tok = NULL;
        double ms;
        OP("sample");
        DEV(d_l, (size_t)n * V * sizeof(float));
        DEV(d_u, (size_t)n * sizeof(float));
        DEV(d_lp, (size_t)n * sizeof(float));
        DEV(d_tok, (size_t)n * sizeof(int));
        ST(gpu_fill_normal(d_l, (size_t)n * V, 20, 2.0f, g_stream));
        ST(gpu_fill_f32(d_u, (size_t)n, 0.5f, g_stream));
        TIME_MS(ms, gpu_sample(d_tok, d_lp, d_l, d_u, n, V, modes[m].temperature, modes[m].top_k, modes[m].top_p,
                               g_stream));
        perf_line("sample", ms, 4.0 * n * (double)V, 0); /* the logits read once */
    out:
        release();
    }
}

/* ========================================================================================== */
/* AdamW and the gradient norm                                                                 */
/* ========================================================================================== */

static void case_adamw(size_t n, int with_bf16) {
    set_shape("n=%zu 3 steps%s", n, with_bf16 ? " +bf16 copy" : " params_bf16=NULL");
    cada_adamw_config cfg;
    cada_adamw o;
    memset(&o, 0, sizeof o);
    cada_adamw_config_default(&cfg);
    cfg.lr = 1e-3;
    cfg.weight_decay = 0.1;
    cfg.max_grad_norm = 1.0; /* ||g|| ~ 1000 here: clipping active, grad_scale ~ 1e-3 */
    cfg.schedule = CADA_LR_LINEAR_WARMUP;
    cfg.warmup_steps = 2; /* lr_t differs between steps */
    float *p = hf(n), *g = hf(n), *p_g = hf(n), *m_g = hf(n), *v_g = hf(n);
    cada_bf16 *pb_g = hb(n), *pb_want = hb(n);
    float *d_p = NULL, *d_g = NULL, *d_m = NULL, *d_v = NULL;
    cada_bf16 *d_pb = NULL;
    fill_gauss(p, n, 0.02f);
    OP("adamw_step");
    ST(cada_adamw_init(&o, &cfg, 0, n));
    DUP(d_p, p, n * sizeof(float));
    DEV(d_g, n * sizeof(float));
    DEV(d_m, n * sizeof(float));
    DEV(d_v, n * sizeof(float));
    CU(cudaMemsetAsync(d_m, 0, n * sizeof(float), g_stream));
    CU(cudaMemsetAsync(d_v, 0, n * sizeof(float), g_stream));
    if (with_bf16) {
        DEV(d_pb, n * sizeof(cada_bf16));
        POISON(d_pb, n * sizeof(cada_bf16));
    }
    for (long long t = 1; t <= 3; t++) {
        cada_adamw_result res;
        fill_gauss(g, n, 1.0f);
        ST(cada_adamw_step(&o, p, g, cada_sqnorm(g, n), &res));
        note("   step %lld: lr %.3e clip %.6e\n", t, res.lr, res.clip_coef);
        SYNC();
        UP(d_g, g, n * sizeof(float));
        ST(gpu_adamw_step(d_p, d_pb, d_g, d_m, d_v, n, (float)res.lr, (float)cfg.beta1, (float)cfg.beta2,
                          (float)cfg.eps, (float)cfg.weight_decay, (float)res.clip_coef, t, g_stream));
    }
    SYNC();
    DOWN(p_g, d_p, n * sizeof(float));
    DOWN(m_g, d_m, n * sizeof(float));
    DOWN(v_g, d_v, n * sizeof(float));
    /* the same fp32 update; the GPU may form the bias corrections and decay in fp32
     * (CPU: fp64, then rounded) and fuse multiply-adds: a few ulp: 1e-6 */
    check_close("adamw_step:params", p_g, p, n, 1e-6);
    /* the betas reach the GPU as float: 1 - 0.9f is 3.6e-7 off the CPU's
     * (float)(1 - 0.9): 1e-6 */
    check_close("adamw_step:m", m_g, o.m, n, 1e-6);
    /* 1 - 0.999f = 9.99987e-4 against the CPU's (float)(1 - 0.999) = 1e-3: every v
     * update is 1.3e-5 relative off by the interface itself (params only feel half of
     * it, scaled by the update's share of the weight): 3e-5 */
    check_close("adamw_step:v", v_g, o.v, n, 3e-5);
    if (with_bf16) {
        DOWN(pb_g, d_pb, n * sizeof(cada_bf16));
        for (size_t i = 0; i < n; i++) pb_want[i] = f2bf(p_g[i]);
        /* exact: the round-to-nearest-even of the GPU's own fp32 master */
        check_bits("adamw_step:params_bf16", pb_g, pb_want, n, 2);
    }
out:
    cada_adamw_free(&o);
    release();
}

static void run_adamw(void) {
    case_adamw(1000003, 1);
    if (!g_broken) case_adamw(1000003, 0);
    if (!g_broken) case_adamw(5, 1);
    if (g_broken) return;
    const size_t n = (size_t)1 << 27;
    set_shape("n=%zu +bf16 copy", n);
    float *d_p = NULL, *d_g = NULL, *d_m = NULL, *d_v = NULL;
    cada_bf16 *d_pb = NULL;
    double ms;
    OP("adamw_step");
    DEV(d_p, n * sizeof(float));
    DEV(d_g, n * sizeof(float));
    DEV(d_m, n * sizeof(float));
    DEV(d_v, n * sizeof(float));
    DEV(d_pb, n * sizeof(cada_bf16));
    ST(gpu_fill_normal(d_p, n, 21, 0.02f, g_stream));
    ST(gpu_fill_normal(d_g, n, 22, 1.0f, g_stream));
    ST(gpu_fill_f32(d_m, n, 0.0f, g_stream));
    ST(gpu_fill_f32(d_v, n, 0.0f, g_stream));
    TIME_MS(ms, gpu_adamw_step(d_p, d_pb, d_g, d_m, d_v, n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f, 5, g_stream));
    /* params, m, v read and written, grads read, the bf16 copy written */
    perf_line("adamw_step", ms, (4.0 * 3 * 2 + 4.0 + 2.0) * (double)n, 0);
out:
    release();
}

static int run_one_sqnorm(double *out, float *d_g, size_t n, void *d_scr, double *d_out) {
    POISON(d_out, sizeof(double));
    ST(gpu_sqnorm(d_out, d_scr, d_g, n, g_stream));
    SYNC();
    DOWN(out, d_out, sizeof(double));
    return 0;
out:
    return -1;
}

static void case_sqnorm(size_t n) {
    set_shape("n=%zu", n);
    float *g = hf(n);
    float *d_g = NULL;
    double *d_out = NULL, s1, s2, want;
    void *d_scr = NULL;
    fill_gauss(g, n, 1.0f);
    want = cada_sqnorm(g, n);
    OP("sqnorm");
    DUP(d_g, g, n * sizeof(float));
    DEV(d_out, sizeof(double));
    DEV(d_scr, gpu_sqnorm_scratch_bytes(n));
    if (run_one_sqnorm(&s1, d_g, n, d_scr, d_out)) goto out;
    if (run_one_sqnorm(&s2, d_g, n, d_scr, d_out)) goto out;
    {
        double rel = fabs(s1 - want) / want;
        /* both fp64 sums of squares (no cancellation) in different orders: ~n 2^-53 at
         * the very worst (1e-10 at 1e6 terms), ~sqrt(n) 2^-53 in practice: 1e-12 */
        result("sqnorm", fabs(s1 - want), rel, 1e-12, isfinite(s1) && rel <= 1e-12, "");
        note("   gpu %.17g cpu %.17g\n", s1, want);
        result("sqnorm:same_value_twice", fabs(s1 - s2), s1 == s2 ? 0.0 : 1.0, 0.0, memcmp(&s1, &s2, sizeof s1) == 0,
               "");
    }
    if (n >= 3) { /* a non-finite gradient must give a non-finite norm */
        const float bad[2] = {INFINITY, NAN};
        const char *name[2] = {"sqnorm:inf_propagates", "sqnorm:nan_propagates"};
        for (int k = 0; k < 2; k++) {
            UP(d_g + n / 2, &bad[k], sizeof(float));
            if (run_one_sqnorm(&s1, d_g, n, d_scr, d_out)) goto out;
            UP(d_g + n / 2, &g[n / 2], sizeof(float));
            result(name[k], 0.0, 0.0, 0.0, !isfinite(s1), isfinite(s1) ? "finite result" : "");
        }
    }
    if (n >= 1000) {
        /* d/dg_i sum g^2 = 2 g_i by central differences with the fp32 step actually
         * taken: (s(g + h) - s(g - h)) / (h+ + h-) = 2 g_i + (h+ - h-) exactly, and the
         * fp64 sums' rounding (~1e-10 absolute on s ~ 1e6) over 2e-2 is ~1e-8: 1e-6 */
        enum { NFD = 6 };
        float fd[NFD], exact[NFD];
        for (int k = 0; k < NFD; k++) {
            size_t i = (size_t)rnd_int((int)(n < 0x7fffffff ? n : 0x7fffffff));
            const float x0 = g[i], xp = x0 + 1e-2f, xm = x0 - 1e-2f;
            double sp, sm;
            UP(d_g + i, &xp, sizeof(float));
            if (run_one_sqnorm(&sp, d_g, n, d_scr, d_out)) goto out;
            UP(d_g + i, &xm, sizeof(float));
            if (run_one_sqnorm(&sm, d_g, n, d_scr, d_out)) goto out;
            UP(d_g + i, &x0, sizeof(float));
            fd[k] = (float)((sp - sm) / ((double)xp - xm));
            exact[k] = (float)((double)xp + xm); /* 2 g_i + (h+ - h-) */
        }
        check_close("sqnorm:fd", fd, exact, NFD, 1e-6);
    }
out:
    release();
}

static void run_sqnorm(void) {
    case_sqnorm(1000003);
    if (!g_broken) case_sqnorm(7);
    if (!g_broken) case_sqnorm(((size_t)1 << 24) + 5);
    if (g_broken) return;
    const size_t n = (size_t)1 << 27;
    set_shape("n=%zu", n);
    float *d_g = NULL;
    double *d_out = NULL;
    void *d_scr = NULL;
    double ms;
    OP("sqnorm");
    DEV(d_g, n * sizeof(float));
    DEV(d_out, sizeof(double));
    DEV(d_scr, gpu_sqnorm_scratch_bytes(n));
    ST(gpu_fill_normal(d_g, n, 23, 1.0f, g_stream));
    TIME_MS(ms, gpu_sqnorm(d_out, d_scr, d_g, n, g_stream));
    perf_line("sqnorm", ms, 4.0 * (double)n, 0);
out:
    release();
}

/* ========================================================================================== */
/* the driver                                                                                  */
/* ========================================================================================== */

typedef struct {
    const char *name;
    const char *aliases; /* op names (without gpu_) that select the group */
    void (*run)(void);
} op_group;

static const op_group GROUPS[] = {
    {"cast", "cast_f32_to_bf16 cast_bf16_to_f32", run_cast},
    {"fill", "fill_normal fill_normal_bf16 fill_f32", run_fill},
    {"residual", "residual_forward", run_residual},
    {"add_bf16_to_f32", "", run_add_bf16},
    {"embedding", "embedding_forward embedding_backward", run_embedding},
    {"rmsnorm", "rmsnorm_forward rmsnorm_backward", run_rmsnorm},
    {"rope", "rope_forward rope_backward", run_rope},
    {"attention", "attention_forward attention_backward attention_backward_scratch_bytes", run_attention},
    {"decode", "kv_append attention_decode attention_decode_scratch_bytes", run_decode},
    {"swiglu", "swiglu_forward swiglu_backward", run_swiglu},
    {"matmul", "matmul_forward matmul_backward blas_create", run_matmul},
    {"logsoftmax", "logsoftmax_gather logsoftmax_gather_backward", run_logsoftmax},
    {"sample", "", run_sample},
    {"adamw", "adamw_step", run_adamw},
    {"sqnorm", "sqnorm_scratch_bytes", run_sqnorm},
};
#define N_GROUPS ((int)(sizeof GROUPS / sizeof *GROUPS))

int gpu_ops_check_count(void) { return N_GROUPS; }
const char *gpu_ops_check_name(int i) { return i >= 0 && i < N_GROUPS ? GROUPS[i].name : NULL; }
int gpu_ops_check_context_broken(void) { return g_broken; }
void gpu_ops_list(void) {
    for (int i = 0; i < N_GROUPS; i++) printf("%s\n", GROUPS[i].name);
}

static int group_matches(const op_group *g, const char *want) {
    if (strcmp(g->name, want) == 0) return 1;
    size_t len = strlen(want);
    for (const char *a = g->aliases; *a;) {
        const char *end = strchr(a, ' ');
        size_t l = end ? (size_t)(end - a) : strlen(a);
        if (l == len && strncmp(a, want, l) == 0) return 1;
        if (!end) break;
        a = end + 1;
    }
    return 0;
}

int gpu_ops_check(const char *only, const char *log_dir) {
    g_fails = g_checks = 0;
    g_broken = 0;
    g_broken_msg[0] = 0;
    snprintf(g_shape, sizeof g_shape, "-");
    int sel = -1;
    if (only) {
        const char *want = strncmp(only, "gpu_", 4) == 0 ? only + 4 : only;
        for (int i = 0; i < N_GROUPS && sel < 0; i++)
            if (group_matches(&GROUPS[i], want)) sel = i;
        if (sel < 0) {
            printf("RESULT ops: unknown op '%s'; known:", only);
            for (int i = 0; i < N_GROUPS; i++) printf(" %s", GROUPS[i].name);
            printf("  FAIL\n");
            return 1;
        }
    }
    if (log_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/ops.log", log_dir);
        g_log = fopen(path, "a");
        if (!g_log) printf("ops_check: cannot open %s for appending; details go nowhere\n", path);
    }
    const char *env = getenv("CADA_GPU_SEED");
    if (env && *env) {
        g_seed = strtoull(env, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = ((uint64_t)ts.tv_sec * 1000003u) ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid();
        g_seed &= 0xffffffffffffULL; /* short enough to type back */
    }
    say("ops_check: %s, seed %llu (CADA_GPU_SEED=%llu reproduces these inputs)\n", only ? only : "all ops",
        (unsigned long long)g_seed, (unsigned long long)g_seed);
    {
        struct cudaDeviceProp prop;
        int dev = 0;
        cudaError_t e = cudaGetDevice(&dev);
        if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
        if (e == cudaSuccess) e = cudaStreamCreate(&g_stream);
        if (e == cudaSuccess) e = cudaEventCreate(&g_ev0);
        if (e == cudaSuccess) e = cudaEventCreate(&g_ev1);
        if (e != cudaSuccess) {
            say("RESULT ops: no usable CUDA device: %s (%s)  FAIL\n", cudaGetErrorString(e), cudaGetErrorName(e));
            if (g_log) fclose(g_log);
            g_log = NULL;
            return 1;
        }
        say("ops_check: device %d: %s, sm_%d%d, %.1f GiB\n", dev, prop.name, prop.major, prop.minor,
            (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    }
    int last = -1;
    for (int i = 0; i < N_GROUPS; i++) {
        if (sel >= 0 && i != sel) continue;
        /* one stream per group: `only` draws exactly what a full run draws */
        cada_rng_init(&g_rng, g_seed, 0x6f7073u, (uint64_t)i, 0);
        say("== %s\n", GROUPS[i].name);
        g_op = GROUPS[i].name;
        GROUPS[i].run();
        release();
        last = i;
        if (g_broken) break;
    }
    if (g_broken) {
        char rest[512] = "";
        for (int i = last + 1; i < N_GROUPS && sel < 0; i++) {
            size_t l = strlen(rest);
            snprintf(rest + l, sizeof rest - l, " %s", GROUPS[i].name);
        }
        g_checks++;
        g_fails++;
        say("RESULT ops: CUDA context broken in '%s': %s; not run in this process:%s%s  FAIL\n",
            last >= 0 ? GROUPS[last].name : "?", g_broken_msg, *rest ? rest : " (none)",
            *rest ? " (run each with `ops NAME` in a fresh process)" : "");
    } else {
        (void)cudaEventDestroy(g_ev0);
        (void)cudaEventDestroy(g_ev1);
        (void)cudaStreamDestroy(g_stream);
    }
    say("ops_check: %d checks, %d failed (seed %llu)\n", g_checks, g_fails, (unsigned long long)g_seed);
    if (g_log) fclose(g_log);
    g_log = NULL;
    return g_fails;
}
