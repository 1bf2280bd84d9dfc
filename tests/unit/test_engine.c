/* tests/unit/test_engine.c: the generation engine on the real SmolLM2-135M: agreement
 * of rollout and learner log-probs, independence of samples from batch composition,
 * continuous batching, bad requests. (Greedy parity with Hugging Face generate is in
 * test_golden_generate.c.) */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "model/load.h"
#include "rollout/engine.h"
#include "rollout/prefix_cache.h"

#include <stdlib.h>
#include <string.h>

static cada_model smol;
static int smol_loaded;

static cada_model *load_smol(void) {
    if (!smol_loaded) {
        if (cada_model_load(&smol, cada_test_smollm2_path()) != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "load: %s", cada_error_message());
            return NULL;
        }
        smol_loaded = 1;
    }
    return &smol;
}

/* "<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n" as SmolLM2's reference
 * tokenizer encodes it (transformers AutoTokenizer), for "What is the capital of
 * France?", "Write a short poem." and "Count to 5.": fixed ids keep this test
 * independent of the tokenizer module. */
static const int prompt_a[] = {1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198};
static const int prompt_b[] = {1, 4093, 198, 19161, 253, 1890, 8216, 30, 2, 198, 1, 520, 9531, 198};
static const int prompt_c[] = {1, 4093, 198, 9825, 288, 216, 37, 30, 2, 198, 1, 520, 9531, 198};
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static cada_engine_config sampling_config(int slots) {
    static const int eos[] = {2};
    cada_engine_config c;
    memset(&c, 0, sizeof c);
    c.sampling.temperature = 1.0f;
    c.sampling.top_k = 0;
    c.sampling.top_p = 0.95f;
    c.seed = 1234;
    c.n_slots = slots;
    c.max_len = 256;
    c.eos_ids = eos;
    c.n_eos = 1;
    return c;
}

/* The log-probs the engine returns for sampled tokens must match what the training
 * forward computes for the same sequences: a learner's importance ratio starts at 1.
 * Both run fp32 with the same per-token operation order; the difference comes only
 * from sgemm blocking over different row counts and the engine's scalar attention
 * loop versus the training path's sgemm attention. Measured ~1e-5 at most; the
 * tolerance 2e-4 flags any real mismatch (a wrong position or cache slot moves
 * log-probs by >1e-2). */
TEST(engine_rollout_logprobs_match_training_forward) {
    cada_model *m = load_smol();
    REQUIRE(m);
    const int *prompts[3] = {prompt_a, prompt_b, prompt_c};
    int lens[3] = {LEN(prompt_a), LEN(prompt_b), LEN(prompt_c)};
    cada_gen_request reqs[3];
    for (int i = 0; i < 3; i++) reqs[i] = (cada_gen_request){(uint64_t)i, 0, prompts[i], lens[i], 24};
    cada_engine_config cfg = sampling_config(2);
    cada_gen_result res[3];
    REQUIRE_OK(cada_generate(m, &cfg, reqs, 3, res, NULL));
    /* pack prompt + completion of each as one document per row, T = longest */
    int T = 0;
    for (int i = 0; i < 3; i++) T = lens[i] + res[i].n > T ? lens[i] + res[i].n : T;
    int *tok = calloc(3 * (size_t)T, sizeof(int)), *pos = calloc(3 * (size_t)T, sizeof(int)), *tgt = malloc(sizeof(int) * 3 * T);
    for (int i = 0; i < 3 * T; i++) tgt[i] = -1;
    for (int i = 0; i < 3; i++) {
        int n = lens[i] + res[i].n;
        for (int t = 0; t < T; t++) {
            int idx = i * T + t;
            tok[idx] = t < lens[i] ? prompts[i][t] : t < n ? res[i].tokens[t - lens[i]] : 0;
            pos[idx] = t < n ? t : t - n; /* the tail is a padding document */
            if (t + 1 < n && t + 1 >= lens[i]) tgt[idx] = res[i].tokens[t + 1 - lens[i]];
        }
    }
    cada_batch b = {3, T, tok, pos, tgt};
    REQUIRE_OK(cada_model_forward(m, &b));
    float worst = 0.0f;
    int compared = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < res[i].n; j++) {
            float learner = m->act.logprob[i * T + lens[i] - 1 + j];
            worst = fmaxf(worst, fabsf(learner - res[i].logprobs[j]));
            compared++;
        }
    fprintf(stderr, "    rollout vs learner log-probs: max |diff| %.3g over %d sampled tokens\n", (double)worst, compared);
    EXPECT(worst < 2e-4f, "max |diff| %g", (double)worst);
    for (int i = 0; i < 3; i++) cada_gen_result_free(&res[i]);
    free(tok); free(pos); free(tgt);
}

/* A sample depends on (seed, prompt id, sample index) only: the same request alone in
 * a one-slot engine and among others in a three-slot engine gives the same tokens. */
TEST(engine_samples_independent_of_batch_composition) {
    cada_model *m = load_smol();
    REQUIRE(m);
    cada_gen_request alone = {7, 3, prompt_b, LEN(prompt_b), 20};
    cada_gen_request crowd[4] = {
        {1, 0, prompt_a, LEN(prompt_a), 12}, {7, 3, prompt_b, LEN(prompt_b), 20},
        {2, 0, prompt_c, LEN(prompt_c), 30}, {7, 4, prompt_b, LEN(prompt_b), 20}};
    cada_engine_config one = sampling_config(1), three = sampling_config(3);
    cada_gen_result r1, r3[4];
    REQUIRE_OK(cada_generate(m, &one, &alone, 1, &r1, NULL));
    REQUIRE_OK(cada_generate(m, &three, crowd, 4, r3, NULL));
    EXPECT(r1.n == r3[1].n && !memcmp(r1.tokens, r3[1].tokens, sizeof(int) * (size_t)r1.n),
           "sample (7, 3) changed with its batch (%d vs %d tokens)", r1.n, r3[1].n);
    int same_as_other_sample = r3[1].n == r3[3].n && !memcmp(r3[1].tokens, r3[3].tokens, sizeof(int) * (size_t)r3[1].n);
    EXPECT(!same_as_other_sample, "samples 3 and 4 of one prompt should differ");
    for (int i = 0; i < 4; i++) {
        EXPECT(r3[i].finish != CADA_FINISH_NONE, "request %d unfinished", i);
        EXPECT(r3[i].n <= crowd[i].max_new_tokens, "request %d over its budget", i);
        cada_gen_result_free(&r3[i]);
    }
    cada_gen_result_free(&r1);
}

TEST(engine_bad_requests) {
    cada_model *m = load_smol();
    REQUIRE(m);
    cada_engine_config cfg = sampling_config(2);
    cfg.max_len = 10;
    cada_gen_request long_prompt = {5, 0, prompt_a, LEN(prompt_a), 4};
    cada_gen_result r;
    EXPECT(cada_generate(m, &cfg, &long_prompt, 1, &r, NULL) != CADA_OK);
    EXPECT(strstr(cada_error_message(), "request 0") && strstr(cada_error_message(), "context limit"), "%s",
           cada_error_message());
    cfg.max_len = 64;
    cada_gen_request none = {5, 0, prompt_a, LEN(prompt_a), 0};
    EXPECT(cada_generate(m, &cfg, &none, 1, &r, NULL) != CADA_OK);
    int bad_ids[2] = {1, 999999};
    cada_gen_request bad = {5, 0, bad_ids, 2, 4};
    EXPECT(cada_generate(m, &cfg, &bad, 1, &r, NULL) != CADA_OK);
    EXPECT(strstr(cada_error_message(), "999999") != NULL, "%s", cada_error_message());
    /* the context limit ends a sequence cleanly */
    cfg.max_len = LEN(prompt_a) + 5;
    cfg.sampling.temperature = 0.0f;
    cada_gen_request tight = {5, 0, prompt_a, LEN(prompt_a), 50};
    REQUIRE_OK(cada_generate(m, &cfg, &tight, 1, &r, NULL));
    EXPECT(r.finish == CADA_FINISH_CONTEXT || r.finish == CADA_FINISH_EOS, "finish %s", cada_finish_name(r.finish));
    EXPECT(LEN(prompt_a) + r.n <= cfg.max_len + 1, "%d tokens in a %d context", LEN(prompt_a) + r.n, cfg.max_len);
    cada_gen_result_free(&r);
}

/* One run of `reqs` with the given cache shape; block 0 and sharing off is the
 * reference: one block of max_len positions per slot, every sample prefilling its
 * prompt, no prefix cache (the contiguous cache's layout and calls). */
static void run_shape(cada_model *m, const cada_gen_request *reqs, int n, int slots, int block, int share,
                      cada_gen_result *res, cada_engine_stats *st) {
    cada_engine_config cfg = sampling_config(slots);
    cfg.max_len = 64;
    cfg.kv_block_tokens = block ? block : cfg.max_len;
    cfg.no_prompt_sharing = !share;
    cfg.no_prefix_cache = !share;
    REQUIRE_OK(cada_generate(m, &cfg, reqs, n, res, st));
}

/* The paged cache with prompt sharing gives the learner what the contiguous layout
 * gives: the same tokens for the same seeds, block sizes 1, 5 (blocks straddle the
 * prompt's end) and 16, samples_per_prompt 1 and 4, sequences ending at different
 * times (different max_new_tokens, EOS) so samples start while others run. Log-probs:
 * attention sums positions in the same order whatever block holds them, so the only
 * difference can come from sgemm over a different row count (a shared prompt is not
 * prefilled again, so a call has fewer rows). Measured: exactly 0 with one sample per
 * prompt (same calls), 1.05e-5 with four (the same for every block size, so from the
 * calls' shapes, not the blocks); the bound 5e-5 is far below the 1e-2 a wrong position
 * or block moves them by. */
TEST(engine_paged_cache_matches_contiguous) {
    cada_model *m = load_smol();
    REQUIRE(m);
    const int *prompts[2] = {prompt_a, prompt_b};
    const int lens[2] = {LEN(prompt_a), LEN(prompt_b)};
    for (int spp = 1; spp <= 4; spp += 3) {
        cada_gen_request reqs[8];
        int n = 2 * spp;
        for (int i = 0; i < n; i++)
            reqs[i] = (cada_gen_request){(uint64_t)(i / spp), (uint32_t)(i % spp), prompts[i / spp], lens[i / spp], 4 + 3 * (i % 3)};
        cada_gen_result ref[8];
        run_shape(m, reqs, n, 3, 0, 0, ref, NULL);
        const int blocks[3] = {1, 5, 16};
        for (int b = 0; b < 3; b++) {
            cada_gen_result got[8];
            cada_engine_stats st;
            run_shape(m, reqs, n, 3, blocks[b], 1, got, &st);
            float worst = 0.0f;
            for (int i = 0; i < n; i++) {
                EXPECT(got[i].n == ref[i].n && got[i].finish == ref[i].finish &&
                           !memcmp(got[i].tokens, ref[i].tokens, sizeof(int) * (size_t)ref[i].n),
                       "samples %d, block %d: request %d differs (%d vs %d tokens)", spp, blocks[b], i, got[i].n, ref[i].n);
                for (int j = 0; j < got[i].n && j < ref[i].n; j++)
                    worst = fmaxf(worst, fabsf(got[i].logprobs[j] - ref[i].logprobs[j]));
                cada_gen_result_free(&got[i]);
            }
            fprintf(stderr, "    samples %d, block %2d: max |log-prob diff| %.3g; %ld prompt tokens shared; peak %d of %d blocks\n",
                    spp, blocks[b], (double)worst, st.shared_prompt_tokens, st.cache_blocks_peak, st.cache_blocks);
            EXPECT(spp == 1 ? worst == 0.0f : worst <= 5e-5f, "max |diff| %g", (double)worst);
            EXPECT(spp == 1 ? st.shared_prompt_tokens == 0 : st.shared_prompt_tokens == (long)(spp - 1) * (lens[0] + lens[1]),
                   "%ld prompt tokens shared", st.shared_prompt_tokens);
        }
        for (int i = 0; i < n; i++) cada_gen_result_free(&ref[i]);
    }
}

/* A pool below the worst case delays admissions instead of failing; one too small for
 * a single request is an error naming it. */
TEST(engine_paged_pool_budget) {
    cada_model *m = load_smol();
    REQUIRE(m);
    cada_gen_request reqs[4];
    for (int i = 0; i < 4; i++) reqs[i] = (cada_gen_request){9, (uint32_t)i, prompt_c, LEN(prompt_c), 6};
    cada_gen_result ref[4], got[4];
    cada_engine_config cfg = sampling_config(4);
    cfg.max_len = 64;
    REQUIRE_OK(cada_generate(m, &cfg, reqs, 4, ref, NULL));
    cfg.kv_block_tokens = 4;
    cfg.kv_blocks = 12; /* the prompt (14 tokens: 3 full blocks + 1) and two samples' own 2 each at most */
    cada_engine_stats st;
    REQUIRE_OK(cada_generate(m, &cfg, reqs, 4, got, &st));
    EXPECT(st.cache_blocks_peak <= 12, "peak %d", st.cache_blocks_peak);
    for (int i = 0; i < 4; i++) {
        EXPECT(got[i].n == ref[i].n && !memcmp(got[i].tokens, ref[i].tokens, sizeof(int) * (size_t)ref[i].n), "request %d", i);
        cada_gen_result_free(&got[i]);
        cada_gen_result_free(&ref[i]);
    }
    cfg.kv_blocks = 4;
    EXPECT(cada_generate(m, &cfg, reqs, 4, got, NULL) != CADA_OK);
    EXPECT(strstr(cada_error_message(), "request 0") != NULL, "%s", cada_error_message());
}

/* Runs reqs with a pool of `blocks` blocks of `block` positions and concurrency bound
 * `slots` (0: as memory allows), and compares with ref (the roomy contiguous engine):
 * the same tokens and finishes, log-probs within 2e-4. A preempted sequence prefills
 * its prompt and tokens again in one call, so its later log-probs come from calls of
 * other row counts than the roomy engine's (the sgemm row-count effect of
 * engine_paged_cache_matches_contiguous; a wrong position or stream moves tokens, and
 * log-probs by > 1e-2). Measured here up to 4.1e-5 (block 4, with the prefix cache):
 * recomputes change many calls' row counts, and another CPU's BLAS blocks its sums
 * differently, so the bound is 2e-4, still 50x below what a wrong position does.
 * Returns the preemptions. */
static int run_tight(cada_model *m, const cada_gen_request *reqs, int n, int slots, int block, int blocks, int share,
                     const cada_gen_result *ref) {
    cada_engine_config cfg = sampling_config(slots);
    cfg.max_len = 64;
    cfg.kv_block_tokens = block;
    cfg.kv_blocks = blocks;
    cfg.no_prompt_sharing = !share;
    cada_gen_result got[8];
    cada_engine_stats st;
    if (cada_generate(m, &cfg, reqs, n, got, &st) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "generate: %s", cada_error_message());
        return -1;
    }
    float worst = 0.0f;
    for (int i = 0; i < n; i++) {
        EXPECT(got[i].n == ref[i].n && got[i].finish == ref[i].finish &&
                   !memcmp(got[i].tokens, ref[i].tokens, sizeof(int) * (size_t)ref[i].n),
               "slots %d, block %d, %d blocks, sharing %d: request %d differs (%d vs %d tokens)", slots, block, blocks, share, i,
               got[i].n, ref[i].n);
        for (int j = 0; j < got[i].n && j < ref[i].n; j++) worst = fmaxf(worst, fabsf(got[i].logprobs[j] - ref[i].logprobs[j]));
        cada_gen_result_free(&got[i]);
    }
    fprintf(stderr,
            "    slots %2d, block %2d, %2d blocks, sharing %d: %d preemptions, %ld tokens recomputed, peak %d blocks; max "
            "|log-prob diff| %.3g\n",
            slots, block, blocks, share, st.preemptions, st.recomputed_tokens, st.cache_blocks_peak, (double)worst);
    EXPECT(st.cache_blocks_peak <= blocks, "peak %d of %d blocks", st.cache_blocks_peak, blocks);
    EXPECT(worst <= 2e-4f, "max |diff| %g", (double)worst);
    return st.preemptions;
}

/* Batches sized by memory, with preemption: a pool far below the worst case (and a
 * slot bound far above what it holds) runs every request to the same tokens as the
 * roomy engine, for block sizes 16 and 4, with the samples of a prompt sharing its
 * blocks or not. A preempted sample keeps its stream and the log-probs of its first
 * pass; a preempted sharer drops only its own references (run under `make asan`). */
TEST(engine_preemption_matches_roomy) {
    cada_model *m = load_smol();
    REQUIRE(m);
    const int *prompts[2] = {prompt_a, prompt_b};
    const int lens[2] = {LEN(prompt_a), LEN(prompt_b)};
    cada_gen_request reqs[6]; /* two prompts x three samples, budgets 20 to 36 */
    for (int i = 0; i < 6; i++)
        reqs[i] = (cada_gen_request){(uint64_t)(i / 3), (uint32_t)(i % 3), prompts[i / 3], lens[i / 3], 20 + 8 * (i % 3)};
    cada_gen_result ref[6];
    run_shape(m, reqs, 6, 6, 0, 0, ref, NULL);
    /* block 16: a sequence takes 4 blocks at most (16 + 36 positions); block 4: 13 */
    struct { int slots, block, blocks, share; } runs[] = {
        {6, 16, 5, 0}, {64, 16, 5, 0}, {0, 16, 5, 1}, {6, 4, 14, 0}, {64, 4, 14, 1}, {0, 4, 16, 1},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        int p = run_tight(m, reqs, 6, runs[k].slots, runs[k].block, runs[k].blocks, runs[k].share, ref);
        EXPECT(p > 0, "run %zu: no preemption in a pool of %d blocks", k, runs[k].blocks);
    }
    for (int i = 0; i < 6; i++) cada_gen_result_free(&ref[i]);
}

/* ---- the prefix cache across prompts (rollout/prefix_cache.h) ---------------------- */

/* Three prompts behind one 40-token head (prompt_a, prompt_b and the first 10 of
 * prompt_c, as a system turn would be): with blocks of 16 the first two blocks are the
 * same for all, the third mixes the head's end with each prompt's own tokens. */
#define HEAD_LEN 40
static int head_prompts[3][HEAD_LEN + 16];
static int head_lens[3];

static void make_head_prompts(void) {
    int head[HEAD_LEN];
    memcpy(head, prompt_a, sizeof prompt_a);
    memcpy(head + LEN(prompt_a), prompt_b, sizeof prompt_b);
    memcpy(head + LEN(prompt_a) + LEN(prompt_b), prompt_c, sizeof(int) * (HEAD_LEN - LEN(prompt_a) - LEN(prompt_b)));
    const int *tails[3] = {prompt_a, prompt_b, prompt_c};
    const int tail_lens[3] = {LEN(prompt_a), LEN(prompt_b), LEN(prompt_c)};
    for (int i = 0; i < 3; i++) {
        memcpy(head_prompts[i], head, sizeof head);
        memcpy(head_prompts[i] + HEAD_LEN, tails[i], sizeof(int) * (size_t)tail_lens[i]);
        head_lens[i] = HEAD_LEN + tail_lens[i];
    }
}

/* Runs reqs (max_len 128) and compares with ref: the same tokens and finishes, log-probs
 * within 2e-4 (run_tight's bound and reason). A prefill that starts after cached blocks has fewer rows than one of the
 * whole prompt, so the sgemm row-count effect of engine_paged_cache_matches_contiguous
 * applies (a wrong position or block moves log-probs by > 1e-2). */
/* Greedy: a cached block was computed in a batch of other rows than the reference's, so
 * its values differ in the last bits (sgemm blocking follows the row count), and
 * sampled tokens would flip wherever a uniform draw falls that close to a boundary of
 * the cumulative distribution, which depends on the CPU's BLAS kernels (it happened on
 * an AMD EPYC, not on an Intel Xeon). Greedy flips only at a near-tie of the top two. */
static cada_engine_config prefix_config(int slots) {
    cada_engine_config c = sampling_config(slots);
    c.sampling.temperature = 0.0f;
    c.n_eos = 0; /* every request runs to its max_tokens: the tight pools must preempt */
    return c;
}

static void run_prefix(cada_model *m, const cada_gen_request *reqs, int n, int slots, int block, int blocks, int share,
                       int cache, const cada_gen_result *ref, cada_engine_stats *st) {
    cada_engine_config cfg = prefix_config(slots);
    cfg.max_len = 128;
    cfg.kv_block_tokens = block;
    cfg.kv_blocks = blocks;
    cfg.no_prompt_sharing = !share;
    cfg.no_prefix_cache = !cache;
    cada_gen_result got[8];
    if (cada_generate(m, &cfg, reqs, n, got, st) != CADA_OK) {
        cada_test_fail(__FILE__, __LINE__, "generate: %s", cada_error_message());
        return;
    }
    float worst = 0.0f;
    for (int i = 0; i < n; i++) {
        EXPECT(got[i].n == ref[i].n && got[i].finish == ref[i].finish &&
                   !memcmp(got[i].tokens, ref[i].tokens, sizeof(int) * (size_t)ref[i].n),
               "slots %d, block %d, %d blocks, sharing %d, cache %d: request %d differs (%d vs %d tokens)", slots, block,
               blocks, share, cache, i, got[i].n, ref[i].n);
        for (int j = 0; j < got[i].n && j < ref[i].n; j++) worst = fmaxf(worst, fabsf(got[i].logprobs[j] - ref[i].logprobs[j]));
        cada_gen_result_free(&got[i]);
    }
    fprintf(stderr,
            "    slots %2d, block %2d, %3d blocks, sharing %d, cache %d: %ld prefix-hit tokens, %ld evictions, %d "
            "preemptions, %ld recomputed; max |log-prob diff| %.3g\n",
            slots, block, blocks, share, cache, st->prefix_hit_tokens, st->prefix_evictions, st->preemptions,
            st->recomputed_tokens, (double)worst);
    EXPECT(worst <= 2e-4f, "max |diff| %g", (double)worst);
    if (blocks) EXPECT(st->cache_blocks_peak <= blocks, "peak %d of %d blocks", st->cache_blocks_peak, blocks);
}

/* Requests sharing a 2-block head with different tails give with the prefix cache the
 * tokens they give without it (the reference: a roomy engine, no cache), with one and
 * with two samples per prompt (the samples' own sharing on top), and in tight pools
 * where cached blocks must be evicted and sequences preempted (a re-admitted sequence
 * may start from cached blocks, its own included). */
TEST(engine_prefix_cache_matches_no_cache) {
    cada_model *m = load_smol();
    REQUIRE(m);
    make_head_prompts();
    for (int spp = 1; spp <= 2; spp++) {
        cada_gen_request reqs[6];
        const int n = 3 * spp;
        for (int i = 0; i < n; i++)
            reqs[i] = (cada_gen_request){(uint64_t)(i / spp), (uint32_t)(i % spp), head_prompts[i / spp], head_lens[i / spp],
                                         20 + 8 * (i % 3)};
        cada_gen_result ref[6];
        cada_engine_config cfg = prefix_config(n);
        cfg.max_len = 128;
        cfg.no_prefix_cache = 1;
        REQUIRE_OK(cada_generate(m, &cfg, reqs, n, ref, NULL));
        cada_engine_stats st;
        /* roomy, 2 slots: a prompt admitted after the first prefill finds the head's 2
         * blocks; the samples of a prompt share its blocks without a lookup. One sample:
         * prompts 0 and 1 start together, 2 finds the head. Two: 1 and 2 find it. */
        run_prefix(m, reqs, n, 2, 16, 0, 1, 1, ref, &st);
        EXPECT(st.prefix_hit_tokens == (spp == 1 ? 32 : 64), "%ld prefix-hit tokens", st.prefix_hit_tokens);
        EXPECT(st.prefix_evictions == 0 && st.preemptions == 0, "%ld evictions, %d preemptions", st.prefix_evictions,
               st.preemptions);
        /* the same without the samples' sharing: every sample admitted after the first
         * call finds the head's 2 blocks at least (its prompt's 3 when a sample of it
         * was prefilled before) */
        run_prefix(m, reqs, n, 2, 16, 0, 0, 1, ref, &st);
        EXPECT(spp == 1 ? st.prefix_hit_tokens == 32 : st.prefix_hit_tokens >= 4 * 32, "%ld prefix-hit tokens",
               st.prefix_hit_tokens);
        /* tight pools (a request's worst case: 6 blocks of 16, 24 of 4): eviction and preemption */
        const struct { int slots, block, blocks, share; } tight[] = {{0, 16, 8, 1}, {0, 16, 8, 0}, {6, 4, 30, 1}, {0, 4, 24, 0}};
        for (size_t k = 0; k < sizeof tight / sizeof tight[0]; k++) {
            run_prefix(m, reqs, n, tight[k].slots, tight[k].block, tight[k].blocks, tight[k].share, 1, ref, &st);
            EXPECT(st.prefix_hit_tokens > 0 && st.prefix_hit_tokens % tight[k].block == 0, "run %zu: %ld prefix-hit tokens",
                   k, st.prefix_hit_tokens);
            EXPECT(st.prefix_evictions > 0, "run %zu: no eviction in a pool of %d blocks", k, tight[k].blocks);
            if (spp == 2) EXPECT(st.preemptions > 0, "run %zu: no preemption in a pool of %d blocks", k, tight[k].blocks);
        }
        for (int i = 0; i < n; i++) cada_gen_result_free(&ref[i]);
    }
}

/* The lookup never serves a block whose hash matches but whose prefix does not: with
 * hash_mask 0 every key has the same hash and bucket, so only the comparison of the
 * parent entry and the token ids tells blocks apart. Also: a slot starts from attached
 * cached blocks and prefills the rest at their positions (the logits equal a full
 * prefill's up to the sgemm row-count effect); referenced blocks are not evictable,
 * children go before parents, and eviction returns every block to the pool. */
TEST(engine_prefix_cache_lookup_collisions) {
    cada_model *m = load_smol();
    REQUIRE(m);
    const int B = 4, V = m->cfg.vocab_size;
    cada_kv_cache kv;
    REQUIRE_OK(cada_kv_cache_init(&kv, &m->cfg, 3, 32, 32, B, 12));
    cada_prefix_cache pc;
    REQUIRE_OK(cada_prefix_cache_init(&pc, kv.n_blocks, B));
    pc.hash_mask = 0;
    /* x: 14 tokens (3 full blocks); y: x's first block, then its own */
    const int *x = prompt_a, nx = 14;
    int y[14];
    memcpy(y, prompt_a, sizeof(int) * 4);
    memcpy(y + 4, prompt_b + 4, sizeof(int) * 10);
    float *lx = malloc(sizeof(float) * (size_t)V), *ly = malloc(sizeof(float) * (size_t)V), *lf = malloc(sizeof(float) * (size_t)V);
    cada_infer_seq sx = {0, nx, x};
    REQUIRE_OK(cada_model_infer(m, &kv, &sx, 1, lx));
    cada_prefix_cache_insert(&pc, &kv, x, kv.len[0] / B, kv.table);
    EXPECT(pc.n == 3, "%d entries", pc.n);
    int blocks[8];
    int hit = cada_prefix_cache_lookup(&pc, y, (14 - 1) / B, blocks);
    EXPECT(hit == 1 && blocks[0] == kv.table[0], "y: %d blocks", hit);
    REQUIRE_OK(cada_kv_cache_attach(&kv, 1, blocks, hit));
    cada_infer_seq sy = {1, 14 - hit * B, y + hit * B};
    REQUIRE_OK(cada_model_infer(m, &kv, &sy, 1, ly));
    cada_prefix_cache_insert(&pc, &kv, y, kv.len[1] / B, kv.table + kv.max_blocks);
    EXPECT(pc.n == 5, "%d entries (y adds 2)", pc.n);
    /* y's logits after a prefill from position 4 match a full prefill of y in a fresh slot */
    cada_infer_seq sf = {2, 14, y};
    REQUIRE_OK(cada_model_infer(m, &kv, &sf, 1, lf));
    float worst = 0.0f;
    for (int v = 0; v < V; v++) worst = fmaxf(worst, fabsf(ly[v] - lf[v]));
    EXPECT(worst < 1e-3f, "logits from cached blocks differ by %g", (double)worst);
    cada_kv_cache_clear_slot(&kv, 2);
    /* every lookup walks colliding keys: each answer is the right chain */
    hit = cada_prefix_cache_lookup(&pc, x, 3, blocks);
    EXPECT(hit == 3 && !memcmp(blocks, kv.table, sizeof(int) * 3), "x: %d blocks", hit);
    hit = cada_prefix_cache_lookup(&pc, y, 3, blocks);
    EXPECT(hit == 3 && !memcmp(blocks, kv.table + kv.max_blocks, sizeof(int) * 3), "y: %d blocks", hit);
    int z[12]; /* x's blocks 0 and 2 with y's block 1: the third block's parent differs */
    memcpy(z, x, sizeof(int) * 4);
    memcpy(z + 4, y + 4, sizeof(int) * 4);
    memcpy(z + 8, x + 8, sizeof(int) * 4);
    hit = cada_prefix_cache_lookup(&pc, z, 3, blocks);
    EXPECT(hit == 2 && blocks[1] == kv.table[kv.max_blocks + 1], "z: %d blocks", hit);
    int w[12]; /* x with its first token changed: nothing */
    memcpy(w, x, sizeof(int) * 12);
    w[0] = 5;
    EXPECT(cada_prefix_cache_lookup(&pc, w, 3, blocks) == 0, "w hit");
    EXPECT(cada_prefix_cache_lookup(&pc, x, 2, blocks) == 2, "max_blocks not respected");
    /* while slots hold them, nothing is evictable; then all go, leaves first */
    EXPECT(!cada_prefix_cache_evict(&pc, &kv), "evicted a referenced block");
    cada_kv_cache_clear_slot(&kv, 1);
    EXPECT(cada_prefix_cache_evict(&pc, &kv) && cada_prefix_cache_evict(&pc, &kv), "y's own blocks");
    EXPECT(!cada_prefix_cache_evict(&pc, &kv), "evicted a block slot 0 holds");
    EXPECT(cada_prefix_cache_lookup(&pc, x, 3, blocks) == 3 && cada_prefix_cache_lookup(&pc, y, 3, blocks) == 1,
           "eviction took the wrong blocks");
    cada_kv_cache_clear_slot(&kv, 0);
    int n_ev = 0;
    while (cada_prefix_cache_evict(&pc, &kv)) n_ev++;
    EXPECT(n_ev == 3 && pc.n == 0 && kv.n_free == kv.n_blocks, "%d evicted, %d cached, %d of %d free", n_ev, pc.n, kv.n_free,
           kv.n_blocks);
    cada_prefix_cache_free(&pc, &kv);
    cada_kv_cache_free(&kv);
    free(lx), free(ly), free(lf);
}
