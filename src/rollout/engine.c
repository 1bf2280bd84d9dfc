/* rollout/engine.c: see engine.h. */
#define _POSIX_C_SOURCE 200809L
#include "rollout/engine.h"

#include "base/log.h"
#include "rollout/prefix_cache.h"

#ifdef CADA_HAVE_CUDA
#include "model/model_gpu.h"
#endif

#include <stdlib.h>
#include <string.h>

const char *cada_finish_name(cada_finish_reason r) {
    switch (r) {
    case CADA_FINISH_EOS: return "eos";
    case CADA_FINISH_STOP: return "stop";
    case CADA_FINISH_LENGTH: return "length";
    case CADA_FINISH_CONTEXT: return "context";
    default: return "none";
    }
}

void cada_gen_result_free(cada_gen_result *r) {
    free(r->tokens);
    free(r->logprobs);
    memset(r, 0, sizeof *r);
}

typedef struct {
    int request;   /* index into reqs, -1 when the slot is free */
    int pending;   /* the last sampled token, fed at the next step */
    int prefilled; /* prompt (and, after a preemption, its generated tokens) already in the cache */
    int sibling;   /* starts from its prompt group's blocks and logits (set until it has) */
    int recompute; /* re-admitted after a preemption: prefills prompt + its tokens so far */
    int cached;    /* positions its prefill starts from: full blocks found in the prefix cache */
    int row;       /* this step: row of the call's logits, -1 none */
    long stamp;    /* admission order: the most recent is preempted first */
} slot_state;

/* Requests a and b are samples of one prompt. */
static int same_prompt(const cada_gen_request *a, const cada_gen_request *b) {
    return a->prompt_id == b->prompt_id && a->prompt_len == b->prompt_len &&
           (a->prompt == b->prompt || !memcmp(a->prompt, b->prompt, sizeof(int) * (size_t)a->prompt_len));
}

/* Positions a request's cache holds at most: min(prompt + max_new_tokens, max_len). */
static int worst_len(const cada_gen_request *q, int max_len) {
    return q->prompt_len + q->max_new_tokens < max_len ? q->prompt_len + q->max_new_tokens : max_len;
}

int cada_eos_ids(int tokenizer_eos, int config_eos, int eos[2]) {
    int n = 0;
    if (tokenizer_eos >= 0) eos[n++] = tokenizer_eos;
    if (config_eos >= 0 && config_eos != tokenizer_eos) eos[n++] = config_eos;
    return n;
}

static int is_eos(const cada_engine_config *cfg, int tok) {
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos_ids[i] == tok) return 1;
    return 0;
}

/* Where the model calls go: the CPU model with the engine's own KV cache, or a GPU
 * model with its cache (prefill and decode as separate calls). `infer` writes the
 * logits of seqs[i]'s last token to logits row i and books the call in stats. */
typedef struct {
    const cada_model *m;
    cada_kv_cache kv;
    cada_gpu_model *gm;
    int *gpu_row;          /* (S) GPU: the row of each of a step's sequences */
    int *prefill;          /* (S) GPU: 1 where a step's sequence fills an empty slot */
    cada_infer_seq *part;  /* (S) GPU: one call's sequences */
} backend;

static cada_status backend_infer(backend *be, const cada_infer_seq *seqs, int n, int new_prompt_tokens, float *logits,
                                 int V, cada_engine_stats *stats);

static void backend_clear_slot(backend *be, int s) {
#ifdef CADA_HAVE_CUDA
    if (be->gm) {
        cada_gpu_model_clear_slot(be->gm, s);
        return;
    }
#endif
    cada_kv_cache_clear_slot(&be->kv, s);
}

static int backend_slot_len(const backend *be, int s) {
#ifdef CADA_HAVE_CUDA
    if (be->gm) return cada_gpu_model_slot_len(be->gm, s);
#endif
    return be->kv.len[s];
}

static cada_status generate(backend *be, int V, const cada_engine_config *cfg, const cada_gen_request *reqs, int n_reqs,
                            cada_gen_result *results, cada_engine_stats *stats);

cada_status cada_generate(const cada_model *m, const cada_engine_config *cfg, const cada_gen_request *reqs, int n_reqs,
                          cada_gen_result *results, cada_engine_stats *stats) {
    backend be;
    memset(&be, 0, sizeof be);
    be.m = m;
    return generate(&be, cada_model_vocab(m), cfg, reqs, n_reqs, results, stats);
}

#ifdef CADA_HAVE_CUDA
cada_status cada_generate_gpu(cada_gpu_model *gm, const cada_engine_config *cfg, const cada_gen_request *reqs,
                              int n_reqs, cada_gen_result *results, cada_engine_stats *stats) {
    if (!gm) return CADA_ERR(CADA_ERR_ARG, "generate (GPU): NULL model");
    const cada_gpu_model_options *o = cada_gpu_model_options_of(gm);
    if (cfg->n_slots > o->kv_slots || cfg->max_len > o->kv_max_len)
        return CADA_ERR(CADA_ERR_ARG,
                        "generate (GPU): %d slots of %d tokens asked; the model's KV cache holds %d slots of %d tokens",
                        cfg->n_slots, cfg->max_len, o->kv_slots, o->kv_max_len);
    backend be;
    memset(&be, 0, sizeof be);
    be.gm = gm;
    const int S = cfg->n_slots > 0 ? cfg->n_slots : 1;
    be.gpu_row = calloc((size_t)S, sizeof(int));
    be.prefill = calloc((size_t)S, sizeof(int));
    be.part = calloc((size_t)S, sizeof *be.part);
    cada_status st = be.gpu_row && be.prefill && be.part ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "generate (GPU): engine buffers");
    if (st == CADA_OK) st = generate(&be, cada_gpu_model_config(gm)->vocab_size, cfg, reqs, n_reqs, results, stats);
    free(be.gpu_row);
    free(be.prefill);
    free(be.part);
    return st;
}

/* The sequences be->part[0..k) as one GPU call, their logits to rows *row.. of `rows`. */
static cada_status gpu_flush(backend *be, int k, int prefill, float *rows, int V, int *row, cada_engine_stats *stats) {
    double t0 = cada_now();
    CADA_TRY(cada_gpu_model_infer(be->gm, be->part, k, rows + (size_t)*row * V));
    double dt = cada_now() - t0;
    if (stats) {
        stats->model_calls++;
        if (prefill) stats->prefill_seconds += dt;
        else stats->decode_seconds += dt;
    }
    *row += k;
    return CADA_OK;
}

/* The step's sequences of one kind (prefill = 1: prompts into empty slots; 0: decode
 * steps) in as few GPU calls as the model's limits allow (kv_slots sequences and
 * gen_max_tokens new tokens per call); be->gpu_row[i] records seqs[i]'s row. */
static cada_status gpu_calls(backend *be, const cada_infer_seq *seqs, int n, int prefill, float *rows, int V, int *row,
                             cada_engine_stats *stats) {
    const cada_gpu_model_options *o = cada_gpu_model_options_of(be->gm);
    const int budget = o->gen_max_tokens, max_seqs = o->kv_slots < budget ? o->kv_slots : budget;
    int k = 0, tokens = 0;
    for (int i = 0; i < n; i++) {
        if (be->prefill[i] != prefill) continue;
        if (seqs[i].n_tokens > budget)
            return CADA_ERR(CADA_ERR_ARG,
                            "generate (GPU): slot %d brings %d tokens, more than one model call takes (gen_max_tokens %d)",
                            seqs[i].slot, seqs[i].n_tokens, budget);
        if (k > 0 && (tokens + seqs[i].n_tokens > budget || k == max_seqs)) {
            CADA_TRY(gpu_flush(be, k, prefill, rows, V, row, stats));
            k = 0;
            tokens = 0;
        }
        be->gpu_row[i] = *row + k;
        be->part[k++] = seqs[i];
        tokens += seqs[i].n_tokens;
    }
    if (k > 0) CADA_TRY(gpu_flush(be, k, prefill, rows, V, row, stats));
    return CADA_OK;
}
#else
cada_status cada_generate_gpu(cada_gpu_model *gm, const cada_engine_config *cfg, const cada_gen_request *reqs,
                              int n_reqs, cada_gen_result *results, cada_engine_stats *stats) {
    (void)gm, (void)cfg, (void)reqs, (void)n_reqs, (void)results, (void)stats;
    return CADA_ERR(CADA_ERR_UNSUPPORTED, "generate (GPU): this build has no CUDA");
}
#endif

static cada_status backend_infer(backend *be, const cada_infer_seq *seqs, int n, int new_prompt_tokens, float *logits,
                                 int V, cada_engine_stats *stats) {
#ifdef CADA_HAVE_CUDA
    if (be->gm) { /* prefills first, then decode steps; the rows are mapped back to seqs' order */
        float *rows = logits + (size_t)n * V; /* the caller's buffer holds 2 n rows */
        int row = 0;
        for (int i = 0; i < n; i++) be->prefill[i] = backend_slot_len(be, seqs[i].slot) == 0; /* before any call */
        CADA_TRY(gpu_calls(be, seqs, n, 1, rows, V, &row, stats));
        CADA_TRY(gpu_calls(be, seqs, n, 0, rows, V, &row, stats));
        for (int i = 0; i < n; i++) memcpy(logits + (size_t)i * V, rows + (size_t)be->gpu_row[i] * V, sizeof(float) * (size_t)V);
        if (stats) stats->prefill_tokens += new_prompt_tokens;
        return CADA_OK;
    }
#endif
    double t0 = cada_now();
    CADA_TRY(cada_model_infer(be->m, &be->kv, seqs, n, logits));
    double dt = cada_now() - t0;
    if (stats) {
        stats->model_calls++;
        /* a mixed call is booked by its larger part */
        if (new_prompt_tokens > n) stats->prefill_seconds += dt;
        else stats->decode_seconds += dt;
        stats->prefill_tokens += new_prompt_tokens;
    }
    return CADA_OK;
}

/* The engine's working state: slots (running sequences), the waiting requests (the
 * preempted ones first, in admission order, then reqs from `next` on), the open prompt
 * group (CPU). */
typedef struct {
    backend *be;
    const cada_engine_config *cfg;
    const cada_gen_request *reqs;
    cada_gen_result *results;
    cada_engine_stats *stats;
    int S, B, holder, paged, share;
    slot_state *slots;
    int active;
    long stamps;
    int *front, n_front;  /* preempted requests waiting, by their stamp (oldest first) */
    long *req_stamp;      /* (n_reqs) a preempted request's admission stamp */
    cada_rng *rngs;       /* (n_reqs) each request's sampling stream, kept across preemptions */
    /* the open prompt group (CPU): its first request, the slot that prefills it (-1 once
     * the holder has its blocks), whether it closes once this step's samples have its
     * blocks */
    int group, group_leader, group_closing;
    cada_prefix_cache *pc; /* CPU: full blocks across requests (NULL: off) */
    int *hit;              /* (max blocks per sequence) a lookup's block ids */
    int *recomp;           /* (S, max_len) a re-admitted sequence's prompt + tokens */
} engine;

/* Gives a cached block that only the prefix cache holds back to the pool; 0 if none. */
static int evict_one(engine *e) { return e->pc && cada_prefix_cache_evict(e->pc, &e->be->kv); }

/* Blocks this step's decode tokens take (every running sequence has been prefilled). */
static int decode_blocks(const engine *e) {
    int need = 0;
    for (int s = 0; s < e->S; s++)
        if (e->slots[s].request >= 0) need += cada_kv_cache_blocks_needed(&e->be->kv, s, 1);
    return need;
}

/* The holder's prompt blocks go back to the pool; the group's samples still waiting
 * start a group of their own (the first of them prefills the prompt again). */
static void close_group(engine *e) {
    cada_kv_cache_clear_slot(&e->be->kv, e->holder);
    e->group = -1;
    e->group_closing = 0;
}

/* vLLM's recompute preemption: the most recently admitted running sequence gives back
 * its blocks and waits at the front of the queue with the tokens it generated (its
 * stream and log-probs stay with its request). */
static void preempt_latest(engine *e) {
    int v = -1;
    for (int s = 0; s < e->S; s++)
        if (e->slots[s].request >= 0 && (v < 0 || e->slots[s].stamp > e->slots[v].stamp)) v = s;
    const int r = e->slots[v].request;
    cada_kv_cache_clear_slot(&e->be->kv, v);
    e->slots[v].request = -1;
    e->active--;
    e->req_stamp[r] = e->slots[v].stamp;
    int at = e->n_front++;
    while (at > 0 && e->req_stamp[e->front[at - 1]] > e->req_stamp[r]) {
        e->front[at] = e->front[at - 1];
        at--;
    }
    e->front[at] = r;
    if (e->stats) e->stats->preemptions++;
}

/* Frees blocks until this step's decode tokens fit: evicts blocks only the prefix cache
 * holds, then preempts the most recently admitted sequences; a lone sequence first gets
 * the blocks the open group's holder keeps. */
static cada_status make_room(engine *e) {
    cada_kv_cache *kv = &e->be->kv;
    while (e->active > 0 && decode_blocks(e) > kv->n_free) {
        if (evict_one(e)) continue; /* eviction before preemption */
        if (e->active == 1 && kv->len[e->holder] > 0) {
            close_group(e);
            continue;
        }
        if (e->active == 1) { /* cannot happen: every request's worst case fits the pool (checked) */
            int s = 0;
            while (e->slots[s].request < 0) s++;
            return CADA_ERR(CADA_ERR_NOMEM, "generate: request %d alone needs %d more cache blocks; %d of %d are free",
                            e->slots[s].request, decode_blocks(e), kv->n_free, kv->n_blocks);
        }
        preempt_latest(e);
    }
    return CADA_OK;
}

/* Admits waiting requests into free slots, in order (preempted ones first), while the
 * pool has the blocks each needs now plus one block per running sequence (the reserve
 * that lets them all take their next block), and the call's prefill budget allows. */
static void admit(engine *e, int n_reqs, int *next, int prefill_budget) {
    const cada_engine_config *cfg = e->cfg;
    cada_kv_cache *kv = &e->be->kv;
    int taken = e->paged && e->active > 0 ? decode_blocks(e) : 0, prefill = 0;
    for (int s = 0; s < e->S && (e->n_front > 0 || *next < n_reqs); s++) {
        if (e->slots[s].request >= 0) continue;
        const int recompute = e->n_front > 0, r = recompute ? e->front[0] : *next;
        const cada_gen_request *q = &e->reqs[r];
        const int sib = !recompute && e->share && e->group >= 0 && same_prompt(&e->reqs[e->group], q);
        const int more = !recompute && e->share && r + 1 < n_reqs && same_prompt(q, &e->reqs[r + 1]);
        if (!recompute && e->share && !sib && more && e->group >= 0) break; /* the last group's samples take its blocks first */
        const int all = recompute ? q->prompt_len + e->results[r].n : sib ? 0 : q->prompt_len;
        const int *toks = q->prompt;
        if (recompute) { /* prompt + the tokens generated before the preemption */
            int *buf = e->recomp + (size_t)s * cfg->max_len;
            memcpy(buf, q->prompt, sizeof(int) * (size_t)q->prompt_len);
            memcpy(buf + q->prompt_len, e->results[r].tokens, sizeof(int) * (size_t)e->results[r].n);
            toks = buf;
        }
        backend_clear_slot(e->be, s);
        /* the longest cached full-block prefix, leaving the last token to prefill (its
         * logits are needed): the slot takes those blocks now, so they are not evictable */
        int hit = 0;
        if (e->pc && all > 0) {
            hit = cada_prefix_cache_lookup(e->pc, toks, (all - 1) / e->B, e->hit);
            if (hit > 0 && cada_kv_cache_attach(kv, s, e->hit, hit) != CADA_OK) hit = 0; /* cannot happen: checked blocks */
        }
        const int tokens = all - hit * e->B;
        if (prefill > 0 && prefill + tokens > prefill_budget) {
            backend_clear_slot(e->be, s);
            break;
        }
        if (e->paged) {
            const int need = (all + e->B - 1) / e->B - hit, reserve = e->active > 0 ? e->active + 1 : 0;
            while (taken + need + reserve > kv->n_free && evict_one(e)) {
            }
            if (taken + need + reserve > kv->n_free) {
                backend_clear_slot(e->be, s); /* its cached blocks stay cached */
                if (e->active == 0 && kv->len[e->holder] > 0 && !sib) { /* the holder's blocks are all that is left */
                    close_group(e);
                    s--;
                    continue;
                }
                break; /* it waits for running sequences to end */
            }
            taken += need;
        }
        prefill += tokens;
        slot_state *ss = &e->slots[s];
        ss->cached = hit * e->B;
        if (e->stats) e->stats->prefix_hit_tokens += hit * e->B;
        ss->request = r;
        ss->prefilled = 0;
        ss->sibling = sib;
        ss->recompute = recompute;
        ss->stamp = e->stamps++;
        if (recompute) {
            memmove(e->front, e->front + 1, sizeof(int) * (size_t)--e->n_front);
            if (e->stats) e->stats->recomputed_tokens += tokens; /* those found in the prefix cache excepted */
        } else {
            cada_rng_init(&e->rngs[r], cfg->seed, q->prompt_id, q->sample_index, 0);
            if (e->share && !sib && more) { /* a new group: this one prefills for the next ones */
                e->group = r;
                e->group_leader = s;
                e->group_closing = 0;
            }
            if (sib && !more) e->group_closing = 1;
            (*next)++;
        }
        e->active++;
    }
}

static cada_status generate(backend *be, int V, const cada_engine_config *cfg, const cada_gen_request *reqs, int n_reqs,
                            cada_gen_result *results, cada_engine_stats *stats) {
    const int paged = !be->gm, share = paged && !cfg->no_prompt_sharing;
    if (cfg->n_slots < (paged ? 0 : 1) || cfg->max_len <= 1 || (paged && cfg->kv_blocks < 0))
        return CADA_ERR(CADA_ERR_ARG, "generate: n_slots %d, max_len %d and kv_blocks %d", cfg->n_slots, cfg->max_len,
                        cfg->kv_blocks);
    if (paged && cfg->n_slots == 0 && cfg->kv_blocks == 0 && cfg->kv_pool_bytes == 0)
        return CADA_ERR(CADA_ERR_ARG, "generate: n_slots 0 (as memory allows) needs a pool size (kv_blocks or kv_pool_bytes)");
    const int B = cfg->kv_block_tokens > 0 ? cfg->kv_block_tokens : CADA_KV_BLOCK_TOKENS, Mb = (cfg->max_len + B - 1) / B;
    const int n_blocks = !paged                ? 0
                         : cfg->kv_blocks > 0  ? cfg->kv_blocks
                         : cfg->kv_pool_bytes ? cada_kv_blocks_for_bytes(&be->m->cfg, cfg->kv_pool_bytes, B)
                                               : (cfg->n_slots + 1) * Mb;
    int longest = 1;
    for (int i = 0; i < n_reqs; i++) {
        memset(&results[i], 0, sizeof results[i]);
        if (reqs[i].prompt_len <= 0)
            return CADA_ERR(CADA_ERR_ARG, "generate: request %d (prompt %llu) has an empty prompt", i,
                            (unsigned long long)reqs[i].prompt_id);
        if (reqs[i].prompt_len >= cfg->max_len)
            return CADA_ERR(CADA_ERR_ARG,
                            "generate: request %d (prompt %llu) has %d prompt tokens; the context limit is %d (raise max_len)",
                            i, (unsigned long long)reqs[i].prompt_id, reqs[i].prompt_len, cfg->max_len);
        if (reqs[i].max_new_tokens <= 0)
            return CADA_ERR(CADA_ERR_ARG, "generate: request %d (prompt %llu) asks for %d new tokens", i,
                            (unsigned long long)reqs[i].prompt_id, reqs[i].max_new_tokens);
        /* a sequence alone always fits, so preemption always leaves one that progresses */
        const int worst = (worst_len(&reqs[i], cfg->max_len) + B - 1) / B;
        if (paged && worst > n_blocks)
            return CADA_ERR(CADA_ERR_NOMEM,
                            "generate: request %d needs up to %d cache blocks of %d tokens; the pool has %d "
                            "(raise the KV budget)",
                            i, worst, B, n_blocks);
        if (reqs[i].prompt_len > longest) longest = reqs[i].prompt_len;
    }
    /* slots: the concurrency bound (CPU: n_slots, 0 as memory allows; never more than
     * the requests or the blocks, as each running sequence holds one at least) */
    int S = cfg->n_slots;
    if (paged) {
        if (S == 0 || S > n_blocks) S = n_blocks;
        if (S > n_reqs) S = n_reqs > 0 ? n_reqs : 1;
    }
    for (int i = 0; i < n_reqs; i++) {
        int cap = reqs[i].max_new_tokens;
        results[i].tokens = malloc(sizeof(int) * (size_t)cap);
        results[i].logprobs = malloc(sizeof(float) * (size_t)cap);
        if (!results[i].tokens || !results[i].logprobs) {
            for (int j = 0; j <= i; j++) cada_gen_result_free(&results[j]);
            return CADA_ERR(CADA_ERR_NOMEM, "generate: result buffers for %d requests", n_reqs);
        }
    }
    /* A call carries the decode steps of the running sequences plus prefills of at most
     * prefill_budget tokens (one prefill of any length fits). CPU: slot S holds an open
     * prompt group's blocks for its samples still waiting. The GPU model has its own
     * cache and limits. */
    const int prefill_budget = paged ? cada_kv_prefill_budget(S, cfg->max_len, longest) : S * longest;
    cada_status st = CADA_OK;
    if (paged) st = cada_kv_cache_init(&be->kv, &be->m->cfg, S + 1, cfg->max_len, S + prefill_budget, B, n_blocks);
    if (st != CADA_OK) {
        for (int i = 0; i < n_reqs; i++) cada_gen_result_free(&results[i]);
        return st;
    }
    engine e;
    memset(&e, 0, sizeof e);
    e.be = be, e.cfg = cfg, e.reqs = reqs, e.results = results, e.stats = stats;
    e.S = S, e.B = B, e.holder = S, e.paged = paged, e.share = share;
    e.group = -1, e.group_leader = -1;
    e.slots = calloc((size_t)S, sizeof *e.slots);
    e.front = calloc((size_t)n_reqs + 1, sizeof(int));
    e.req_stamp = calloc((size_t)n_reqs + 1, sizeof(long));
    e.rngs = calloc((size_t)n_reqs + 1, sizeof *e.rngs);
    slot_state *slots = e.slots;
    cada_infer_seq *seqs = calloc((size_t)S, sizeof *seqs);
    int *one_token = calloc((size_t)S, sizeof(int));
    int *recomp = paged ? malloc(sizeof(int) * (size_t)S * cfg->max_len) : NULL; /* (S, max_len) recompute prefills */
    cada_prefix_cache pc; /* CPU: dropped when this call ends, so it never outlives the weights */
    memset(&pc, 0, sizeof pc);
    e.recomp = recomp;
    float *logits = malloc(sizeof(float) * (size_t)(be->gm ? 2 : 1) * S * V); /* GPU: + the calls' rows */
    float *group_logits = share ? malloc(sizeof(float) * (size_t)V) : NULL; /* after the open group's prompt */
    cada_sampler sampler = {0};
    if (!slots || !e.front || !e.req_stamp || !e.rngs || !seqs || !one_token || (paged && !recomp) || !logits ||
        (share && !group_logits) || cada_sampler_init(&sampler, V) != 0) {
        st = CADA_ERR(CADA_ERR_NOMEM, "generate: engine buffers");
        goto done;
    }
    if (paged && !cfg->no_prefix_cache) {
        e.hit = malloc(sizeof(int) * (size_t)Mb);
        st = e.hit ? cada_prefix_cache_init(&pc, n_blocks, B) : CADA_ERR(CADA_ERR_NOMEM, "generate: prefix cache buffers");
        if (st != CADA_OK) goto done;
        e.pc = &pc;
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->cache_bytes = be->kv.bytes;
        stats->cache_blocks = be->kv.n_blocks;
#ifdef CADA_HAVE_CUDA
        if (be->gm) stats->cache_bytes = cada_gpu_model_plan_of(be->gm)->kv_cache;
#endif
    }
    for (int s = 0; s < S; s++) slots[s].request = -1;
    int next = 0;
    while (next < n_reqs || e.n_front > 0 || e.active > 0) {
        if (paged) {
            st = make_room(&e);
            if (st != CADA_OK) goto done;
        }
        admit(&e, n_reqs, &next, prefill_budget);
        int n = 0, new_prompt_tokens = 0;
        for (int s = 0; s < S; s++) {
            slots[s].row = -1;
            if (slots[s].request < 0 || slots[s].sibling) continue;
            const cada_gen_request *q = &reqs[slots[s].request];
            seqs[n].slot = s;
            if (!slots[s].prefilled) { /* the prompt (recompute: + the tokens generated before the preemption) */
                const int all = q->prompt_len + (slots[s].recompute ? results[slots[s].request].n : 0);
                const int *toks = slots[s].recompute ? recomp + (size_t)s * cfg->max_len : q->prompt;
                seqs[n].tokens = toks + slots[s].cached; /* after the blocks found in the prefix cache */
                seqs[n].n_tokens = all - slots[s].cached;
                new_prompt_tokens += seqs[n].n_tokens;
            } else {
                one_token[s] = slots[s].pending;
                seqs[n].tokens = &one_token[s];
                seqs[n].n_tokens = 1;
            }
            slots[s].row = n++;
        }
        if (n > 0) {
            st = backend_infer(be, seqs, n, new_prompt_tokens, logits, V, stats);
            if (st != CADA_OK) goto done;
            if (cfg->between_calls) cfg->between_calls(cfg->between_ctx);
        }
        if (e.pc) /* the full blocks this call's prefills computed join the prefix cache */
            for (int s = 0; s < S; s++) {
                if (slots[s].row < 0 || slots[s].prefilled) continue;
                const int *toks = slots[s].recompute ? recomp + (size_t)s * cfg->max_len : reqs[slots[s].request].prompt;
                cada_prefix_cache_insert(e.pc, &be->kv, toks, be->kv.len[s] / B, be->kv.table + (size_t)s * be->kv.max_blocks);
            }
        if (share && e.group >= 0) {
            const int holder = e.holder;
            if (e.group_leader >= 0) { /* the prompt was prefilled in this call: keep its blocks and logits */
                memcpy(group_logits, logits + (size_t)slots[e.group_leader].row * V, sizeof(float) * (size_t)V);
                cada_kv_cache_clear_slot(&be->kv, holder);
                st = cada_kv_cache_share(&be->kv, holder, e.group_leader, reqs[e.group].prompt_len);
                if (st != CADA_OK) goto done;
                e.group_leader = -1;
            }
            for (int s = 0; s < S; s++) {
                if (slots[s].request < 0 || !slots[s].sibling) continue;
                st = cada_kv_cache_share(&be->kv, s, holder, reqs[e.group].prompt_len);
                if (st != CADA_OK) goto done;
                if (stats) stats->shared_prompt_tokens += reqs[e.group].prompt_len;
            }
            if (e.group_closing) close_group(&e);
        }
        for (int s = 0; s < S; s++) {
            slot_state *ss = &slots[s];
            if (ss->request < 0 || (ss->row < 0 && !ss->sibling)) continue;
            int r = ss->request;
            cada_gen_result *res = &results[r];
            const float *row = ss->sibling ? group_logits : logits + (size_t)ss->row * V;
            ss->prefilled = 1;
            ss->sibling = 0;
            float lp;
            int tok = cada_sample(&sampler, row, &cfg->sampling, &e.rngs[r], &lp);
            res->tokens[res->n] = tok;
            res->logprobs[res->n] = lp;
            res->n++;
            if (stats) stats->decode_tokens++;
            if (cfg->on_token) cfg->on_token(cfg->ctx, r, tok, lp);
            cada_finish_reason fin = CADA_FINISH_NONE;
            if (is_eos(cfg, tok)) fin = CADA_FINISH_EOS;
            else if (cfg->stop && cfg->stop(cfg->ctx, r, res->tokens, res->n)) fin = CADA_FINISH_STOP;
            else if (res->n >= reqs[r].max_new_tokens) fin = CADA_FINISH_LENGTH;
            else if (backend_slot_len(be, s) >= cfg->max_len) fin = CADA_FINISH_CONTEXT; /* no room to feed tok */
            if (fin != CADA_FINISH_NONE) {
                res->finish = fin;
                ss->request = -1;
                if (paged) backend_clear_slot(be, s); /* its blocks back to the pool now */
                e.active--;
            } else {
                ss->pending = tok;
            }
        }
    }
done:
    if (st != CADA_OK)
        for (int i = 0; i < n_reqs; i++) cada_gen_result_free(&results[i]);
    cada_sampler_free(&sampler);
    free(e.slots);
    free(e.front);
    free(e.req_stamp);
    free(e.rngs);
    free(seqs);
    free(one_token);
    free(recomp);
    free(e.hit);
    if (stats && e.pc) stats->prefix_evictions = pc.evictions;
    cada_prefix_cache_free(&pc, be->gm ? NULL : &be->kv);
    free(logits);
    free(group_logits);
    if (stats && !be->gm) stats->cache_blocks_peak = be->kv.peak_used;
    if (!be->gm) cada_kv_cache_free(&be->kv);
    return st;
}
