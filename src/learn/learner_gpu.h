/* learn/learner_gpu.h: the GPU backend of learn/learner.h (cluster.device = cuda) and the
 * reference scorer's device forward, used by learner.c and scorer.c only. A C interface over opaque handles, so learner.c compiles the same
 * in every build; in a build without CUDA, cada_learner_gpu_create fails with
 * CADA_ERR_UNSUPPORTED and nothing else is reachable.
 *
 * One cada_gpu_model (model/model_gpu.h) per learner rank, with training buffers for
 * B x T = max_tokens packed tokens (the learner's micro-batch) and, when the options ask
 * for one, the rollout KV cache in the same arena (colocated: the weights it trains
 * serve generation). Gradients accumulate in the device buffer over a rank's
 * micro-batches; across W > 1 learners they are summed in place with NCCL (the
 * "gradients" communicator over the learner ranks, made once here) before AdamW.
 * The host fp32 parameters (cada_model.params) are not updated by a step: pull them
 * (download) when a checkpoint or a CPU consumer needs them. */
#ifndef CADA_LEARN_LEARNER_GPU_H
#define CADA_LEARN_LEARNER_GPU_H

#include "learn/adamw.h"
#include "learn/traj.h"
#include "model/model.h"

#ifdef CADA_HAVE_MPI
#include <mpi.h>
#endif

typedef struct cada_gpu_model cada_gpu_model; /* model/model_gpu.h (CUDA builds) */

typedef struct {
    int device;         /* CUDA device of this rank (cada_learner_pick_device) */
    int recompute;      /* activation recomputation (model_gpu.h) */
    int kv_slots;       /* > 0: the rollout KV cache lives in the learner's model (colocated) */
    int kv_max_len;     /* context limit per slot */
    int gen_max_tokens; /* new tokens per inference call */
#ifdef CADA_HAVE_MPI
    MPI_Comm group;     /* the learner ranks, in the order of the learner communicator
                           (the NCCL gradient communicator is made over it when W > 1) */
#endif
} cada_learner_gpu_options;


/* Frozen weights on a GPU, forward only (the reference model of the KL term): an
 * inference-only cada_gpu_model with bf16 weights and forward buffers for max_tokens
 * packed tokens in rows of row_tokens. */
typedef struct cada_gpu_scorer cada_gpu_scorer;
cada_status cada_gpu_scorer_create(cada_gpu_scorer **out, const cada_model *m, int row_tokens, int max_tokens,
                                   int device);
void cada_gpu_scorer_free(cada_gpu_scorer *s); /* NULL is fine */
/* The log-probs of each sequence's completion tokens under the scorer's weights:
 * out[i] receives t[i].completion_len floats. The sequences are packed in order
 * (learn/traj.h) into as many forwards of at most max_tokens as they need; one longer
 * than row_tokens is an error naming it. learn/scorer.h is the same on either device
 * (this is its GPU path). */
cada_status cada_gpu_scorer_logprobs(cada_gpu_scorer *s, const cada_traj *t, int n, float *const *out);
void cada_gpu_scorer_report(const cada_gpu_scorer *s);
size_t cada_gpu_scorer_bytes(const cada_gpu_scorer *s);


typedef struct cada_learner_gpu cada_learner_gpu;

/* max_tokens: B x T of the largest micro-batch; W: learners (NCCL needed when > 1);
 * timeout_s bounds the communicator's creation and waits. */
cada_status cada_learner_gpu_create(cada_learner_gpu **out, const cada_model *m, int max_tokens, int W,
                                    const cada_learner_gpu_options *o, double timeout_s);
void cada_learner_gpu_free(cada_learner_gpu *g);
cada_gpu_model *cada_learner_gpu_model_of(cada_learner_gpu *g);

/* Forward of a packed batch; *logprob: the host log-probs (B*T) until the next forward;
 * *entropy_sum: entropy summed over the rows with a target (learn/entropy.h). */
cada_status cada_learner_gpu_forward(cada_learner_gpu *g, const cada_batch *b, const float **logprob,
                                     double *entropy_sum);
/* Backward of the last forward, accumulating into the device gradients. */
cada_status cada_learner_gpu_backward(cada_learner_gpu *g, const float *dlogprob);
cada_status cada_learner_gpu_zero_grads(cada_learner_gpu *g);
/* W > 1: the device gradients summed over the learners in place (NCCL); W = 1: nothing. */
cada_status cada_learner_gpu_reduce(cada_learner_gpu *g);
/* AdamW with update count t; *grad_norm: the global norm (non-finite: skipped). */
cada_status cada_learner_gpu_adamw(cada_learner_gpu *g, const cada_adamw_config *cfg, long long t, double *grad_norm);
cada_status cada_learner_gpu_download_params(cada_learner_gpu *g, float *host);
cada_status cada_learner_gpu_upload_params(cada_learner_gpu *g, const float *host);
cada_status cada_learner_gpu_download_adamw(cada_learner_gpu *g, size_t offset, size_t count, float *m, float *v);
cada_status cada_learner_gpu_upload_adamw(cada_learner_gpu *g, size_t offset, size_t count, const float *m,
                                          const float *v);
/* The reference scorer on the device (learner.h's cada_gpu_scorer; learn/scorer.h packs
 * and cuts the batches): forward of a packed batch of at most rows x row_tokens tokens;
 * *logprob: the host log-probs (B*T) until the next forward. */
cada_status cada_gpu_scorer_forward(cada_gpu_scorer *s, const cada_batch *b, const float **logprob);
void cada_gpu_scorer_shape(const cada_gpu_scorer *s, int *row_tokens, int *rows);

void cada_learner_gpu_report_model(const cada_learner_gpu *g); /* the arena report, stdout */
/* Device bytes of the model's plan (the arena and the cuBLASLt workspace). */
void cada_learner_gpu_plan(const cada_learner_gpu *g, size_t *params, size_t *grads, size_t *optimizer,
                           size_t *activations, size_t *total);

#endif
