/* model/syncplan.c: see syncplan.h. */
#include "model/syncplan.h"

#include <stdlib.h>
#include <string.h>

/* |[a/p, (a+1)/p) n [b/q, (b+1)/q)|, exactly for the power-of-two sizes in use */
static double overlap(int a, int p, int b, int q) {
    double lo = (double)a / p > (double)b / q ? (double)a / p : (double)b / q;
    double hi = (double)(a + 1) / p < (double)(b + 1) / q ? (double)(a + 1) / p : (double)(b + 1) / q;
    return hi > lo ? hi - lo : 0.0;
}

/* One GPU's bytes, one direction, by link. */
typedef struct {
    double nvl, ib;
} gpu_bytes;

/* The GPU's time (its two links at once); *ib_bound: the NIC sets it. */
static double gpu_time(const gpu_bytes *g, const cada_syncplan_in *in, int *ib_bound) {
    const double t_nvl = g->nvl / in->nvlink_Bps, t_ib = g->ib / (in->ib_node_Bps / in->gpus_per_node);
    *ib_bound = t_ib >= t_nvl;
    return t_ib >= t_nvl ? t_ib : t_nvl;
}

/* The slowest of n GPUs into *t and the name of its link. */
static void slowest(const gpu_bytes *g, int n, const cada_syncplan_in *in, int rollout_side, double *t, const char **by) {
    static const char *names[2][2] = {{"learner NVLink out", "learner IB out"}, {"rollout NVLink in", "rollout IB in"}};
    for (int i = 0; i < n; i++) {
        int ib;
        double x = gpu_time(&g[i], in, &ib);
        if (x > *t) {
            *t = x;
            *by = names[rollout_side][ib];
        }
    }
}

cada_status cada_syncplan_model(const cada_syncplan_in *in, cada_syncplan *out) {
    if (!in || !out) return CADA_ERR(CADA_ERR_ARG, "syncplan: NULL argument");
    memset(out, 0, sizeof *out);
    if (in->learners < 1 || in->rollout < 1 || in->gpus_per_node < 1)
        return CADA_ERR(CADA_ERR_ARG, "syncplan: learners %d, rollout %d and gpus_per_node %d must be >= 1", in->learners,
                        in->rollout, in->gpus_per_node);
    if (in->learn_tp < 1 || in->learners % in->learn_tp || in->rollout_tp < 1 || in->rollout % in->rollout_tp)
        return CADA_ERR(CADA_ERR_ARG, "syncplan: learn_tp %d must divide learners %d and rollout_tp %d rollout %d", in->learn_tp,
                        in->learners, in->rollout_tp, in->rollout);
    if (!(in->split_bytes >= 0) || !(in->repl_bytes >= 0) || !(in->nvlink_Bps > 0) || !(in->ib_node_Bps > 0))
        return CADA_ERR(CADA_ERR_ARG, "syncplan: split %g and replicated %g bytes must be >= 0, nvlink %g and ib %g bytes/s > 0",
                        in->split_bytes, in->repl_bytes, in->nvlink_Bps, in->ib_node_Bps);
    const int L = in->learners, R = in->rollout, Pl = in->learn_tp, Pr = in->rollout_tp, g = in->gpus_per_node, W = L / Pl;
    const double rank = in->split_bytes / Pr + in->repl_bytes;
    gpu_bytes *lo = calloc((size_t)L, sizeof *lo), *ri = calloc((size_t)R, sizeof *ri);
    if (!lo || !ri) {
        free(lo);
        free(ri);
        return CADA_ERR(CADA_ERR_NOMEM, "syncplan: %d learners x %d rollout ranks", L, R);
    }
    out->rank_bytes = rank;
    out->total_bytes = (double)R * rank;
    for (int l = 0; l < L; l++)
        for (int r = 0; r < R; r++) {
            const double b = rank * Pr * overlap(l % Pl, Pl, r % Pr, Pr) / W;
            if (b <= 0) continue;
            const int same = l / g == (L + r) / g;
            *(same ? &lo[l].nvl : &lo[l].ib) += b;
            *(same ? &ri[r].nvl : &ri[r].ib) += b;
            out->learner_peers += l == 0;
            out->rollout_peers += r == 0;
        }
    for (int l = 0; l < L; l++)
        if (lo[l].nvl + lo[l].ib > out->learner_bytes) out->learner_bytes = lo[l].nvl + lo[l].ib;
    out->resharded_by = out->funnelled_by = "";
    slowest(lo, L, in, 0, &out->resharded_s, &out->resharded_by);
    slowest(ri, R, in, 1, &out->resharded_s, &out->resharded_by);
    /* funnelled: learner 0 (node 0) sends every rollout rank its whole slice */
    memset(lo, 0, sizeof *lo);
    for (int r = 0; r < R; r++) {
        const int same = (L + r) / g == 0;
        ri[r] = (gpu_bytes){same ? rank : 0, same ? 0 : rank};
        *(same ? &lo[0].nvl : &lo[0].ib) += rank;
    }
    slowest(lo, 1, in, 0, &out->funnelled_s, &out->funnelled_by);
    slowest(ri, R, in, 1, &out->funnelled_s, &out->funnelled_by);
    free(lo);
    free(ri);
    return CADA_OK;
}
