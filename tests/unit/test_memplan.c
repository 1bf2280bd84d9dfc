/* tests/unit/test_memplan.c: model/memplan.h against numbers computed by hand, and (in
 * the CUDA build) part by part against cada_gpu_model_plan, the GPU model's own arena
 * accounting, which needs no GPU. */
#include "test.h"

#include "model/infer.h"
#include "model/infer_weights.h"
#include "model/memplan.h"
#include "model/syncplan.h"
#include "model/model.h"
#include "rollout/engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Bytes of [p, p + n) resident in memory now (mincore, by page). */
static size_t resident_bytes(const void *p, size_t n) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = (uintptr_t)p / page * page, hi = ((uintptr_t)p + n + page - 1) / page * page;
    const size_t pages = (hi - lo) / page;
    unsigned char *v = malloc(pages);
    size_t r = 0;
    if (v && mincore((void *)lo, hi - lo, v) == 0)
        for (size_t i = 0; i < pages; i++) r += v[i] & 1;
    free(v);
    return r * page;
}

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
    in.zero = 4;
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "zero = 4") != NULL, "%s", cada_error_message());
    in.zero = 3;
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

/* Tensor parallelism over 8 (Megatron's split, model/tp.h) on Llama-3-70B by hand:
 * L 80, C 8192, I 28672, H 64, KVH 8, D 128, V 128256, untied. */
TEST(memplan_tp_llama3_70b_by_hand) {
    cada_model_config c;
    REQUIRE(cada_memplan_preset("llama3-70b", &c) == 0);
    REQUIRE(cada_config_param_count(&c) == 70553706496LL);
    cada_memplan_in in = base_in();
    in.learners = 32;
    in.tp = 8;
    in.zero = 1;
    in.micro_tokens = 2048;
    cada_memplan p;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    /* one layer on a rank: norms 2C whole (16384); q,k,v (8192 + 2 x 1024) x 8192 / 8 =
     * 10485760; o 8192 x 8192 / 8 = 8388608; gate, up, down 3 x 8192 x 28672 / 8 =
     * 88080384: 106971136 */
    const size_t layer = 106971136u, full_layer = cada_memplan_layer_params(&c);
    EXPECT(full_layer == 855654400u, "full layer %zu", full_layer);
    EXPECT((layer - 16384) * 8 == full_layer - 16384, "the split matrices are 1/8, the norms whole");
    /* embedding and LM head: 128256 / 8 = 16032 vocabulary rows each; final norm whole */
    const size_t outer = 2u * 16032 * 8192 + 8192;
    EXPECT(p.rank_params == 80 * layer + outer, "rank params %zu", p.rank_params);
    EXPECT(p.n_params == 70553706496u);
    EXPECT(p.weights == 2 * (80 * layer + outer) + 256, "bf16 weights %zu", p.weights);
    /* ZeRO-1 over the 32 / 8 = 4 data-parallel ranks of each TP rank */
    const size_t shard = (80 * layer + outer) / 4; /* divides exactly */
    EXPECT(p.master == 4 * shard && p.adam == 8 * shard, "master %zu adam %zu", p.master, p.adam);
    EXPECT(p.grads == 4 * (80 * layer + outer));
    /* vocabulary-parallel logits: (Nm, V/8) fp32 + their bf16 gradient */
    EXPECT(p.logits == 2048u * 16032 * 6, "logits %zu", p.logits);
    /* ZeRO-3: bf16 of the outer ranges, the shard and two gathered layers */
    in.zero = 3;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    EXPECT(p.weights == 2 * (outer + shard + 2 * layer) + 256, "ZeRO-3 weights %zu", p.weights);
    EXPECT(p.master == 4 * shard && p.adam == 8 * shard);
    EXPECT(p.grads == 4 * (outer + 2 * layer) + 4 * shard, "ZeRO-3 gradients as ZeRO-2's (one micro-batch: no round buffer)");
    /* the KV cache: one KV head of 8 per rank, 1/8 of the whole model's */
    in.slots = 16;
    in.max_len = 2048;
    in.prefill_tokens = 16 * 1536;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p));
    EXPECT(p.kv_cache == 2u * 16 * 80 * 2048 * 1 * 128 * 2, "kv %zu", p.kv_cache);
    in.tp = 1;
    cada_memplan whole;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &whole));
    EXPECT(whole.kv_cache == 8 * p.kv_cache);
    /* the reference's frozen copy is split the same way */
    in.tp = 8;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_REFERENCE, &p));
    EXPECT(p.reference > 2 * (80 * layer + outer) && p.reference < 2 * (80 * layer + outer) + ((size_t)2 << 30));
    /* what tp must divide */
    in.tp = 3;
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "num_attention_heads (64)") != NULL, "%s", cada_error_message());
    in.tp = 16; /* 64 heads, but 8 KV heads */
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_ROLLOUT, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "num_key_value_heads (8)") != NULL, "%s", cada_error_message());
    in.tp = 8;
    in.learners = 12;
    EXPECT(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "not a multiple of tp = 8") != NULL, "%s", cada_error_message());
}

/* Activations under tp = 2 on the tiny shape, by hand: the residual stream and normed
 * inputs whole, the head and intermediate tensors halved. */
TEST(memplan_tp_activations_by_hand) {
    cada_model_config c = tiny();
    cada_memplan_in in = base_in();
    in.learners = 2;
    in.tp = 2;
    cada_memplan p;
    REQUIRE_OK(cada_memplan_role(&c, &in, CADA_ROLE_LEARNER, &p));
    /* per layer per row: resmid 256, xn1 128, rstd1 4, qkv 2 x 64, atty 2 x 32, lse 4 x 2,
     * xn2 128, rstd2 4, gate/up 4 x 64, h 2 x 64 = 1104; 24576 + 2 x 32 x 1104 + 32 x 152 */
    EXPECT(p.activations == 100096u, "activations %zu", p.activations);
    EXPECT(p.logits == 32u * 128 * 6, "logits %zu", p.logits);
    /* the CPU plan evaluates the same local shape: parameters fp32 of the rank's part */
    cada_memplan_cpu q;
    REQUIRE_OK(cada_memplan_cpu_role(&c, &in, 0, 1, CADA_ROLE_LEARNER, &q));
    EXPECT(q.rank_params == p.rank_params && q.params == 4 * p.rank_params + 32, "cpu params %zu", q.params);
}

/* The weight-sync wire model (model/syncplan.h) on cases computed by hand. Every
 * figure below is exact in binary floating point (overlaps of halves, whole GB), so
 * the comparisons are exact. */
TEST(syncplan_by_hand) {
    cada_syncplan s;
    /* no tensor parallelism: 2 learners on node 0, 2 rollout ranks on node 1 (2 GPUs a
     * node), 100e9 bytes a rollout rank (90e9 split + 10e9 replicated): every byte
     * crosses IB at 20e9 / 2 = 10e9 B/s per GPU. Resharded: each learner sends half of
     * each slice, 2 x 50e9 = 100e9 (10 s); each rollout rank receives 100e9 (10 s).
     * Funnelled: learner 0 sends 200e9 (20 s). */
    cada_syncplan_in in = {2, 1, 2, 1, 2, 90e9, 10e9, 100e9, 20e9};
    REQUIRE_OK(cada_syncplan_model(&in, &s));
    EXPECT(s.rank_bytes == 100e9 && s.total_bytes == 200e9 && s.learner_bytes == 100e9);
    EXPECT(s.learner_peers == 2 && s.rollout_peers == 2);
    EXPECT(s.resharded_s == 10.0 && s.funnelled_s == 20.0, "%g %g", s.resharded_s, s.funnelled_s);
    EXPECT(!strcmp(s.funnelled_by, "learner IB out"), "%s", s.funnelled_by);
    /* one node of 4: NVLink only at 100e9 B/s: 1 s and 2 s */
    in.gpus_per_node = 4;
    REQUIRE_OK(cada_syncplan_model(&in, &s));
    EXPECT(s.resharded_s == 1.0 && s.funnelled_s == 2.0, "%g %g", s.resharded_s, s.funnelled_s);
    EXPECT(!strcmp(s.resharded_by, "learner NVLink out"), "%s", s.resharded_by);
    /* learn.tp 2 (W = 2), rollout.tp 2, nodes of 3: node 0 learners 0-2, node 1 learner 3
     * and rollout ranks 0, 1. Slices 100e9 split / 2 = 50e9 (nothing replicated). Group
     * ranks: learners 0, 2 -> 0; 1, 3 -> 1; rollout 0 -> 0, 1 -> 1. A rollout rank takes
     * its slice from the 2 learners of its own group rank, 25e9 each: rollout 0 from
     * learners 0 and 2, both by IB (50e9 at 10e9 B/s: 5 s); rollout 1 from learner 1 by
     * IB and learner 3 by NVLink (2.5 s). Learners send 25e9 each (2.5 s at most).
     * Spreading each slice over all 4 learners instead would give rollout 0 only 37.5e9
     * by IB (3.75 s): the ownership matters. Funnelled: learner 0 sends 100e9 by IB
     * (10 s). */
    in = (cada_syncplan_in){4, 2, 2, 2, 3, 100e9, 0, 100e9, 30e9};
    REQUIRE_OK(cada_syncplan_model(&in, &s));
    EXPECT(s.rank_bytes == 50e9 && s.learner_bytes == 25e9, "%g %g", s.rank_bytes, s.learner_bytes);
    EXPECT(s.learner_peers == 1 && s.rollout_peers == 2);
    EXPECT(s.resharded_s == 5.0 && !strcmp(s.resharded_by, "rollout IB in"), "%g %s", s.resharded_s, s.resharded_by);
    EXPECT(s.funnelled_s == 10.0, "%g", s.funnelled_s);
    /* learn.tp 2 -> rollout.tp 1 (one engine holds everything): the rollout rank takes a
     * quarter from each of the 4 learners */
    in.rollout = 1;
    in.rollout_tp = 1;
    REQUIRE_OK(cada_syncplan_model(&in, &s));
    EXPECT(s.rank_bytes == 100e9 && s.learner_bytes == 25e9 && s.rollout_peers == 4);
    in.learners = 0;
    EXPECT(cada_syncplan_model(&in, &s) == CADA_ERR_ARG);
    in.learners = 3; /* not a multiple of learn.tp 2 */
    EXPECT(cada_syncplan_model(&in, &s) == CADA_ERR_ARG);
    in.learners = 4;
    in.ib_node_Bps = 0;
    EXPECT(cada_syncplan_model(&in, &s) == CADA_ERR_ARG);
}

/* The split part of the parameters, by hand on Llama-3-70B: all but the 2 L C + C norm
 * weights. */
TEST(memplan_tp_split_params) {
    cada_model_config c;
    REQUIRE(cada_memplan_preset("llama3-70b", &c) == 0);
    EXPECT(cada_memplan_tp_split_params(&c) == 70553706496u - (2u * 80 * 8192 + 8192));
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
            const cada_model_options o = {rc, chunk, 0, 1}; /* as the learner */
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
                /* planned for 1 thread; this machine's other threads (up to 63 here) add their
                 * attention scratch each: max_len x (64 score rows + a KV head's keys and values) floats */
                const size_t per_thread = (size_t)in.max_len * 4 * (64 + 2 * (size_t)c.head_dim);
                EXPECT(q.rollout <= st.cache_bytes && st.cache_bytes - q.rollout <= per_thread * 63,
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
            /* a disaggregated rollout rank releases its fp32 matrices as it packs them:
             * what stays resident of the parameter buffer, measured, against the plan */
            cada_memplan_cpu pr, pr32;
            REQUIRE_OK(cada_memplan_cpu_role(&c, &bin, chunk, 1, CADA_ROLE_ROLLOUT, &pr));
            REQUIRE_OK(cada_memplan_cpu_role(&c, &in, chunk, 1, CADA_ROLE_ROLLOUT, &pr32));
            REQUIRE_OK(cada_infer_weights_pack_and_release(&m, 0));
            const size_t kept = resident_bytes(m.params, m.n_params * sizeof(float)), page = (size_t)sysconf(_SC_PAGESIZE);
            const size_t mats = cada_infer_weights_released_floats(&c);
            const size_t bucket = CADA_SYNC_BUCKET_FLOATS < mats ? CADA_SYNC_BUCKET_FLOATS : mats;
            EXPECT(pr.params + 4 * (mats - bucket) == pr32.params, "rollout fp32 planned %zu with bf16, %zu without", pr.params,
                   pr32.params);
            /* resident after the release: the fp32 parameters that are not matrices (the plan
             * less its bucket and RoPE table), within two partial pages per released matrix */
            const size_t rest = pr.params - 4 * bucket - (size_t)c.head_dim / 2 * 4, slack = (4 * (size_t)c.n_layers + 1) * 2 * page;
            EXPECT(kept <= rest + slack && kept + slack >= rest, "resident fp32 after the release %zu, planned %zu", kept, rest);
            cada_model_free(&m);
            const size_t phase = p.activations > p.rollout ? p.activations : p.rollout;
            EXPECT(p.peak == p.params + p.grads + p.adam + p.reference + phase, "peak %zu is not the sum of its parts", p.peak);
        }
}
