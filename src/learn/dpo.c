/* learn/dpo.c: see dpo.h. */
#include "learn/dpo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double seq_sum(const float *x, int n) {
    double s = 0.0;
    for (int k = 0; k < n; k++) s += x[k];
    return s;
}

/* log(1 + exp(x)) without overflow */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

cada_status cada_dpo_loss(double beta, const cada_traj *t, int n, const int *lp_index, const float *logprob, int n_lp,
                          const cada_loss_norm *norm, float *dlogprob, cada_token_stats *stats) {
    CADA_TRY(cada_check_lp_index(t, n, lp_index, n_lp, "dpo loss"));
    memset(dlogprob, 0, sizeof(float) * (size_t)n_lp);
    if (n > 0 && norm->pairs <= 0) return CADA_ERR(CADA_ERR_ARG, "dpo loss: global pair total is %g", norm->pairs);
    /* partner[i]: the other member of i's pair, found by id (pairs are few per batch) */
    int *partner = CADA_MALLOC(sizeof(int) * (size_t)(n ? n : 1), "dpo pairs");
    if (!partner) return CADA_ERR_NOMEM;
    for (int i = 0; i < n; i++) partner[i] = -1;
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < n; j++) {
            if (j == i || t[j].group != t[i].group) continue;
            found++;
            partner[i] = j;
        }
        if (found != 1 || (t[i].chosen != 0) == (t[partner[i]].chosen != 0)) {
            int gid = t[i].group;
            free(partner);
            return CADA_ERR(CADA_ERR_ARG,
                            "dpo loss: pair %d must be one chosen and one rejected sequence in the same micro-batch "
                            "(found %d other member(s))", gid, found);
        }
        if (!t[i].ref_logprob && t[i].completion_len > 0) {
            free(partner);
            return CADA_ERR(CADA_ERR_ARG, "dpo loss: sequence %d (pair %d) has no reference log-probs", i, t[i].group);
        }
    }
    cada_token_stats st;
    cada_token_stats_zero(&st);
    for (int i = 0; i < n; i++) {
        if (!t[i].chosen) continue;
        const cada_traj *c = &t[i], *r = &t[partner[i]];
        int ri = partner[i];
        double pc = seq_sum(logprob + lp_index[i], c->completion_len);
        double pr = seq_sum(logprob + lp_index[ri], r->completion_len);
        double rc = c->completion_len ? seq_sum(c->ref_logprob, c->completion_len) : 0.0;
        double rr = r->completion_len ? seq_sum(r->ref_logprob, r->completion_len) : 0.0;
        double margin = (pc - rc) - (pr - rr), z = beta * margin;
        double g = beta * sigmoid(-z) / norm->pairs;
        for (int k = 0; k < c->completion_len; k++) dlogprob[lp_index[i] + k] = (float)-g;
        for (int k = 0; k < r->completion_len; k++) dlogprob[lp_index[ri] + k] = (float)g;
        st.loss += softplus(-z) / norm->pairs;
        st.pairs += 1;
        st.dpo_correct += z > 0;
        st.dpo_margin_sum += margin;
    }
    for (int i = 0; i < n; i++) {
        st.tokens += t[i].completion_len;
        st.seqs += t[i].completion_len > 0;
    }
    st.pg_loss = st.loss;
    free(partner);
    if (stats) cada_token_stats_merge(stats, &st);
    return CADA_OK;
}
