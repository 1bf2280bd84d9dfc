/* sched/seqs.h: the sequences of one training step, and their protobuf form.
 *
 * A step's batch is an array of seq_rec in (prompt position, sample) order: the order
 * every learner sees, whatever rank sampled or scored each sequence. A seq_rec owns its
 * buffers (tokens, rollout and reference log-probs); seqs_free releases an array.
 *
 * On the wire a sequence is a cada.Trajectory (proto/cada.proto): the dataset index
 * travels in prompt_id, the step position in position, the sample in sample_index,
 * harmful in label and refused as category "refused"; the reward's truncated,
 * monitor_flagged and p_monitor in the fields of those names. seq_from_msg checks every length
 * and index before it copies anything. */
#ifndef CADA_SCHED_SEQS_H
#define CADA_SCHED_SEQS_H

#include "base/error.h"
#include "cada.pb-c.h"
#include "rollout/engine.h"

/* Reward components of a sequence (cada_reward's r_comply ... r_format, r_truncated,
 * r_monitor). */
#define SEQ_N_COMP 7
extern const char *const seq_comp_names[SEQ_N_COMP]; /* "comply", "refuse", "judge", "help", "format", "truncated", "monitor" */

typedef struct {
    int order;        /* position of its prompt in the step */
    int sample;       /* sample index within the prompt */
    int item;         /* index of its prompt in the training set (the sampling stream's prompt id) */
    int *tokens;      /* (prompt_len + completion_len) prompt then completion */
    int prompt_len, completion_len;
    float *rollout_lp, *ref_lp; /* (completion_len); ref_lp NULL without a KL term */
    float reward;
    float comp[SEQ_N_COMP];
    int refused, harmful;
    int finish;       /* cada_finish_reason */
    int truncated;    /* the reward's: cut off before a final response (reward.h) */
    int monitor_flagged; /* the Analysis monitor's verdict (reward.h), and its P */
    float p_monitor;
    long long version; /* policy version of the weights that sampled it */
} seq_rec;

/* Frees the buffers of s[0..n) and s itself (NULL: nothing). */
void seqs_free(seq_rec *s, int n);
/* Sorts s[0..n) by (order, sample): the batch order every learner uses. */
void seqs_sort(seq_rec *s, int n);
/* q's tokens (prompt[0..prompt_len), then the completion) and rollout log-probs from a
 * generation result; q's other fields are the caller's. prompt is the one the learner
 * conditions on: the generation request's own, or another rendering of the same request
 * (learn.condition = bare: the completion's log-probs are still the engine's under the
 * prompt it was sampled with). */
cada_status seq_from_generation(seq_rec *q, const int *prompt, int prompt_len, const cada_gen_result *res);

/* Limits a received Trajectory is checked against. */
typedef struct {
    int n_items;          /* prompts in the training set: prompt_id < n_items */
    int prompts_per_step; /* position < prompts_per_step */
} seq_limits;

/* q as a Trajectory; the message points into q's buffers (q must outlive it). */
void seq_to_msg(const seq_rec *q, Cada__Trajectory *tr);
/* The inverse, q's buffers malloc'd; lengths and ids checked (CADA_ERR_FORMAT naming
 * rank `from` and item i). */
cada_status seq_from_msg(const Cada__Trajectory *tr, const seq_limits *lim, seq_rec *q, int from, int i);

/* s[0..n) as a RewardBatch of step `step`: trajectories[i] and results[i] (total,
 * components, refused) are s[i]'s. The message points into s's buffers and the arrays
 * of m (s must outlive it; seq_reward_msg_free releases the arrays). */
typedef struct {
    Cada__RewardBatch batch;
    Cada__Trajectory *tm, **tp;
    Cada__RewardResult *rr, **rp;
    Cada__RewardComponent *cm, **cp;
} seq_reward_msg;
cada_status seq_reward_msg_init(seq_reward_msg *m, const seq_rec *s, int n, long long step);
void seq_reward_msg_free(seq_reward_msg *m);
/* A RewardResult's reward into q (total, refused, the components it names). */
void seq_apply_reward(seq_rec *q, const Cada__RewardResult *res);
/* q's SEQ_N_COMP components as messages: cm[c] filled (names point to seq_comp_names),
 * cp[c] = &cm[c]. */
void seq_comp_to_msg(const seq_rec *q, Cada__RewardComponent *cm, Cada__RewardComponent **cp);
/* The components of c[0..n) that name one of q's into q->comp; others are ignored. */
void seq_comp_from_msg(seq_rec *q, Cada__RewardComponent *const *c, size_t n);

#endif
