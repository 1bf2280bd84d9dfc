/* eval/generate.c: see generate.h. */
#include "eval/generate.h"

#include "base/log.h"
#include "cada/text.h"

#include <stdlib.h>
#include <string.h>

void cada_eval_lm_init(cada_eval_lm *lm, const cada_model *m, const cada_tokenizer *tok) {
    memset(lm, 0, sizeof *lm);
    lm->m = m;
    lm->tok = tok;
    lm->n_eos = cada_eos_ids(cada_tok_eos_id(tok), m->cfg.eos_token_id, lm->eos);
}

void cada_eval_gen_free(cada_eval_gen *g) {
    free(g->prompt);
    free(g->text);
    cada_gen_result_free(&g->res);
    memset(g, 0, sizeof *g);
}

/* ---- progress --------------------------------------------------------------------- */

typedef struct {
    int enabled, n, max_tokens, n_eos;
    const int *eos;
    const char *what;
    int *count; /* tokens per request */
    int done;
    long tokens;
    double t0, last;
} progress;

static void on_token(void *p, int request, int token, float logprob) {
    (void)logprob;
    progress *g = p;
    g->tokens++;
    int c = ++g->count[request];
    int end = c >= g->max_tokens;
    for (int i = 0; i < g->n_eos; i++) end |= token == g->eos[i];
    g->done += end;
    if (!g->enabled) return;
    double now = cada_now();
    if (now - g->last >= 3.0 || g->done == g->n) {
        double dt = now - g->t0;
        CADA_INFO("eval: %s %d/%d done, %ld tokens, %.1f tokens/s", g->what, g->done, g->n, g->tokens,
                  dt > 0 ? (double)g->tokens / dt : 0.0);
        g->last = now;
    }
}

/* ---- the call ----------------------------------------------------------------------- */

static cada_status encode(const cada_tokenizer *tok, const char *text, cada_eval_gen *g) {
    cada_tok_ids ids = {0};
    cada_status st = cada_tok_encode(tok, text, strlen(text), 0, &ids);
    if (st == CADA_OK && !(g->prompt = malloc(sizeof(int) * (ids.n ? ids.n : 1)))) st = CADA_ERR(CADA_ERR_NOMEM, "prompt");
    if (st == CADA_OK) {
        for (size_t k = 0; k < ids.n; k++) g->prompt[k] = ids.ids[k];
        g->prompt_len = (int)ids.n;
    }
    cada_tok_ids_free(&ids);
    return st;
}

static cada_status decode(const cada_tokenizer *tok, cada_eval_gen *g) {
    cada_tok_bytes raw = {0}, txt = {0};
    cada_status st = cada_tok_decode(tok, g->res.tokens, (size_t)g->res.n, CADA_TOK_SKIP_SPECIAL, &raw);
    if (st == CADA_OK) st = cada_tok_utf8_lossy(raw.data ? raw.data : "", raw.len, &txt);
    if (st == CADA_OK) {
        g->text = cada_strndup(txt.data ? txt.data : "", txt.len);
        g->text_len = txt.len;
        if (!g->text) st = CADA_ERR_NOMEM;
    }
    cada_tok_bytes_free(&raw);
    cada_tok_bytes_free(&txt);
    return st;
}

cada_status cada_eval_generate(const cada_eval_lm *lm, const cada_eval_gen_config *cfg, const char *const *texts,
                               const uint64_t *ids, const uint32_t *samples, int n, cada_eval_gen *out,
                               double *seconds) {
    if (seconds) *seconds = 0;
    if (n <= 0) return CADA_OK;
    memset(out, 0, sizeof *out * (size_t)n);
    if (cfg->max_tokens <= 0 || cfg->n_slots <= 0)
        return CADA_ERR(CADA_ERR_CONFIG, "eval: max_tokens %d, slots %d out of range", cfg->max_tokens, cfg->n_slots);
    cada_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    cada_gen_result *results = calloc((size_t)n, sizeof *results);
    progress prog = {cfg->progress, n, cfg->max_tokens, lm->n_eos, lm->eos, cfg->what ? cfg->what : "generating",
                     calloc((size_t)n, sizeof(int)), 0, 0, cada_now(), cada_now()};
    cada_status st = reqs && results && prog.count ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "eval: %d requests", n);
    int longest = 0;
    for (int i = 0; i < n && st == CADA_OK; i++) {
        st = encode(lm->tok, texts[i], &out[i]);
        if (st != CADA_OK) break;
        longest = out[i].prompt_len > longest ? out[i].prompt_len : longest;
        reqs[i] = (cada_gen_request){ids[i], samples ? samples[i] : 0, out[i].prompt, out[i].prompt_len, cfg->max_tokens};
    }
    if (st == CADA_OK) {
        cada_engine_config ec;
        memset(&ec, 0, sizeof ec);
        ec.sampling.temperature = cfg->temperature;
        ec.sampling.top_p = cfg->top_p;
        ec.seed = cfg->seed;
        ec.n_slots = cfg->n_slots < n ? cfg->n_slots : n;
        ec.max_len = longest + cfg->max_tokens + 1;
        if (ec.max_len > lm->m->cfg.max_position_embeddings && lm->m->cfg.max_position_embeddings > 0)
            ec.max_len = lm->m->cfg.max_position_embeddings;
        ec.eos_ids = lm->eos;
        ec.n_eos = lm->n_eos;
        ec.on_token = on_token;
        ec.ctx = &prog;
        if (cfg->progress)
            CADA_INFO("eval: %s %d completions (longest prompt %d tokens, up to %d new, %d at a time)", prog.what, n,
                      longest, cfg->max_tokens, ec.n_slots);
        cada_engine_stats stats;
        double t0 = cada_now();
        st = cada_generate(lm->m, &ec, reqs, n, results, &stats);
        if (seconds) *seconds = cada_now() - t0;
    }
    for (int i = 0; i < n && st == CADA_OK; i++) {
        out[i].res = results[i];
        results[i] = (cada_gen_result){0};
        st = decode(lm->tok, &out[i]);
    }
    for (int i = 0; results && i < n; i++) cada_gen_result_free(&results[i]);
    free(results);
    free(reqs);
    free(prog.count);
    return st;
}
