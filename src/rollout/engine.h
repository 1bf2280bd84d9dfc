/* rollout/engine.h: batched generation with continuous batching.
 *
 * Requests wait in order; whenever the engine can take one more sequence the next
 * request starts, and its prompt is prefilled in the same model call as the decode
 * steps of the sequences already running (model/infer.h), so a batch never waits on
 * its longest member and a prompt is never fed token by token. On the GPU the model's
 * cache has n_slots fixed slots and a request starts when one is free; on the CPU the
 * batch follows free memory (below).
 *
 * Sampling draws from the stream keyed by (run seed, prompt id, sample index)
 * (base/rng.h), one draw per generated token, so a sample does not depend on which
 * other sequences share its batch, on the slot count, or on how many rollout ranks
 * split the work.
 *
 * A sequence ends on an EOS id, when the caller's stop check says so (stop strings
 * need the tokenizer, which the caller has), at max_new_tokens, or at the context
 * limit (the cache's max_len). A prompt longer than max_len - 1 is an error naming the
 * request, never truncated silently.
 *
 * On the CPU the cache is paged (model/infer.h) and the batch is sized by memory: a
 * request is admitted when the pool has the blocks its prompt needs now (less the
 * shared ones and those found in the prefix cache, below) plus a reserve of one block per running sequence (itself included), so
 * each of them can take its next block; the sequences running are as many as the pool
 * holds that way, up to n_slots (an upper bound; 0 or a large value: as memory allows).
 * With nothing running the reserve is waived. Consecutive requests with the same
 * prompt (same prompt id and tokens: the samples of one prompt) share it: the first
 * prefills it, the cache keeps a reference to its blocks until the last of them has
 * started, and each other sample starts from those blocks (its partial last block is
 * copied when it appends its first own token) and from the logits after the prompt,
 * drawing its first token with its own stream. Results are the same as if each sample
 * had prefilled the prompt itself (up to the sgemm row-count effect noted in infer.h:
 * a prefill call with fewer rows).
 *
 * Prefix cache (CPU; off with no_prefix_cache): the full blocks that prefills compute
 * (a prompt's, a re-admitted sequence's prompt + tokens) stay cached for the rest of
 * the call, keyed by their whole token prefix (rollout/prefix_cache.h: a chain hash
 * with the token ids compared on a hit). An admitted request (a re-admitted one
 * included) takes the longest cached full-block prefix of what it prefills, leaving at
 * least its last token to prefill (the logits after it are needed), by reference, and
 * prefills only the rest, from that position on. Cached blocks are full and so never
 * written (appends go to a sequence's own partial block). A block only the cache holds
 * is free memory in waiting: when admission or the next decode tokens need blocks,
 * such blocks are evicted (least recently used, a chain's last block first) before
 * any open group is closed or any sequence preempted. The cache ends with the call, so
 * it never serves KV of other weights (each call is one policy version). Results are
 * those without it, up to the sgemm row-count effect (a prefill with fewer rows).
 *
 * Preemption (CPU only; the GPU path never preempts): when the running sequences' next
 * tokens need more blocks than are free (after evicting the prefix cache's unused
 * blocks), the most recently admitted running sequence
 * is preempted (vLLM's recompute policy): its blocks go back to the pool and it waits
 * at the front of the queue (preempted ones in their admission order) with the tokens
 * it has generated. Re-admitted, it prefills prompt + those tokens in one call and
 * samples its next token from that call's logits, with its own stream where it left
 * off (one draw per token), so its tokens are those it would have generated unpreempted;
 * the log-probs of its earlier tokens are those of its first pass (later ones may
 * differ by the sgemm row-count effect). A lone sequence whose next token needs a
 * block, or a preempted one that cannot restart with nothing running, first gets the
 * blocks the open prompt group holds for its waiting samples (they then prefill the
 * prompt again). Progress: every request's worst case
 * (min(prompt + max_new_tokens, max_len) positions) must fit the whole pool, else the
 * call fails naming the request before generating anything; so a sequence alone
 * always runs to its end. Prefills of one call hold at most max(max_len,
 * min(slots, CADA_KV_PREFILL_PROMPTS) x the longest prompt) tokens
 * (cada_kv_prefill_budget; one prefill of any length always fits). stats count
 * preemptions, the tokens prefilled again (less those found in the prefix cache), the
 * prefill tokens the prefix cache saved and its evictions; the peak of blocks in use
 * counts cached ones (the cache fills free memory until it is needed). */
#ifndef CADA_ROLLOUT_ENGINE_H
#define CADA_ROLLOUT_ENGINE_H

#include "model/infer.h"
#include "rollout/sampler.h"

#include <stdint.h>

typedef enum {
    CADA_FINISH_NONE = 0,
    CADA_FINISH_EOS,    /* an end-of-sequence id was sampled (it is kept in tokens) */
    CADA_FINISH_STOP,   /* the stop check matched */
    CADA_FINISH_LENGTH, /* max_new_tokens reached */
    CADA_FINISH_CONTEXT /* the cache slot is full */
} cada_finish_reason;

const char *cada_finish_name(cada_finish_reason r);

typedef struct {
    uint64_t prompt_id; /* keys the sampling stream with sample_index */
    uint32_t sample_index;
    const int *prompt;
    int prompt_len;
    int max_new_tokens;
} cada_gen_request;

typedef struct {
    int *tokens;     /* (n) generated tokens, malloc'd; free with cada_gen_result_free */
    float *logprobs; /* (n) model log-probabilities of those tokens */
    int n;
    cada_finish_reason finish;
} cada_gen_result;

/* Called after each generated token: return 1 to stop the sequence here. */
typedef int (*cada_stop_fn)(void *ctx, int request, const int *tokens, int n);
/* Called after each generated token, for streaming. */
typedef void (*cada_token_fn)(void *ctx, int request, int token, float logprob);

typedef struct {
    cada_sampling sampling;
    uint64_t seed;
    int n_slots;        /* GPU: sequences decoded together (its cache's slots). CPU: an upper bound
                         * on them, the pool decides (0 or a large value: as memory allows) */
    int max_len;        /* context limit per sequence (prompt + generated) */
    const int *eos_ids; /* tokens that end a sequence */
    int n_eos;
    cada_stop_fn stop;  /* may be NULL */
    cada_token_fn on_token; /* may be NULL */
    void *ctx;
    /* CPU KV cache (model/infer.h): positions per block (0: CADA_KV_BLOCK_TOKENS) and
     * blocks in the pool (0: room for n_slots sequences to reach max_len plus one
     * prompt's blocks held for its waiting samples, so nothing is ever preempted; needs
     * n_slots > 0 or kv_pool_bytes) */
    int kv_block_tokens, kv_blocks;
    size_t kv_pool_bytes; /* CPU, kv_blocks 0: the pool as a memory budget (as many blocks as fit) */
    int no_prompt_sharing; /* 1: every sample prefills its prompt (the reference for tests) */
    int no_prefix_cache;   /* CPU, 1: no reuse of full prompt blocks across requests (the reference) */
    /* may be NULL: called after every model call with between_ctx, for work the caller
     * interleaves with generation (the overlapped weight sync moves the weights that have
     * arrived, sched/reshard.h); it must not touch the model being generated with */
    void (*between_calls)(void *between_ctx);
    void *between_ctx;
} cada_engine_config;

typedef struct {
    double prefill_seconds, decode_seconds; /* wall time of calls by their main work */
    long prefill_tokens, decode_tokens;
    int model_calls;
    size_t cache_bytes;
    int cache_blocks, cache_blocks_peak; /* CPU: the pool's blocks, the most in use at once */
    long shared_prompt_tokens;           /* CPU: prompt tokens not prefilled (shared with a sample before) */
    int preemptions;                     /* CPU: sequences preempted for want of a free block */
    long recomputed_tokens;              /* CPU: tokens prefilled again on re-admission (in prefill_tokens too) */
    long prefix_hit_tokens;              /* CPU: prefill tokens found in the prefix cache (not prefilled) */
    long prefix_evictions;               /* CPU: cached blocks evicted for want of free blocks */
} cada_engine_stats;

/* The end-of-sequence ids of a model: its tokenizer's and its configuration's (either
 * may be -1, they may coincide). Writes at most 2 ids to eos; returns how many. */
int cada_eos_ids(int tokenizer_eos, int config_eos, int eos[2]);

/* Generates for every request; results[i] belongs to reqs[i]. */
cada_status cada_generate(const cada_model *m, const cada_engine_config *cfg, const cada_gen_request *reqs, int n_reqs,
                          cada_gen_result *results, cada_engine_stats *stats);

/* The same engine on a GPU model (model/model_gpu.h; CUDA builds, else
 * CADA_ERR_UNSUPPORTED) created with a KV cache of at least n_slots slots of max_len
 * tokens (else CADA_ERR_ARG). Its cache cannot mix a prefill with decode steps in one
 * call, so each engine step issues the step's prefills (prompts of newly admitted
 * requests) as calls of their own, then the decode steps of the running sequences,
 * each split further only where the model's per-call limits (kv_slots sequences,
 * gen_max_tokens tokens) require. The logits come back to the host and the same
 * sampler draws from the same per-request streams in the same slot order, so the
 * contract above holds unchanged (stop conditions, EOS, max_new_tokens, continuous
 * batching, seeds); only the logits differ, by the GPU's bf16 arithmetic. stats count
 * every GPU call, booked as prefill or decode by its kind; cache_bytes is the model's
 * KV cache. */
typedef struct cada_gpu_model cada_gpu_model;
cada_status cada_generate_gpu(cada_gpu_model *gm, const cada_engine_config *cfg, const cada_gen_request *reqs,
                              int n_reqs, cada_gen_result *results, cada_engine_stats *stats);

void cada_gen_result_free(cada_gen_result *r);

#endif
