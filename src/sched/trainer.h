/* sched/trainer.h: the state of one `cada train` rank and the pieces of a step, shared
 * by train.c (set-up, the colocated step, checkpoints, resume, failures) and disagg.c
 * (the disaggregated step loop). Not a public interface: both files build one command.
 * Every function here returns a cada_status; the caller (cada_cmd_train) fails the job. */
#ifndef CADA_SCHED_TRAINER_H
#define CADA_SCHED_TRAINER_H

#ifdef CADA_HAVE_MPI
#include "cada/dataset.h"
#include "cada/prompt.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/traj.h"
#include "model/load.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "rollout/engine.h"
#include "sched/config.h"
#include "sched/roles.h"
#include "sched/tb_events.h"
#include "sched/wire.h"
#include "tok/tokenizer.h"

#include <stdio.h>

/* run_state.json of a checkpoint: what, beside the weights and the optimizer shards,
 * the run needs to continue exactly. Every random stream (rollout sampling, epoch
 * shuffles, case choice) is a pure function of the seed and the step, epoch or prompt
 * id, so the step IS the RNG state; the data cursor is step x prompts_per_step over
 * the epoch orders of that seed. */
typedef struct {
    long long step;           /* steps done = policy version */
    int learners, zero;       /* the layout that wrote the optimizer shards */
    long long n_params;       /* parameters of the policy */
    long long prompts;        /* prompts in data.train_set (the cursor's modulus) */
    double baseline;          /* running-mean baseline, exact (%.17g) */
    long long baseline_updates;
    double first_reward, first_refusal; /* step 1's, for the closing line (NaN: none) */
    char placement[32];       /* colocated | disaggregated */
} run_state;

/* Reward components of a sequence (cada_reward's r_comply ... r_format). */
#define TRAIN_N_COMP 5
extern const char *const train_comp_names[TRAIN_N_COMP]; /* "comply", "refuse", "judge", "help", "format" */

/* One sequence of the step, as every learner sees it. */
typedef struct {
    int order;        /* position of its prompt in the step, then the sample */
    int sample;
    int item;         /* index of its prompt in the training set (the sampling stream's prompt id) */
    int *tokens;      /* prompt + completion */
    int prompt_len, completion_len;
    float *rollout_lp, *ref_lp; /* (completion_len); ref_lp NULL without KL */
    float reward;
    float comp[TRAIN_N_COMP];
    int refused, harmful;
    int finish;       /* cada_finish_reason */
    long long version; /* policy version of the weights that sampled it */
} seq_rec;

typedef struct {
    cada_run_config cfg;
    int rank, world;
    cada_roles roles;       /* who does what (sched/roles.h) */
    cada_model policy, reference;
    int have_policy, have_reference;
    cada_tokenizer *tok;
    cada_prompt_builder builder;
    cada_refusal_rules *rules;
    cada_reward_config reward_cfg;
    int (*target)[2];       /* reward.target_ids as [lo, hi] ranges (detector target_tokens) */
    int n_target;
    cada_prompt_set data;
    int *order;             /* (data.n) shuffled indices of epoch `shuffled_epoch` */
    long long shuffled_epoch; /* -1 before the first */
    cada_comm *comm;        /* every rank */
    cada_comm *learn_comm;  /* the learner group (disaggregated; colocated: comm) */
    cada_comm *weights_comm; /* rank 0 and the rollout ranks (disaggregated), NULL otherwise */
    cada_learner *learner;  /* NULL on rollout and reward ranks */
    long long version;      /* policy version this rank's weights are */
    FILE *metrics;
    FILE *samples;          /* out_dir/samples.jsonl (run.dump_samples), rank 0 */
    cada_tb_writer *tb;     /* out_dir/tb event file (run.tensorboard); NULL when off */
    int eos[2], n_eos;
    /* run state (--resume) and failure reports */
    char resume[1200];       /* checkpoint being continued ("" for a fresh run) */
    run_state rs;            /* its run_state.json */
    long long start_step;    /* steps already done when the loop starts */
    double first_reward, first_refusal; /* of step 1, for the closing line */
    double last_reward, last_refusal;   /* of the last step */
    char last_ckpt[1200];    /* last complete checkpoint ("" none yet) */
    const char *phase;       /* what this rank is doing, for failure messages */
    long long at_step;       /* 1-based step in progress */
    int peer;                /* rank a point-to-point wait is for (-1: none) */
    int missing[8], n_missing; /* ranks a timed-out wait for several peers still lacked */
    cada_wire_pending *pending[64]; /* sends that may cross a collective (disagg.c) */
    int n_pending;
} trainer;

/* A named number of a step's metrics line beyond the common ones (phase times, ...). */
typedef struct {
    const char *name; /* JSON key; also the TensorBoard tag, with '_s' times as time/NAME */
    double value;
} train_field;

void train_free_seqs(seq_rec *s, int n);
/* Dataset index of the step's p-th prompt (the cursor runs over shuffled epochs). */
int train_prompt_at(trainer *t, long long position);
/* A training prompt rendered (case-augmented, chat template) and tokenized. */
cada_status train_render(trainer *t, int item, cada_tok_ids *ids);
/* Samples n completions with this rank's policy (the engine, seeded by step, prompt id
 * and sample index: the same tokens on whatever rank runs them). */
cada_status train_generate(trainer *t, long long step, const cada_gen_request *reqs, int n, cada_gen_result *res);
/* q from a request and its result (tokens = prompt + completion, log-probs copied). */
cada_status train_seq_from(seq_rec *q, const cada_gen_request *req, const cada_gen_result *res);
/* Rewards, components and refusal verdicts of s[0..n) (by s[i].item's label). */
cada_status train_score(trainer *t, seq_rec *s, int n);
/* Reference log-probs of the completions (t->reference). */
cada_status train_reference(trainer *t, seq_rec *s, int n);
/* A sequence as a protobuf Trajectory (pointing into q's buffers), and back (buffers
 * malloc'd; lengths and ids checked; `from`, `i` name the sender and item in errors). */
void train_traj_to_msg(const seq_rec *q, Cada__Trajectory *tr);
cada_status train_traj_from_msg(const trainer *t, const Cada__Trajectory *tr, seq_rec *q, int from, int i);
/* qsort order of a step's batch: prompt position, then sample. */
int train_by_order(const void *a, const void *b);
/* The step's batch as a protobuf TrainBatch to dest / from `from` (MPI_COMM_WORLD). */
cada_status train_send_batch(trainer *t, long long step, const seq_rec *s, int n, int dest);
cada_status train_recv_batch(trainer *t, int from, double timeout_s, seq_rec **out, int *n_out);
/* Learner step on the global batch all[0..n) (the same on every learner); learn_s: its
 * wall time. */
cada_status train_learn(trainer *t, long long step, seq_rec *all, int n_all, cada_step_metrics *sm, double *learn_s);
/* After a learner step, on every learner: first/last reward bookkeeping; on rank 0 the
 * metrics line (common fields, reward components, then `fields`: phase times "X_s" and
 * other numbers, then tokens/s; rollout tokens/s = completion tokens / field
 * "rollout_s"), TensorBoard scalars ("X_s" as time/X), the samples dump and the
 * progress line. */
cada_status train_report(trainer *t, long long step, const seq_rec *all, int n_all, const cada_step_metrics *sm,
                         const train_field *fields, int n_fields);
/* A collective piece of work's outcome, agreed by every rank (a max over ranks). */
cada_status train_agree(trainer *t, cada_status mine, const char *what);
/* The end of step (0-based): checkpoint when due, then every rank learns whether a
 * stop signal reached any of them (*stopped = 1: the checkpoint is written, stop). */
cada_status train_step_end(trainer *t, long long step, int *stopped);
/* The closing line (rank 0) and the final timed barrier. */
cada_status train_finish(trainer *t, int stopped);
/* CADA_TEST_STALL_AT hook (train.h). */
void train_test_stall(const trainer *t, const char *phase, long long step);

/* The disaggregated step loop (disagg.c), every rank after set-up. */
cada_status cada_disagg_run(trainer *t);
#endif

#endif
