/* tests/gpu/bench_gpu.c: GPU benchmarks (numbers, never pass/fail).
 *   bench-peak    the card's ceilings as this build reaches them: a bf16 GEMM of
 *                 8192^3 through gpu_matmul_forward (cuBLASLt), and a device-to-device
 *                 copy of 4 GiB (bytes read + written per second).
 *   bench-train   learner forward + backward on Llama-3-8B-shaped layers (random bf16
 *                 weights made on the device), one sequence of T tokens, plus one AdamW
 *                 step timed apart. MFU = flops / time / 989 TFLOP/s (dense bf16 peak of
 *                 the H100/H200 SXM datasheet), flops by cada_gpu_model_flops_per_token
 *                 (Megatron accounting, full attention counted); also against the
 *                 measured GEMM ceiling. Device memory: the arena (planned) and the
 *                 driver's view (cudaMemGetInfo) after the step.
 *   bench-decode  the full 32-layer 8B shape, inference only (bf16 weights, bf16 KV
 *                 cache), greedy decoding at each batch size: prefill of P tokens per
 *                 sequence, then N decode steps timed (logits, sampling on the GPU, the
 *                 chosen tokens back to the host each step, as a rollout worker does). */
#include "gpu_common.h"
#include "gpu_ops.h"
#include "model/model_gpu.h"
#include "base/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PEAK_BF16_TFLOPS 989.0

static int sort_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, sort_d);
    return v[n / 2];
}

int gpu_bench_peak(void) {
    const int M = 8192;
    cada_bf16 *a, *w, *o;
    size_t n = (size_t)M * M;
    if (cudaMalloc((void **)&a, n * 2) || cudaMalloc((void **)&w, n * 2) || cudaMalloc((void **)&o, n * 2)) {
        printf("RESULT bench-peak | | cudaMalloc failed | | |\n");
        return 1;
    }
    cudaStream_t s;
    cudaStreamCreate(&s);
    gpu_fill_normal_bf16(a, n, 1, 1.0f, s);
    gpu_fill_normal_bf16(w, n, 2, 1.0f, s);
    cada_gpu_blas *blas;
    if (gpu_test_failed(gpu_blas_create(&blas, 0), "bench-peak blas")) return 1;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double t[10];
    for (int i = 0; i < 13; i++) {
        cudaEventRecord(e0, s);
        if (gpu_test_failed(gpu_matmul_forward(blas, NULL, o, NULL, a, w, NULL, M, M, M, s), "bench-peak gemm")) return 1;
        cudaEventRecord(e1, s);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 3) t[i - 3] = ms * 1e-3;
    }
    double tg = median(t, 10);
    double tflops = 2.0 * M * M * (double)M / tg / 1e12;
    printf("RESULT bench-peak gemm | bf16 8192^3 cuBLASLt | TFLOP/s | %.0f | datasheet %.0f |\n", tflops, PEAK_BF16_TFLOPS);
    cudaFree(a);
    cudaFree(w);
    cudaFree(o);
    size_t bytes = (size_t)4 << 30;
    void *x, *y;
    if (cudaMalloc(&x, bytes) || cudaMalloc(&y, bytes)) return 1;
    cudaMemsetAsync(x, 1, bytes, s);
    for (int i = 0; i < 8; i++) {
        cudaEventRecord(e0, s);
        cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, s);
        cudaEventRecord(e1, s);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 3) t[i - 3] = ms * 1e-3;
    }
    double tc = median(t, 5);
    printf("RESULT bench-peak copy | 4 GiB device to device | GB/s (read+write) | %.0f | |\n", 2.0 * bytes / tc / 1e9);
    FILE *f = fopen("/tmp/cada_gpu_peak_tflops", "w");
    if (f) {
        fprintf(f, "%.1f\n", tflops);
        fclose(f);
    }
    cudaFree(x);
    cudaFree(y);
    gpu_blas_destroy(blas);
    return 0;
}

static double measured_peak(void) {
    double v = 0;
    FILE *f = fopen("/tmp/cada_gpu_peak_tflops", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1) v = 0;
        fclose(f);
    }
    return v;
}

int gpu_bench_train(int layers, int T, int recompute) {
    cada_model_config cfg;
    gpu_test_config_llama3_8b(&cfg, layers);
    cada_gpu_model_options opt = {0};
    opt.max_tokens = T;
    opt.training = 1;
    opt.recompute = recompute;
    cada_gpu_model_plan_out plan;
    cada_gpu_model_plan(&cfg, &opt, &plan);
    cada_gpu_model *gm;
    if (gpu_test_failed(cada_gpu_model_create_random(&gm, &cfg, 42, &opt), "bench-train create")) return 1;
    cada_gpu_model_report(gm);
    int *tok = malloc(sizeof(int) * T), *pos = malloc(sizeof(int) * T), *tg = malloc(sizeof(int) * T);
    float *dlp = malloc(sizeof(float) * T);
    cada_rng r;
    cada_rng_init(&r, 3, 0, 0, 0);
    for (int i = 0; i < T; i++) {
        tok[i] = (int)(cada_rng_u32(&r) % (uint32_t)cfg.vocab_size);
        pos[i] = i;
    }
    for (int i = 0; i < T; i++) tg[i] = i + 1 < T ? tok[i + 1] : -1;
    cada_ce_dlogprob(tg, T, dlp);
    cada_batch b = {1, T, tok, pos, tg};
    double tf[5], tb[5];
    for (int i = 0; i < 7; i++) {
        cudaDeviceSynchronize();
        double t0 = gpu_test_now();
        if (gpu_test_failed(cada_gpu_model_forward(gm, &b), "bench-train forward")) return 1;
        cudaDeviceSynchronize();
        double t1 = gpu_test_now();
        if (gpu_test_failed(cada_gpu_model_zero_grads(gm), "bench-train zero")) return 1;
        if (gpu_test_failed(cada_gpu_model_backward(gm, dlp), "bench-train backward")) return 1;
        cudaDeviceSynchronize();
        double t2 = gpu_test_now();
        if (i >= 2) {
            tf[i - 2] = t1 - t0;
            tb[i - 2] = t2 - t0;
        }
    }
    double fwd = median(tf, 5), step = median(tb, 5);
    cada_adamw_config ac;
    cada_adamw_config_default(&ac);
    double gn, ta = gpu_test_now();
    if (gpu_test_failed(cada_gpu_model_adamw_step(gm, &ac, 1, &gn), "bench-train adamw")) return 1;
    cudaDeviceSynchronize();
    ta = gpu_test_now() - ta;
    double flops = cada_gpu_model_flops_per_token(&cfg, T, 1) * T;
    double mfu = flops / step / (PEAK_BF16_TFLOPS * 1e12);
    double peak = measured_peak();
    size_t fr, tot;
    cudaMemGetInfo(&fr, &tot);
    printf("RESULT bench-train cada learner | L=%d T=%d %s | %.1f ms fwd+bwd (fwd %.1f) | %.0f tok/s | MFU %.1f%% of %.0f (%.1f%% of measured GEMM %.0f) |\n",
           layers, T, recompute ? "recompute" : "no recompute", step * 1e3, fwd * 1e3, T / step, 100 * mfu,
           PEAK_BF16_TFLOPS, peak > 0 ? 100 * flops / step / (peak * 1e12) : 0, peak);
    printf("RESULT bench-train adamw | %zu params | %.2f ms | %.0f GB/s | |\n", cada_gpu_model_n_params(gm), ta * 1e3,
           (double)cada_gpu_model_n_params(gm) * (4 * 7 + 2) / ta / 1e9);
    printf("RESULT bench-train memory | L=%d T=%d | planned %.2f GiB (arena %.2f GiB + cuBLASLt workspace), device in use %.2f GiB | |\n",
           layers, T, plan.total / 1073741824.0, cada_gpu_model_plan_of(gm)->arena / 1073741824.0,
           (tot - fr) / 1073741824.0);
    cada_gpu_model_free(gm);
    free(tok);
    free(pos);
    free(tg);
    free(dlp);
    return 0;
}

int gpu_bench_decode(const int *batches, int n_batches, int prompt, int new_tokens) {
    int maxb = 1;
    for (int i = 0; i < n_batches; i++)
        if (batches[i] > maxb) maxb = batches[i];
    cada_model_config cfg;
    gpu_test_config_llama3_8b(&cfg, 32);
    cada_gpu_model_options opt = {0};
    opt.kv_slots = maxb;
    opt.kv_max_len = prompt + new_tokens + 1;
    opt.gen_max_tokens = maxb * prompt;
    cada_gpu_model_plan_out plan;
    cada_gpu_model_plan(&cfg, &opt, &plan);
    cada_gpu_model *gm;
    if (gpu_test_failed(cada_gpu_model_create_random(&gm, &cfg, 43, &opt), "bench-decode create")) return 1;
    cada_gpu_model_report(gm);
    int *toks = malloc(sizeof(int) * (size_t)maxb * (prompt + new_tokens + 1));
    float *u = calloc((size_t)maxb, sizeof(float)), *lp = malloc(sizeof(float) * maxb);
    int *next = malloc(sizeof(int) * maxb);
    cada_infer_seq *seqs = malloc(sizeof *seqs * maxb);
    cada_sampling greedy = {0.0f, 0, 1.0f};
    cada_rng r;
    cada_rng_init(&r, 4, 0, 0, 0);
    for (int bi = 0; bi < n_batches; bi++) {
        int B = batches[bi];
        for (int rep = 0; rep < 2; rep++) { /* the first pass warms up */
            for (int s = 0; s < B; s++) {
                int *t = toks + (size_t)s * (prompt + new_tokens + 1);
                for (int i = 0; i < prompt; i++) t[i] = (int)(cada_rng_u32(&r) % (uint32_t)cfg.vocab_size);
                cada_gpu_model_clear_slot(gm, s);
                seqs[s] = (cada_infer_seq){s, prompt, t};
            }
            cudaDeviceSynchronize();
            double t0 = gpu_test_now();
            if (gpu_test_failed(cada_gpu_model_infer(gm, seqs, B, NULL), "bench-decode prefill")) return 1;
            if (gpu_test_failed(cada_gpu_model_sample(gm, B, u, &greedy, next, lp), "bench-decode sample")) return 1;
            double t1 = gpu_test_now();
            for (int step = 0; step < new_tokens; step++) {
                for (int s = 0; s < B; s++) {
                    int *t = toks + (size_t)s * (prompt + new_tokens + 1);
                    t[prompt + step] = next[s];
                    seqs[s] = (cada_infer_seq){s, 1, &t[prompt + step]};
                }
                if (gpu_test_failed(cada_gpu_model_infer(gm, seqs, B, NULL), "bench-decode step")) return 1;
                if (gpu_test_failed(cada_gpu_model_sample(gm, B, u, &greedy, next, lp), "bench-decode sample")) return 1;
            }
            double t2 = gpu_test_now();
            if (rep == 1)
                printf("RESULT bench-decode cada | 8B shape batch %d prompt %d | %.2f ms/step | %.0f tok/s | prefill %.1f ms |\n", B,
                       prompt, 1e3 * (t2 - t1) / new_tokens, (double)B * new_tokens / (t2 - t1), 1e3 * (t1 - t0));
        }
    }
    size_t fr, tot;
    cudaMemGetInfo(&fr, &tot);
    printf("RESULT bench-decode memory | 8B, %d slots x %d | planned %.2f GiB (arena %.2f GiB + cuBLASLt workspace), device in use %.2f GiB | |\n",
           maxb, prompt + new_tokens + 1, plan.total / 1073741824.0, cada_gpu_model_plan_of(gm)->arena / 1073741824.0,
           (tot - fr) / 1073741824.0);
    cada_gpu_model_free(gm);
    free(toks);
    free(u);
    free(lp);
    free(next);
    free(seqs);
    return 0;
}
