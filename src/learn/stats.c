/* learn/stats.c: see stats.h. */
#include "learn/stats.h"

#include <float.h>
#include <string.h>

void cada_loss_norm_of(const cada_traj *t, int n, cada_loss_norm *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        out->tokens += t[i].completion_len;
        out->seqs += t[i].completion_len > 0;
        out->pairs += t[i].chosen != 0;
    }
}

void cada_token_stats_zero(cada_token_stats *s) {
    memset(s, 0, sizeof *s);
    s->ratio_max = -DBL_MAX;
    s->ratio_min_neg = -DBL_MAX;
    s->lp_diff_max = 0.0;
    s->is_weight_max = -DBL_MAX;
    s->is_weight_min_neg = -DBL_MAX;
}

void cada_token_stats_pack(const cada_token_stats *s, double *sums, double *maxs) {
    const double v[CADA_TOKEN_STATS_NSUM] = {s->loss,        s->pg_loss,       s->kl_loss,       s->tokens,
                                             s->seqs,        s->kl_sum,        s->kl_tokens,     s->ratio_sum,
                                             s->clipped,     s->tis_truncated, s->lp_diff_sum,   s->entropy_sum,
                                             s->pairs,       s->dpo_correct,   s->dpo_margin_sum, s->kl_reward_sum,
                                             s->is_weight_sum};
    const double m[CADA_TOKEN_STATS_NMAX] = {s->ratio_max, s->ratio_min_neg, s->lp_diff_max, s->is_weight_max,
                                             s->is_weight_min_neg};
    memcpy(sums, v, sizeof v);
    memcpy(maxs, m, sizeof m);
}

void cada_token_stats_unpack(cada_token_stats *s, const double *v, const double *maxs) {
    s->loss = v[0]; s->pg_loss = v[1]; s->kl_loss = v[2]; s->tokens = v[3]; s->seqs = v[4];
    s->kl_sum = v[5]; s->kl_tokens = v[6]; s->ratio_sum = v[7]; s->clipped = v[8];
    s->tis_truncated = v[9]; s->lp_diff_sum = v[10]; s->entropy_sum = v[11]; s->pairs = v[12];
    s->dpo_correct = v[13]; s->dpo_margin_sum = v[14]; s->kl_reward_sum = v[15]; s->is_weight_sum = v[16];
    s->ratio_max = maxs[0];
    s->ratio_min_neg = maxs[1];
    s->lp_diff_max = maxs[2];
    s->is_weight_max = maxs[3];
    s->is_weight_min_neg = maxs[4];
}

void cada_token_stats_merge(cada_token_stats *into, const cada_token_stats *add) {
    double a[CADA_TOKEN_STATS_NSUM], b[CADA_TOKEN_STATS_NSUM], am[CADA_TOKEN_STATS_NMAX], bm[CADA_TOKEN_STATS_NMAX];
    cada_token_stats_pack(into, a, am);
    cada_token_stats_pack(add, b, bm);
    for (int i = 0; i < CADA_TOKEN_STATS_NSUM; i++) a[i] += b[i];
    for (int i = 0; i < CADA_TOKEN_STATS_NMAX; i++) am[i] = am[i] > bm[i] ? am[i] : bm[i];
    cada_token_stats_unpack(into, a, am);
}

cada_status cada_check_lp_index(const cada_traj *t, int n, const int *lp_index, int n_lp, const char *who) {
    for (int i = 0; i < n; i++) {
        if (t[i].completion_len == 0) continue;
        long long lo = lp_index[i], hi = (long long)lp_index[i] + t[i].completion_len;
        if (lo < 0 || hi > n_lp)
            return CADA_ERR(CADA_ERR_ARG, "%s: sequence %d: log-probs [%lld, %lld) outside the batch's %d", who, i, lo, hi, n_lp);
    }
    return CADA_OK;
}
