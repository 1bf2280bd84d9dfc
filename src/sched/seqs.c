/* sched/seqs.c: see seqs.h. */
#include "sched/seqs.h"

#include <stdlib.h>
#include <string.h>

const char *const seq_comp_names[SEQ_N_COMP] = {"comply", "refuse", "judge", "help", "format", "truncated", "monitor"};

void seqs_free(seq_rec *s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) {
        free(s[i].tokens);
        free(s[i].rollout_lp);
        free(s[i].ref_lp);
    }
    free(s);
}

static int by_order(const void *a, const void *b) {
    const seq_rec *x = a, *y = b;
    if (x->order != y->order) return x->order - y->order;
    return x->sample - y->sample;
}

void seqs_sort(seq_rec *s, int n) {
    if (n > 1) qsort(s, (size_t)n, sizeof *s, by_order);
}

cada_status seq_from_generation(seq_rec *q, const int *prompt, int prompt_len, const cada_gen_result *res) {
    q->prompt_len = prompt_len;
    q->completion_len = res->n;
    q->finish = (int)res->finish;
    q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
    q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
    if (!q->tokens || !q->rollout_lp) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    memcpy(q->tokens, prompt, sizeof(int) * (size_t)q->prompt_len);
    memcpy(q->tokens + q->prompt_len, res->tokens, sizeof(int) * (size_t)q->completion_len);
    memcpy(q->rollout_lp, res->logprobs, sizeof(float) * (size_t)q->completion_len);
    return CADA_OK;
}

void seq_to_msg(const seq_rec *q, Cada__Trajectory *tr) {
    cada__trajectory__init(tr);
    tr->prompt_id = (uint64_t)q->item;
    tr->position = q->order;
    tr->sample_index = (uint32_t)q->sample;
    tr->policy_version = (uint64_t)q->version;
    tr->finish = (Cada__FinishReason)q->finish;
    tr->n_prompt_tokens = (size_t)q->prompt_len;
    tr->prompt_tokens = q->tokens;
    tr->n_completion_tokens = (size_t)q->completion_len;
    tr->completion_tokens = q->tokens + q->prompt_len;
    tr->n_rollout_logprobs = (size_t)q->completion_len;
    tr->rollout_logprobs = q->rollout_lp;
    if (q->ref_lp) {
        tr->n_ref_logprobs = (size_t)q->completion_len;
        tr->ref_logprobs = q->ref_lp;
    }
    tr->label = q->harmful;
    tr->category = q->refused ? "refused" : "";
    tr->truncated = q->truncated != 0;
    tr->monitor_flagged = q->monitor_flagged != 0;
    tr->p_monitor = q->p_monitor;
}

cada_status seq_from_msg(const Cada__Trajectory *tr, const seq_limits *lim, seq_rec *q, int from, int i) {
    memset(q, 0, sizeof *q);
    if (!tr || tr->n_rollout_logprobs != tr->n_completion_tokens ||
        (tr->n_ref_logprobs && tr->n_ref_logprobs != tr->n_completion_tokens) || tr->n_prompt_tokens == 0 ||
        tr->prompt_id >= (uint64_t)lim->n_items || tr->position < 0 || tr->position >= lim->prompts_per_step)
        return CADA_ERR(CADA_ERR_FORMAT, "trajectories from rank %d: item %d has inconsistent lengths or ids", from, i);
    q->order = tr->position;
    q->item = (int)tr->prompt_id;
    q->sample = (int)tr->sample_index;
    q->prompt_len = (int)tr->n_prompt_tokens;
    q->completion_len = (int)tr->n_completion_tokens;
    q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
    q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
    if (tr->n_ref_logprobs) q->ref_lp = malloc(sizeof(float) * (size_t)q->completion_len);
    if (!q->tokens || !q->rollout_lp || (tr->n_ref_logprobs && !q->ref_lp)) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    memcpy(q->tokens, tr->prompt_tokens, sizeof(int) * (size_t)q->prompt_len);
    memcpy(q->tokens + q->prompt_len, tr->completion_tokens, sizeof(int) * (size_t)q->completion_len);
    memcpy(q->rollout_lp, tr->rollout_logprobs, sizeof(float) * (size_t)q->completion_len);
    if (q->ref_lp) memcpy(q->ref_lp, tr->ref_logprobs, sizeof(float) * (size_t)q->completion_len);
    q->version = (long long)tr->policy_version;
    q->finish = (int)tr->finish;
    q->harmful = tr->label;
    q->refused = tr->category && !strcmp(tr->category, "refused");
    q->truncated = tr->truncated;
    q->monitor_flagged = tr->monitor_flagged;
    q->p_monitor = tr->p_monitor;
    return CADA_OK;
}

cada_status seq_reward_msg_init(seq_reward_msg *m, const seq_rec *s, int n, long long step) {
    size_t k = (size_t)(n ? n : 1);
    memset(m, 0, sizeof *m);
    m->tm = calloc(k, sizeof *m->tm);
    m->tp = calloc(k, sizeof *m->tp);
    m->rr = calloc(k, sizeof *m->rr);
    m->rp = calloc(k, sizeof *m->rp);
    m->cm = calloc(k * SEQ_N_COMP, sizeof *m->cm);
    m->cp = calloc(k * SEQ_N_COMP, sizeof *m->cp);
    if (!m->tm || !m->tp || !m->rr || !m->rp || !m->cm || !m->cp) {
        seq_reward_msg_free(m);
        return CADA_ERR(CADA_ERR_NOMEM, "reward batch of %d sequences", n);
    }
    for (int i = 0; i < n; i++) {
        seq_to_msg(&s[i], &m->tm[i]);
        m->tp[i] = &m->tm[i];
        Cada__RewardResult *r = &m->rr[i];
        cada__reward_result__init(r);
        r->prompt_id = (uint64_t)s[i].item;
        r->sample_index = (uint32_t)s[i].sample;
        r->total = s[i].reward;
        r->refused = s[i].refused;
        r->n_components = SEQ_N_COMP;
        r->components = m->cp + (size_t)i * SEQ_N_COMP;
        seq_comp_to_msg(&s[i], m->cm + (size_t)i * SEQ_N_COMP, m->cp + (size_t)i * SEQ_N_COMP);
        m->rp[i] = r;
    }
    cada__reward_batch__init(&m->batch);
    m->batch.step = (uint64_t)step;
    m->batch.n_results = (size_t)n;
    m->batch.results = m->rp;
    m->batch.n_trajectories = (size_t)n;
    m->batch.trajectories = m->tp;
    return CADA_OK;
}

void seq_reward_msg_free(seq_reward_msg *m) {
    free(m->tm);
    free(m->tp);
    free(m->rr);
    free(m->rp);
    free(m->cm);
    free(m->cp);
    memset(m, 0, sizeof *m);
}

void seq_comp_to_msg(const seq_rec *q, Cada__RewardComponent *cm, Cada__RewardComponent **cp) {
    for (int c = 0; c < SEQ_N_COMP; c++) {
        cada__reward_component__init(&cm[c]);
        cm[c].name = (char *)seq_comp_names[c];
        cm[c].value = q->comp[c];
        cp[c] = &cm[c];
    }
}

void seq_comp_from_msg(seq_rec *q, Cada__RewardComponent *const *c, size_t n) {
    for (size_t k = 0; k < n; k++)
        for (int j = 0; j < SEQ_N_COMP; j++)
            if (c[k] && c[k]->name && !strcmp(c[k]->name, seq_comp_names[j])) q->comp[j] = c[k]->value;
}

void seq_apply_reward(seq_rec *q, const Cada__RewardResult *res) {
    q->reward = res->total;
    q->refused = res->refused;
    seq_comp_from_msg(q, res->components, res->n_components);
}
