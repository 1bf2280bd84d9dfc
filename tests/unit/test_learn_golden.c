/* tests/unit/test_learn_golden.c: src/learn against PyTorch autograd, through the golden
 * files of tests/ref/make_learn_golden.py (reference in float64 from float32 inputs).
 *
 * Tolerances, and why they are that size:
 *   - losses and dlogprob of the algorithms: both sides compute each token's value in
 *     double from the same float32 inputs, so they agree to ~1e-15 before rounding to
 *     float32 for storage; atol 1e-7 + rtol 2e-6 allows the one-ulp difference of two
 *     independent float32 roundings (6e-8 relative) and the advantages' float32
 *     rounding, while a wrong sign, factor, clip side or normaliser moves values by
 *     >1e-2 relative.
 *   - AdamW: cada updates in float32, torch here in float64; over 6 steps each
 *     parameter carries a few float32 roundings of terms of size lr (1e-2), so
 *     atol 1e-6 on parameters of magnitude ~1 (rtol 1e-6): any formula slip (bias
 *     correction, decay order, clip) moves them by >1e-4.
 *   - end-to-end GRPO through tiny_qwen2: as tests/unit/test_golden_model.c (fp32
 *     forward/backward vs fp64): log-probs atol 5e-5, parameter gradients 1e-4 x the
 *     tensor's max |grad|. */
#define _POSIX_C_SOURCE 200809L
#include "golden.h"
#include "test.h"

#include "learn/adamw.h"
#include "learn/algo.h"
#include "learn/entropy.h"
#include "model/load.h"

#include <stdlib.h>
#include <string.h>

static int load_case(golden_file *g, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/ref/golden/learn_%s.gold", cada_test_root(), name);
    if (golden_load(g, path) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "%s", cada_error_message());
        return 0;
    }
    return 1;
}

static const golden_tensor *need(const golden_file *g, const char *name) {
    const golden_tensor *t = golden_find(g, name);
    if (!t) cada_test_fail(__FILE__, __LINE__, "golden tensor '%s' missing", name);
    return t;
}

static double getf(const golden_file *g, const char *name) {
    const golden_tensor *t = need(g, name);
    if (!t) return 0.0;
    return t->dtype == 0 ? ((const float *)t->data)[0] : ((const int32_t *)t->data)[0];
}
static int geti(const golden_file *g, const char *name) { return (int)getf(g, name); }

static cada_algo_config config_of(const golden_file *g) {
    cada_algo_config c;
    cada_algo_config_default(&c, (cada_algo)geti(g, "cfg.algo"));
    c.adv.kind = (cada_adv_kind)geti(g, "cfg.adv");
    c.adv.baseline_beta = getf(g, "cfg.baseline_beta");
    c.adv.group_std = geti(g, "cfg.group_std");
    c.adv.std_eps = getf(g, "cfg.std_eps");
    c.pg.kind = (cada_pg_kind)geti(g, "cfg.pg");
    c.pg.agg = (cada_loss_agg)geti(g, "cfg.agg");
    c.pg.clip_low = getf(g, "cfg.clip_low");
    c.pg.clip_high = getf(g, "cfg.clip_high");
    c.pg.tis_cap = getf(g, "cfg.tis_cap");
    cada_algo_set_kl(&c, (cada_kl_placement)geti(g, "cfg.kl_place"), (cada_kl_estimator)geti(g, "cfg.kl_est"),
                     getf(g, "cfg.kl_coef"));
    c.dpo_beta = getf(g, "cfg.dpo_beta");
    return c;
}

static void check_rl_case(const char *name) {
    golden_file g;
    if (!load_case(&g, name)) return;
    const golden_tensor *lens = need(&g, "lens"), *lpi = need(&g, "lp_index"), *grp = need(&g, "group");
    const golden_tensor *chosen = need(&g, "chosen"), *rew = need(&g, "reward"), *lp = need(&g, "logprob");
    const golden_tensor *ro = need(&g, "rollout_logprob"), *old = need(&g, "old_logprob"), *ref = need(&g, "ref_logprob");
    const golden_tensor *adv_want = need(&g, "adv"), *dlp_want = need(&g, "dlogprob");
    if (!lens || !lpi || !grp || !chosen || !rew || !lp || !ro || !old || !ref || !adv_want || !dlp_want) {
        golden_free(&g);
        return;
    }
    const int S = (int)lens->numel, n_lp = (int)lp->numel;
    const int has_old = geti(&g, "has_old"), has_ref = geti(&g, "has_ref");
    cada_algo_config cfg = config_of(&g);
    cada_traj *t = calloc((size_t)S, sizeof *t);
    int *dummy_tokens = calloc(64, sizeof(int));
    const int *L = lens->data, *idx = lpi->data;
    for (int i = 0; i < S; i++) {
        t[i].tokens = dummy_tokens;
        t[i].prompt_len = 1;
        t[i].completion_len = L[i];
        t[i].rollout_logprob = (const float *)ro->data + idx[i];
        t[i].old_logprob = has_old ? (const float *)old->data + idx[i] : NULL;
        t[i].ref_logprob = has_ref ? (const float *)ref->data + idx[i] : NULL;
        t[i].reward = ((const float *)rew->data)[i];
        t[i].group = ((const int *)grp->data)[i];
        t[i].chosen = ((const int *)chosen->data)[i];
    }
    cada_baseline b = {getf(&g, "baseline_value"), geti(&g, "baseline_updates")};
    float *adv = calloc((size_t)S, sizeof(float)), *dlp = malloc(sizeof(float) * (size_t)n_lp);
    cada_adv_stats ast;
    cada_loss_norm norm;
    cada_loss_norm_of(t, S, &norm);
    cada_token_stats st;
    cada_token_stats_zero(&st);
    cada_status s = cada_algo_prepare(&cfg, t, S, &b, adv, &ast);
    EXPECT(s == CADA_OK, "prepare: %s", cada_error_message());
    if (s == CADA_OK) {
        EXPECT(golden_close("adv", adv, adv_want->data, S, 1e-6f, 2e-6f));
        if (cfg.adv.kind == CADA_ADV_RUNNING_MEAN) {
            float bn = (float)b.value;
            EXPECT(golden_close("baseline_next", &bn, need(&g, "baseline_next")->data, 1, 1e-7f, 2e-6f));
        }
        /* the loss sees the advantages as the reference does (float32) */
        s = cada_algo_loss(&cfg, t, S, idx, adv, lp->data, n_lp, &norm, dlp, &st);
        EXPECT(s == CADA_OK, "loss: %s", cada_error_message());
        if (s == CADA_OK) {
            float loss = (float)st.loss;
            EXPECT(golden_close("loss", &loss, need(&g, "loss")->data, 1, 1e-7f, 2e-6f));
            EXPECT(golden_close("dlogprob", dlp, dlp_want->data, n_lp, 1e-7f, 2e-6f));
            if (has_ref && cfg.algo != CADA_ALGO_DPO && cfg.algo != CADA_ALGO_SFT) {
                float kl = (float)(st.kl_sum / st.kl_tokens);
                EXPECT(golden_close("kl_mean", &kl, need(&g, "kl_mean")->data, 1, 1e-7f, 2e-6f));
            }
            float cf = st.tokens > 0 ? (float)(st.clipped / st.tokens) : 0.0f;
            EXPECT(golden_close("clip_frac", &cf, need(&g, "clip_frac")->data, 1, 1e-7f, 0.0f));
            EXPECT(st.tokens == norm.tokens, "stats saw %g tokens of %g", st.tokens, norm.tokens);
        }
    }
    free(adv);
    free(dlp);
    free(t);
    free(dummy_tokens);
    golden_free(&g);
}

TEST(learn_golden_reinforce_running_mean_kl_k1_in_reward) { check_rl_case("reinforce"); }
TEST(learn_golden_reinforce_tis_beta_1_over_t) { check_rl_case("reinforce_tis"); }
TEST(learn_golden_grpo_old_is_learner_tis_kl_k3_in_loss) { check_rl_case("grpo"); }
TEST(learn_golden_grpo_seq_mean_no_std_kl_k2_reward_tis) { check_rl_case("grpo_seq"); }
TEST(learn_golden_rloo_kl_k2_in_loss) { check_rl_case("rloo"); }
TEST(learn_golden_ppo_batch_mean_old_logprob_tis_kl_k1_in_reward) { check_rl_case("ppo"); }
TEST(learn_golden_sft) { check_rl_case("sft"); }
TEST(learn_golden_dpo) { check_rl_case("dpo"); }

TEST(learn_golden_entropy) {
    golden_file g;
    if (!load_case(&g, "entropy")) return;
    const golden_tensor *logits = need(&g, "logits"), *lse = need(&g, "lse"), *mask = need(&g, "mask");
    const golden_tensor *want = need(&g, "entropy");
    if (logits && lse && mask && want) {
        int N = (int)logits->dims[0], V = (int)logits->dims[1];
        float ent[64];
        double total = cada_token_entropy(logits->data, lse->data, mask->data, N, V, ent);
        EXPECT(golden_close("entropy", ent, want->data, N, 1e-5f, 1e-5f));
        double want_total = 0.0;
        for (int n = 0; n < N; n++) want_total += ((const float *)want->data)[n];
        EXPECT(fabs(total - want_total) < 1e-4, "total %g vs %g", total, want_total);
        EXPECT(fabs(cada_token_entropy(logits->data, lse->data, mask->data, N, V, NULL) - total) < 1e-12);
    }
    golden_free(&g);
}

static void check_adamw(const char *name) {
    golden_file g;
    if (!load_case(&g, name)) return;
    const golden_tensor *p0 = need(&g, "params0"), *grads = need(&g, "grads"), *want = need(&g, "params");
    const golden_tensor *m_want = need(&g, "exp_avg"), *v_want = need(&g, "exp_avg_sq");
    if (p0 && grads && want && m_want && v_want) {
        const int K = (int)grads->dims[0], P = (int)grads->dims[1];
        cada_adamw_config c;
        cada_adamw_config_default(&c);
        c.lr = getf(&g, "cfg.lr");
        c.weight_decay = getf(&g, "cfg.weight_decay");
        c.max_grad_norm = getf(&g, "cfg.max_grad_norm");
        c.schedule = (cada_lr_schedule)geti(&g, "cfg.schedule");
        c.warmup_steps = geti(&g, "cfg.warmup_steps");
        c.total_steps = geti(&g, "cfg.total_steps");
        c.min_lr_ratio = getf(&g, "cfg.min_lr_ratio");
        /* two shards updated by two optimizers must equal one optimizer on the whole:
         * the norm is global, everything else element-wise */
        const int split = P / 3;
        cada_adamw a, b;
        REQUIRE_OK(cada_adamw_init(&a, &c, 0, (size_t)split));
        REQUIRE_OK(cada_adamw_init(&b, &c, (size_t)split, (size_t)(P - split)));
        float *p = malloc(sizeof(float) * (size_t)P);
        memcpy(p, p0->data, sizeof(float) * (size_t)P);
        for (int k = 0; k < K; k++) {
            const float *gk = (const float *)grads->data + (size_t)k * P;
            double sq = cada_sqnorm(gk, (size_t)split) + cada_sqnorm(gk + split, (size_t)(P - split));
            cada_adamw_result ra, rb;
            REQUIRE_OK(cada_adamw_step(&a, p, gk, sq, &ra));
            REQUIRE_OK(cada_adamw_step(&b, p + split, gk + split, sq, &rb));
            EXPECT(ra.applied && rb.applied && ra.lr == rb.lr);
            char what[64];
            snprintf(what, sizeof what, "%s params after step %d (lr %.4g, clip %.4f)", name, k + 1, ra.lr, ra.clip_coef);
            EXPECT(golden_close(what, p, (const float *)want->data + (size_t)k * P, P, 1e-6f, 1e-6f));
        }
        EXPECT(golden_close("exp_avg", a.m, m_want->data, split, 1e-8f, 1e-5f));
        EXPECT(golden_close("exp_avg_sq", b.v, (const float *)v_want->data + split, P - split, 1e-10f, 1e-5f));
        EXPECT(a.step == K && a.skipped == 0);
        cada_adamw_free(&a);
        cada_adamw_free(&b);
        free(p);
    }
    golden_free(&g);
}

TEST(learn_golden_adamw_cosine_warmup_clip_decay) { check_adamw("adamw"); }
TEST(learn_golden_adamw_linear_warmup) { check_adamw("adamw_linear"); }

static float max_abs(const float *x, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* GRPO's dlogprob fed through cada_model_backward on the tiny Qwen2 equals PyTorch's
 * parameter gradient of the same loss (autograd through transformers in float64). */
TEST(learn_golden_grpo_end_to_end_tiny_qwen2) {
    golden_file g;
    if (!load_case(&g, "grpo_tiny_qwen2")) return;
    char model_dir[1024];
    snprintf(model_dir, sizeof model_dir, "%s/tests/ref/models/tiny_qwen2", cada_test_root());
    cada_model m;
    if (cada_model_load(&m, model_dir) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load %s: %s", model_dir, cada_error_message());
        golden_free(&g);
        return;
    }
    const golden_tensor *stok = need(&g, "seq_tokens"), *spl = need(&g, "seq_prompt_len"), *scl = need(&g, "seq_completion_len");
    const golden_tensor *grp = need(&g, "group"), *rew = need(&g, "reward"), *ro = need(&g, "rollout_logprob");
    const golden_tensor *ref = need(&g, "ref_logprob"), *tok = need(&g, "tokens"), *pos = need(&g, "positions");
    const golden_tensor *tgt = need(&g, "targets"), *lpi = need(&g, "lp_index"), *lp = need(&g, "logprob");
    const golden_tensor *ent = need(&g, "entropy"), *loss_want = need(&g, "loss"), *dlp_want = need(&g, "dlogprob");
    if (!stok || !spl || !scl || !grp || !rew || !ro || !ref || !tok || !pos || !tgt || !lpi || !lp || !ent || !loss_want || !dlp_want) {
        cada_model_free(&m);
        golden_free(&g);
        return;
    }
    const int S = (int)spl->numel, T = geti(&g, "T");
    cada_traj t[16];
    REQUIRE(S <= 16);
    int tok_at = 0, lp_at = 0;
    for (int i = 0; i < S; i++) {
        const int P = ((const int *)spl->data)[i], C = ((const int *)scl->data)[i];
        t[i] = (cada_traj){.tokens = (const int *)stok->data + tok_at, .prompt_len = P, .completion_len = C,
                           .rollout_logprob = (const float *)ro->data + lp_at, .ref_logprob = (const float *)ref->data + lp_at,
                           .reward = ((const float *)rew->data)[i], .group = ((const int *)grp->data)[i]};
        tok_at += P + C;
        lp_at += C;
    }
    cada_packed pk = {0};
    cada_status s = cada_pack(&pk, t, NULL, S, T, 0);
    EXPECT(s == CADA_OK, "pack: %s", cada_error_message());
    if (s == CADA_OK) {
        const int N = pk.B * T;
        EXPECT(pk.B == (int)tok->dims[0], "packed %d rows, reference %lld", pk.B, (long long)tok->dims[0]);
        EXPECT(!memcmp(pk.tokens, tok->data, sizeof(int) * (size_t)N), "packed tokens differ");
        EXPECT(!memcmp(pk.positions, pos->data, sizeof(int) * (size_t)N), "packed positions differ");
        EXPECT(!memcmp(pk.targets, tgt->data, sizeof(int) * (size_t)N), "packed targets differ");
        EXPECT(!memcmp(pk.lp_index, lpi->data, sizeof(int) * (size_t)S), "lp_index differs");
        cada_batch b = cada_packed_batch(&pk);
        REQUIRE_OK(cada_model_forward(&m, &b));
        EXPECT(golden_close("logprob", m.act.logprob, lp->data, N, 5e-5f, 5e-5f));
        float *h = malloc(sizeof(float) * (size_t)N), *dlp = malloc(sizeof(float) * (size_t)N);
        cada_token_entropy(m.act.logits, m.act.lse, pk.targets, N, m.cfg.vocab_size, h);
        EXPECT(golden_close("entropy (real logits)", h, ent->data, N, 5e-5f, 5e-5f));
        cada_algo_config cfg = config_of(&g);
        float adv[16];
        cada_loss_norm norm;
        cada_loss_norm_of(t, S, &norm);
        cada_token_stats st;
        cada_token_stats_zero(&st);
        REQUIRE_OK(cada_algo_prepare(&cfg, t, S, NULL, adv, NULL));
        REQUIRE_OK(cada_algo_loss(&cfg, t, S, pk.lp_index, adv, m.act.logprob, N, &norm, dlp, &st));
        float loss = (float)st.loss;
        EXPECT(golden_close("loss", &loss, loss_want->data, 1, 1e-5f, 1e-4f));
        EXPECT(golden_close("dlogprob", dlp, dlp_want->data, N, 1e-6f, 1e-4f));
        REQUIRE_OK(cada_model_alloc_grads(&m));
        cada_model_zero_grads(&m);
        REQUIRE_OK(cada_model_backward(&m, dlp));
        int nv;
        cada_tensor_view *views = golden_model_views(&m, &m.g, &nv);
        REQUIRE(views);
        int compared = 0;
        for (int i = 0; i < nv; i++) {
            char name[128];
            snprintf(name, sizeof name, "grad.%s", views[i].hf_name);
            const golden_tensor *want = need(&g, name);
            int64_t n = views[i].rows * views[i].cols;
            if (!want || want->numel != n) continue;
            float scale = max_abs(want->data, n);
            EXPECT(golden_close(name, views[i].data, want->data, n, 1e-4f * scale + 1e-7f, 0.0f));
            compared++;
        }
        EXPECT(compared == nv, "compared %d of %d gradients", compared, nv);
        free(views);
        free(h);
        free(dlp);
    }
    cada_packed_free(&pk);
    cada_model_free(&m);
    golden_free(&g);
}
