/* learn/algo.c: see algo.h. */
#include "learn/algo.h"

#include "learn/dpo.h"
#include "learn/sft.h"

#include <string.h>

static const char *const names[] = {"reinforce", "grpo", "rloo", "ppo", "sft", "dpo"};

void cada_algo_config_default(cada_algo_config *c, cada_algo algo) {
    memset(c, 0, sizeof *c);
    c->algo = algo;
    c->dpo_beta = 0.1;
    switch (algo) {
    case CADA_ALGO_REINFORCE:
        cada_adv_config_default(&c->adv, CADA_ADV_RUNNING_MEAN);
        cada_pg_config_default(&c->pg, CADA_PG_VANILLA);
        break;
    case CADA_ALGO_GRPO:
        cada_adv_config_default(&c->adv, CADA_ADV_GROUP);
        cada_pg_config_default(&c->pg, CADA_PG_PPO_CLIP);
        break;
    case CADA_ALGO_RLOO:
        cada_adv_config_default(&c->adv, CADA_ADV_LEAVE_ONE_OUT);
        cada_pg_config_default(&c->pg, CADA_PG_VANILLA);
        break;
    case CADA_ALGO_PPO:
        cada_adv_config_default(&c->adv, CADA_ADV_BATCH_MEAN);
        cada_pg_config_default(&c->pg, CADA_PG_PPO_CLIP);
        break;
    case CADA_ALGO_SFT:
    case CADA_ALGO_DPO:
        cada_adv_config_default(&c->adv, CADA_ADV_RAW);
        cada_pg_config_default(&c->pg, CADA_PG_VANILLA);
        break;
    }
}

const char *cada_algo_name(cada_algo a) {
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

int cada_algo_parse(const char *name, cada_algo *out) {
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) {
            *out = (cada_algo)i;
            return 0;
        }
    return -1;
}

void cada_algo_set_kl(cada_algo_config *c, cada_kl_placement place, cada_kl_estimator est, double coef) {
    c->pg.kl_place = place;
    c->pg.kl_est = est;
    c->pg.kl_coef = coef;
}

static int is_rl(cada_algo a) { return a != CADA_ALGO_SFT && a != CADA_ALGO_DPO; }

cada_status cada_algo_prepare(const cada_algo_config *c, const cada_traj *t, int n, cada_baseline *baseline, float *adv,
                              cada_adv_stats *stats) {
    if (is_rl(c->algo)) return cada_advantages(&c->adv, t, n, baseline, adv, stats);
    memset(adv, 0, sizeof(float) * (size_t)n);
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->n_seqs = n;
        double s = 0.0;
        for (int i = 0; i < n; i++) s += t[i].reward;
        stats->reward_mean = n ? s / n : 0.0;
    }
    return CADA_OK;
}

cada_status cada_algo_loss(const cada_algo_config *c, const cada_traj *t, int n, const int *lp_index, const float *adv,
                           const float *logprob, int n_lp, const cada_loss_norm *norm, float *dlogprob,
                           cada_token_stats *stats) {
    switch (c->algo) {
    case CADA_ALGO_SFT: return cada_sft_loss(t, n, lp_index, logprob, n_lp, norm, dlogprob, stats);
    case CADA_ALGO_DPO: return cada_dpo_loss(c->dpo_beta, t, n, lp_index, logprob, n_lp, norm, dlogprob, stats);
    default: return cada_pg_loss(&c->pg, t, n, lp_index, adv, logprob, n_lp, norm, dlogprob, stats);
    }
}
