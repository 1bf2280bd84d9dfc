/* sched/offline_stage.c: see offline_stage.h. */
#include "sched/offline_stage.h"

#include "base/log.h"
#include "sched/requests.h"

#include <stdlib.h>
#include <string.h>

/* One sequence: the prompt's ids, then the text's tokens and EOS. */
static cada_status make_seq(const cada_offline_ctx *c, const cada_item *it, const cada_tok_ids *prompt, const char *text,
                            seq_rec *q) {
    cada_tok_ids resp = {0};
    CADA_TRY(cada_tok_encode(c->tok, text, strlen(text), 0, &resp));
    int n = (int)resp.n + 1, total = (int)prompt->n + n;
    cada_status st = CADA_OK;
    if (total > c->max_len)
        st = CADA_ERR(CADA_ERR_CONFIG,
                      "data.train_set record '%s' (line %ld): prompt + response are %d tokens, more than rollout.max_len = %d "
                      "(the learner's row); raise rollout.max_len or shorten the record",
                      it->id, it->line, total, c->max_len);
    q->tokens = st == CADA_OK ? malloc(sizeof(int) * (size_t)total) : NULL;
    q->rollout_lp = st == CADA_OK ? calloc((size_t)n, sizeof(float)) : NULL; /* neither loss reads them */
    if (st == CADA_OK && (!q->tokens || !q->rollout_lp)) st = CADA_ERR(CADA_ERR_NOMEM, "offline sequences");
    if (st == CADA_OK) {
        memcpy(q->tokens, prompt->ids, sizeof(int) * prompt->n);
        memcpy(q->tokens + prompt->n, resp.ids, sizeof(int) * resp.n);
        q->tokens[total - 1] = c->eos;
        q->prompt_len = (int)prompt->n;
        q->completion_len = n;
    }
    cada_tok_ids_free(&resp);
    return st;
}

/* Record `item` at position p of step `step`: its one (sft) or two (dpo) sequences. */
static cada_status record_seqs(const cada_offline_ctx *c, long long step, int p, int item, seq_rec *q) {
    const cada_item *it = &c->cursor->data.items[item];
    if (!it->response || (c->dpo && !it->rejected))
        return CADA_ERR(CADA_ERR_FORMAT, "data.train_set record '%s' (line %ld) has no %s", it->id, it->line,
                        it->response ? "rejected response" : "response");
    cada_tok_ids prompt = {0};
    CADA_TRY(c->bare ? cada_request_render_bare(c->tok, it, &prompt) : cada_request_render(c->builder, c->tok, it, &prompt));
    int n = c->dpo ? 2 : 1;
    cada_status st = CADA_OK;
    for (int s = 0; s < n && st == CADA_OK; s++) {
        q[s] = (seq_rec){.order = p, .sample = s, .item = item, .harmful = it->label == CADA_LABEL_HARMFUL,
                         .finish = CADA_FINISH_EOS, .version = step};
        st = make_seq(c, it, &prompt, s == 0 ? it->response : it->rejected, &q[s]);
    }
    cada_tok_ids_free(&prompt);
    return st;
}

cada_status cada_offline_stage_run(const cada_offline_ctx *c, long long step, seq_rec **out, int *n_out, double *data_s) {
    double t0 = cada_now();
    const int per = c->dpo ? 2 : 1;
    int mine = 0;
    for (int p = 0; p < c->prompts_per_step; p++) mine += p % c->world == c->rank;
    seq_rec *q = calloc((size_t)(mine ? mine * per : 1), sizeof *q);
    if (!q) return CADA_ERR(CADA_ERR_NOMEM, "offline sequences");
    cada_status st = CADA_OK;
    for (int p = 0, k = 0; p < c->prompts_per_step && st == CADA_OK; p++) {
        if (p % c->world != c->rank) continue;
        st = record_seqs(c, step, p, cada_cursor_item(c->cursor, step * c->prompts_per_step + p), q + k);
        k += per;
    }
    if (st == CADA_OK && c->dpo) st = cada_score_reference(c->score, q, mine * per);
    if (st != CADA_OK) {
        seqs_free(q, mine * per); /* records not reached are zero (calloc) */
        return st;
    }
    *out = q;
    *n_out = mine * per;
    *data_s = cada_now() - t0;
    return CADA_OK;
}

cada_status cada_offline_longest(const cada_offline_ctx *c, int *longest) {
    *longest = 0;
    for (int i = 0; i < c->cursor->data.n; i++) {
        seq_rec q[2];
        memset(q, 0, sizeof q);
        cada_status st = record_seqs(c, 0, 0, i, q);
        for (int s = 0; s < 2; s++) {
            int len = q[s].prompt_len + q[s].completion_len;
            *longest = len > *longest ? len : *longest;
            free(q[s].tokens);
            free(q[s].rollout_lp);
        }
        CADA_TRY(st);
    }
    return CADA_OK;
}
