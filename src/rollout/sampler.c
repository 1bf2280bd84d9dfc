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

/* The nucleus (top-p) of c[0..V) in index order: moves the candidates the nucleus can
 * come from to c[0..m) sorted by by_prob_desc, returns m. The nucleus is the shortest
 * prefix of ALL candidates in that order whose mass reaches `target`; every candidate at
 * or above a threshold comes before every one below it, so once the candidates >= t hold
 * `target` between them, the nucleus lies among them and only they need sorting (a
 * few hundred or thousand of 49152, against a sort of all: 6.1 ms -> well under 1 ms a
 * token). Thresholds fall by 2^-6 from 2^-4 of the largest probability (1: exp(0) at
 * the maximum logit, whatever the temperature) down to 0 (all). */
static int nucleus_candidates(cada_candidate *c, int V, double target) {
    for (float t = 1.0f / 16.0f;; t /= 64.0f) {
        if (t < 1e-30f) t = 0.0f;
        int m = 0;
        double mass = 0.0;
        for (int v = 0; v < V; v++) /* a stable partition: candidates >= t to the front, in index order */
            if (c[v].prob >= t) {
                const cada_candidate x = c[v];
                c[v] = c[m];
                c[m++] = x;
                mass += x.prob;
            }
        if (mass >= target * (1.0 + 1e-9) || t == 0.0f) { /* a margin for the sum's order (the walk adds them sorted) */
            qsort(c, (size_t)m, sizeof *c, by_prob_desc);
            return m;
        }
    }
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
    /* exp(logit - max) once: the log-sum-exp's terms, and the probabilities at
     * temperature 1 (the usual case) */
    cada_candidate *c = s->cand;
    double z = 0.0;
    for (int v = 0; v < V; v++) {
        c[v].prob = expf(logits[v] - mx);
        c[v].index = v;
        z += c[v].prob;
    }
    const double lse = mx + log(z);
    int chosen = best;
    if (sp->temperature > 0.0f) {
        double sum = z;
        if (sp->temperature != 1.0f) {
            const float inv_t = 1.0f / sp->temperature;
            sum = 0.0;
            for (int v = 0; v < V; v++) {
                c[v].prob = expf((logits[v] - mx) * inv_t);
                sum += c[v].prob;
            }
        }
        int n = V;
        if (sp->top_k > 0 && sp->top_k < V) { /* top-k: the k most likely, sorted */
            qsort(c, (size_t)V, sizeof *c, by_prob_desc);
            n = sp->top_k;
        }
        if (sp->top_p < 1.0f) { /* then the nucleus of what is left: its mass over all of it */
            double total = 0.0, kept = 0.0;
            if (n < V) {
                for (int i = 0; i < n; i++) total += c[i].prob;
            } else {
                total = sum;
                n = nucleus_candidates(c, V, sp->top_p * total); /* sorted: only where the nucleus can lie */
            }
            int keep = 0;
            while (keep < n) {
                kept += c[keep++].prob;
                if (kept >= sp->top_p * total) break;
            }
            n = keep;
        }
        if ((sp->top_k > 0 && sp->top_k < V) || sp->top_p < 1.0f) { /* the kept mass, in their order */
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
