/* tests/unit/test_golden_model.c: the CPU model against Hugging Face transformers,
 * through the golden files of tests/ref/make_golden.py (reference computed in fp64).
 *
 * Tolerances, and why they are that size:
 *   - tiny models (2 layers, width 64, fp32 here vs fp64 there): fp32 carries ~6e-8
 *     relative rounding per operation; sums over 64-96 terms and two layers leave
 *     errors of a few 1e-6 on logits of magnitude ~5. atol 5e-5 + rtol 5e-5 sits an
 *     order of magnitude above what is measured (see the printed max|diff|) and orders
 *     of magnitude below any real mistake (a wrong RoPE band or mask moves logits by
 *     >1e-2).
 *   - gradients: compared relative to the largest entry of each tensor (atol = 1e-4 x
 *     max|grad|): backward sums over all 48 tokens, so its fp32 error scales with the
 *     tensor's magnitude, not each element's.
 *   - SmolLM2-135M (30 layers, width 576, vocabulary 49152): fp32 error grows with depth
 *     and with the 1536-wide MLP sums; logits of magnitude ~20 come out within ~1e-4 of
 *     fp64. atol 2e-3 on logits and log-probs leaves margin for a different BLAS kernel
 *     (AVX2 vs AVX-512 summation order) while catching any layout error (a misordered
 *     Q/K row moves log-probs by >0.1).
 *   - dequantised weights: bit-exact. Both sides compute d * q (+ m) in fp32 from the
 *     same bytes. */
#define _POSIX_C_SOURCE 200809L
#include "golden.h"
#include "test.h"

#include "model/load.h"

#include <stdlib.h>
#include <string.h>

static const golden_tensor *need(const golden_file *g, const char *name) {
    const golden_tensor *t = golden_find(g, name);
    if (!t) cada_test_fail(__FILE__, __LINE__, "golden tensor '%s' missing", name);
    return t;
}

static float max_abs(const float *x, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

static void check_tiny(const char *model_name) {
    char gold_path[1024], model_dir[1024];
    snprintf(gold_path, sizeof gold_path, "%s/tests/ref/golden/%s.gold", cada_test_root(), model_name);
    snprintf(model_dir, sizeof model_dir, "%s/tests/ref/models/%s", cada_test_root(), model_name);
    golden_file g;
    REQUIRE_OK(golden_load(&g, gold_path));
    cada_model m;
    cada_status st = cada_model_load(&m, model_dir);
    if (st != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load %s: %s", model_dir, cada_error_message());
        golden_free(&g);
        return;
    }
    const golden_tensor *tok = need(&g, "tokens"), *pos = need(&g, "positions"), *tgt = need(&g, "targets");
    const golden_tensor *logits = need(&g, "logits"), *logprobs = need(&g, "logprobs"), *loss = need(&g, "loss");
    if (tok && pos && tgt && logits && logprobs && loss) {
        int B = (int)tok->dims[0], T = (int)tok->dims[1], N = B * T, V = m.cfg.vocab_size;
        cada_batch b = {B, T, tok->data, pos->data, tgt->data};
        if (cada_model_forward(&m, &b) != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "forward: %s", cada_error_message());
        } else {
            EXPECT(logits->numel == (int64_t)N * V, "logits shape");
            EXPECT(golden_close("logits", m.act.logits, logits->data, (int64_t)N * V, 5e-5f, 5e-5f));
            EXPECT(golden_close("logprobs", m.act.logprob, logprobs->data, N, 5e-5f, 5e-5f));
            EXPECT(golden_close("loss", &m.loss, loss->data, 1, 5e-5f, 5e-5f));
            float *dlp = malloc(sizeof(float) * N);
            cada_ce_dlogprob(b.targets, N, dlp);
            REQUIRE_OK(cada_model_alloc_grads(&m));
            cada_model_zero_grads(&m);
            if (cada_model_backward(&m, dlp) != CADA_OK) {
                cada_test_fail(__FILE__, __LINE__, "backward: %s", cada_error_message());
            } else {
                int nv;
                cada_tensor_view *views = golden_model_views(&m, &m.g, &nv);
                REQUIRE(views);
                int compared = 0;
                for (int i = 0; i < nv; i++) {
                    char name[128];
                    snprintf(name, sizeof name, "grad.%s", views[i].hf_name);
                    const golden_tensor *want = need(&g, name);
                    if (!want) continue;
                    int64_t n = views[i].rows * views[i].cols;
                    EXPECT(want->numel == n, "%s: %lld elements, golden has %lld", name, (long long)n, (long long)want->numel);
                    if (want->numel != n) continue;
                    float scale = max_abs(want->data, n);
                    EXPECT(golden_close(name, views[i].data, want->data, n, 1e-4f * scale + 1e-7f, 0.0f));
                    compared++;
                }
                EXPECT(compared == nv, "compared %d of %d parameter gradients", compared, nv);
                free(views);
            }
            free(dlp);
        }
    }
    cada_model_free(&m);
    golden_free(&g);
}

TEST(golden_tiny_llama_gqa_llama3_rope_bf16) { check_tiny("tiny_llama"); }
TEST(golden_tiny_qwen2_bias_untied_sharded) { check_tiny("tiny_qwen2"); }

static void check_smollm2(const char *model_path, int check_weights) {
    char gold_path[1024];
    snprintf(gold_path, sizeof gold_path, "%s/tests/ref/golden/smollm2.gold", cada_test_root());
    golden_file g;
    REQUIRE_OK(golden_load(&g, gold_path));
    cada_model m;
    if (cada_model_load(&m, model_path) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load %s: %s", model_path, cada_error_message());
        golden_free(&g);
        return;
    }
    if (check_weights) {
        /* dequantisation and the undone Q/K permutation, row by row */
        int nv;
        cada_tensor_view *views = golden_model_views(&m, &m.p, &nv);
        REQUIRE(views);
        int checked = 0;
        for (int i = 0; i < nv; i++) {
            char name[160];
            snprintf(name, sizeof name, "weight.%s.rows", views[i].hf_name);
            const golden_tensor *w = golden_find(&g, name);
            if (!w) {
                snprintf(name, sizeof name, "weight.%s", views[i].hf_name);
                w = golden_find(&g, name);
            }
            if (!w) continue;
            EXPECT(w->numel <= views[i].rows * views[i].cols, "%s too large", name);
            EXPECT(golden_close(name, views[i].data, w->data, w->numel, 0.0f, 0.0f));
            checked++;
        }
        EXPECT(checked >= 5, "only %d weight slices in the golden file", checked);
        free(views);
    }
    const golden_tensor *tok = need(&g, "tokens"), *pos = need(&g, "positions"), *tgt = need(&g, "targets");
    const golden_tensor *head = need(&g, "logits_head"), *lse = need(&g, "logsumexp");
    const golden_tensor *logprobs = need(&g, "logprobs"), *loss = need(&g, "loss");
    if (tok && pos && tgt && head && lse && logprobs && loss) {
        int B = (int)tok->dims[0], T = (int)tok->dims[1], N = B * T, V = m.cfg.vocab_size, K = (int)head->dims[2];
        cada_batch b = {B, T, tok->data, pos->data, tgt->data};
        if (cada_model_forward(&m, &b) != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "forward: %s", cada_error_message());
        } else {
            float *got_head = malloc(sizeof(float) * (size_t)N * K);
            for (int n = 0; n < N; n++) memcpy(got_head + (size_t)n * K, m.act.logits + (size_t)n * V, sizeof(float) * K);
            EXPECT(golden_close("logits[:, :, :512]", got_head, head->data, (int64_t)N * K, 2e-3f, 0.0f));
            EXPECT(golden_close("logsumexp", m.act.lse, lse->data, N, 2e-3f, 0.0f));
            EXPECT(golden_close("logprobs", m.act.logprob, logprobs->data, N, 2e-3f, 0.0f));
            EXPECT(golden_close("loss", &m.loss, loss->data, 1, 2e-4f, 0.0f));
            free(got_head);
        }
    }
    cada_model_free(&m);
    golden_free(&g);
}

TEST(golden_smollm2_gguf_q4_1) { check_smollm2(cada_test_smollm2_path(), 1); }

/* `cada convert`'s output, loaded back, computes the same numbers: the Hugging Face
 * layout it writes is the one the loader (and transformers) reads. */
TEST(golden_smollm2_converted_to_safetensors) {
    char out[600];
    snprintf(out, sizeof out, "%s/smollm2-hf", cada_test_tmpdir());
    cada_model m;
    REQUIRE_OK(cada_model_load(&m, cada_test_smollm2_path()));
    cada_status st = cada_model_save_hf(&m, out, CADA_DTYPE_F32);
    cada_model_free(&m);
    REQUIRE_OK(st);
    check_smollm2(out, 1);
}

/* ---- bf16 matmuls (cada_model_options.matmul_bf16) against PyTorch's mixed precision --
 *
 * With bf16 arithmetic no fixed tolerance says "right": bf16 operands carry 2^-8
 * relative rounding, and what that does to a log-prob depends on the model. The
 * yardstick is PyTorch's own CPU mixed precision (torch.autocast bf16) on the same
 * batches: tests/ref/make_bf16_golden.py stores how far it lands from the fp64
 * reference (bf16_peer.gold), and cada's bf16 path must land no further, for the
 * log-probs and for every parameter gradient. (cada keeps activations in fp32 and rounds
 * only the matmul operands, so it is expected to be closer; a wrong packing or pairing
 * of k in ops/bgemm.c moves log-probs by O(1), far outside.) Gradients: the worst
 * relative error over all tensors at most the peer's worst, each tensor at most twice
 * the peer's figure for it. */

static float peer_figure(const golden_file *peer, const char *name) {
    const golden_tensor *t = need(peer, name);
    return t && t->numel == 1 ? ((const float *)t->data)[0] : -1.0f;
}

static float logprob_maxerr(const float *got, const golden_tensor *want, const golden_tensor *tgt, int N) {
    float e = 0.0f;
    for (int n = 0; n < N; n++)
        if (((const int *)tgt->data)[n] != -1) e = fmaxf(e, fabsf(got[n] - ((const float *)want->data)[n]));
    return e;
}

/* floor: cada's fp32 tolerance on these log-probs times ten; the bf16 error must exceed
 * it, or the option did not reach the matmuls (fp32 lands within the tolerance). */
static void check_bf16_against_peer(const char *model_name, const char *model_path, int grads, float floor) {
    char gold_path[1024], peer_path[1024], name[200];
    snprintf(gold_path, sizeof gold_path, "%s/tests/ref/golden/%s.gold", cada_test_root(), model_name);
    snprintf(peer_path, sizeof peer_path, "%s/tests/ref/golden/bf16_peer.gold", cada_test_root());
    golden_file g, peer;
    REQUIRE_OK(golden_load(&g, gold_path));
    if (golden_load(&peer, peer_path) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load %s: %s", peer_path, cada_error_message());
        golden_free(&g);
        return;
    }
    cada_model m;
    if (cada_model_load(&m, model_path) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load %s: %s", model_path, cada_error_message());
        golden_free(&g);
        golden_free(&peer);
        return;
    }
    const cada_model_options o = {.matmul_bf16 = 1};
    REQUIRE_OK(cada_model_set_options(&m, &o));
    const golden_tensor *tok = need(&g, "tokens"), *pos = need(&g, "positions"), *tgt = need(&g, "targets");
    const golden_tensor *logprobs = need(&g, "logprobs");
    if (tok && pos && tgt && logprobs) {
        int B = (int)tok->dims[0], T = (int)tok->dims[1], N = B * T;
        cada_batch b = {B, T, tok->data, pos->data, tgt->data};
        REQUIRE_OK(cada_model_forward(&m, &b));
        snprintf(name, sizeof name, "%s.logprob_maxerr", model_name);
        const float ours = logprob_maxerr(m.act.logprob, logprobs, tgt, N), theirs = peer_figure(&peer, name);
        printf("    %s bf16: log-prob max err %.3e (torch autocast bf16: %.3e)\n", model_name, ours, theirs);
        EXPECT(theirs > 0.0f && ours <= theirs, "%s: bf16 log-prob error %.3e above PyTorch autocast's %.3e", model_name,
               ours, theirs);
        EXPECT(ours > floor, "%s: bf16 log-prob error %.3e within fp32's range (<= %.1e): bf16 arithmetic not in effect",
               model_name, ours, floor);
        if (grads) {
            float *dlp = malloc(sizeof(float) * N);
            cada_ce_dlogprob(b.targets, N, dlp);
            REQUIRE_OK(cada_model_alloc_grads(&m));
            cada_model_zero_grads(&m);
            REQUIRE_OK(cada_model_backward(&m, dlp));
            int nv;
            cada_tensor_view *views = golden_model_views(&m, &m.g, &nv);
            REQUIRE(views);
            float worst_ours = 0.0f, worst_theirs = 0.0f;
            for (int i = 0; i < nv; i++) {
                snprintf(name, sizeof name, "grad.%s", views[i].hf_name);
                const golden_tensor *want = need(&g, name);
                snprintf(name, sizeof name, "%s.grad_relerr.%s", model_name, views[i].hf_name);
                const float bound = peer_figure(&peer, name);
                const int64_t n = views[i].rows * views[i].cols;
                if (!want || want->numel != n || bound <= 0.0f) {
                    cada_test_fail(__FILE__, __LINE__, "%s: no golden gradient or peer figure", views[i].hf_name);
                    continue;
                }
                float diff = 0.0f;
                for (int64_t k = 0; k < n; k++) diff = fmaxf(diff, fabsf(views[i].data[k] - ((const float *)want->data)[k]));
                const float rel = diff / fmaxf(max_abs(want->data, n), 1e-30f);
                /* tensor by tensor the two round different values (cada: only matmul
                 * operands; autocast: activations too), so each is held to twice the
                 * peer's figure and the worst of all to the peer's worst */
                EXPECT(rel <= 2.0f * bound, "%s %s: bf16 gradient rel err %.3e above twice PyTorch autocast's %.3e",
                       model_name, views[i].hf_name, rel, bound);
                worst_ours = fmaxf(worst_ours, rel);
                worst_theirs = fmaxf(worst_theirs, bound);
            }
            printf("    %s bf16: gradient max rel err %.3e (torch autocast bf16: %.3e)\n", model_name, worst_ours, worst_theirs);
            EXPECT(worst_ours <= worst_theirs, "%s: bf16 gradients' worst rel err %.3e above PyTorch autocast's %.3e",
                   model_name, worst_ours, worst_theirs);
            free(views);
            free(dlp);
        }
    }
    cada_model_free(&m);
    golden_free(&g);
    golden_free(&peer);
}

static void check_tiny_bf16(const char *model_name) {
    char model_dir[1024];
    snprintf(model_dir, sizeof model_dir, "%s/tests/ref/models/%s", cada_test_root(), model_name);
    check_bf16_against_peer(model_name, model_dir, 1, 5e-4f); /* fp32 tolerance 5e-5 */
}

TEST(golden_bf16_matmuls_tiny_llama_vs_torch_autocast) { check_tiny_bf16("tiny_llama"); }
TEST(golden_bf16_matmuls_tiny_qwen2_vs_torch_autocast) { check_tiny_bf16("tiny_qwen2"); }
TEST(golden_bf16_matmuls_smollm2_vs_torch_autocast) { check_bf16_against_peer("smollm2", cada_test_smollm2_path(), 0, 2e-2f); /* fp32 tolerance 2e-3 */ }
