/* sched/score_stage.c: see score_stage.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/score_stage.h"

#include "base/log.h"

#include <math.h>
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

/* ---- the judge's tally ---------------------------------------------------------------- */

/* The judge's cost since the last call and the scores of rout into c->tally. */
static void tally_rewards(const cada_score_ctx *c, const cada_reward *rout, int n) {
    cada_judge_stats js;
    cada_judge_stats_take(c->judge, &js);
    cada_judge_tally *t = c->tally;
    t->seconds += js.seconds;
    t->cpu_seconds += js.cpu_seconds;
    t->prompt_tokens += (double)js.prompt_tokens;
    t->gen_tokens += (double)js.gen_tokens;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < CADA_JS_N; k++)
            if (!isnan(rout[i].judge_score[k])) t->sum[k] += rout[i].judge_score[k], t->count[k] += 1;
}

void cada_judge_tally_add(cada_judge_tally *t, const cada_judge_tally *o) {
    double s = t->seconds + o->seconds, c = t->cpu_seconds + o->cpu_seconds;
    cada_judge_tally_merge(t, o);
    t->seconds = s, t->cpu_seconds = c;
}

void cada_judge_tally_merge(cada_judge_tally *t, const cada_judge_tally *o) {
    t->seconds = fmax(t->seconds, o->seconds);
    t->cpu_seconds = fmax(t->cpu_seconds, o->cpu_seconds);
    t->prompt_tokens += o->prompt_tokens;
    t->gen_tokens += o->gen_tokens;
    for (int k = 0; k < CADA_JS_N; k++) t->sum[k] += o->sum[k], t->count[k] += o->count[k];
}

int cada_judge_tally_fields(const cada_judge_tally *t, unsigned scores, cada_metric_field *out) {
    static const char *const mean_names[CADA_JS_N] = {"judge_refusal", "judge_strongreject", "judge_helpful", "judge_monitor"};
    int n = 0;
    out[n++] = (cada_metric_field){"judge_s", t->seconds};
    out[n++] = (cada_metric_field){"judge_cpu_s", t->cpu_seconds};
    out[n++] = (cada_metric_field){"judge_prompt_tokens", t->prompt_tokens};
    out[n++] = (cada_metric_field){"judge_gen_tokens", t->gen_tokens};
    out[n++] = (cada_metric_field){"judge_tokens", t->prompt_tokens + t->gen_tokens};
    for (int k = 0; k < CADA_JS_N; k++)
        if (scores & (1u << k)) out[n++] = (cada_metric_field){mean_names[k], t->count[k] > 0 ? t->sum[k] / t->count[k] : NAN};
    return n;
}

void cada_judge_tally_to_msg(const cada_judge_tally *t, Cada__JudgeStats *m, Cada__JudgeScoreSum *sums,
                             Cada__JudgeScoreSum **ptrs) {
    cada__judge_stats__init(m);
    m->seconds = t->seconds;
    m->cpu_seconds = t->cpu_seconds;
    m->prompt_tokens = (uint64_t)t->prompt_tokens;
    m->generated_tokens = (uint64_t)t->gen_tokens;
    for (int k = 0; k < CADA_JS_N; k++) {
        cada__judge_score_sum__init(&sums[k]);
        sums[k].name = (char *)cada_judge_score_names[k];
        sums[k].sum = t->sum[k];
        sums[k].count = (uint32_t)t->count[k];
        ptrs[k] = &sums[k];
    }
    m->n_scores = CADA_JS_N;
    m->scores = ptrs;
}

cada_status cada_judge_tally_from_msg(const Cada__JudgeStats *m, cada_judge_tally *t, int from) {
    memset(t, 0, sizeof *t);
    if (!isfinite(m->seconds) || m->seconds < 0 || !isfinite(m->cpu_seconds) || m->cpu_seconds < 0)
        return CADA_ERR(CADA_ERR_FORMAT, "judge stats from rank %d: seconds %g, cpu seconds %g", from, m->seconds, m->cpu_seconds);
    t->seconds = m->seconds;
    t->cpu_seconds = m->cpu_seconds;
    t->prompt_tokens = (double)m->prompt_tokens;
    t->gen_tokens = (double)m->generated_tokens;
    for (size_t i = 0; i < m->n_scores; i++) {
        const Cada__JudgeScoreSum *s = m->scores[i];
        int k = 0;
        while (k < CADA_JS_N && (!s->name || strcmp(s->name, cada_judge_score_names[k]))) k++;
        if (k == CADA_JS_N || !isfinite(s->sum))
            return CADA_ERR(CADA_ERR_FORMAT, "judge stats from rank %d: score '%s' (sum %g) is not one of refusal, strongreject, helpful, monitor",
                            from, s->name ? s->name : "", s->sum);
        t->sum[k] += s->sum;
        t->count[k] += s->count;
    }
    return CADA_OK;
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
    cada_reward_ctx rctx = {c->reward, c->rules, c->judge, c->monitor};
    if (st == CADA_OK) st = cada_reward_compute(&rctx, rin, n, rout);
    if (st == CADA_OK && c->judge && c->tally) tally_rewards(c, rout, n);
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
    /* the reference first: under reward.tp its passes are collective with the group's
     * other ranks, which should not wait out the rewards (a judge's calls) */
    double t0 = cada_now();
    if (c->reference) CADA_TRY(cada_score_reference(c, s, n));
    double t1 = cada_now();
    CADA_TRY(cada_score_rewards(c, s, n));
    *reference_s += t1 - t0;
    *reward_s += cada_now() - t1;
    return CADA_OK;
}
