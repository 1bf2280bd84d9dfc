/* sched/offline_stage.h: the data stage of learn.algorithm = sft | dpo: a step's
 * sequences from a fixed dataset (cada build-data's JSONL) instead of rollouts.
 *
 * This rank's share of step `step` is the cursor positions p in [0, P) with
 * p % world == rank (the colocated rollout's split; P = data.prompts_per_step), each
 * the record at cursor position step * P + p. A record becomes:
 *   sft  one sequence:  prompt, then tokens(response) + EOS            (sample 0)
 *   dpo  two sequences: prompt, then tokens(response) + EOS  (chosen,   sample 0)
 *                       prompt, then tokens(rejected) + EOS  (rejected, sample 1)
 *        with the reference model's log-probs of both completions (the score stage's
 *        scorer), so a pair stays adjacent in (position, sample) order and the learner
 *        keeps it in one micro-batch (learn/dpo.h, learn/learner.h).
 * The prompt is the bare request (learn.condition = bare: the request alone in the
 * model's chat template, what the paper's baselines train on) or the request under
 * prompt.template (augmented). Sequences carry no reward and zero rollout log-probs
 * (neither loss reads them); `version` is the step, `harmful` the record's label.
 * Errors: a record without response (or rejected, dpo) and a prompt + completion longer
 * than rollout.max_len (the learner's row) name the record's id and line. */
#ifndef CADA_SCHED_OFFLINE_STAGE_H
#define CADA_SCHED_OFFLINE_STAGE_H

#include "base/error.h"
#include "cada/prompt.h"
#include "sched/cursor.h"
#include "sched/score_stage.h"
#include "sched/seqs.h"
#include "tok/tokenizer.h"

typedef struct {
    cada_cursor *cursor;
    cada_tokenizer *tok;
    const cada_prompt_builder *builder; /* the augmented prompt; unused with bare = 1 */
    int bare;                           /* learn.condition = bare */
    int dpo;                            /* learn.algorithm = dpo: pairs */
    int eos;                            /* appended to every completion */
    int max_len;                        /* prompt + completion at most (rollout.max_len) */
    int prompts_per_step, rank, world;
    const cada_score_ctx *score;        /* dpo: its reference scorer gives ref_lp */
} cada_offline_ctx;

/* *out: this rank's sequences of step `step` (malloc'd, seqs_free), in (position,
 * sample) order; *data_s: the stage's wall time (reference log-probs included). */
cada_status cada_offline_stage_run(const cada_offline_ctx *c, long long step, seq_rec **out, int *n_out, double *data_s);

/* The longest sequence of the whole set (every record rendered and tokenized once;
 * dpo: either member of a pair), the learner's row length: a row of rollout.max_len
 * would be mostly padding, which the model computes like any token. A record that does
 * not fit rollout.max_len is the error above, found before the first step. */
cada_status cada_offline_longest(const cada_offline_ctx *c, int *longest);

#endif
