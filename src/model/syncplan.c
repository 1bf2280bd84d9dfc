/* model/syncplan.c: see syncplan.h. */
#include "model/syncplan.h"

#include <string.h>

/* Ranks of [lo, hi) on node k of g ranks. */
static int on_node(int lo, int hi, int k, int g) {
    int a = k * g > lo ? k * g : lo, b = (k + 1) * g < hi ? (k + 1) * g : hi;
    return b > a ? b - a : 0;
}

/* A GPU's time: its NVLink and NIC bytes, the two links at once. */
static double gpu_time(double nvl_bytes, double ib_bytes, const cada_syncplan_in *in, int *ib_bound) {
    const double nic = in->ib_node_Bps / in->gpus_per_node, t_nvl = nvl_bytes / in->nvlink_Bps, t_ib = ib_bytes / nic;
    *ib_bound = t_ib >= t_nvl;
    return t_ib >= t_nvl ? t_ib : t_nvl;
}

/* Keeps the larger time and names its link. */
static void worst(double t, int ib, const char *side, double *best, const char **by) {
    static const char *names[2][2] = {{"learner NVLink out", "learner IB out"}, {"rollout NVLink in", "rollout IB in"}};
    if (t <= *best) return;
    *best = t;
    *by = names[side[0] == 'r'][ib];
}

cada_status cada_syncplan_model(const cada_syncplan_in *in, cada_syncplan *out) {
    if (!in || !out) return CADA_ERR(CADA_ERR_ARG, "syncplan: NULL argument");
    memset(out, 0, sizeof *out);
    if (in->learners < 1 || in->rollout < 1 || in->gpus_per_node < 1)
        return CADA_ERR(CADA_ERR_ARG, "syncplan: learners %d, rollout %d and gpus_per_node %d must be >= 1", in->learners,
                        in->rollout, in->gpus_per_node);
    if (!(in->rank_bytes >= 0) || !(in->nvlink_Bps > 0) || !(in->ib_node_Bps > 0))
        return CADA_ERR(CADA_ERR_ARG, "syncplan: rank_bytes %g must be >= 0, nvlink %g and ib %g bytes/s > 0", in->rank_bytes,
                        in->nvlink_Bps, in->ib_node_Bps);
    const int L = in->learners, R = in->rollout, g = in->gpus_per_node, nodes = (L + R + g - 1) / g;
    const double b = in->rank_bytes / L; /* resharded: learner l -> rollout r */
    out->total_bytes = (double)R * in->rank_bytes;
    out->learner_bytes = out->total_bytes / L;
    out->resharded_by = out->funnelled_by = "";
    int ib;
    for (int k = 0; k < nodes; k++) {
        const int nl = on_node(0, L, k, g), nr = on_node(L, L + R, k, g);
        if (nl > 0) { /* each learner of node k: nr peers by NVLink, R - nr by IB */
            double t = gpu_time(nr * b, (R - nr) * b, in, &ib);
            worst(t, ib, "learner", &out->resharded_s, &out->resharded_by);
        }
        if (nr > 0) { /* each rollout rank of node k: from nl learners by NVLink, L - nl by IB */
            double t = gpu_time(nl * b, (L - nl) * b, in, &ib);
            worst(t, ib, "rollout", &out->resharded_s, &out->resharded_by);
            /* funnelled: its whole slice from learner 0 (node 0) */
            t = gpu_time(k == 0 ? in->rank_bytes : 0, k == 0 ? 0 : in->rank_bytes, in, &ib);
            worst(t, ib, "rollout", &out->funnelled_s, &out->funnelled_by);
        }
    }
    const int nr0 = on_node(L, L + R, 0, g); /* learner 0 sends every slice */
    double t = gpu_time(nr0 * in->rank_bytes, (R - nr0) * in->rank_bytes, in, &ib);
    worst(t, ib, "learner", &out->funnelled_s, &out->funnelled_by);
    return CADA_OK;
}
