/* tests/mpi/mpi_tp_test.c: tensor parallelism (model/tp.h) over P MPI ranks against the
 * whole model on one rank.
 *
 *   mpirun -np P build/mpi/mpi_tp_test               synthetic models (P divides 8 and 4)
 *   mpirun -np P build/mpi/mpi_tp_test --model GGUF   a real model (SmolLM2-135M: P = 3)
 *
 * Synthetic: a Llama (tied embeddings) and a Qwen2 (QKV bias, untied LM head), 8 heads,
 * 4 KV heads, widths divisible by 4, two packed rows of several documents; with and
 * without recomputation and logits in chunks. Every rank computes the whole model's
 * forward and backward (the reference) and its part's; compared:
 *   - log-probs of every token and the loss;
 *   - every gradient: this rank's slice of the whole model's gradients (cada_tp_copy)
 *     against its own;
 *   - slicing itself: scattering the whole model to each of P parts and gathering them
 *     back rebuilds it bit for bit (every element in exactly one part, or replicated),
 *     locally; and the checkpoint files the group writes from its parts
 *     (model/tp_checkpoint.h) byte-identical to those of the whole model.
 * Tolerances: the parts compute the same products; what changes is the order of sums.
 * o_proj and down sum P partial dot products (each over H D / P or I / P terms) instead
 * of one, and the log-sum-exp combines P partial sums: fp32 rounding of ~1e-7 relative
 * per sum, through 2 layers. Log-probs: |diff| <= 2e-5 (values ~ -5, a relative 4e-6);
 * gradients: |diff| <= 1e-4 x max |g| of that gradient tensor per element (the sums
 * over tokens of products of two such values). A slicing error (a wrong head, a wrong
 * column block) moves values by their own size, 1e-2 relative or more.
 * Real model: the log-probs of two rows of 20 random tokens, |diff| <= 1e-4 (30 layers
 * of the rounding above on log-probs down to -25: measured 1.9e-5 for SmolLM2 at P = 3);
 * greedy decoding of two prompts through the rollout engine gives IDENTICAL tokens, and
 * sampling (temperature 1, top-p 0.95, fixed seeds) identical tokens, log-probs within
 * the same 1e-4 (every rank
 * gathers the same whole logits, so every rank samples the same token; against the
 * whole model only the rounding above differs).
 *
 * Learner steps, TP x data parallel: the world's ranks as P_tp-rank TP groups (ranks
 * [g P_tp, (g+1) P_tp)) times W = size / P_tp data-parallel learner groups (the ranks of
 * the same TP rank), for P_tp = size and, with 4 ranks, P_tp = 2 x W = 2; under DP and
 * ZeRO-1, 2, 3 (ZeRO-3 also with recomputation); GRPO with a KL penalty, 3 steps of 16
 * sequences with gradient clipping on. Against one learner on the whole model, every
 * rank compares its slice of that learner's parameters (cada_tp_copy) with its own, and
 * the step's gradient norm, loss and mean entropy (which under TP combine per-rank
 * parts). Tolerances: the gradients differ from one rank's by the rounding of the
 * reduction order (above, ~1e-6 relative); Adam's step m / sqrt(v) has magnitude <= ~lr
 * whatever the gradient's scale, so a near-zero gradient whose rounding flips its sign
 * can move a parameter by up to ~2 lr per step: max |diff| <= 2 x steps x lr, and fewer
 * than 1% of parameters may differ by more than 1e-5 (as tests/mpi/mpi_learn_test.c's
 * unordered reductions); gradient norm, loss and entropy within 1e-4 relative (sums of
 * ~1e3 terms with ~1e-6 relative rounding each). A missing all-reduce, a norm counted P
 * times or a slice paired with the wrong DP peer moves them by 1e-2 or more. */
#define _POSIX_C_SOURCE 200809L
#include "base/error.h"
#include "base/fs.h"
#include "base/rng.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/synth.h"
#include "io/shard_plan.h"
#include "model/load.h"
#include "model/tp_checkpoint.h"
#include "model/tp_slice.h"
#include "rollout/engine.h"

#include <math.h>
#include <mpi.h>
#include "mpi_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>



#define LP_TOL 2e-5
#define LP_TOL_REAL 1e-4
#define GRAD_REL_TOL 1e-4

/* Two rows of T tokens: row 0 holds documents of 7 and T - 7 tokens, row 1 one of T. */
typedef struct {
    int B, T;
    int *tokens, *pos, *targets;
    float *dlogprob;
} test_batch;

static void batch_make(test_batch *b, int T, int V, uint64_t seed) {
    b->B = 2;
    b->T = T;
    const int N = 2 * T;
    b->tokens = malloc(sizeof(int) * N);
    b->pos = malloc(sizeof(int) * N);
    b->targets = malloc(sizeof(int) * N);
    b->dlogprob = malloc(sizeof(float) * N);
    cada_rng r;
    cada_rng_init(&r, seed, 1, 2, 3);
    for (int i = 0; i < N; i++) b->tokens[i] = (int)(cada_rng_u32(&r) % (uint32_t)V);
    for (int row = 0; row < 2; row++)
        for (int t = 0; t < T; t++) {
            const int i = row * T + t, doc_start = row == 0 && t >= 7 ? 7 : 0;
            const int doc_end = row == 0 && t < 7 ? 7 : T;
            b->pos[i] = t - doc_start;
            b->targets[i] = t + 1 < doc_end ? b->tokens[i + 1] : -1;
            b->dlogprob[i] = b->targets[i] >= 0 ? cada_rng_normal(&r) * 0.1f : 0.0f;
        }
}

static void batch_free(test_batch *b) {
    free(b->tokens);
    free(b->pos);
    free(b->targets);
    free(b->dlogprob);
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* Compares this rank's gradients with its slice of the whole model's, tensor by
 * tensor (the views of the local layout). */
static void compare_grads(const cada_model *full, const cada_model *local, const char *what) {
    cada_model expect;
    CHECK_OK(cada_model_init(&expect, &local->cfg));
    cada_tp_copy(&full->cfg, &full->g, &expect.p, rank, size, CADA_TP_SCATTER);
    cada_tensor_view ve[512], vl[512];
    const int n = cada_model_tensor_views(&local->cfg, &expect.p, ve);
    cada_model_tensor_views(&local->cfg, &local->g, vl);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        const size_t cnt = (size_t)ve[t].rows * ve[t].cols;
        const double scale = fmax(max_abs(ve[t].data, cnt), 1e-12);
        double d = 0;
        for (size_t i = 0; i < cnt; i++) d = fmax(d, fabs(ve[t].data[i] - vl[t].data[i]));
        worst = fmax(worst, d / scale);
        if (d > GRAD_REL_TOL * scale)
            FAIL("%s: gradient of %s differs by %.3g (max |g| %.3g)", what, ve[t].hf_name, d, scale);
    }
    if (rank == 0) printf("mpi_tp_test: %s: gradients: worst |diff| / max |g| = %.2e\n", what, worst);
    cada_model_free(&expect);
}

static void compare_logprobs(const float *a, const float *b, int n, const char *what, double tol) {
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    if (d > tol) FAIL("%s: log-probs differ by %.3g", what, d);
    if (rank == 0) printf("mpi_tp_test: %s: log-probs: max |diff| = %.2e\n", what, d);
}

/* Scatter to every part and gather back: the whole model, bit for bit. */
static void check_slicing_round_trip(const cada_model *full, int P) {
    cada_model_config lc;
    CHECK_OK(cada_tp_local_config(&full->cfg, P, &lc));
    cada_model rebuilt, part;
    CHECK_OK(cada_model_init(&rebuilt, &full->cfg));
    CHECK_OK(cada_model_init(&part, &lc));
    for (int r = 0; r < P; r++) {
        cada_tp_copy(&full->cfg, &full->p, &part.p, r, P, CADA_TP_SCATTER);
        cada_tp_copy(&full->cfg, &rebuilt.p, &part.p, r, P, CADA_TP_GATHER);
    }
    if (memcmp(rebuilt.params, full->params, sizeof(float) * full->n_params))
        FAIL("slicing over %d parts does not rebuild the model", P);
    cada_model_free(&rebuilt);
    cada_model_free(&part);
}

/* whole file into memory (NULL when unreadable) */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
    *n = b && fread(b, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
    fclose(f);
    return b;
}

/* The checkpoint files the group writes from its parts (model/tp_checkpoint.h) against
 * those the whole model writes (cada_model_save_shard): byte for byte. Two plans: the
 * group writes all `size` files, and the second half of 2 x size files (as the second
 * data-parallel group of a run would). */
static void compare_tp_checkpoint(const cada_model *full, const cada_model *local, const cada_tp *tp, const char *what) {
    char dir[256] = {0}, parts[300], whole[300];
    if (rank == 0 && !mkdtemp(strcpy(dir, "/tmp/mpi_tp_ckpt_XXXXXX"))) FAIL("%s: mkdtemp failed", what);
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(parts, sizeof parts, "%s/parts", dir);
    snprintf(whole, sizeof whole, "%s/whole", dir);
    if (rank == 0 && (mkdir(parts, 0755) || mkdir(whole, 0755))) FAIL("%s: mkdir in %s failed", what, dir);
    MPI_Barrier(MPI_COMM_WORLD);
    for (int half = 0; half < 2; half++) {
        const int writers = half ? 2 * size : size, first = half ? size : 0;
        CHECK_OK(cada_tp_save_shards(local, tp, &full->cfg, parts, first, writers));
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank != 0) continue;
        cada_shard_layout l;
        CHECK_OK(cada_shard_layout_make(&l, &full->cfg, NULL, writers, CADA_DTYPE_F32));
        int compared = 0;
        for (int k = first; k < first + size && k < l.n_shards; k++) {
            CHECK_OK(cada_model_save_shard(full, whole, k, writers, CADA_DTYPE_F32));
            char name[64], a[400], b[400];
            cada_shard_file_name(k, l.n_shards, name, sizeof name);
            snprintf(a, sizeof a, "%s/%s", parts, name);
            snprintf(b, sizeof b, "%s/%s", whole, name);
            size_t na = 0, nb = 0;
            unsigned char *fa = slurp(a, &na), *fb = slurp(b, &nb);
            if (!fa || !fb || na != nb || na == 0 || memcmp(fa, fb, na))
                FAIL("%s: %s written from the TP parts (%zu bytes) differs from the whole model's (%zu bytes)", what, name, na, nb);
            compared += fa && fb;
            free(fa);
            free(fb);
        }
        if (compared != (l.n_shards < first + size ? l.n_shards - first : size))
            FAIL("%s: compared %d checkpoint files of %d writers", what, compared, writers);
        cada_shard_layout_free(&l);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) cada_rm_rf(dir);
}

static void synthetic(cada_comm *world, int qwen, int recompute) {
    char what[96];
    snprintf(what, sizeof what, "%s, recompute %d, P %d", qwen ? "qwen2 (bias, untied)" : "llama (tied)", recompute, size);
    cada_model_config cfg;
    cada_synth_config_tp(&cfg, qwen);
    cada_model full;
    CHECK_OK(cada_synth_model(&full, &cfg, 77, 0.1f));
    if (qwen) { /* the synthetic model leaves biases at 0: give them values */
        cada_rng r;
        cada_rng_init(&r, 5, 0, 0, 0);
        const size_t QKV = (size_t)(cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim;
        for (int l = 0; l < cfg.n_layers; l++)
            for (size_t i = 0; i < QKV; i++) CADA_LAYER(&full.p, qkv_b, l)[i] = 0.1f * cada_rng_normal(&r);
    }
    /* signed zeros, which the gather over the group must keep bit for bit: one in a
     * vocabulary row of the last rank's part, one in a replicated norm */
    full.p.embed[(size_t)(cfg.vocab_size - 1) * cfg.hidden_size] = -0.0f;
    CADA_LAYER(&full.p, ffn_norm, 1)[3] = -0.0f;
    /* with recompute the TP part also runs the LM head on the rows with a target alone
     * (targets_only, as the learner does), against the whole model on every row */
    cada_model_options opt = {recompute, recompute ? 5 : 0, 0, 0};
    CHECK_OK(cada_model_set_options(&full, &opt));
    opt.targets_only = recompute;
    for (int P = 1; P <= 4; P *= 2) check_slicing_round_trip(&full, P);

    cada_tp tp;
    CHECK_OK(cada_tp_init_comm(&tp, world, &cfg));
    cada_model local;
    CHECK_OK(cada_tp_model_from_full(&local, &full, &tp));
    CHECK_OK(cada_model_set_options(&local, &opt));

    test_batch tb;
    batch_make(&tb, 13, cfg.vocab_size, 9);
    const cada_batch b = {tb.B, tb.T, tb.tokens, tb.pos, tb.targets};
    CHECK_OK(cada_model_forward(&full, &b));
    CHECK_OK(cada_model_forward(&local, &b));
    compare_logprobs(full.act.logprob, local.act.logprob, 2 * tb.T, what, LP_TOL);
    if (fabsf(full.loss - local.loss) > LP_TOL) FAIL("%s: loss %.7f vs %.7f", what, local.loss, full.loss);
    CHECK_OK(cada_model_alloc_grads(&full));
    cada_model_zero_grads(&full);
    CHECK_OK(cada_model_alloc_grads(&local));
    cada_model_zero_grads(&local);
    CHECK_OK(cada_model_backward(&full, tb.dlogprob));
    CHECK_OK(cada_model_backward(&local, tb.dlogprob));
    compare_grads(&full, &local, what);
    compare_tp_checkpoint(&full, &local, &tp, what);
    batch_free(&tb);
    cada_model_free(&local);
    cada_model_free(&full);
}

/* The real model: teacher-forced log-probs, then the rollout engine greedy and sampled. */
static void real_model(cada_comm *world, const char *path) {
    cada_model full, local;
    CHECK_OK(cada_model_load(&full, path));
    cada_tp tp;
    CHECK_OK(cada_tp_init_comm(&tp, world, &full.cfg));
    CHECK_OK(cada_tp_model_from_full(&local, &full, &tp));
    char what[128];
    snprintf(what, sizeof what, "%s, P %d", full.cfg.arch == CADA_ARCH_QWEN2 ? "qwen2" : "llama", size);

    test_batch tb;
    batch_make(&tb, 20, full.cfg.vocab_size, 3);
    const cada_batch b = {tb.B, tb.T, tb.tokens, tb.pos, tb.targets};
    CHECK_OK(cada_model_forward(&full, &b));
    CHECK_OK(cada_model_forward(&local, &b));
    compare_logprobs(full.act.logprob, local.act.logprob, 2 * tb.T, what, LP_TOL_REAL);
    batch_free(&tb);

    /* SmolLM2 chat prompts ("What is the capital of France?", "Write a short poem.") */
    static const int pa[] = {1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198};
    static const int pb[] = {1, 4093, 198, 19161, 253, 1890, 8216, 30, 2, 198, 1, 520, 9531, 198};
    static const int eos[] = {2};
    for (int sampled = 0; sampled < 2; sampled++) {
        cada_engine_config ec;
        memset(&ec, 0, sizeof ec);
        ec.sampling.temperature = sampled ? 1.0f : 0.0f;
        ec.sampling.top_p = sampled ? 0.95f : 1.0f;
        ec.seed = 4321;
        ec.n_slots = 4;
        ec.max_len = 128;
        ec.eos_ids = eos;
        ec.n_eos = 1;
        cada_gen_request reqs[4];
        for (int i = 0; i < 4; i++)
            reqs[i] = (cada_gen_request){(uint64_t)(i / 2), (uint32_t)(i % 2), i < 2 ? pa : pb,
                                         i < 2 ? (int)(sizeof pa / sizeof pa[0]) : (int)(sizeof pb / sizeof pb[0]), 32};
        cada_gen_result rf[4], rl[4];
        CHECK_OK(cada_generate(&full, &ec, reqs, 4, rf, NULL));
        CHECK_OK(cada_generate(&local, &ec, reqs, 4, rl, NULL));
        int same = 1, total = 0;
        double d = 0;
        for (int i = 0; i < 4; i++) {
            if (rf[i].n != rl[i].n || memcmp(rf[i].tokens, rl[i].tokens, sizeof(int) * rf[i].n)) same = 0;
            for (int j = 0; j < rf[i].n && j < rl[i].n; j++) d = fmax(d, fabs(rf[i].logprobs[j] - rl[i].logprobs[j]));
            total += rl[i].n;
        }
        if (!same) FAIL("%s: %s decoding: tokens differ from the whole model's", what, sampled ? "sampled" : "greedy");
        if (d > LP_TOL_REAL) FAIL("%s: %s decoding: log-probs differ by %.3g", what, sampled ? "sampled" : "greedy", d);
        if (rank == 0)
            printf("mpi_tp_test: %s: %s decoding: %d tokens %s, log-probs max |diff| = %.2e\n", what,
                   sampled ? "sampled" : "greedy", total, same ? "IDENTICAL" : "DIFFERENT", d);
        for (int i = 0; i < 4; i++) {
            cada_gen_result_free(&rf[i]);
            cada_gen_result_free(&rl[i]);
        }
    }
    cada_model_free(&local);
    cada_model_free(&full);
}

#define LEARN_LR 3e-3
#define LEARN_STEPS 3

/* LEARN_STEPS GRPO steps of m on learner group c; the last step's metrics in *last.
 * ZeRO-3: the parameters are gathered whole again at the end. */
static void learn(cada_model *m, cada_comm *c, cada_zero_stage zero, int recompute, int V, cada_step_metrics *last) {
    cada_learner_config lc;
    cada_learner_config_default(&lc, CADA_ALGO_GRPO);
    lc.zero = zero;
    lc.model.recompute = recompute;
    lc.model.logits_chunk = recompute ? 24 : 0;
    lc.row_tokens = 16;
    lc.micro_tokens = 64;
    lc.opt.lr = LEARN_LR;
    lc.opt.weight_decay = 0.01;
    lc.opt.max_grad_norm = 0.5; /* low enough that the steps clip: the norm must be whole */
    lc.opt.warmup_steps = 1;
    lc.opt.total_steps = 10;
    cada_algo_set_kl(&lc.algo, CADA_KL_IN_LOSS, CADA_KL_K3, 0.05);
    cada_learner *L;
    CHECK_OK(cada_learner_init(&L, m, c, &lc));
    for (int s = 0; s < LEARN_STEPS; s++) {
        cada_synth_batch b;
        CHECK_OK(cada_synth_batch_make(&b, 16, 4, V, 5, 9, 1, 1, 300 + (uint64_t)s));
        CHECK_OK(cada_learner_step(L, b.t, b.n, last));
        cada_synth_batch_free(&b);
    }
    CHECK_OK(cada_learner_gather_params(L));
    cada_learner_free(L);
}

static int rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(fabs(b), 1e-12); }

static void learner_tp_dp(cada_comm *world, int P) {
    const int W = size / P;
    cada_comm *tpg, *dpg, *self;
    CHECK_OK(cada_comm_split(world, rank / P, rank, &tpg));
    CHECK_OK(cada_comm_split(world, rank % P, rank, &dpg));
    cada_comm_options o;
    cada_comm_options_default(&o);
    CHECK_OK(cada_comm_init_self(&self, &o));
    cada_model_config cfg;
    cada_synth_config(&cfg, 96, 64, 2, 1); /* 8 heads, as synthetic() */
    cfg.n_kv_heads = 4;
    const struct {
        cada_zero_stage zero;
        int recompute;
    } layouts[] = {{CADA_DP, 0}, {CADA_ZERO1, 0}, {CADA_ZERO2, 0}, {CADA_ZERO3, 0}, {CADA_ZERO3, 1}};
    for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++) {
        char what[96];
        snprintf(what, sizeof what, "TP %d x %s %d%s", P, cada_zero_name(layouts[li].zero), W,
                 layouts[li].recompute ? " +rc" : "");
        cada_model full, local, want;
        CHECK_OK(cada_synth_model(&full, &cfg, 31, 0.1f));
        cada_tp tp;
        CHECK_OK(cada_tp_init_comm(&tp, tpg, &cfg));
        CHECK_OK(cada_tp_model_from_full(&local, &full, &tp));
        cada_step_metrics sm, sm1;
        learn(&local, dpg, layouts[li].zero, layouts[li].recompute, cfg.vocab_size, &sm);
        learn(&full, self, layouts[li].zero, layouts[li].recompute, cfg.vocab_size, &sm1);
        CHECK_OK(cada_tp_model_from_full(&want, &full, &tp)); /* the one learner's slice */
        float worst = 0;
        size_t above = 0;
        for (size_t i = 0; i < local.n_params; i++) {
            const float d = fabsf(local.params[i] - want.params[i]);
            worst = fmaxf(worst, d);
            above += d > 1e-5f;
        }
        if (worst > 2 * LEARN_STEPS * LEARN_LR || above > local.n_params / 100)
            FAIL("%s: parameters: max |diff| %g (bound %g), %zu of %zu above 1e-5", what, (double)worst,
                 2 * LEARN_STEPS * LEARN_LR, above, local.n_params);
        if (!rel_close(sm.grad_norm, sm1.grad_norm, 1e-4)) FAIL("%s: gradient norm %.7g vs %.7g", what, sm.grad_norm, sm1.grad_norm);
        if (!rel_close(sm.loss, sm1.loss, 1e-4)) FAIL("%s: loss %.7g vs %.7g", what, sm.loss, sm1.loss);
        if (!rel_close(sm.entropy_mean, sm1.entropy_mean, 1e-4))
            FAIL("%s: mean entropy %.7g vs %.7g", what, sm.entropy_mean, sm1.entropy_mean);
        if (sm1.clip_coef >= 1.0) FAIL("%s: the reference step did not clip (coef %g): raise the test's norm", what, sm1.clip_coef);
        float all_worst;
        MPI_Allreduce(&worst, &all_worst, 1, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0)
            printf("mpi_tp_test: learner %s: parameters max |diff| %.2e after %d steps, grad norm %.6f vs %.6f, "
                   "loss %.6f vs %.6f, entropy %.6f vs %.6f\n",
                   what, (double)all_worst, LEARN_STEPS, sm.grad_norm, sm1.grad_norm, sm.loss, sm1.loss, sm.entropy_mean,
                   sm1.entropy_mean);
        cada_model_free(&want);
        cada_model_free(&local);
        cada_model_free(&full);
    }
    cada_comm_free(self);
    cada_comm_free(dpg);
    cada_comm_free(tpg);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cada_comm_options o;
    cada_comm_options_default(&o);
    o.timeout_s = 120;
    cada_comm *world;
    CHECK_OK(cada_comm_init_world(&world, &o));
    if (argc > 2 && !strcmp(argv[1], "--model")) {
        real_model(world, argv[2]);
    } else {
        for (int qwen = 0; qwen < 2; qwen++)
            for (int rec = 0; rec < 2; rec++) synthetic(world, qwen, rec);
        for (int P = size; P >= 2; P /= 2)
            if (size % P == 0) learner_tp_dp(world, P);
    }
    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_tp_test: %d ranks: %s (%d failures)\n", size, total ? "FAILED" : "ok", total);
    cada_comm_free(world);
    MPI_Finalize();
    return total ? 1 : 0;
}
