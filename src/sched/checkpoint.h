/* sched/checkpoint.h: checkpoints of a training run, and resuming from one.
 *
 * out_dir/checkpoint-<step>/ is written by every rank together under the name
 * checkpoint-<step>.tmp:
 *   rank 0       config.json (Hugging Face layout), model.safetensors.index.json, the
 *                tokenizer and config.ini;
 *   learner r    (its rank in the learner group, r < W = the learner count), all at the
 *                same time: its part of the weights, model-<r+1>-of-<W>.safetensors
 *                (5-digit numbers, Hugging Face's naming), whole tensors in fp32, the
 *                training weights bit for bit, the published tensors cut into W
 *                contiguous groups balanced by bytes (io/shard_plan.h; with more
 *                learners than tensors the learners past the tensor count write no
 *                file, and "of" counts the files); then its optimizer shard
 *                optimizer-rank-R.bin (learn/learner.h);
 *   rank 0       rollout.mode = async: pipeline.bin, the batch of the step ahead
 *                (pipeline.h; empty at the run's last step);
 *   rank 0       run_state.json, then manifest.json (every file's name, size and
 *                SHA-256, pipeline.bin included; the learners hash their own files at
 *                the same time and pass the digests on: sched/manifest.h), then the
 *                rename.
 * With one learner the weights are one model.safetensors and there is no index (as
 * transformers saves a small model). Rollout and reward ranks write nothing but agree.
 * The ranks agree after each part, so a folder named checkpoint-<step> is complete by
 * construction. out_dir must be a file system every rank sees. The folder loads as a
 * sharded Hugging Face checkpoint (io/safetensors.h reads the index), so --resume,
 * `cada generate --model` and transformers read it as it is; `cada consolidate` makes
 * one model.safetensors of it (cli/consolidate.c).
 * run_state.json: run_state.h. A write that fails (ENOSPC, EIO, a read-only out_dir)
 * stops the run on every rank with the file and errno's text; the folder keeps its .tmp
 * name (never resumed from; removed when that step is written again) and the checkpoints
 * before it are untouched. */
#ifndef CADA_SCHED_CHECKPOINT_H
#define CADA_SCHED_CHECKPOINT_H

#include "base/error.h"
#include "sched/run_state.h"

#include <stddef.h>
#include <stdint.h>

/* The manifest check of a checkpoint before anything of it is loaded (manifest.h).
 * late = 0 (before MPI starts, in every process): every listed file is there with its
 * size, no file a loader reads is unlisted, and the SHA-256 of every file under
 * CADA_CKPT_HASH_EARLY bytes matches (the configuration, run_state.json, the tokenizer);
 * late = 1 (every rank, part = its rank of parts = the world): the larger files'
 * SHA-256, split over the ranks, before the weights are loaded. Errors name the file. A
 * checkpoint without manifest.json (written before manifests) passes unverified, with a
 * warning from part 0 of the late check. */
#define CADA_CKPT_HASH_EARLY ((uint64_t)64 << 20)
cada_status cada_checkpoint_verify(const char *ckpt, int part, int parts, int late);

#ifdef CADA_HAVE_MPI
struct trainer;
/* out_dir/checkpoint-<step> (every rank). */
cada_status cada_checkpoint_write(struct trainer *t, long long step);
/* Weights, this rank's optimizer shard, the baseline and the counters from t->resume
 * (every rank; rollout and reward ranks only take the bookkeeping). An async run's
 * pipeline.bin is read after it (lifecycle.h's trainer_begin). */
cada_status cada_checkpoint_restore(struct trainer *t);
#endif

#endif
