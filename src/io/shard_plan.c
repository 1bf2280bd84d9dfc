/* io/shard_plan.c: see shard_plan.h. */
#include "io/shard_plan.h"

#include <stdio.h>

cada_status cada_shard_plan(const uint64_t *bytes, int n, int writers, int *shard_of, int *n_shards) {
    if (n < 0 || writers < 1 || (n > 0 && (!bytes || !shard_of)) || !n_shards)
        return CADA_ERR(CADA_ERR_ARG, "shard plan: %d tensors over %d writers", n, writers);
    int S = n < writers ? n : writers;
    if (S < 1) S = 1;
    *n_shards = S;
    double total = 0;
    for (int i = 0; i < n; i++) total += (double)bytes[i];
    double before = 0;
    int prev = 0;
    for (int i = 0; i < n; i++) {
        /* the group the tensor's byte midpoint falls in (by count when every size is 0) */
        double mid = total > 0 ? (before + 0.5 * (double)bytes[i]) / total : (i + 0.5) / n;
        int g = (int)(mid * S);
        /* no gap after the previous group; enough tensors left for the groups after this
         * one (tensors i..n-1 must fill groups g..S-1); never past the last group */
        int lo = i == 0 ? 0 : prev, hi = i == 0 ? 0 : prev + 1;
        if (lo < S - (n - i)) lo = S - (n - i);
        if (hi > S - 1) hi = S - 1;
        g = g < lo ? lo : g > hi ? hi : g;
        shard_of[i] = prev = g;
        before += (double)bytes[i];
    }
    return CADA_OK;
}

void cada_shard_file_name(int shard, int n_shards, char *buf, size_t cap) {
    if (n_shards == 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05d-of-%05d.safetensors", shard + 1, n_shards);
}
