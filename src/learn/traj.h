/* learn/traj.h: a batch of trajectories as the learner sees it, and packing it into the
 * model's (B, T) batches.
 *
 * A trajectory is one sampled sequence: prompt tokens then completion tokens, the
 * per-token log-probabilities the generation engine reported for the completion
 * (rollout log-probs), optionally the reference model's and the learner's own "old"
 * log-probs for the same tokens, its reward, and its group (the prompt it answers;
 * GRPO and RLOO compare samples within a group, DPO pairs share a pair id).
 *
 * Index convention: completion token k (0-based) of a sequence is predicted by the
 * token before it, so its log-prob comes out of the model at the packed position of
 * token prompt_len + k - 1. Every per-token array below is indexed by k in
 * [0, completion_len); the packer records, per sequence, lp_index = packed index of
 * completion token 0's log-prob, so token k's is logprob[lp_index + k]. */
#ifndef CADA_LEARN_TRAJ_H
#define CADA_LEARN_TRAJ_H

#include "base/error.h"
#include "model/model.h"

typedef struct {
    const int *tokens;            /* (prompt_len + completion_len): prompt, then completion */
    int prompt_len;               /* >= 1 (the first completion token needs a predecessor) */
    int completion_len;           /* >= 0 */
    const float *rollout_logprob; /* (completion_len) log pi_rollout(token): the engine's */
    const float *old_logprob;     /* (completion_len) or NULL: PPO's pi_old, recomputed by the
                                     learner before several optimizer steps on one batch;
                                     NULL: pi_old is the forward's own log-probs (policy_loss.h) */
    const float *ref_logprob;     /* (completion_len) or NULL: the frozen reference model's */
    float reward;                 /* scalar reward of the whole sequence */
    int group;                    /* prompt id: GRPO/RLOO groups; DPO: the pair id */
    int chosen;                   /* DPO: 1 for the chosen member of a pair, 0 for the rejected */
} cada_traj;

/* Checks lengths, pointers and ids; errors name the sequence. vocab_size <= 0 skips the
 * token range check. */
cada_status cada_traj_validate(const cada_traj *t, int n, int vocab_size);

/* Sequences packed into B rows of T tokens (model/model.h's packed-batch semantics).
 * Sequences go into rows in the order given, a sequence starting a new row when it
 * does not fit in the current one; each row's unused tail is a padding document (token
 * pad_id, positions 0, 1, ..., no targets). Targets are set ONLY where a completion token
 * is predicted (positions prompt_len - 1 .. prompt_len + completion_len - 2 of each
 * sequence), so the model's loss and n_valid count completion tokens and every other
 * log-prob is 0. */
typedef struct {
    int B, T;
    int *tokens, *positions, *targets; /* (B, T) */
    int *lp_index;                     /* (n_seqs) packed index of completion token 0's log-prob */
    int n_seqs;
    size_t cap_tokens;                 /* allocated capacity, reused across calls */
    int cap_seqs;
} cada_packed;

/* Rows needed to pack t[which[0..n)] into rows of T tokens (-1 if a sequence is longer
 * than T). which == NULL means t[0..n). */
int cada_pack_rows_needed(const cada_traj *t, const int *which, int n, int T);
/* How many leading sequences of t[0..n) fit in at most max_rows (>= 1) rows of T tokens
 * under cada_pack's rule (in order, a sequence opening a new row when it does not fit):
 * n when all do. A sequence longer than T ends the prefix before it, so cutting a batch
 * into forwards prefix by prefix meets it first: then the result is -1 (t[0] is too long). */
int cada_pack_fit(const cada_traj *t, int n, int T, int max_rows);
/* Packs t[which[i]] for i in [0, n) (which == NULL: t[0..n)); p->lp_index[i] belongs to
 * which[i]. Errors: a sequence longer than T (names it). */
cada_status cada_pack(cada_packed *p, const cada_traj *t, const int *which, int n, int T, int pad_id);
/* As cada_pack (rows broken where cada_pack breaks them at T), but the rows are only as
 * long as the fullest one needs, rounded up to CADA_PACK_ROUND tokens (at most T): p->T
 * is that length. A batch of short sequences then costs its tokens, not rows of T (the
 * learner packs its micro-batches so; each sequence's log-probs are the same up to the
 * rounding of matmuls over another row count). */
#define CADA_PACK_ROUND 16
cada_status cada_pack_tight(cada_packed *p, const cada_traj *t, const int *which, int n, int T, int pad_id);
void cada_packed_free(cada_packed *p);
static inline cada_batch cada_packed_batch(const cada_packed *p) {
    cada_batch b = {p->B, p->T, p->tokens, p->positions, p->targets};
    return b;
}

#endif
