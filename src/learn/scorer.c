/* learn/scorer.c (interim): see scorer.h. */
#include "learn/scorer.h"

#include "learn/learner.h"

#include <stdlib.h>

struct cada_scorer {
    cada_model *m;
    cada_gpu_scorer *gpu;
};

cada_status cada_scorer_create(cada_scorer **out, cada_model *m, const cada_scorer_options *o) {
    cada_scorer *s = calloc(1, sizeof *s);
    if (!s) return CADA_ERR(CADA_ERR_NOMEM, "scorer");
    s->m = m;
    if (o->device >= 0) {
        cada_status st = cada_gpu_scorer_create(&s->gpu, m, o->row_tokens, o->micro_tokens, o->device);
        if (st != CADA_OK) {
            free(s);
            return st;
        }
    }
    *out = s;
    return CADA_OK;
}

cada_status cada_scorer_logprobs(cada_scorer *s, const cada_traj *t, int n, float *const *out) {
    if (s->gpu) return cada_gpu_scorer_logprobs(s->gpu, t, n, out);
    int T = 0;
    for (int i = 0; i < n; i++)
        if (t[i].prompt_len + t[i].completion_len > T) T = t[i].prompt_len + t[i].completion_len;
    cada_packed p = {0};
    cada_status st = cada_pack(&p, t, NULL, n, T, 0);
    if (st == CADA_OK) {
        cada_batch b = {p.B, p.T, p.tokens, p.positions, p.targets};
        st = cada_model_forward(s->m, &b);
    }
    for (int i = 0; st == CADA_OK && i < n; i++)
        for (int j = 0; j < t[i].completion_len; j++) out[i][j] = s->m->act.logprob[p.lp_index[i] + j];
    cada_packed_free(&p);
    return st;
}

size_t cada_scorer_bytes(const cada_scorer *s) { return s->gpu ? cada_gpu_scorer_bytes(s->gpu) : 0; }
void cada_scorer_report(const cada_scorer *s) {
    if (s->gpu) cada_gpu_scorer_report(s->gpu);
}
void cada_scorer_free(cada_scorer *s) {
    if (!s) return;
    cada_gpu_scorer_free(s->gpu);
    free(s);
}
