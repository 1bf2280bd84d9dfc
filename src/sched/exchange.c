/* sched/exchange.c: see exchange.h. */
#include "sched/exchange.h"

#ifdef CADA_HAVE_MPI
#include "sched/wire.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

cada_status cada_batch_send(const seq_rec *s, int n, long long step, int dest, double timeout_s) {
    Cada__TrainItem *items = calloc((size_t)(n ? n : 1), sizeof *items);
    Cada__TrainItem **iptr = calloc((size_t)(n ? n : 1), sizeof *iptr);
    Cada__Trajectory *trajs = calloc((size_t)(n ? n : 1), sizeof *trajs);
    Cada__RewardComponent *cm = calloc((size_t)(n ? n : 1) * SEQ_N_COMP, sizeof *cm);
    Cada__RewardComponent **cp = calloc((size_t)(n ? n : 1) * SEQ_N_COMP, sizeof *cp);
    if (!items || !iptr || !trajs || !cm || !cp) {
        free(items);
        free(iptr);
        free(trajs);
        free(cm);
        free(cp);
        return CADA_ERR(CADA_ERR_NOMEM, "trajectory message");
    }
    for (int i = 0; i < n; i++) {
        seq_to_msg(&s[i], &trajs[i]);
        cada__train_item__init(&items[i]);
        items[i].trajectory = &trajs[i];
        items[i].reward = s[i].reward;
        items[i].n_components = SEQ_N_COMP; /* rank 0's metrics average them over every rank's sequences */
        items[i].components = cp + (size_t)i * SEQ_N_COMP;
        seq_comp_to_msg(&s[i], cm + (size_t)i * SEQ_N_COMP, items[i].components);
        iptr[i] = &items[i];
    }
    Cada__TrainBatch batch = CADA__TRAIN_BATCH__INIT;
    batch.step = (uint64_t)step;
    batch.n_items = (size_t)n;
    batch.items = iptr;
    Cada__Envelope env = CADA__ENVELOPE__INIT;
    env.body_case = CADA__ENVELOPE__BODY_TRAIN_BATCH;
    env.train_batch = &batch;
    cada_wire_options o = cada_wire_defaults();
    cada_status st = cada_wire_send(MPI_COMM_WORLD, dest, CADA_TAG_BATCH, &env, &o, timeout_s);
    free(items);
    free(iptr);
    free(trajs);
    free(cm);
    free(cp);
    return st;
}

cada_status cada_batch_recv(int from, const seq_limits *lim, double timeout_s, seq_rec **out, int *n_out) {
    cada_wire_options o = cada_wire_defaults();
    Cada__Envelope *env = NULL;
    int got_from = -1;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, from, CADA_TAG_BATCH, timeout_s, &o, &env, &got_from));
    if (env->body_case != CADA__ENVELOPE__BODY_TRAIN_BATCH) {
        cada_wire_free(env);
        return CADA_ERR(CADA_ERR_FORMAT, "expected a TrainBatch from rank %d, got another message", from);
    }
    const Cada__TrainBatch *b = env->train_batch;
    int n = (int)b->n_items;
    seq_rec *s = calloc((size_t)(n ? n : 1), sizeof *s);
    cada_status st = s ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    for (int i = 0; st == CADA_OK && i < n; i++) {
        st = seq_from_msg(b->items[i]->trajectory, lim, &s[i], from, i);
        s[i].reward = b->items[i]->reward;
        seq_comp_from_msg(&s[i], b->items[i]->components, b->items[i]->n_components);
    }
    cada_wire_free(env);
    if (st != CADA_OK) {
        seqs_free(s, n); /* unparsed records are zero (calloc) */
        return st;
    }
    *out = s;
    *n_out = n;
    return CADA_OK;
}

cada_status cada_exchange_all(seq_rec *mine, int n_mine, long long step, int rank, int world, const seq_limits *lim,
                              double timeout_s, int *peer, seq_rec **all, int *n_all) {
    int total = n_mine, cap = n_mine + 64;
    seq_rec *acc = malloc(sizeof *acc * (size_t)cap);
    if (!acc) {
        seqs_free(mine, n_mine);
        return CADA_ERR(CADA_ERR_NOMEM, "global batch");
    }
    if (n_mine) memcpy(acc, mine, sizeof *acc * (size_t)n_mine);
    free(mine); /* the records moved; their buffers now belong to acc */
    cada_status st = CADA_OK;
    for (int r = 0; r < world && st == CADA_OK; r++) {
        if (r == rank) continue;
        seq_rec *theirs = NULL;
        int n = 0;
        if (peer) *peer = r;
        st = rank < r ? cada_batch_send(acc, n_mine, step, r, timeout_s) : cada_batch_recv(r, lim, timeout_s, &theirs, &n);
        if (st == CADA_OK) st = rank < r ? cada_batch_recv(r, lim, timeout_s, &theirs, &n) : cada_batch_send(acc, n_mine, step, r, timeout_s);
        if (st == CADA_OK && total + n > cap) {
            cap = (total + n) * 2;
            seq_rec *grown = realloc(acc, sizeof *acc * (size_t)cap);
            if (!grown) st = CADA_ERR(CADA_ERR_NOMEM, "global batch");
            else acc = grown;
        }
        if (st != CADA_OK) {
            seqs_free(theirs, n);
            break;
        }
        memcpy(acc + total, theirs, sizeof *acc * (size_t)n);
        total += n;
        free(theirs);
    }
    if (st != CADA_OK) { /* *peer still names the rank that failed to answer */
        seqs_free(acc, total);
        return st;
    }
    if (peer) *peer = -1;
    seqs_sort(acc, total);
    *all = acc;
    *n_all = total;
    return CADA_OK;
}
#endif
