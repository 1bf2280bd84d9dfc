/* learn/scorer.h: log-probabilities of trajectories' completion tokens under frozen
 * weights (the reference model of the KL term), on the CPU or on one GPU, through one
 * entry point.
 *
 *   CPU  (device -1): each sequence in a forward of its own (cada_model_forward on the
 *        caller's model, one row of exactly its length). A sequence's log-probs are then
 *        the same bits whatever batch it arrives in: OpenBLAS rounds differently with
 *        the matrix shapes (a packed forward moves results by a few float ulps, measured
 *        <= 1e-5 on SmolLM2-135M), and the trainer's runs are bit-identical across
 *        rank layouts only if the reference log-probs are (tests/cli/train_disagg.sh).
 *        No padding is computed, and the activation arena (model/model.h) holds one
 *        sequence (linear in len: attention keeps L H len log-sum-exps). The model must
 *        serve no other forward while the scorer is in use (the arena is shared).
 *   GPU  (device >= 0): the sequences packed in order by learn/traj.h's rule (cada_pack:
 *        rows of row_tokens, a sequence opening a new row when it does not fit) and cut
 *        into forwards of at most rows = micro_tokens / row_tokens rows each
 *        (cada_pack_fit), so memory is bounded by one micro-batch; an inference-only
 *        bf16 copy of the weights on that CUDA device with forward buffers for rows x
 *        row_tokens tokens (learn/learner.h's cada_gpu_scorer); the caller's model is
 *        read at creation only. Attention never crosses documents, so a sequence's
 *        log-probs do not depend on its neighbours beyond the rounding of the GEMMs.
 * tests/unit/test_learn_scorer.c holds the CPU to each sequence's own forward.
 * On the GPU the weights are bf16: its log-probs agree with the CPU's to bf16
 * precision, not bit for bit.
 *
 * Errors name the sequence (longer than row_tokens, no tokens, prompt_len < 1);
 * device >= 0 in a build without CUDA is CADA_ERR_UNSUPPORTED. */
#ifndef CADA_LEARN_SCORER_H
#define CADA_LEARN_SCORER_H

#include "learn/traj.h"
#include "model/model.h"

#include <stddef.h>

typedef struct {
    int device;       /* -1: the CPU; >= 0: that CUDA device (cada_learner_pick_device) */
    int row_tokens;   /* T of a packed row (>= 2): the longest sequence must fit */
    int micro_tokens; /* tokens of one forward (>= row_tokens): rows = micro_tokens / row_tokens */
} cada_scorer_options;

typedef struct cada_scorer cada_scorer;

/* m: the frozen weights (on the CPU it is the model that runs, and must outlive the
 * scorer). Errors: CADA_ERR_ARG (options), CADA_ERR_UNSUPPORTED (device >= 0 without
 * CUDA), CADA_ERR_CUDA / CADA_ERR_NOMEM from the device. */
cada_status cada_scorer_create(cada_scorer **s, cada_model *m, const cada_scorer_options *o);
void cada_scorer_free(cada_scorer *s); /* NULL is fine */

/* out[i] (caller-provided, t[i].completion_len floats; may be NULL when that is 0)
 * receives log p(completion token k | the sequence's earlier tokens) for k in
 * [0, completion_len), token k being t[i].tokens[prompt_len + k]. Only tokens,
 * prompt_len and completion_len of t are read. Every sequence is checked before the
 * first forward; an error mid-way (device) leaves out partly written. */
cada_status cada_scorer_logprobs(cada_scorer *s, const cada_traj *t, int n, float *const *out);

/* Bytes the scorer holds: GPU, the device arena and workspace (its plan's total); CPU,
 * the model's fp32 parameters and its activation arena as the last forward sized it
 * (before the first call: parameters only). */
size_t cada_scorer_bytes(const cada_scorer *s);
/* What it holds, on stdout: GPU, the device arena report; CPU, one line. */
void cada_scorer_report(const cada_scorer *s);

#endif
