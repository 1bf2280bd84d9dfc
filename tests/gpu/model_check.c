/* tests/gpu/model_check.c: the GPU model (src/model/model_gpu.h) against the CPU model
 * (src/model/model.h), which is itself checked against Hugging Face transformers by the
 * golden tests. Same weights on both sides: the host parameters are rounded to bf16
 * first, so the only differences left are the GPU's bf16 activations and fp32
 * accumulation order.
 *
 * Models (random weights, see gpu_model_check): small Llama-3 and Qwen2 configurations
 * and the SmolLM2-135M shape (30 layers, tied embeddings). The real SmolLM2 file is 98
 * MB, more than a GPU machine without network access can be sent with the tests.
 * Checks per model:
 *   forward     per-token log-probs, packed documents (positions restarting in a row)
 *   backward    every parameter tensor's gradient of the mean cross-entropy
 *   adamw       three optimizer steps: the loss sequence, and the direction of the
 *               weight update (cosine with the CPU's)
 *   generate    greedy decoding with the KV cache (prefill + decode steps): each step's
 *               logits against the CPU forward over the same tokens (teacher forcing,
 *               so one near-tie cannot derail the comparison), and how many greedy
 *               tokens agree.
 * Thresholds and why:
 *   log-probs   rel 1e-2: every matmul input is rounded to bf16 (relative 2^-9 per
 *               element) across 2L matmuls; measured errors are reported beside it.
 *   gradients   rel 5e-2 per tensor: the backward adds bf16 rounding of every
 *               activation gradient on top of the forward's; tensors whose gradient is
 *               tiny (norm < 1e-6 of the largest) are compared by absolute error.
 *   update cos  > 0.9: AdamW normalises each element by its own history, so elements
 *               with near-zero gradient move by sign noise; the bulk must agree.
 *   generation  logits rel 2e-2 at every step. */
#include "gpu_common.h"
#include "learn/adamw.h"
#include "model/model.h"
#include "model/model_gpu.h"
#include "base/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int n_fail;

static void result(const char *check, const char *shape, const char *measure, double value, double threshold,
                   int pass) {
    printf("RESULT %s | %s | %s | %.3g | %s %.3g | %s\n", check, shape, measure, value, pass ? "<=" : "!<=",
           threshold, pass ? "PASS" : "FAIL");
    if (!pass) n_fail++;
}

/* Random weights: N(0, 0.02) for matrices, 1 + N(0, 0.1) for norm weights. */
static void random_weights(cada_model *m, uint64_t seed) {
    cada_rng r;
    cada_rng_init(&r, seed, 7, 0, 0);
    int nv = cada_model_tensor_views(&m->cfg, &m->p, NULL);
    cada_tensor_view *v = calloc((size_t)nv, sizeof *v);
    cada_model_tensor_views(&m->cfg, &m->p, v);
    for (int i = 0; i < nv; i++) {
        size_t n = (size_t)(v[i].rows * v[i].cols);
        int is_norm = strstr(v[i].hf_name, "norm") != NULL;
        for (size_t j = 0; j < n; j++)
            v[i].data[j] = is_norm ? 1.0f + 0.1f * cada_rng_normal(&r) : 0.02f * cada_rng_normal(&r);
    }
    free(v);
}

typedef struct {
    int B, T;
    int *tokens, *pos, *targets;
} batch_buf;

/* Row 0 packs two documents (split at T/3), the others one each. */
static void make_batch(batch_buf *bb, int B, int T, int V, uint64_t seed) {
    bb->B = B;
    bb->T = T;
    size_t N = (size_t)B * T;
    bb->tokens = malloc(N * sizeof(int));
    bb->pos = malloc(N * sizeof(int));
    bb->targets = malloc(N * sizeof(int));
    cada_rng r;
    cada_rng_init(&r, seed, 11, 0, 0);
    for (int b = 0; b < B; b++) {
        int split = b == 0 ? T / 3 : T;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            bb->tokens[i] = (int)(cada_rng_u32(&r) % (uint32_t)V);
            bb->pos[i] = t < split ? t : t - split;
        }
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            int last = (t == T - 1) || (t + 1 == split);
            bb->targets[i] = last ? -1 : bb->tokens[i + 1];
        }
    }
}
static void free_batch(batch_buf *bb) {
    free(bb->tokens);
    free(bb->pos);
    free(bb->targets);
}

/* Per-tensor gradient comparison; returns the worst relative error among tensors that
 * carry signal, and prints the worst three. */
static double compare_grads(const cada_model *cpu, const float *gpu_grads, FILE *log, const char *name) {
    int nv = cada_model_tensor_views(&cpu->cfg, &cpu->g, NULL);
    cada_tensor_view *v = calloc((size_t)nv, sizeof *v);
    cada_model_tensor_views(&cpu->cfg, &cpu->g, v);
    double biggest = 0;
    for (int i = 0; i < nv; i++) {
        size_t n = (size_t)(v[i].rows * v[i].cols);
        double s = 0;
        for (size_t j = 0; j < n; j++) s += (double)v[i].data[j] * v[i].data[j];
        if (sqrt(s) > biggest) biggest = sqrt(s);
    }
    double worst = 0;
    for (int i = 0; i < nv; i++) {
        size_t n = (size_t)(v[i].rows * v[i].cols);
        size_t off = (size_t)(v[i].data - cpu->grads);
        if (cpu->cfg.tie_embeddings && v[i].data == cpu->g.embed && strstr(v[i].hf_name, "lm_head")) continue;
        double mx, rel = gpu_test_rel_err(gpu_grads + off, v[i].data, n, &mx);
        double s = 0;
        for (size_t j = 0; j < n; j++) s += (double)v[i].data[j] * v[i].data[j];
        int tiny = sqrt(s) < 1e-6 * biggest;
        if (log) fprintf(log, "%s grad %-48s rel %.3e max_abs %.3e%s\n", name, v[i].hf_name, rel, mx, tiny ? " (tiny)" : "");
        if (!tiny && rel > worst) worst = rel;
        if (tiny && mx > 1e-6 * biggest) worst = INFINITY;
    }
    free(v);
    return worst;
}

static int check_model(const char *name, cada_model *cpu, int B, int T, FILE *log) {
    const cada_model_config *cfg = &cpu->cfg;
    char shape[160];
    snprintf(shape, sizeof shape, "%s L=%d C=%d H=%d/%d D=%d V=%d B=%dxT=%d", name, cfg->n_layers, cfg->hidden_size,
             cfg->n_heads, cfg->n_kv_heads, cfg->head_dim, cfg->vocab_size, B, T);
    gpu_test_round_bf16_array(cpu->params, cpu->n_params);
    float *p0 = malloc(cpu->n_params * sizeof(float));
    memcpy(p0, cpu->params, cpu->n_params * sizeof(float));

    cada_gpu_model_options opt = {0};
    opt.max_tokens = B * T;
    opt.training = 1;
    opt.kv_slots = 4;
    opt.kv_max_len = 96;
    opt.gen_max_tokens = 4 * 96;
    cada_gpu_model *gm = NULL;
    char what[200];
    snprintf(what, sizeof what, "model %s: create", name);
    if (gpu_test_failed(cada_gpu_model_create(&gm, cpu, &opt), what)) return ++n_fail;
    cada_gpu_model_report(gm);

    batch_buf bb;
    make_batch(&bb, B, T, cfg->vocab_size, 99);
    cada_batch b = {B, T, bb.tokens, bb.pos, bb.targets};
    size_t N = (size_t)B * T;
    float *dlp = malloc(N * sizeof(float));
    cada_ce_dlogprob(bb.targets, (int)N, dlp);

    /* forward */
    if (gpu_test_failed(cada_model_forward(cpu, &b), "cpu forward")) return ++n_fail;
    snprintf(what, sizeof what, "model %s: forward", name);
    if (gpu_test_failed(cada_gpu_model_forward(gm, &b), what)) return ++n_fail;
    double mx, rel = gpu_test_rel_err(cada_gpu_model_logprobs(gm), cpu->act.logprob, N, &mx);
    snprintf(what, sizeof what, "model-forward %s", name);
    result(what, shape, "logprob rel err", rel, 1e-2, rel <= 1e-2);
    fprintf(log, "%s forward: logprob rel %.3e max_abs %.3e; loss cpu %.6f gpu %.6f\n", name, rel, mx, cpu->loss,
            cada_gpu_model_loss(gm, NULL));

    /* backward */
    if (gpu_test_failed(cada_model_alloc_grads(cpu), "cpu grads")) return ++n_fail;
    cada_model_zero_grads(cpu);
    if (gpu_test_failed(cada_model_backward(cpu, dlp), "cpu backward")) return ++n_fail;
    snprintf(what, sizeof what, "model %s: backward", name);
    if (gpu_test_failed(cada_gpu_model_zero_grads(gm), what)) return ++n_fail;
    if (gpu_test_failed(cada_gpu_model_backward(gm, dlp), what)) return ++n_fail;
    float *gg = malloc(cpu->n_params * sizeof(float));
    if (gpu_test_failed(cada_gpu_model_download_grads(gm, gg), what)) return ++n_fail;
    double worst = compare_grads(cpu, gg, log, name);
    snprintf(what, sizeof what, "model-backward %s", name);
    result(what, shape, "worst tensor grad rel err", worst, 5e-2, worst <= 5e-2);

    /* three AdamW steps on both sides, same batch */
    cada_adamw_config ac;
    cada_adamw_config_default(&ac);
    ac.lr = 1e-3;
    ac.max_grad_norm = 1.0;
    cada_adamw opt_cpu;
    if (gpu_test_failed(cada_adamw_init(&opt_cpu, &ac, 0, cpu->n_params), "cpu adamw")) return ++n_fail;
    double loss_cpu[4], loss_gpu[4];
    for (int step = 1; step <= 3; step++) {
        double sq = cada_sqnorm(cpu->grads, cpu->n_params);
        cada_adamw_result ar;
        cada_adamw_step(&opt_cpu, cpu->params, cpu->grads, sq, &ar);
        double gnorm = 0;
        snprintf(what, sizeof what, "model %s: adamw step %d", name, step);
        if (gpu_test_failed(cada_gpu_model_adamw_step(gm, &ac, step, &gnorm), what)) return ++n_fail;
        fprintf(log, "%s step %d: grad norm cpu %.6e gpu %.6e\n", name, step, sqrt(sq), gnorm);
        cada_model_forward(cpu, &b);
        cada_model_zero_grads(cpu);
        cada_model_backward(cpu, dlp);
        if (gpu_test_failed(cada_gpu_model_forward(gm, &b), what)) return ++n_fail;
        cada_gpu_model_zero_grads(gm);
        if (gpu_test_failed(cada_gpu_model_backward(gm, dlp), what)) return ++n_fail;
        loss_cpu[step] = cpu->loss;
        loss_gpu[step] = cada_gpu_model_loss(gm, NULL);
        fprintf(log, "%s after step %d: loss cpu %.6f gpu %.6f\n", name, step, loss_cpu[step], loss_gpu[step]);
    }
    float *pg = malloc(cpu->n_params * sizeof(float));
    if (gpu_test_failed(cada_gpu_model_download_params(gm, pg), what)) return ++n_fail;
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < cpu->n_params; i++) {
        double a = (double)pg[i] - p0[i], c = (double)cpu->params[i] - p0[i];
        dot += a * c;
        na += a * a;
        nb += c * c;
    }
    double cosv = dot / (sqrt(na) * sqrt(nb) + 1e-300);
    snprintf(what, sizeof what, "model-adamw %s", name);
    result(what, shape, "update cosine (3 steps)", cosv, 0.9, cosv >= 0.9);
    double dl = fabs(loss_gpu[3] - loss_cpu[3]) / fabs(loss_cpu[3]);
    result(what, shape, "loss after 3 steps rel diff", dl, 1e-2, dl <= 1e-2);
    cada_adamw_free(&opt_cpu);

    /* greedy generation from the updated weights: upload the CPU's weights so both sides
     * generate from the same parameters */
    snprintf(what, sizeof what, "model %s: generate", name);
    if (gpu_test_failed(cada_gpu_model_upload_params(gm, cpu->params), what)) return ++n_fail;
    enum { SEQS = 3, PROMPT_MAX = 24, NEW = 24 };
    int plen[SEQS] = {24, 7, 16};
    int seqtok[SEQS][PROMPT_MAX + NEW];
    cada_rng r;
    cada_rng_init(&r, 5, 0, 0, 0);
    for (int s = 0; s < SEQS; s++)
        for (int i = 0; i < plen[s]; i++) seqtok[s][i] = (int)(cada_rng_u32(&r) % (uint32_t)cfg->vocab_size);
    int V = cfg->vocab_size;
    float *glog = malloc((size_t)SEQS * (NEW + 1) * V * sizeof(float));
    cada_infer_seq is[SEQS];
    for (int s = 0; s < SEQS; s++) {
        cada_gpu_model_clear_slot(gm, s);
        is[s] = (cada_infer_seq){s, plen[s], seqtok[s]};
    }
    if (gpu_test_failed(cada_gpu_model_infer(gm, is, SEQS, glog), what)) return ++n_fail;
    int cur[SEQS];
    for (int step = 0; step < NEW; step++) {
        for (int s = 0; s < SEQS; s++) {
            const float *lg = glog + ((size_t)step * SEQS + s) * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best]) best = v;
            cur[s] = best;
            seqtok[s][plen[s] + step] = best;
            is[s] = (cada_infer_seq){s, 1, &seqtok[s][plen[s] + step]};
        }
        if (step + 1 < NEW + 1 &&
            gpu_test_failed(cada_gpu_model_infer(gm, is, SEQS, glog + (size_t)(step + 1) * SEQS * V), what))
            return ++n_fail;
    }
    (void)cur;
    /* teacher-forced CPU forward over each full sequence */
    double worst_gen = 0;
    int agree = 0, total = 0;
    for (int s = 0; s < SEQS; s++) {
        int n = plen[s] + NEW;
        int pos[PROMPT_MAX + NEW], tg[PROMPT_MAX + NEW];
        for (int i = 0; i < n; i++) {
            pos[i] = i;
            tg[i] = i + 1 < n ? seqtok[s][i + 1] : -1;
        }
        cada_batch cb = {1, n, seqtok[s], pos, tg};
        if (gpu_test_failed(cada_model_forward(cpu, &cb), "cpu forward (generation)")) return ++n_fail;
        for (int step = 0; step <= NEW; step++) {
            const float *ref = cpu->act.logits + (size_t)(plen[s] - 1 + step) * V;
            if (plen[s] - 1 + step >= n) break;
            const float *got = glog + ((size_t)step * SEQS + s) * V;
            double e = gpu_test_rel_err(got, ref, (size_t)V, NULL);
            if (e > worst_gen) worst_gen = e;
            if (step < NEW) {
                int best = 0;
                for (int v = 1; v < V; v++)
                    if (ref[v] > ref[best]) best = v;
                agree += best == seqtok[s][plen[s] + step];
                total++;
            }
        }
    }
    snprintf(what, sizeof what, "model-generate %s", name);
    result(what, shape, "decode logits rel err (3 seqs x 24 steps)", worst_gen, 2e-2, worst_gen <= 2e-2);
    printf("RESULT %s | %s | greedy tokens agreeing with CPU argmax | %d/%d | info |\n", what, shape, agree, total);

    free(glog);
    free(pg);
    free(gg);
    free(dlp);
    free(p0);
    free_batch(&bb);
    cada_gpu_model_free(gm);
    return 0;
}

/* Small configurations that cover what the kernels branch on: head size 64 and 128,
 * GQA ratios 4, 7 and 3, Qwen2's QKV bias, tied and untied embeddings, llama3 RoPE. (The
 * tiny checkpoints of tests/ref/models have head size 16, which the tensor-core
 * attention does not take.) */
static void small_config(cada_model_config *c, int qwen, int D) {
    gpu_test_config_llama3_8b(c, 3);
    if (qwen) {
        c->arch = CADA_ARCH_QWEN2;
        c->qkv_bias = 1;
        c->rope_type = CADA_ROPE_DEFAULT;
        c->rope_theta = 1000000.0f;
        c->n_heads = 7;
        c->n_kv_heads = 1;
        c->intermediate_size = 1216;
        c->vocab_size = 6000;
    } else {
        c->n_heads = 8;
        c->n_kv_heads = 2;
        c->intermediate_size = 1408;
        c->vocab_size = 8000;
    }
    c->head_dim = D;
    c->hidden_size = c->n_heads * D;
    c->n_layers = D == 128 ? 2 : 3;
}

int gpu_model_check(const char *log_dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/model-details.log", log_dir);
    FILE *log = fopen(path, "w");
    if (!log) log = stderr;
    struct {
        const char *name;
        int qwen, D, smol, B, T;
    } cases[] = {
        {"llama3-small-d64", 0, 64, 0, 2, 200},
        {"llama3-small-d128", 0, 128, 0, 2, 130},
        {"qwen2-small-bias", 1, 64, 0, 3, 100},
        {"smollm2-135m-shape", 0, 64, 1, 2, 256},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cada_model_config cfg;
        if (cases[i].smol)
            gpu_test_config_smollm2_135m(&cfg);
        else
            small_config(&cfg, cases[i].qwen, cases[i].D);
        cada_model m;
        char what[128];
        snprintf(what, sizeof what, "model %s: init", cases[i].name);
        if (gpu_test_failed(cada_model_init(&m, &cfg), what)) {
            n_fail++;
            continue;
        }
        random_weights(&m, 1 + i);
        check_model(cases[i].name, &m, cases[i].B, cases[i].T, log);
        cada_model_free(&m);
        fflush(stdout);
    }
    if (log != stderr) fclose(log);
    return n_fail;
}
