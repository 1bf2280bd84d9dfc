/* tests/unit/test_golden_generate.c: greedy generation from SmolLM2-135M-Instruct must
 * equal Hugging Face transformers' greedy generate token for token (golden file from
 * tests/ref/make_generate_golden.py: 8 chat prompts, up to 64 new tokens, stopping on
 * the EOS ids transformers used).
 *
 * All prompts are generated together in a 3-slot engine, so continuous batching (slots
 * freed and refilled mid-run, prefill mixed with decode) is exercised too.
 *
 * Log-probabilities of the generated tokens are compared with the reference's fp64 run:
 * tolerance 2e-3, the same as the training forward's logits against fp64 (see
 * test_golden_model.c: 30 fp32 layers leave ~1e-4). */
#define _POSIX_C_SOURCE 200809L
#include "golden.h"
#include "test.h"

#include "model/load.h"
#include "rollout/engine.h"

#include <stdlib.h>
#include <string.h>

TEST(golden_smollm2_greedy_generate_matches_transformers) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/ref/golden/smollm2_generate.gold", cada_test_root());
    golden_file g;
    REQUIRE_OK(golden_load(&g, path));
    const golden_tensor *np = golden_find(&g, "n_prompts"), *eos = golden_find(&g, "eos_ids");
    const golden_tensor *maxnew = golden_find(&g, "max_new_tokens");
    if (!np || !eos || !maxnew) {
        cada_test_fail(__FILE__, __LINE__, "golden file lacks n_prompts / eos_ids / max_new_tokens");
        golden_free(&g);
        return;
    }
    int n = ((int *)np->data)[0];
    cada_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    cada_gen_result *res = calloc((size_t)n, sizeof *res);
    const golden_tensor **want = calloc((size_t)n, sizeof *want), **want_lp = calloc((size_t)n, sizeof *want_lp);
    int ok = reqs && res && want && want_lp;
    for (int i = 0; ok && i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "prompt.%d", i);
        const golden_tensor *p = golden_find(&g, name);
        snprintf(name, sizeof name, "generated.%d", i);
        want[i] = golden_find(&g, name);
        snprintf(name, sizeof name, "logprobs64.%d", i);
        want_lp[i] = golden_find(&g, name);
        if (!p || !want[i] || !want_lp[i]) {
            cada_test_fail(__FILE__, __LINE__, "golden file lacks prompt %d", i);
            ok = 0;
            break;
        }
        reqs[i] = (cada_gen_request){(uint64_t)i, 0, p->data, (int)p->numel, ((int *)maxnew->data)[0]};
    }
    cada_model m;
    if (ok && cada_model_load(&m, cada_test_smollm2_path()) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "load: %s", cada_error_message());
        ok = 0;
    }
    if (ok) {
        cada_engine_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sampling.temperature = 0.0f;
        cfg.sampling.top_p = 1.0f;
        cfg.n_slots = 3;
        cfg.max_len = 512;
        cfg.eos_ids = eos->data;
        cfg.n_eos = (int)eos->numel;
        cada_status st = cada_generate(&m, &cfg, reqs, n, res, NULL);
        if (st != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "generate: %s", cada_error_message());
        } else {
            float worst = 0.0f;
            int tokens = 0;
            for (int i = 0; i < n; i++) {
                const int *w = want[i]->data;
                int same = res[i].n == (int)want[i]->numel;
                int first_diff = -1;
                for (int t = 0; t < res[i].n && t < (int)want[i]->numel; t++)
                    if (res[i].tokens[t] != w[t]) {
                        same = 0;
                        first_diff = t;
                        break;
                    }
                EXPECT(same, "prompt %d: %d tokens generated, %lld expected, first difference at %d", i, res[i].n,
                       (long long)want[i]->numel, first_diff);
                for (int t = 0; same && t < res[i].n; t++) {
                    worst = fmaxf(worst, fabsf(res[i].logprobs[t] - ((float *)want_lp[i]->data)[t]));
                    tokens++;
                }
                cada_gen_result_free(&res[i]);
            }
            fprintf(stderr, "    %d tokens identical to transformers; log-probs max |diff| %.3g vs its fp64 run\n", tokens,
                    (double)worst);
            EXPECT(worst < 2e-3f, "log-prob max |diff| %g", (double)worst);
        }
        cada_model_free(&m);
    }
    free(reqs);
    free(res);
    free(want);
    free(want_lp);
    golden_free(&g);
}
