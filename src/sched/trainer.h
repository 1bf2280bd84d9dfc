/* sched/trainer.h: the state of one `cada train` rank, its set-up and teardown,
 * agreement on a collective outcome, and the facts a failure report names (what happens
 * around each step, checkpoint and stop signals included, is lifecycle.h).
 *
 * The training step is a sequence of stages, each a module with its own header:
 *   cursor.h       data cursor: which prompts a step takes
 *   requests.h     render a prompt, build its generation requests
 *   rollout_stage.h generate completions with this rank's policy (CPU or GPU)
 *   score_stage.h  rewards and reference log-probs
 *   exchange.h     the step's sequences between ranks (TrainBatch frames)
 *   learn_stage.h  advantages and the learner update
 *   weight_sync.h  learner 0's weights to the rollout ranks, by version
 *   checkpoint.h   checkpoint-N folders and resume (run_state.h: run_state.json;
 *                  pipeline.h: an async run's batch ahead)
 *   metrics.h      metrics.jsonl, TensorBoard, samples dump, the step line
 *   progress.h     progress inside a phase
 *   lifecycle.h    around the steps: begin (resume, metrics), report, step end, finish
 * A placement (placement.h: colocated.c, disagg_sched.c, disagg_worker.c) is a plan of
 * which ranks run which stages and which messages pass between them; it owns no stage.
 * Every function returns a cada_status; cada_cmd_train (train.c) fails the job. */
#ifndef CADA_SCHED_TRAINER_H
#define CADA_SCHED_TRAINER_H

#ifdef CADA_HAVE_MPI
#include "cada/prompt.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "model/load.h"
#include "model/tp.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "sched/run_state.h"
#include "sched/config.h"
#include "sched/config_modules.h"
#include "sched/cursor.h"
#include "sched/metrics.h"
#include "sched/offline_stage.h"
#include "sched/pipeline.h"
#include "sched/progress.h"
#include "sched/roles.h"
#include "sched/rollout_stage.h"
#include "eval/eval.h"
#include "sched/score_stage.h"
#include "sched/seqs.h"
#include "sched/weight_sync.h"
#include "sched/wire.h"
#include "tok/tokenizer.h"

struct cada_reshard_recv;

/* What this rank is doing and whom it waits for: the failure report's facts. */
typedef struct {
    const char *phase;         /* "rollout", "learner step", ... */
    long long at_step;         /* 1-based step in progress (0: set-up) */
    int peer;                  /* rank a point-to-point wait is for (-1: none) */
    int missing[8], n_missing; /* ranks a wait for several peers still lacks */
} cada_watch;

typedef struct trainer {
    cada_run_config cfg;
    int rank, world;
    cada_roles roles;        /* who does what (roles.h) */
    cada_model policy, reference;
    /* the whole policy's shape and size: policy's own, or, when this rank holds a tensor-
     * parallel part of it (rollout.tp, learn.tp), the model's it was cut from */
    cada_model_config whole_cfg;
    size_t whole_params;
    int have_policy, have_reference;
    cada_tokenizer *tok;
    cada_prompt_builder builder;
    cada_refusal_rules *rules;
    cada_monitor *monitor;   /* the Analysis monitor, NULL when reward.monitor_patterns is "" */
    cada_reward_config reward_cfg;
    cada_target_ranges target; /* reward.detector = target_tokens */
    cada_eval_judge judge;     /* the LLM judge where this rank scores and the reward needs one */
    cada_judge_tally judge_tally; /* what it did since the placement last took it */
    cada_judge_tally ahead_judge; /* async, rank 0: the judge's part of t->ahead (not in pipeline.bin) */
    cada_cursor cursor;
    cada_comm *comm;         /* every rank */
    cada_comm *learn_comm;   /* the learner group (disaggregated; colocated: comm) */
    cada_comm *weights_comm; /* rank 0 and the rollout ranks (disaggregated), NULL otherwise */
    cada_comm *engine_comm;  /* rollout.tp > 1: this rollout rank's engine (its TP group), else NULL */
    cada_tp engine_tp;       /* ... and the group as the model's passes use it (policy.tp points here) */
    cada_comm *learn_tp_comm; /* learn.tp > 1, a learner: its TP group (learner ranks [g Pl, (g+1) Pl)) */
    cada_comm *learn_dp_comm; /* ... and its data-parallel peers (the same TP rank; the learner's comm) */
    cada_tp learn_tp;         /* the learner's TP group as the passes use it (policy.tp points here) */
    cada_comm *reward_comm;   /* reward.tp > 1, a reward rank: its reward group, else NULL */
    cada_tp reward_tp;        /* ... as the reference's passes use it (reference.tp points here) */
    cada_learner *learner;   /* NULL on rollout and reward ranks */
    cada_scorer *ref;        /* reference log-probs where this rank computes them, else NULL */
    long long version;       /* policy version this rank's weights are */
    int eos[2], n_eos;
    cada_metrics metrics;    /* rank 0's files */
    cada_progress progress;  /* this rank's phase progress (shown by one rank per group) */
    /* cluster.device = cuda */
    int gpu_device;          /* -1: CPU */
    /* run state */
    char resume[1200];       /* checkpoint being continued ("" for a fresh run) */
    cada_run_state rs;       /* its run_state.json */
    long long start_step;    /* steps already done when the loop starts */
    double first_reward, first_refusal; /* of step 1, for the closing line */
    double last_reward, last_refusal;   /* of the last step */
    double first_loss, last_loss;       /* the loss of step 1 and of the last (sft, dpo's closing line) */
    char last_ckpt[1200];    /* last complete checkpoint ("" none yet) */
    cada_watch watch;
    cada_wire_pending *pending[64]; /* sends that may cross a collective (disaggregated) */
    int n_pending;
    /* rollout.mode = async: rank 0's batch of the step ahead, held at each step boundary
     * (pipeline.h); ahead_resumed: every rank knows the resumed checkpoint gave it back */
    cada_ahead ahead;
    int ahead_resumed;
    /* rollout.mode = async with cluster.sync_overlap, a rollout rank (sched/disagg.c): the
     * second copy of its part that the next version lands in while it generates with
     * policy, the receive in flight (NULL: none) and the version it brings */
    cada_model policy_next;
    struct cada_reshard_recv *sync_next;
    long long sync_next_version;
    cada_weights_landed next_landed;
} trainer;

/* Loads models, tokenizer, data; builds communicators, the learner, the reference
 * scorer (lifecycle.h's trainer_begin then restores a checkpoint and opens metrics). */
cada_status trainer_setup(trainer *t);
void trainer_teardown(trainer *t);
/* The generation context of this rank's policy (CPU model, or the GPU learner's). */
cada_rollout_policy trainer_policy(trainer *t);
/* The scoring context of this rank (rewards; reference log-probs when it holds them). */
cada_score_ctx trainer_scoring(trainer *t);
/* The data stage's context (learn.algorithm = sft | dpo; offline_stage.h); sc gives the
 * reference scorer and must outlive it. */
cada_offline_ctx trainer_offline(trainer *t, const cada_score_ctx *sc);
/* Whether the step's sequences are judged (the same on every rank; never for sft, dpo). */
int trainer_judges(const trainer *t);
/* metrics.jsonl fields of a step's judge tally (none without a judge); out holds
 * 5 + CADA_JS_N. */
int trainer_judge_fields(const trainer *t, const cada_judge_tally *step, cada_metric_field *out);
/* A collective piece of work's outcome, agreed by every rank (a max over ranks): all
 * ranks fail together, the rank at fault keeps its own message. */
cada_status trainer_agree(trainer *t, cada_status mine, const char *what);
/* TEST HOOK CADA_TEST_STALL_AT=PHASE:RANK[:STEP] (train.h): the rank goes silent. */
void trainer_test_stall(const trainer *t, const char *phase, long long step);
/* "scheduler + learner 0", "rollout 1", ... (rotating buffers: several per message). */
const char *trainer_role_name(const trainer *t, int rank);
#endif

#endif
