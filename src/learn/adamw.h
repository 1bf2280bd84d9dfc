/* learn/adamw.h: AdamW on a shard of the flat parameter buffer, learning-rate
 * schedules, gradient clipping by global norm, non-finite step skipping.
 *
 * Update (Loshchilov & Hutter 2019, decoupled weight decay), exactly the order of
 * torch.optim.AdamW (single-tensor path), t = 1, 2, ... the update count:
 *   g   = grad * c          c = min(1, max_grad_norm / (||grad||_global + 1e-6)), as
 *                           torch.nn.utils.clip_grad_norm_ (c = 1 without clipping)
 *   p  *= 1 - lr_t * weight_decay
 *   m   = beta1 m + (1 - beta1) g
 *   v   = beta2 v + (1 - beta2) g^2
 *   p  -= (lr_t / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * State: m and v in fp32 for the shard only, so ZeRO-1/2 keep 8 bytes per parameter
 * divided by the number of learners. The caller owns the parameter and gradient
 * buffers and passes pointers to the shard [offset, offset + count).
 *
 * The global gradient norm covers every shard: the caller sums cada_sqnorm over its
 * shard across ranks (learn/learner.h does) and passes the total. A total that is not
 * finite (any Inf or NaN gradient anywhere) SKIPS the step on every rank alike:
 * parameters, m, v and t stay as they were and `skipped` counts it (mixed-precision
 * practice: a bad micro-batch must not poison the optimizer state).
 *
 * Schedules (t = 1-based update count, W = warmup_steps, S = total_steps):
 *   CONSTANT        lr_t = lr
 *   LINEAR_WARMUP   lr_t = lr * min(1, t / W)
 *   COSINE          lr_t = lr * t / W for t <= W, then
 *                   lr_min + (lr - lr_min) (1 + cos(pi * min(1, (t - W) / (S - W)))) / 2,
 *                   lr_min = lr * min_lr_ratio
 * (Hugging Face's schedulers count from 0, so their first step has lr 0; here the
 * first update already moves the weights.) */
#ifndef CADA_LEARN_ADAMW_H
#define CADA_LEARN_ADAMW_H

#include "base/error.h"

#include <stddef.h>

typedef enum { CADA_LR_CONSTANT = 0, CADA_LR_LINEAR_WARMUP, CADA_LR_COSINE } cada_lr_schedule;

typedef struct {
    double lr;            /* peak learning rate */
    double beta1, beta2;  /* 0.9, 0.999 */
    double eps;           /* 1e-8 */
    double weight_decay;  /* 0.01 (torch's default) */
    double max_grad_norm; /* <= 0: no clipping */
    cada_lr_schedule schedule;
    long long warmup_steps, total_steps;
    double min_lr_ratio;  /* cosine floor, fraction of lr */
} cada_adamw_config;

typedef struct {
    cada_adamw_config cfg;
    size_t offset, count; /* the shard of the flat parameter buffer this optimizer updates */
    float *m, *v;         /* (count) first and second moments */
    long long step;       /* updates applied: t of the last update */
    long long skipped;    /* steps skipped for a non-finite gradient */
} cada_adamw;

typedef struct {
    int applied;      /* 0: skipped (non-finite gradient) */
    double lr;        /* lr_t used (0 when skipped) */
    double grad_norm; /* global norm before clipping (Inf/NaN when skipped) */
    double clip_coef; /* c above */
} cada_adamw_result;

void cada_adamw_config_default(cada_adamw_config *c);
/* Allocates zeroed m and v for count floats. */
cada_status cada_adamw_init(cada_adamw *o, const cada_adamw_config *cfg, size_t offset, size_t count);
void cada_adamw_free(cada_adamw *o);

double cada_lr_at(const cada_adamw_config *c, long long t);

/* The clipping factor c of the update above for a global gradient norm, PyTorch's
 * torch.nn.utils.clip_grad_norm_ formula: c = min(1, max_grad_norm / (grad_norm + 1e-6)),
 * in double; 1 when max_grad_norm <= 0 (no clipping) or when the quotient is not below
 * 1 (a NaN norm included: callers skip non-finite steps before they use c). The one
 * formula of every update: cada_adamw_step, the GPU learner's step metrics and the GPU
 * model's AdamW (model/model_gpu.h), which round it to float alike. */
double cada_clip_coef(double max_grad_norm, double grad_norm);

/* Sum of squares of g[0..n) in double, in fixed chunks summed in order (the same
 * value for any OpenMP thread count). Inf or NaN in g gives a non-finite result. */
double cada_sqnorm(const float *g, size_t n);

/* One update of the shard: params and grads point at the shard's first element
 * (count floats each). global_sqnorm: sum of squares of the WHOLE gradient. */
cada_status cada_adamw_step(cada_adamw *o, float *params, const float *grads, double global_sqnorm,
                            cada_adamw_result *out);

#endif
