/* sched/tp_layout.c: see tp_layout.h. */
#include "sched/tp_layout.h"

#include "model/tp.h"

cada_status cada_tp_layout_check(const char *tp_key, int tp, const char *ranks_key, int ranks, int gpus_per_node) {
    if (tp < 1) return CADA_ERR(CADA_ERR_CONFIG, "%s = %d: a tensor-parallel group has at least 1 rank", tp_key, tp);
    if (gpus_per_node < 1 || gpus_per_node % tp != 0)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "%s = %d does not divide cluster.gpus_per_node = %d: a tensor-parallel group must lie inside one node "
                        "(its all-reduces run on every layer, over NVLink)",
                        tp_key, tp, gpus_per_node);
    if (ranks % tp != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "%s = %d is not a multiple of %s = %d: the role runs in whole groups of %d ranks",
                        ranks_key, ranks, tp_key, tp, tp);
    return CADA_OK;
}

cada_status cada_tp_layout_check_span(const char *tp_key, int tp, const char *role, int first, int ranks, int gpus_per_node) {
    for (int g = first; tp > 1 && g + tp <= first + ranks; g += tp)
        if (g / gpus_per_node != (g + tp - 1) / gpus_per_node)
            return CADA_ERR(CADA_ERR_CONFIG,
                            "%s = %d: the %s group of world ranks %d-%d spans nodes %d and %d (cluster.gpus_per_node = %d); "
                            "make the roles before it a multiple of %d ranks",
                            tp_key, tp, role, g, g + tp - 1, g / gpus_per_node, (g + tp - 1) / gpus_per_node, gpus_per_node, tp);
    return CADA_OK;
}

cada_status cada_tp_layout_check_shape(const char *tp_key, int tp, const cada_model_config *m, const char *model) {
    cada_model_config local;
    if (cada_tp_local_config(m, tp, &local) != CADA_OK) {
        cada_error_wrap("%s = %d with the model %s", tp_key, tp, model);
        return CADA_ERR_CONFIG;
    }
    return CADA_OK;
}
