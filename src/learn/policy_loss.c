/* learn/policy_loss.c: see policy_loss.h. Per-token arithmetic in double; each token's
 * derivative depends only on its own inputs and the global totals, so it is the same
 * whichever rank or micro-batch computes it. */
#include "learn/policy_loss.h"

#include <math.h>
#include <string.h>

void cada_pg_config_default(cada_pg_config *c, cada_pg_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->agg = kind == CADA_PG_PPO_CLIP ? CADA_AGG_TOKEN_MEAN : CADA_AGG_SEQ_MEAN_TOKEN_SUM;
    c->clip_low = 0.2;
    c->clip_high = 0.2;
    c->tis_cap = 0.0;
    c->kl_place = CADA_KL_OFF;
    c->kl_est = CADA_KL_K1;
    c->kl_coef = 0.01;
}

cada_status cada_pg_loss(const cada_pg_config *c, const cada_traj *t, int n, const int *lp_index, const float *adv,
                         const float *logprob, int n_lp, const cada_loss_norm *norm, float *dlogprob,
                         cada_token_stats *stats) {
    CADA_TRY(cada_check_lp_index(t, n, lp_index, n_lp, "policy loss"));
    if (cada_kl_check(c->kl_place, c->kl_est) != CADA_OK) {
        cada_error_wrap("policy loss");
        return CADA_ERR_CONFIG;
    }
    const int kl_in_loss = c->kl_place == CADA_KL_IN_LOSS, kl_in_reward = c->kl_place == CADA_KL_IN_REWARD;
    const int ppo = c->kind == CADA_PG_PPO_CLIP;
    if (c->agg == CADA_AGG_TOKEN_MEAN ? norm->tokens <= 0 : norm->seqs <= 0) {
        int any = 0;
        for (int i = 0; i < n; i++) any |= t[i].completion_len > 0;
        if (any) return CADA_ERR(CADA_ERR_ARG, "policy loss: global totals are zero (tokens %g, sequences %g)", norm->tokens, norm->seqs);
    }
    memset(dlogprob, 0, sizeof(float) * (size_t)n_lp);
    cada_token_stats st;
    cada_token_stats_zero(&st);
    const double lo = 1.0 - c->clip_low, hi = 1.0 + c->clip_high;
    for (int i = 0; i < n; i++) {
        const cada_traj *s = &t[i];
        const int len = s->completion_len;
        if (len == 0) continue;
        if ((kl_in_loss || kl_in_reward) && !s->ref_logprob)
            return CADA_ERR(CADA_ERR_ARG, "policy loss: sequence %d has no reference log-probs (KL in the %s needs them)", i,
                            kl_in_loss ? "loss" : "reward");
        double weight = c->agg == CADA_AGG_TOKEN_MEAN ? 1.0 / norm->tokens
                        : c->agg == CADA_AGG_SEQ_MEAN_TOKEN_MEAN ? 1.0 / (norm->seqs * len)
                                                                 : 1.0 / norm->seqs;
        const float *lps = logprob + lp_index[i];
        float *dlp = dlogprob + lp_index[i];
        double A = adv[i];
        if (kl_in_reward) { /* the sequence's KL from the learner's own log-probs, a constant */
            double kl = 0.0;
            for (int k = 0; k < len; k++) kl += cada_kl_value(c->kl_est, lps[k], s->ref_logprob[k]);
            A -= c->kl_coef * kl;
            st.kl_reward_sum += kl;
        }
        for (int k = 0; k < len; k++) {
            const double lp = lps[k], ro = s->rollout_logprob[k];
            const double old = ppo && s->old_logprob ? s->old_logprob[k] : lp;
            /* the IS weight learner / engine; exp of at most 50 keeps its statistics finite
             * (any cap C in use is far below e^50) */
            const double log_is = old - ro, is = exp(log_is < 50 ? log_is : 50);
            double w = 1.0;
            if (c->tis_cap > 0) {
                w = is;
                if (w > c->tis_cap) {
                    w = c->tis_cap;
                    st.tis_truncated += 1;
                }
            }
            double l, g, ratio;
            if (ppo) {
                ratio = exp(lp - old);
                double clipped_ratio = ratio < lo ? lo : ratio > hi ? hi : ratio;
                double u = ratio * A, cl = clipped_ratio * A;
                if (u <= cl) {
                    l = -w * u;
                    g = -w * A * ratio;
                } else {
                    l = -w * cl;
                    g = 0.0;
                    st.clipped += 1;
                }
            } else {
                ratio = exp(lp - ro);
                l = -w * A * lp;
                g = -w * A;
            }
            st.pg_loss += weight * l;
            if (s->ref_logprob) {
                st.kl_sum += cada_kl_value(CADA_KL_K3, lp, s->ref_logprob[k]);
                st.kl_tokens += 1;
                if (kl_in_loss) {
                    double kl = cada_kl_value(c->kl_est, lp, s->ref_logprob[k]);
                    st.kl_loss += weight * c->kl_coef * kl;
                    l += c->kl_coef * kl;
                    g += c->kl_coef * cada_kl_grad(c->kl_est, lp, s->ref_logprob[k]);
                }
            }
            st.loss += weight * l;
            dlp[k] = (float)(weight * g);
            st.ratio_sum += ratio;
            if (ratio > st.ratio_max) st.ratio_max = ratio;
            if (-ratio > st.ratio_min_neg) st.ratio_min_neg = -ratio;
            st.is_weight_sum += is;
            if (is > st.is_weight_max) st.is_weight_max = is;
            if (-is > st.is_weight_min_neg) st.is_weight_min_neg = -is;
            double d = fabs(lp - ro);
            st.lp_diff_sum += d;
            if (d > st.lp_diff_max) st.lp_diff_max = d;
        }
        st.tokens += len;
        st.seqs += 1;
    }
    if (stats) cada_token_stats_merge(stats, &st);
    return CADA_OK;
}
