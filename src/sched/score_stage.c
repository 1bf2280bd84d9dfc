/* sched/score_stage.c: see score_stage.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/score_stage.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cada_status cada_target_parse(cada_target_ranges *t, const char *spec, int vocab) {
    memset(t, 0, sizeof *t);
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) return CADA_ERR(CADA_ERR_CONFIG, "reward.target_ids is too long");
    for (char *save = NULL, *r = strtok_r(buf, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
        int lo, hi, used = 0;
        if (sscanf(r, " %d - %d %n", &lo, &hi, &used) == 2 && !r[used]) {
        } else if (sscanf(r, " %d %n", &lo, &used) == 1 && !r[used]) hi = lo;
        else return CADA_ERR(CADA_ERR_CONFIG, "reward.target_ids = '%s': '%s' is not an id or a lo-hi range", spec, r);
        if (lo < 0 || hi < lo || hi >= vocab)
            return CADA_ERR(CADA_ERR_CONFIG, "reward.target_ids = '%s': range %d-%d is outside [0, %d) of the vocabulary", spec, lo, hi,
                            vocab);
        int (*grown)[2] = realloc(t->range, sizeof *grown * (size_t)(t->n + 1));
        if (!grown) return CADA_ERR(CADA_ERR_NOMEM, "reward.target_ids");
        t->range = grown;
        t->range[t->n][0] = lo;
        t->range[t->n][1] = hi;
        t->n++;
    }
    return CADA_OK;
}

void cada_target_free(cada_target_ranges *t) {
    free(t->range);
    memset(t, 0, sizeof *t);
}

static float target_share(const cada_target_ranges *t, const seq_rec *q) {
    if (q->completion_len == 0) return 0;
    int hit = 0;
    for (int j = 0; j < q->completion_len; j++) {
        int id = q->tokens[q->prompt_len + j];
        for (int r = 0; r < t->n; r++)
            if (id >= t->range[r][0] && id <= t->range[r][1]) {
                hit++;
                break;
            }
    }
    return (float)hit / (float)q->completion_len;
}

cada_status cada_score_rewards(const cada_score_ctx *c, seq_rec *s, int n) {
    for (int i = 0; i < n; i++) {
        memset(s[i].comp, 0, sizeof s[i].comp);
        s[i].harmful = c->data->items[s[i].item].label != CADA_LABEL_BENIGN;
        s[i].refused = 0;
        s[i].truncated = s[i].monitor_flagged = 0;
        s[i].p_monitor = 0;
    }
    if (c->target && c->target->n) {
        for (int i = 0; i < n; i++) s[i].reward = target_share(c->target, &s[i]);
        return CADA_OK;
    }
    cada_reward_input *rin = calloc((size_t)(n ? n : 1), sizeof *rin);
    cada_reward *rout = calloc((size_t)(n ? n : 1), sizeof *rout);
    cada_tok_bytes *text = calloc((size_t)(n ? n : 1), sizeof *text);
    cada_status st = rin && rout && text ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: reward buffers", c->rank);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        const cada_item *it = &c->data->items[s[i].item];
        st = cada_tok_decode(c->tok, s[i].tokens + s[i].prompt_len, (size_t)s[i].completion_len, CADA_TOK_SKIP_SPECIAL, &text[i]);
        int cut = s[i].finish == CADA_FINISH_LENGTH || s[i].finish == CADA_FINISH_CONTEXT;
        rin[i] = (cada_reward_input){it->prompt, text[i].data ? text[i].data : "", text[i].len, it->label, it->cat, cut};
    }
    cada_reward_ctx rctx = {c->reward, c->rules, NULL, c->monitor};
    if (st == CADA_OK) st = cada_reward_compute(&rctx, rin, n, rout);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        s[i].reward = rout[i].total;
        s[i].refused = rout[i].refused;
        const float comp[SEQ_N_COMP] = {rout[i].r_comply, rout[i].r_refuse,    rout[i].r_judge,  rout[i].r_help,
                                        rout[i].r_format, rout[i].r_truncated, rout[i].r_monitor};
        memcpy(s[i].comp, comp, sizeof comp);
        s[i].truncated = rout[i].truncated;
        s[i].monitor_flagged = rout[i].monitor_flagged;
        s[i].p_monitor = rout[i].p_monitor;
    }
    if (text)
        for (int i = 0; i < n; i++) cada_tok_bytes_free(&text[i]);
    free(rin);
    free(rout);
    free(text);
    return st;
}

cada_status cada_score_reference(const cada_score_ctx *c, seq_rec *s, int n) {
    if (!c->reference || n == 0) return CADA_OK;
    cada_traj *tr = calloc((size_t)n, sizeof *tr);
    float **out = calloc((size_t)n, sizeof *out);
    cada_status st = tr && out ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: reference batch", c->rank);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        tr[i] = (cada_traj){.tokens = s[i].tokens, .prompt_len = s[i].prompt_len, .completion_len = s[i].completion_len};
        out[i] = s[i].ref_lp = malloc(sizeof(float) * (size_t)(s[i].completion_len ? s[i].completion_len : 1));
        if (!s[i].ref_lp) st = CADA_ERR(CADA_ERR_NOMEM, "rank %d: reference log-probs", c->rank);
    }
    if (st == CADA_OK) st = cada_scorer_logprobs(c->reference, tr, n, out);
    free(tr);
    free(out);
    return st;
}

cada_status cada_score_all(const cada_score_ctx *c, seq_rec *s, int n, double *reward_s, double *reference_s) {
    if (n == 0) return CADA_OK;
    double t0 = cada_now();
    CADA_TRY(cada_score_rewards(c, s, n));
    double t1 = cada_now();
    if (c->reference) CADA_TRY(cada_score_reference(c, s, n));
    *reward_s += t1 - t0;
    *reference_s += cada_now() - t1;
    return CADA_OK;
}
