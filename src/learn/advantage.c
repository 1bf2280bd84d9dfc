/* learn/advantage.c: see advantage.h. Sums in double, in sequence order, so every rank
 * computes bit-identical advantages from the same batch. */
#include "learn/advantage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cada_adv_config_default(cada_adv_config *c, cada_adv_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->baseline_beta = 0.1;
    c->baseline_init = 0.0;
    c->group_std = 1;
    c->std_eps = 1e-6;
}

void cada_baseline_init(cada_baseline *b, const cada_adv_config *c) {
    b->value = c ? c->baseline_init : 0.0;
    b->updates = 0;
}

typedef struct {
    int group, index;
} group_key;

static int by_group(const void *a, const void *b) {
    const group_key *x = a, *y = b;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Group-relative advantages: sorts indices by group, then handles each run. */
static cada_status group_advantages(const cada_adv_config *c, const double *r, const cada_traj *t, int n, float *adv) {
    group_key *keys = CADA_MALLOC(sizeof *keys * (size_t)(n ? n : 1), "advantage group index");
    if (!keys) return CADA_ERR_NOMEM;
    for (int i = 0; i < n; i++) keys[i] = (group_key){t[i].group, i};
    qsort(keys, (size_t)n, sizeof *keys, by_group);
    for (int s = 0; s < n;) {
        int e = s;
        while (e < n && keys[e].group == keys[s].group) e++;
        int k = e - s;
        double sum = 0.0;
        for (int j = s; j < e; j++) sum += r[keys[j].index];
        double mean = sum / k;
        if (c->kind == CADA_ADV_GROUP) {
            double std = 0.0;
            if (k > 1) {
                double ss = 0.0;
                for (int j = s; j < e; j++) {
                    double d = r[keys[j].index] - mean;
                    ss += d * d;
                }
                std = sqrt(ss / (k - 1));
            }
            for (int j = s; j < e; j++) {
                int i = keys[j].index;
                double a = k > 1 ? r[i] - mean : 0.0;
                if (c->group_std && k > 1) a /= std + c->std_eps;
                adv[i] = (float)a;
            }
        } else { /* leave-one-out */
            for (int j = s; j < e; j++) {
                int i = keys[j].index;
                adv[i] = k > 1 ? (float)(r[i] - (sum - r[i]) / (k - 1)) : 0.0f;
            }
        }
        s = e;
    }
    free(keys);
    return CADA_OK;
}

cada_status cada_advantages(const cada_adv_config *c, const cada_traj *t, int n, cada_baseline *baseline, float *adv,
                            cada_adv_stats *stats) {
    if (n < 0) return CADA_ERR(CADA_ERR_ARG, "advantages: %d sequences", n);
    if (c->kind == CADA_ADV_RUNNING_MEAN && !baseline)
        return CADA_ERR(CADA_ERR_ARG, "advantages: the running-mean baseline needs its state (baseline is NULL)");
    double *r = CADA_MALLOC(sizeof(double) * (size_t)(n ? n : 1), "rewards");
    if (!r) return CADA_ERR_NOMEM;
    for (int i = 0; i < n; i++) r[i] = t[i].reward;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += r[i];
    double mean = n ? sum / n : 0.0;
    double b_used = 0.0, b_next = 0.0;
    switch (c->kind) {
    case CADA_ADV_RUNNING_MEAN:
        b_used = baseline->value;
        for (int i = 0; i < n; i++) adv[i] = (float)(r[i] - b_used);
        if (n > 0) {
            baseline->updates++;
            double beta = c->baseline_beta > 0 ? c->baseline_beta : 1.0 / (double)baseline->updates;
            baseline->value += beta * (mean - baseline->value);
        }
        b_next = baseline->value;
        break;
    case CADA_ADV_GROUP:
    case CADA_ADV_LEAVE_ONE_OUT: {
        cada_status st = group_advantages(c, r, t, n, adv);
        if (st != CADA_OK) {
            free(r);
            return st;
        }
        break;
    }
    case CADA_ADV_BATCH_MEAN:
        for (int i = 0; i < n; i++) adv[i] = (float)(r[i] - mean);
        break;
    case CADA_ADV_RAW:
        for (int i = 0; i < n; i++) adv[i] = (float)r[i];
        break;
    default:
        free(r);
        return CADA_ERR(CADA_ERR_ARG, "advantages: unknown kind %d", (int)c->kind);
    }
    if (stats) {
        double as = 0.0, aa = 0.0;
        for (int i = 0; i < n; i++) {
            as += adv[i];
            aa += fabs(adv[i]);
        }
        stats->n_seqs = n;
        stats->reward_mean = mean;
        stats->adv_mean = n ? as / n : 0.0;
        stats->adv_abs_mean = n ? aa / n : 0.0;
        stats->baseline_used = b_used;
        stats->baseline_next = b_next;
    }
    free(r);
    return CADA_OK;
}
