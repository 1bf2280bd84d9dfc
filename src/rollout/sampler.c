/* rollout/sampler.c: see sampler.h. */
#include "rollout/sampler.h"

#include <math.h>
#include <stdlib.h>

int cada_sampler_init(cada_sampler *s, int V) {
    s->V = V;
    s->cand = malloc(sizeof *s->cand * (size_t)V);
    return s->cand ? 0 : -1;
}

void cada_sampler_free(cada_sampler *s) {
    free(s->cand);
    s->cand = NULL;
}

/* Probability descending, then lower id first: a total order, so draws reproduce. */
static int by_prob_desc(const void *a, const void *b) {
    const cada_candidate *x = a, *y = b;
    if (x->prob != y->prob) return x->prob < y->prob ? 1 : -1;
    return x->index - y->index;
}

int cada_sample(cada_sampler *s, const float *logits, const cada_sampling *sp, cada_rng *rng, float *logprob) {
    const int V = s->V;
    float u = cada_rng_uniform(rng); /* always one draw per token: see sampler.h */
    int best = 0;
    float mx = logits[0];
    for (int v = 1; v < V; v++)
        if (logits[v] > mx) {
            mx = logits[v];
            best = v;
        }
    double z = 0.0;
    for (int v = 0; v < V; v++) z += exp((double)(logits[v] - mx));
    const double lse = mx + log(z);
    int chosen = best;
    if (sp->temperature > 0.0f) {
        const float inv_t = 1.0f / sp->temperature;
        double sum = 0.0;
        cada_candidate *c = s->cand;
        for (int v = 0; v < V; v++) {
            c[v].prob = expf((logits[v] - mx) * inv_t);
            c[v].index = v;
            sum += c[v].prob;
        }
        int n = V;
        if ((sp->top_k > 0 && sp->top_k < V) || sp->top_p < 1.0f) {
            qsort(c, (size_t)V, sizeof *c, by_prob_desc);
            if (sp->top_k > 0 && sp->top_k < n) n = sp->top_k;
            if (sp->top_p < 1.0f) {
                double kept = 0.0, total = 0.0;
                for (int i = 0; i < n; i++) total += c[i].prob;
                int keep = 0;
                while (keep < n) {
                    kept += c[keep++].prob;
                    if (kept >= sp->top_p * total) break;
                }
                n = keep;
            }
            sum = 0.0;
            for (int i = 0; i < n; i++) sum += c[i].prob;
        }
        double target = (double)u * sum, acc = 0.0;
        chosen = c[n - 1].index;
        for (int i = 0; i < n; i++) {
            acc += c[i].prob;
            if (acc > target) {
                chosen = c[i].index;
                break;
            }
        }
    }
    *logprob = (float)(logits[chosen] - lse);
    return chosen;
}
