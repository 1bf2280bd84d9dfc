/* tests/unit/test_sampler.c: the sampler (rollout/sampler.h) against the plain
 * definition of its filters, written out here: every probability, the whole vocabulary
 * sorted (probability descending, lower id first) when a filter is on, top-k, then the
 * shortest prefix whose mass reaches top_p of what is left, one draw over the kept mass
 * in that order (without a filter: over all, in id order), the log-probability from a
 * log-sum-exp in double.
 *
 * The sampler sorts only the candidates its nucleus can come from (rollout/sampler.c),
 * so the chosen tokens must be the same for the same draws, on peaked, flat and mixed
 * logits, temperatures 0.7 / 1 / 1.3, top_p 0.5 / 0.9 / 0.95 / 0.999, with and without
 * top-k, and greedy: IDENTICAL tokens. Its log-probability sums expf terms where the
 * definition sums exp in double: |diff| <= 1e-5 (float's exp is within 1 ulp, ~6e-8
 * relative per term, so the log of the sum moves by about that). */
#include "test.h"

#include "base/rng.h"
#include "rollout/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int by_prob_desc(const void *a, const void *b) {
    const cada_candidate *x = a, *y = b;
    if (x->prob != y->prob) return x->prob < y->prob ? 1 : -1;
    return x->index - y->index;
}

/* the definition, with one draw u */
static int reference_sample(const float *l, int V, const cada_sampling *sp, float u, float *logprob) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (l[v] > l[best]) best = v;
    const float mx = l[best];
    double z = 0.0;
    for (int v = 0; v < V; v++) z += exp((double)(l[v] - mx));
    int chosen = best;
    if (sp->temperature > 0.0f) {
        cada_candidate *c = malloc(sizeof *c * (size_t)V);
        for (int v = 0; v < V; v++) c[v] = (cada_candidate){expf((l[v] - mx) * (1.0f / sp->temperature)), v};
        const int filtered = (sp->top_k > 0 && sp->top_k < V) || sp->top_p < 1.0f;
        if (filtered) qsort(c, (size_t)V, sizeof *c, by_prob_desc); /* unfiltered: the draw walks ids in order */
        int n = sp->top_k > 0 && sp->top_k < V ? sp->top_k : V;
        double total = 0.0, kept = 0.0;
        for (int i = 0; i < n; i++) total += c[i].prob;
        int keep = n;
        if (sp->top_p < 1.0f)
            for (keep = 0; keep < n;) {
                kept += c[keep++].prob;
                if (kept >= sp->top_p * total) break;
            }
        double sum = 0.0, acc = 0.0;
        for (int i = 0; i < keep; i++) sum += c[i].prob;
        chosen = c[keep - 1].index;
        for (int i = 0; i < keep; i++) {
            acc += c[i].prob;
            if (acc > (double)u * sum) {
                chosen = c[i].index;
                break;
            }
        }
        free(c);
    }
    *logprob = (float)(l[chosen] - (mx + log(z)));
    return chosen;
}

TEST(sampler_matches_the_definition) {
    enum { V = 4096, DRAWS = 40 };
    static float logits[V];
    const float scales[] = {8.0f, 0.5f, 3.0f}; /* peaked, flat, in between */
    const cada_sampling modes[] = {{1.0f, 0, 0.95f}, {1.0f, 0, 0.5f}, {0.7f, 0, 0.9f}, {1.3f, 0, 0.999f},
                                   {1.0f, 50, 0.9f}, {1.0f, 0, 1.0f}, {0.0f, 0, 1.0f}, {1.0f, 200, 1.0f}};
    cada_sampler s;
    REQUIRE(cada_sampler_init(&s, V) == 0);
    int compared = 0, differ = 0;
    float worst = 0.0f;
    for (size_t sc = 0; sc < sizeof scales / sizeof scales[0]; sc++) {
        cada_rng r;
        cada_rng_init(&r, 11, sc, 0, 0);
        for (int v = 0; v < V; v++) logits[v] = scales[sc] * cada_rng_normal(&r);
        logits[17] = logits[99] = 4.0f * scales[sc]; /* a tie at the top */
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
            for (int d = 0; d < DRAWS; d++) {
                cada_rng a, b; /* the same stream for both: the sampler takes one draw */
                cada_rng_init(&a, 5, sc, m, (uint64_t)d);
                cada_rng_init(&b, 5, sc, m, (uint64_t)d);
                float lp = 0, want_lp = 0;
                const int got = cada_sample(&s, logits, &modes[m], &a, &lp);
                const int want = reference_sample(logits, V, &modes[m], cada_rng_uniform(&b), &want_lp);
                differ += got != want;
                if (got == want && fabsf(lp - want_lp) > worst) worst = fabsf(lp - want_lp);
                compared++;
            }
    }
    cada_sampler_free(&s);
    EXPECT(differ == 0, "%d of %d draws chose another token than the definition", differ, compared);
    EXPECT(worst <= 1e-5f, "log-prob max |diff| %g", (double)worst);
    fprintf(stderr, "    sampler: %d draws identical to the definition, log-prob max |diff| %.3g\n", compared - differ, (double)worst);
}
