/* learn/scorer.h (interim): reference log-probs on the CPU or a GPU. */
#ifndef CADA_LEARN_SCORER_H
#define CADA_LEARN_SCORER_H

#include "base/error.h"
#include "learn/traj.h"
#include "model/model.h"

#include <stddef.h>

typedef struct cada_scorer cada_scorer;
typedef struct {
    int device; /* -1: CPU */
    int row_tokens, micro_tokens;
} cada_scorer_options;

cada_status cada_scorer_create(cada_scorer **s, cada_model *m, const cada_scorer_options *o);
cada_status cada_scorer_logprobs(cada_scorer *s, const cada_traj *t, int n, float *const *out);
size_t cada_scorer_bytes(const cada_scorer *s);
void cada_scorer_report(const cada_scorer *s);
void cada_scorer_free(cada_scorer *s);

#endif
