/* io/shard_plan.h: which file of a sharded safetensors checkpoint holds which tensor,
 * when W writers (learner ranks) write their parts at the same time.
 *
 * Tensors keep their published order (model.h's cada_model_tensor_views) and whole
 * tensors are cut into S = min(W, n) contiguous groups balanced by bytes: tensor i goes
 * to group floor(S * (bytes before i + half of its own bytes) / total bytes), the group
 * its byte midpoint falls in, clamped so that groups follow each other without a gap
 * and none is empty. So every group holds at least one tensor, and a group is at most
 * about total / S bytes plus half of its largest tensor. Writer r < S writes group r;
 * writers r >= S (only when W exceeds the tensor count) write nothing: no empty file.
 *
 * File names follow Hugging Face: a single group is model.safetensors with no index
 * (as transformers saves a small model); S > 1 groups are model-%05d-of-%05d.safetensors,
 * 1-based, listed by model.safetensors.index.json ({"metadata": {"total_size": bytes},
 * "weight_map": {tensor: file}}). */
#ifndef CADA_IO_SHARD_PLAN_H
#define CADA_IO_SHARD_PLAN_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

/* bytes: (n) each tensor's size in published order; writers >= 1. Fills shard_of (n)
 * with each tensor's group in [0, *n_shards) (non-decreasing) and *n_shards = min(writers,
 * n) (1 when n = 0). */
cada_status cada_shard_plan(const uint64_t *bytes, int n, int writers, int *shard_of, int *n_shards);

/* "model.safetensors" when n_shards == 1, else "model-%05d-of-%05d.safetensors" with
 * shard + 1 and n_shards. */
void cada_shard_file_name(int shard, int n_shards, char *buf, size_t cap);

#endif
