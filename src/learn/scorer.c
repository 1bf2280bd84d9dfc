/* learn/scorer.c: see scorer.h. */
#define _POSIX_C_SOURCE 200809L
#include "learn/scorer.h"

#include "learn/learner.h"
#include "learn/learner_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cada_scorer {
    int T, rows;          /* row_tokens; rows of one forward */
    cada_model *m;        /* CPU: the model whose forward scores */
    cada_gpu_scorer *gpu; /* GPU: the device copy (owned unless borrowed) */
    int borrowed;         /* gpu belongs to the caller (cada_gpu_scorer_logprobs) */
    cada_packed pk;       /* the packed forward, reused across calls */
};

cada_status cada_scorer_create(cada_scorer **out, cada_model *m, const cada_scorer_options *o) {
    *out = NULL;
    if (!m || !o) return CADA_ERR(CADA_ERR_ARG, "scorer: NULL model or options");
    if (o->row_tokens < 2 || o->micro_tokens < o->row_tokens)
        return CADA_ERR(CADA_ERR_ARG, "scorer: row_tokens %d, micro_tokens %d (need 2 <= row_tokens <= micro_tokens)",
                        o->row_tokens, o->micro_tokens);
    if (o->device < -1) return CADA_ERR(CADA_ERR_ARG, "scorer: device %d (-1: the CPU, >= 0: a CUDA device)", o->device);
#ifndef CADA_HAVE_CUDA
    if (o->device >= 0)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "scorer: CUDA device %d asked for, but this build has no CUDA (build without CUDA=0 where nvcc "
                        "and cuBLASLt are installed, or score on the CPU: device -1)", o->device);
#endif
    cada_scorer *s = CADA_CALLOC(1, sizeof *s, "scorer");
    if (!s) return CADA_ERR_NOMEM;
    s->T = o->row_tokens;
    s->rows = o->micro_tokens / o->row_tokens;
    s->m = m;
    if (o->device >= 0) {
        cada_status st = cada_gpu_scorer_create(&s->gpu, m, s->T, s->rows * s->T, o->device);
        if (st != CADA_OK) {
            free(s);
            return st;
        }
    }
    *out = s;
    return CADA_OK;
}

void cada_scorer_free(cada_scorer *s) {
    if (!s) return;
    if (!s->borrowed) cada_gpu_scorer_free(s->gpu);
    cada_packed_free(&s->pk);
    free(s);
}

/* One forward of the packed t[first, first + count), each sequence's completion
 * log-probs copied out of it (learn/traj.h: token k's is logprob[lp_index + k]). */
static cada_status score_forward(cada_scorer *s, const cada_traj *t, int first, int count, int T, float *const *out) {
    CADA_TRY(cada_pack(&s->pk, t + first, NULL, count, T, 0));
    cada_batch b = cada_packed_batch(&s->pk);
    const float *lp = NULL;
    if (s->gpu) {
        CADA_TRY(cada_gpu_scorer_forward(s->gpu, &b, &lp));
    } else {
        CADA_TRY(cada_model_forward(s->m, &b));
        lp = s->m->act.logprob;
    }
    for (int i = 0; i < count; i++) {
        const int n = t[first + i].completion_len;
        if (n > 0) memcpy(out[first + i], lp + s->pk.lp_index[i], sizeof(float) * (size_t)n);
    }
    return CADA_OK;
}

cada_status cada_scorer_logprobs(cada_scorer *s, const cada_traj *t, int n, float *const *out) {
    if (n < 0 || (n > 0 && (!t || !out)))
        return CADA_ERR(CADA_ERR_ARG, "scorer: %d sequences, trajectories %p, outputs %p", n, (const void *)t,
                        (const void *)out);
    for (int i = 0; i < n; i++) {
        const cada_traj *q = &t[i];
        if (q->prompt_len < 1 || q->completion_len < 0 || !q->tokens)
            return CADA_ERR(CADA_ERR_ARG, "scorer: sequence %d: prompt_len %d (>= 1), completion_len %d (>= 0), tokens %p", i,
                            q->prompt_len, q->completion_len, (const void *)q->tokens);
        if (q->prompt_len + q->completion_len > s->T)
            return CADA_ERR(CADA_ERR_ARG, "scorer: sequence %d has %d tokens, more than a row (row_tokens %d)", i,
                            q->prompt_len + q->completion_len, s->T);
        if (q->completion_len > 0 && !out[i])
            return CADA_ERR(CADA_ERR_ARG, "scorer: sequence %d has %d completion tokens but no output", i, q->completion_len);
    }
    if (!s->gpu) { /* the CPU: each sequence alone, in one row of its own length (scorer.h: why) */
        for (int i = 0; i < n; i++) /* nothing to score without completion tokens */
            if (t[i].completion_len > 0) CADA_TRY(score_forward(s, t, i, 1, t[i].prompt_len + t[i].completion_len, out));
        return CADA_OK;
    }
    for (int first = 0; first < n;) {
        const int count = cada_pack_fit(t + first, n - first, s->T, s->rows);
        if (count < 1) return CADA_ERR(CADA_ERR_INTERNAL, "scorer: sequence %d fits no forward", first);
        CADA_TRY(score_forward(s, t, first, count, s->T, out));
        first += count;
    }
    return CADA_OK;
}

size_t cada_scorer_bytes(const cada_scorer *s) {
    if (!s) return 0;
    if (s->gpu) return cada_gpu_scorer_bytes(s->gpu);
    return sizeof(float) * s->m->n_params + s->m->act.bytes;
}

void cada_scorer_report(const cada_scorer *s) {
    if (!s) return;
    if (s->gpu) {
        cada_gpu_scorer_report(s->gpu);
        return;
    }
    printf("reference on the CPU: parameters %.1f MiB (fp32), activations %.1f MiB (as the last forward sized them), "
           "one forward per sequence of at most %d tokens\n",
           (double)(sizeof(float) * s->m->n_params) / (1 << 20), (double)s->m->act.bytes / (1 << 20), s->T);
}

/* learner.h's GPU scorer entry point: the same packing and chunking as above, over the
 * caller's device copy. */
cada_status cada_gpu_scorer_logprobs(cada_gpu_scorer *g, const cada_traj *t, int n, float *const *out) {
    if (!g) return CADA_ERR(CADA_ERR_ARG, "GPU scorer: NULL");
    cada_scorer s;
    memset(&s, 0, sizeof s);
    cada_gpu_scorer_shape(g, &s.T, &s.rows);
    s.gpu = g;
    s.borrowed = 1;
    cada_status st = cada_scorer_logprobs(&s, t, n, out);
    cada_packed_free(&s.pk);
    return st;
}
