/* rollout/engine.c: see engine.h. */
#define _POSIX_C_SOURCE 200809L
#include "rollout/engine.h"

#include "base/log.h"

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
    int prefilled; /* prompt already in the cache */
    cada_rng rng;
} slot_state;

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

cada_status cada_generate(const cada_model *m, const cada_engine_config *cfg, const cada_gen_request *reqs, int n_reqs,
                          cada_gen_result *results, cada_engine_stats *stats) {
    const int V = m->cfg.vocab_size, S = cfg->n_slots;
    if (S <= 0 || cfg->max_len <= 1) return CADA_ERR(CADA_ERR_ARG, "generate: n_slots %d and max_len %d", S, cfg->max_len);
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
        if (reqs[i].prompt_len > longest) longest = reqs[i].prompt_len;
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
    /* A call carries at most one prompt per free slot plus one token per running slot. */
    cada_kv_cache kv;
    cada_status st = cada_kv_cache_init(&kv, &m->cfg, S, cfg->max_len, S * longest);
    if (st != CADA_OK) return st;
    slot_state *slots = calloc((size_t)S, sizeof *slots);
    cada_infer_seq *seqs = calloc((size_t)S, sizeof *seqs);
    int *seq_slot = calloc((size_t)S, sizeof(int));
    int *one_token = calloc((size_t)S, sizeof(int));
    float *logits = malloc(sizeof(float) * (size_t)S * V);
    cada_sampler sampler = {0};
    if (!slots || !seqs || !seq_slot || !one_token || !logits || cada_sampler_init(&sampler, V) != 0) {
        st = CADA_ERR(CADA_ERR_NOMEM, "generate: engine buffers");
        goto done;
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->cache_bytes = kv.bytes;
    }
    for (int s = 0; s < S; s++) slots[s].request = -1;
    int next = 0, active = 0;
    while (next < n_reqs || active > 0) {
        /* admit waiting requests into free slots */
        for (int s = 0; s < S && next < n_reqs; s++) {
            if (slots[s].request >= 0) continue;
            slots[s].request = next;
            slots[s].prefilled = 0;
            cada_rng_init(&slots[s].rng, cfg->seed, reqs[next].prompt_id, reqs[next].sample_index, 0);
            cada_kv_cache_clear_slot(&kv, s);
            next++;
            active++;
        }
        int n = 0, new_prompt_tokens = 0;
        for (int s = 0; s < S; s++) {
            if (slots[s].request < 0) continue;
            const cada_gen_request *q = &reqs[slots[s].request];
            seqs[n].slot = s;
            if (!slots[s].prefilled) {
                seqs[n].tokens = q->prompt;
                seqs[n].n_tokens = q->prompt_len;
                new_prompt_tokens += q->prompt_len;
            } else {
                one_token[s] = slots[s].pending;
                seqs[n].tokens = &one_token[s];
                seqs[n].n_tokens = 1;
            }
            seq_slot[n++] = s;
        }
        double t0 = cada_now();
        st = cada_model_infer(m, &kv, seqs, n, logits);
        if (st != CADA_OK) goto done;
        double dt = cada_now() - t0;
        if (stats) {
            stats->model_calls++;
            /* a mixed call is booked by its larger part */
            if (new_prompt_tokens > n) stats->prefill_seconds += dt;
            else stats->decode_seconds += dt;
            stats->prefill_tokens += new_prompt_tokens;
        }
        for (int i = 0; i < n; i++) {
            int s = seq_slot[i];
            slot_state *ss = &slots[s];
            int r = ss->request;
            cada_gen_result *res = &results[r];
            ss->prefilled = 1;
            float lp;
            int tok = cada_sample(&sampler, logits + (size_t)i * V, &cfg->sampling, &ss->rng, &lp);
            res->tokens[res->n] = tok;
            res->logprobs[res->n] = lp;
            res->n++;
            if (stats) stats->decode_tokens++;
            if (cfg->on_token) cfg->on_token(cfg->ctx, r, tok, lp);
            cada_finish_reason fin = CADA_FINISH_NONE;
            if (is_eos(cfg, tok)) fin = CADA_FINISH_EOS;
            else if (cfg->stop && cfg->stop(cfg->ctx, r, res->tokens, res->n)) fin = CADA_FINISH_STOP;
            else if (res->n >= reqs[r].max_new_tokens) fin = CADA_FINISH_LENGTH;
            else if (kv.len[s] >= cfg->max_len) fin = CADA_FINISH_CONTEXT; /* no room to feed tok */
            if (fin != CADA_FINISH_NONE) {
                res->finish = fin;
                ss->request = -1;
                active--;
            } else {
                ss->pending = tok;
            }
        }
    }
done:
    if (st != CADA_OK)
        for (int i = 0; i < n_reqs; i++) cada_gen_result_free(&results[i]);
    cada_sampler_free(&sampler);
    free(slots);
    free(seqs);
    free(seq_slot);
    free(one_token);
    free(logits);
    cada_kv_cache_free(&kv);
    return st;
}
