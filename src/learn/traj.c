/* learn/traj.c: see traj.h. */
#include "learn/traj.h"

#include <stdlib.h>
#include <string.h>

cada_status cada_traj_validate(const cada_traj *t, int n, int V) {
    if (n < 0 || (n > 0 && !t)) return CADA_ERR(CADA_ERR_ARG, "trajectories: %d sequences, array %p", n, (const void *)t);
    for (int i = 0; i < n; i++) {
        const cada_traj *s = &t[i];
        if (s->prompt_len < 1 || s->completion_len < 0)
            return CADA_ERR(CADA_ERR_ARG, "sequence %d: prompt_len %d (must be >= 1), completion_len %d (must be >= 0)", i,
                            s->prompt_len, s->completion_len);
        if (!s->tokens) return CADA_ERR(CADA_ERR_ARG, "sequence %d: no tokens", i);
        if (s->completion_len > 0 && !s->rollout_logprob)
            return CADA_ERR(CADA_ERR_ARG, "sequence %d: %d completion tokens but no rollout log-probs", i, s->completion_len);
        if (V > 0)
            for (int k = 0; k < s->prompt_len + s->completion_len; k++)
                if (s->tokens[k] < 0 || s->tokens[k] >= V)
                    return CADA_ERR(CADA_ERR_ARG, "sequence %d: token %d is %d, outside [0, %d)", i, k, s->tokens[k], V);
    }
    return CADA_OK;
}

int cada_pack_rows_needed(const cada_traj *t, const int *which, int n, int T) {
    int rows = 0, used = T; /* "current row full" so the first sequence opens a row */
    for (int i = 0; i < n; i++) {
        const cada_traj *s = &t[which ? which[i] : i];
        int len = s->prompt_len + s->completion_len;
        if (len > T) return -1;
        if (used + len > T) {
            rows++;
            used = 0;
        }
        used += len;
    }
    return rows;
}

int cada_pack_fit(const cada_traj *t, int n, int T, int max_rows) {
    int rows = 0, used = T; /* as cada_pack_rows_needed */
    for (int i = 0; i < n; i++) {
        const int len = t[i].prompt_len + t[i].completion_len;
        if (len > T) return i ? i : -1;
        if (used + len > T) {
            if (rows == max_rows) return i;
            rows++;
            used = 0;
        }
        used += len;
    }
    return n;
}

static cada_status reserve(cada_packed *p, size_t tokens, int seqs) {
    if (tokens > p->cap_tokens) {
        int *a = realloc(p->tokens, sizeof(int) * tokens);
        if (a) p->tokens = a;
        int *b = a ? realloc(p->positions, sizeof(int) * tokens) : NULL;
        if (b) p->positions = b;
        int *c = b ? realloc(p->targets, sizeof(int) * tokens) : NULL;
        if (c) p->targets = c;
        if (!c) return CADA_ERR(CADA_ERR_NOMEM, "packing %zu tokens", tokens);
        p->cap_tokens = tokens;
    }
    if (seqs > p->cap_seqs) {
        int *d = realloc(p->lp_index, sizeof(int) * (size_t)seqs);
        if (!d) return CADA_ERR(CADA_ERR_NOMEM, "packing %d sequences", seqs);
        p->lp_index = d;
        p->cap_seqs = seqs;
    }
    return CADA_OK;
}

/* Row r from column `start` on becomes one padding document. */
static void pad_tail(cada_packed *p, int r, int start, int pad_id) {
    const int T = p->T;
    for (int k = start; k < T; k++) {
        p->tokens[(size_t)r * T + k] = pad_id;
        p->positions[(size_t)r * T + k] = k - start;
        p->targets[(size_t)r * T + k] = -1;
    }
}

/* Rows are broken at T tokens (cada_pack_rows_needed's rule) and laid out Ts apart
 * (Ts <= T, at least the longest row's use). */
static cada_status pack_rows(cada_packed *p, const cada_traj *t, const int *which, int n, int T, int Ts, int pad_id) {
    if (T < 2) return CADA_ERR(CADA_ERR_ARG, "packing: row length %d (must be >= 2)", T);
    for (int i = 0; i < n; i++) {
        const cada_traj *s = &t[which ? which[i] : i];
        if (s->prompt_len + s->completion_len > T)
            return CADA_ERR(CADA_ERR_ARG, "packing: sequence %d has %d tokens, longer than a row (%d)", which ? which[i] : i,
                            s->prompt_len + s->completion_len, T);
    }
    int rows = cada_pack_rows_needed(t, which, n, T);
    if (rows < 1) rows = 1; /* an empty micro-batch is one padding row */
    CADA_TRY(reserve(p, (size_t)rows * (size_t)Ts, n));
    p->B = rows;
    p->T = Ts;
    p->n_seqs = n;
    int row = -1, used = T;
    for (int i = 0; i < n; i++) {
        const cada_traj *s = &t[which ? which[i] : i];
        int len = s->prompt_len + s->completion_len;
        if (used + len > T) {
            if (row >= 0) pad_tail(p, row, used, pad_id);
            row++;
            used = 0;
        }
        int *tok = p->tokens + (size_t)row * Ts + used, *pos = p->positions + (size_t)row * Ts + used;
        int *tgt = p->targets + (size_t)row * Ts + used;
        for (int k = 0; k < len; k++) {
            tok[k] = s->tokens[k];
            pos[k] = k;
            tgt[k] = -1;
        }
        /* position prompt_len - 1 + k predicts completion token k */
        for (int k = 0; k < s->completion_len; k++) tgt[s->prompt_len - 1 + k] = s->tokens[s->prompt_len + k];
        p->lp_index[i] = row * Ts + used + s->prompt_len - 1;
        used += len;
    }
    if (row >= 0) pad_tail(p, row, used, pad_id);
    for (int r = row + 1; r < rows; r++) pad_tail(p, r, 0, pad_id); /* n == 0: one padding row */
    return CADA_OK;
}

cada_status cada_pack(cada_packed *p, const cada_traj *t, const int *which, int n, int T, int pad_id) {
    return pack_rows(p, t, which, n, T, T, pad_id);
}

cada_status cada_pack_tight(cada_packed *p, const cada_traj *t, const int *which, int n, int T, int pad_id) {
    int longest = 0, used = T;
    for (int i = 0; i < n; i++) { /* the rows cada_pack would fill, and the most any of them holds */
        const int len = t[which ? which[i] : i].prompt_len + t[which ? which[i] : i].completion_len;
        used = used + len > T ? len : used + len;
        longest = used > longest ? used : longest;
    }
    int Ts = (longest + CADA_PACK_ROUND - 1) / CADA_PACK_ROUND * CADA_PACK_ROUND;
    if (Ts < 2) Ts = 2;
    return pack_rows(p, t, which, n, T, Ts < T ? Ts : T, pad_id);
}

void cada_packed_free(cada_packed *p) {
    free(p->tokens);
    free(p->positions);
    free(p->targets);
    free(p->lp_index);
    memset(p, 0, sizeof *p);
}
