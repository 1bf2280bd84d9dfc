/* rollout/sampler.c: see sampler.h. */
#include "rollout/sampler.h"

#include <math.h>
#include <stdlib.h>

int cada_sampler_init(cada_sampler *s, int V) {
    s->V = V;
    s->prob = malloc(sizeof(float) * (size_t)V);
    s->index = malloc(sizeof(int) * (size_t)V);
    if (!s->prob || !s->index) {
        cada_sampler_free(s);
        return -1;
    }
    return 0;
}

void cada_sampler_free(cada_sampler *s) {
    free(s->prob);
    free(s->index);
    s->prob = NULL;
    s->index = NULL;
}

static const float *sort_key;
static int by_prob_desc(const void *a, const void *b) {
    float x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int *)a - *(const int *)b; /* stable: lower id first */
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
        for (int v = 0; v < V; v++) {
            s->prob[v] = expf((logits[v] - mx) * inv_t);
            sum += s->prob[v];
        }
        int n = V;
        for (int v = 0; v < V; v++) s->index[v] = v;
        int filtered = (sp->top_k > 0 && sp->top_k < V) || sp->top_p < 1.0f;
        if (filtered) {
            /* sort candidates by probability (a stable order makes draws reproducible) */
            sort_key = s->prob;
            qsort(s->index, (size_t)V, sizeof(int), by_prob_desc);
            if (sp->top_k > 0 && sp->top_k < n) n = sp->top_k;
            if (sp->top_p < 1.0f) {
                double kept = 0.0, total = 0.0;
                for (int i = 0; i < n; i++) total += s->prob[s->index[i]];
                int keep = 0;
                while (keep < n) {
                    kept += s->prob[s->index[keep++]];
                    if (kept >= sp->top_p * total) break;
                }
                n = keep;
            }
            sum = 0.0;
            for (int i = 0; i < n; i++) sum += s->prob[s->index[i]];
        }
        double target = (double)u * sum, acc = 0.0;
        chosen = s->index[n - 1];
        for (int i = 0; i < n; i++) {
            acc += s->prob[s->index[i]];
            if (acc > target) {
                chosen = s->index[i];
                break;
            }
        }
    }
    *logprob = (float)(logits[chosen] - lse);
    return chosen;
}
