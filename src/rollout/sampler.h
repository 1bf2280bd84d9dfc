/* rollout/sampler.h: choosing the next token from logits.
 *
 * Order of operations (as Hugging Face's logits processors apply them): temperature,
 * then top-k, then top-p (nucleus: the smallest set of most likely tokens whose
 * probability reaches top_p), then one draw. temperature == 0 is greedy: the first
 * index of the maximum logit (torch.argmax's tie rule), and no draw is consumed... the
 * draw is consumed anyway so that a stream's position does not depend on the mode.
 *
 * The log-probability returned is the MODEL's: log_softmax(logits)[token] at
 * temperature 1 without filtering, the quantity a learner recomputes for the same
 * token, so rollout and learner log-probs are comparable. */
#ifndef CADA_ROLLOUT_SAMPLER_H
#define CADA_ROLLOUT_SAMPLER_H

#include "base/rng.h"

typedef struct {
    float temperature; /* 0 = greedy */
    int top_k;         /* 0 = off */
    float top_p;       /* 1 = off */
} cada_sampling;

typedef struct {
    float prob;
    int index;
} cada_candidate;

/* Scratch for one sampling thread (an engine owns one). */
typedef struct {
    int V;
    cada_candidate *cand; /* (V) */
} cada_sampler;

int cada_sampler_init(cada_sampler *s, int V); /* 0 on success, -1 on allocation failure */
void cada_sampler_free(cada_sampler *s);

/* Returns the chosen token; *logprob receives its model log-probability. */
int cada_sample(cada_sampler *s, const float *logits, const cada_sampling *sp, cada_rng *rng, float *logprob);

#endif
