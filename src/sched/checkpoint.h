/* sched/checkpoint.h: checkpoints of a training run, and resuming from one.
 *
 * out_dir/checkpoint-<step>/ is written by every rank together under the name
 * checkpoint-<step>.tmp: rank 0 puts the weights (model.safetensors in fp32, the
 * training weights bit for bit, + config.json in Hugging Face layout), the tokenizer and
 * config.ini; every learner adds its optimizer shard (optimizer-rank-R.bin,
 * learn/learner.h); rank 0 writes run_state.json last and renames the folder. The ranks
 * agree after each part, so a folder named checkpoint-<step> is complete by
 * construction. out_dir must be a file system every rank sees.
 * run_state.json: run_state.h. */
#ifndef CADA_SCHED_CHECKPOINT_H
#define CADA_SCHED_CHECKPOINT_H

#include "base/error.h"
#include "sched/run_state.h"

#include <stddef.h>

#ifdef CADA_HAVE_MPI
struct trainer;
/* out_dir/checkpoint-<step> (every rank). */
cada_status cada_checkpoint_write(struct trainer *t, long long step);
/* Weights, this rank's optimizer shard, the baseline and the counters from t->resume
 * (every rank; rollout and reward ranks only take the bookkeeping). */
cada_status cada_checkpoint_restore(struct trainer *t);
#endif

#endif
