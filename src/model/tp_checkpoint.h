/* model/tp_checkpoint.h: a checkpoint of the whole model written by tensor-parallel
 * parts, without any rank holding the whole model.
 *
 * The files are those cada_model_save_shard writes for the whole model with `writers`
 * writers (model/load.h: whole tensors in Hugging Face names, grouped into files by
 * io/shard_plan.h), byte for byte: the layout does not depend on the TP size, so a
 * checkpoint loads into any layout and transformers reads it.
 *
 * The P ranks of one TP group (each holding its part, model/tp.h) write the files
 * first_shard .. first_shard + P - 1 between them, TP rank j the file first_shard + j.
 * Each tensor is made whole just before it is written: every rank fills a buffer of
 * the tensor's shape with -0, writes its block into it (a replicated norm from TP rank 0
 * only), and one sum over the group gives every element exactly (x + -0 = x bit for bit,
 * signed zeros kept). The group goes through the files' tensors in rounds (round k: the
 * k-th tensor of each file, file by file), so all P files are written at the same time,
 * each rank appending its own tensor after each round. Memory: two whole tensors (the
 * rank's own and the one of the round's other files), never the whole model; for
 * Llama-3-70B the largest tensor is the 128256 x 8192 embedding, 4.2 GB in fp32,
 * against 282 GB for the whole model.
 *
 * Every rank of the group must call it (the sums are collective). A rank whose write
 * fails still takes part in every round, so the others finish, and returns the error. */
#ifndef CADA_MODEL_TP_CHECKPOINT_H
#define CADA_MODEL_TP_CHECKPOINT_H

#include "model/model.h"
#include "model/tp.h"

/* part: this rank's part (part->tp is its group, tp->size > 1 or 1); whole_cfg: the
 * whole model's shape; dir: the checkpoint folder (exists); first_shard: the group's
 * first file, writers: the checkpoint's writer count (cada_model_save_shard's); only
 * fp32 (the training weights as they are). A file number past the plan's file count
 * (more writers than tensors) is not written. */
cada_status cada_tp_save_shards(const cada_model *part, const cada_tp *tp, const cada_model_config *whole_cfg, const char *dir,
                                int first_shard, int writers);

#endif
