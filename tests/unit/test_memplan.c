/* tests/unit/test_memplan.c: model/memplan.h against numbers computed by hand, and (in
 * the CUDA build) part by part against cada_gpu_model_plan, the GPU model's own arena
 * accounting, which needs no GPU. */
#include "test.h"

#include "model/infer.h"
#include "model/infer_weights.h"
#include "model/memplan.h"
#include "model/model.h"
#include "rollout/engine.h"

#include <string.h>

#ifdef CADA_HAVE_CUDA
#include "model/model_gpu.h"
#endif

static cada_memplan_in base_in(void) {
    cada_memplan_in in;
    memset(&in, 0, sizeof in);
    in.learners = 1;
    in.micro_tokens = 32;
    in.micro_per_rank = 1;
    in.slots = 2;
    in.max_len = 16;
    in.prefill_tokens = 8;
    return in;
}

/* V 256, C 64, I 128, L 2, H 4, KVH 2, D 16, untied, no bias. */
static cada_model_config tiny(void) {
    cada_model_config c;
    cada_memplan_preset("smollm2-135m", &c); /* for the scalar fields */
    c.vocab_size = 256;
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 16;
    c.tie_embeddings = 0;
    c.qkv_bias = 0;
    return c;
}

TEST(memplan_llama3_8b_by_hand) {
    cada_model_config c;
    REQUIRE(cada_memplan_preset("llama3-8b", &c) == 0);
    REQUIRE(cada_config_param_count(&c) == 8030261248LL);
    cada_memplan_in in = base_in();
    in.learners = 4;
    in.zero = 2;
    in.micro_tokens = 4096;
    in.micro_per_rank = 1;
    cada_memplan p;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    /* bf16 weights: 2 x 8030261248 = 16.06 GB, + RoPE inv_freq 64 floats */
    EXPECT(p.weights == 16060522496ull + 256, "weights %zu", p.weights);
    /* ZeRO over 4: master 4n/4, AdamW 8n/4 (8 bytes per parameter, sharded) */
    EXPECT(p.master == 8030261248ull, "master %zu", p.master);
    EXPECT(p.adam == 16060522496ull, "adam %zu", p.adam);
    /* ZeRO-2 gradients: 4 (2 V C + C) whole + 2 layers of 218112000 + the 4n/4 shard */
    EXPECT(cada_memplan_layer_params(&c) == 218112000u);
    EXPECT(p.grads == 4ull * (1050677248ull + 2 * 218112000ull) + 8030261248ull, "grads %zu", p.grads);
    in.micro_per_rank = 2; /* a round buffer joins */
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    EXPECT(p.grads == 4ull * (1050677248ull + 2 * 218112000ull) + 2 * 8030261248ull, "grads %zu", p.grads);
    /* DP: nothing sharded, AdamW 8 bytes per parameter */
    in.zero = 0;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    EXPECT(p.adam == 64242089984ull && p.master == 32121044992ull && p.grads == 32121044992ull);
    /* ZeRO-1: gradients whole, optimizer sharded */
    in.zero = 1;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    EXPECT(p.grads == 32121044992ull && p.adam == 16060522496ull);
    /* KV cache: 16 slots x 2048 tokens x 128 KiB per token (2 x 32 layers x 8 x 128 x bf16) = 4 GiB */
    in.slots = 16;
    in.max_len = 2048;
    in.prefill_tokens = 16 * 1536;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p));
    EXPECT(p.kv_cache == 4294967296ull, "kv %zu", p.kv_cache);
    EXPECT(p.master == 0 && p.adam == 0 && p.grads == 0 && p.activations == 0, "a rollout rank holds no training state");
    EXPECT(p.weights == 16060522496ull + 256);
    EXPECT(cada_config_kv_bytes_per_token(&c, 2) * 16 * 2048 == (long long)p.kv_cache);
}

TEST(memplan_activations_by_hand) {
    cada_model_config c = tiny();
    cada_memplan_in in = base_in();
    cada_memplan p;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    /* Nm 32: residual 4 x 3 x 32 x 64 = 24576; per layer per row 1688 bytes (resmid 256, xn1
     * 128, rstd1 4, qkv 256, atty 128, lse 16, xn2 128, rstd2 4, gate/up 512, h 256);
     * final 152 per row: 24576 + 2 x 32 x 1688 + 32 x 152 */
    EXPECT(p.activations == 137472u, "activations %zu", p.activations);
    EXPECT(p.logits == 32u * 256 * 6, "logits %zu", p.logits);
    in.recompute = 1; /* one kept layer */
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    EXPECT(p.activations == 83456u, "activations with recompute %zu", p.activations);
    /* the total is the sum of the parts */
    EXPECT(p.total == p.weights + p.master + p.grads + p.adam + p.activations + p.logits + p.scratch + p.workspace);
    /* colocated with a reference adds the KV cache, infer buffers and a bf16 copy */
    in.reference = 1;
    cada_memplan q;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_COLOCATED, &q));
    EXPECT(q.kv_cache == 2u * 2 * 2 * 16 * 2 * 16 * 2, "kv %zu", q.kv_cache);
    EXPECT(q.reference > 2 * q.n_params && q.infer > 0);
    EXPECT(q.total == p.total + q.kv_cache + q.infer + q.reference);
}

TEST(memplan_rejects_bad_input) {
    cada_model_config c = tiny();
    cada_memplan_in in = base_in();
    cada_memplan p;
    in.learners = 0;
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "learners") != NULL, "%s", cada_error_message());
    in = base_in();
    in.zero = 3; /* ZeRO-3: the CPU plan only */
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "ZeRO-3") != NULL, "%s", cada_error_message());
    in.learners = 4;
    cada_memplan_cpu q3, q2;
    cada_model_config deep = c; /* 16 layers: two gathered layers are an eighth of them */
    deep.n_layers = 16;
    EXPECT(cada_memplan_cpu_role(&deep, &in, 0, 1, CADA_ROLE_LEARNER, &q3) == CADA_OK);
    in.zero = 2;
    EXPECT(cada_memplan_cpu_role(&deep, &in, 0, 1, CADA_ROLE_LEARNER, &q2) == CADA_OK);
    EXPECT(q3.params < q2.params && q3.grads == q2.grads && q3.adam == q2.adam, "ZeRO-3 parameters %zu vs ZeRO-2 %zu",
           q3.params, q2.params);
    in.zero = 5;
    EXPECT(cada_memplan_cpu_role(&c, &in, 0, 1, CADA_ROLE_LEARNER, &q3) == CADA_ERR_ARG);
    in = base_in();
    in.slots = 0;
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p) == CADA_ERR_ARG);
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p) == CADA_OK, "a learner needs no slots");
    cada_model_config bad = c;
    bad.n_heads = 3; /* does not divide by the kv heads */
    EXPECT(cada_memplan_role(&bad, &in, CADA_ROLE_LEARNER, &p) != CADA_OK);
    EXPECT(cada_memplan_preset("llama-9000", &c) == -1);
}

#ifdef CADA_HAVE_CUDA
/* One formula: an unsharded learner (W = 1, DP) and a rollout rank against the GPU
 * model's arena plan, part by part (each arena item is rounded up to 256 bytes). */
TEST(memplan_matches_gpu_model_plan) {
    const char *names[] = {"llama3-8b", "qwen2.5-7b", "smollm2-135m"};
    for (int i = 0; i < 3; i++) {
        cada_model_config c;
        REQUIRE(cada_memplan_preset(names[i], &c) == 0);
        cada_memplan_in in = base_in();
        in.micro_tokens = 1024;
        for (int rc = 0; rc <= 1; rc++) {
            in.recompute = rc;
            cada_memplan p;
            REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
            cada_gpu_model_options o = {.max_tokens = 1024, .training = 1, .recompute = rc};
            cada_gpu_model_plan_out g;
            REQUIRE_OK(cada_gpu_model_plan(&c, &o, &g));
            const size_t slack = 40 * 256;
            EXPECT(g.weights >= p.weights && g.weights - p.weights < slack, "%s weights %zu vs %zu", names[i], g.weights,
                   p.weights);
            EXPECT(g.master >= p.master && g.master - p.master < 256, "%s master", names[i]);
            EXPECT(g.grads >= p.grads && g.grads - p.grads < 256, "%s grads", names[i]);
            EXPECT(g.adam_m + g.adam_v >= p.adam && g.adam_m + g.adam_v - p.adam < 512, "%s adam", names[i]);
            EXPECT(g.activations >= p.activations && g.activations - p.activations < slack, "%s activations %zu vs %zu",
                   names[i], g.activations, p.activations);
            EXPECT(g.logits >= p.logits && g.logits - p.logits < slack, "%s logits %zu vs %zu", names[i], g.logits, p.logits);
            /* scratch: memplan leaves out the attention kernels' own scratch */
            EXPECT(g.scratch >= p.scratch, "%s scratch %zu vs %zu", names[i], g.scratch, p.scratch);
        }
        in.slots = 8;
        in.max_len = 512;
        in.prefill_tokens = 8 * 256;
        cada_memplan p;
        REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p));
        cada_gpu_model_options o = {.kv_slots = 8, .kv_max_len = 512, .gen_max_tokens = 8 * 256};
        cada_gpu_model_plan_out g;
        REQUIRE_OK(cada_gpu_model_plan(&c, &o, &g));
        EXPECT(g.kv_cache == p.kv_cache, "%s kv %zu vs %zu", names[i], g.kv_cache, p.kv_cache);
        /* infer rows and logits: the GPU model's logits part holds the infer logits here */
        EXPECT(g.logits + g.scratch >= p.infer, "%s infer %zu vs %zu + %zu", names[i], p.infer, g.logits, g.scratch);
    }
}
#endif

/* The CPU plan against what the CPU model, learner layout and cache really allocate:
 * the activation arena after a forward of (Nm / M, M) under the same options, the KV
 * cache after cada_kv_cache_init, and the peak as the sum of its parts. */
TEST(memplan_cpu_matches_allocations) {
    cada_model_config c = tiny();
    c.rms_eps = 1e-5f;
    c.rope_factor = 1.0f;
    cada_memplan_in in = base_in();
    in.reference = 1;
    for (int rc = 0; rc <= 1; rc++)
        for (int chunk = 0; chunk <= 8; chunk += 8) {
            in.recompute = rc;
            cada_memplan_cpu p;
            REQUIRE_OK(cada_memplan_cpu_role(&c, &in, chunk, 1, CADA_ROLE_COLOCATED, &p));
            cada_model m;
            REQUIRE_OK(cada_model_init(&m, &c));
            const cada_model_options o = {rc, chunk};
            REQUIRE_OK(cada_model_set_options(&m, &o));
            enum { B = 2, T = 16 }; /* micro_tokens 32 = 2 rows of max_len 16 */
            int tok[B * T], pos[B * T], tgt[B * T];
            for (int i = 0; i < B * T; i++) tok[i] = i % 200, pos[i] = i % T, tgt[i] = (i + 1) % 200;
            cada_batch b = {B, T, tok, pos, tgt};
            REQUIRE_OK(cada_model_forward(&m, &b));
            EXPECT(p.activations == m.act.bytes, "recompute %d chunk %d: planned %zu, allocated %zu", rc, chunk, p.activations,
                   m.act.bytes);
            EXPECT(p.params == 4 * m.n_params + (size_t)c.head_dim / 2 * 4, "parameters %zu for %zu", p.params, m.n_params);
            /* as the rollout engine allocates its cache for in.slots requests with prompts
             * of prefill_tokens / slots tokens: the pool for the slots at worst, then a
             * budget (rollout.kv_memory_mb) of 5 blocks and a bit (the plan and the engine
             * count whole blocks; a slot bound of 64, the engine's bound is the pool) */
            for (int budget = 0; budget <= 1; budget++) {
                cada_memplan_in x = in;
                const size_t block = 16 * (size_t)cada_config_kv_bytes_per_token(&c, 4);
                x.kv_pool = budget ? 5 * block + 100 : 0;
                x.slots = budget ? 64 : in.slots;
                x.prefill_tokens = x.slots * (in.prefill_tokens / in.slots);
                cada_memplan_cpu q;
                REQUIRE_OK(cada_memplan_cpu_role(&c, &x, chunk, 1, CADA_ROLE_COLOCATED, &q));
                enum { R = 8 };
                const int prompt[4] = {5, 6, 7, 8};
                cada_gen_request reqs[R];
                for (int i = 0; i < R; i++) reqs[i] = (cada_gen_request){(uint64_t)i, 0, prompt, in.prefill_tokens / in.slots, 4};
                cada_engine_config ec;
                memset(&ec, 0, sizeof ec);
                ec.n_slots = x.slots;
                ec.max_len = in.max_len;
                ec.kv_pool_bytes = x.kv_pool;
                ec.kv_blocks = budget ? 0 : cada_kv_pool_blocks(in.slots, in.max_len, 0, in.samples, in.prefill_tokens / in.slots);
                cada_gen_result res[R];
                cada_engine_stats st;
                REQUIRE_OK(cada_generate(&m, &ec, reqs, R, res, &st));
                for (int i = 0; i < R; i++) cada_gen_result_free(&res[i]);
                EXPECT(!budget || st.cache_blocks == 5, "a budget of 5 blocks and a bit gave %d", st.cache_blocks);
                EXPECT(q.rollout <= st.cache_bytes && st.cache_bytes - q.rollout <= (size_t)in.max_len * 4 * 64,
                       "budget %d: KV cache planned %zu (1 thread), allocated %zu", budget, q.rollout, st.cache_bytes);
                if (!budget) EXPECT(q.rollout == p.rollout, "rollout %zu vs %zu", q.rollout, p.rollout);
            }
            /* rollout.weights = bf16: the plan counts the copy cada_infer_weights_pack allocates */
            cada_memplan_in bin = in;
            bin.rollout_bf16 = 1;
            cada_memplan_cpu pb, pl;
            REQUIRE_OK(cada_memplan_cpu_role(&c, &bin, chunk, 1, CADA_ROLE_COLOCATED, &pb));
            REQUIRE_OK(cada_memplan_cpu_role(&c, &bin, chunk, 1, CADA_ROLE_LEARNER, &pl));
            REQUIRE_OK(cada_infer_weights_pack(&m, 0));
            EXPECT(pb.infer_weights == m.bf16->bytes && pb.peak == p.peak + m.bf16->bytes, "bf16 copy planned %zu, allocated %zu",
                   pb.infer_weights, m.bf16->bytes);
            EXPECT(pl.infer_weights == 0, "a learner that does not roll out holds no bf16 copy");
            cada_model_free(&m);
            const size_t phase = p.activations > p.rollout ? p.activations : p.rollout;
            EXPECT(p.peak == p.params + p.grads + p.adam + p.reference + phase, "peak %zu is not the sum of its parts", p.peak);
        }
}
