/* tests/mpi/mpi_reshard_test.c: the resharded weight sync (sched/reshard.h) on real MPI
 * ranks.
 *
 *   mpirun -np L+R build/mpi/mpi_reshard_test L Pl Pr [--model GGUF [--bench]]
 *
 * World ranks [0, L) are learners in TP parts of Pl (L / Pl replicas each), the other R
 * ranks rollout engines of Pr ranks. Every rank builds the whole model (a synthetic
 * Llama with 8 heads and 4 KV heads, or the GGUF), learners keep their part, rollout
 * ranks start from a part filled with a marker value, and then:
 *   - fp32 on the wire: every rollout rank's parameters equal its part of the whole
 *     model (cada_tp_copy) bit for bit: every element of the slice arrived, from the
 *     right learner, at the right place;
 *   - bf16 on the wire: equal bit for bit to the bf16 rounding (nearest even) of the
 *     same slice;
 *   - the overlapped receive (cada_reshard_recv_begin / progress / finish), driven by
 *     progress alone until every value has landed, gives the same slices, and its landed
 *     callback is told of every value once;
 *   - a rollout rank that expects another version fails with CADA_ERR_FORMAT naming the
 *     learner, and the chunk's parameters stay as they were.
 * With --bench: also the seconds per sync (median of 3, each timed from a barrier to the
 * last rank's arrival) of the resharded sync, fp32 and bf16, against the funnelled
 * fp32 broadcast of the whole model from learner 0 to every rollout rank (the transfer
 * of sched/weight_sync.h's disaggregated sync), measured in the same run, and each
 * rank's peak RSS. */
#define _POSIX_C_SOURCE 200809L
#include "base/error.h"
#include "comm/comm.h"
#include "io/dtype.h"
#include "learn/synth.h"
#include "model/load.h"
#include "model/tp_slice.h"
#include "sched/exchange.h"
#include "sched/reshard.h"

#include <math.h>
#include <mpi.h>
#include "mpi_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>


#define MARKER 12345.0f

/* part p of P of full, as a model of its own */
static void part_of(cada_model *out, const cada_model *full, int p, int P) {
    cada_tp tp;
    memset(&tp, 0, sizeof tp);
    tp.rank = p;
    tp.size = P;
    tp.vocab_size = full->cfg.vocab_size;
    CHECK_OK(cada_tp_model_from_full(out, full, &tp));
    out->tp = NULL; /* no group behind it: only its parameters are used here */
}

/* After a failed receive the learners' messages for it are still on their way: take
 * them (any tag-CADA_TAG_WEIGHTS message from a learner) until a quiet second, so the
 * next sync starts clean. */
static void drain(int L) {
    double quiet_since = MPI_Wtime();
    char *sink = malloc((size_t)64 << 20);
    while (MPI_Wtime() - quiet_since < 1.0) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, CADA_TAG_WEIGHTS, MPI_COMM_WORLD, &flag, &st);
        if (flag && st.MPI_SOURCE < L) {
            int bytes;
            MPI_Get_count(&st, MPI_BYTE, &bytes);
            MPI_Recv(sink, bytes, MPI_BYTE, st.MPI_SOURCE, CADA_TAG_WEIGHTS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            quiet_since = MPI_Wtime();
        }
    }
    free(sink);
}

/* A rollout rank's parameters against its slice (bf16: the slice rounded); returns the
 * count of wrong entries. */
static size_t wrong_entries(const cada_model *part, const cada_model *want, int wire) {
    size_t wrong = 0;
    for (size_t e = 0; e < part->n_params; e++) {
        const float expect = wire == CADA_WIRE_BF16 ? cada_bf16_to_f32(cada_f32_to_bf16(want->params[e])) : want->params[e];
        wrong += memcmp(&expect, &part->params[e], sizeof(float)) != 0;
    }
    return wrong;
}

static void count_landed(void *ctx, size_t off, size_t n) {
    (void)off;
    *(size_t *)ctx += n;
}

static double timed(const cada_reshard_options *o, cada_model *m, long long version) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    CHECK_OK(cada_reshard_sync(o, m, version, NULL));
    double t = MPI_Wtime() - t0, worst;
    MPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return worst;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4) {
        if (rank == 0) fprintf(stderr, "usage: mpi_reshard_test L Pl Pr [--model GGUF [--bench]]\n");
        MPI_Finalize();
        return 2;
    }
    const int L = atoi(argv[1]), Pl = atoi(argv[2]), Pr = atoi(argv[3]);
    const char *model = argc > 5 && !strcmp(argv[4], "--model") ? argv[5] : NULL;
    const int bench = model && argc > 6 && !strcmp(argv[6], "--bench");
    cada_reshard_options o = {{L, Pl, size - L, Pr}, CADA_WIRE_F32, 0, 60.0, NULL};
    cada_model full;
    if (model) {
        CHECK_OK(cada_model_load(&full, model));
    } else {
        cada_model_config cfg;
        cada_synth_config(&cfg, 96, 64, 2, 0);
        cfg.n_kv_heads = 4;
        CHECK_OK(cada_synth_model(&full, &cfg, 404, 0.1f));
        o.bucket_bytes = 4096; /* several buckets per chunk */
    }
    CHECK_OK(cada_reshard_check(&o.layout, &full.cfg));
    const int learner = rank < L, r = rank - L;
    cada_model part, want;
    part_of(&part, &full, learner ? rank % Pl : r % Pr, learner ? Pl : Pr);
    part_of(&want, &full, learner ? rank % Pl : r % Pr, learner ? Pl : Pr);
    cada_model_free(&full); /* from here on no rank holds more than its part (and the check's copy) */
    char what[64];
    snprintf(what, sizeof what, "L %d (TP %d) -> R %d (TP %d)", L, Pl, size - L, Pr);

    for (int wire = CADA_WIRE_F32; wire <= CADA_WIRE_BF16; wire++) {
        o.wire = (cada_wire_dtype)wire;
        if (!learner)
            for (size_t e = 0; e < part.n_params; e++) part.params[e] = MARKER;
        CHECK_OK(cada_reshard_sync(&o, &part, 10 + wire, NULL));
        if (!learner) {
            const size_t wrong = wrong_entries(&part, &want, wire);
            if (wrong) FAIL("%s, %s: %zu of %zu parameters are not this rank's slice", what, wire ? "bf16" : "fp32", wrong, part.n_params);
        }
        int bad = fails, total;
        MPI_Allreduce(&bad, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0)
            printf("mpi_reshard_test: %s, %s on the wire: every rollout slice %s\n", what, wire ? "bf16" : "fp32",
                   total ? "WRONG" : "exact");
    }

    /* the overlapped receive (what an async rollout rank does): progress alone, called as
     * the engine's between_calls would be, lands every value before finish is called,
     * and the landed callback hears of each value once */
    for (int wire = CADA_WIRE_F32; wire <= CADA_WIRE_BF16; wire++) {
        o.wire = (cada_wire_dtype)wire;
        if (learner) {
            CHECK_OK(cada_reshard_sync(&o, &part, 30 + wire, NULL));
            continue;
        }
        for (size_t e = 0; e < part.n_params; e++) part.params[e] = MARKER;
        size_t told = 0;
        const cada_weights_landed landed = {count_landed, &told};
        cada_reshard_options ov = o;
        ov.landed = &landed;
        cada_reshard_recv *rv = NULL;
        CHECK_OK(cada_reshard_recv_begin(&ov, &part, 30 + wire, &rv));
        const double deadline = MPI_Wtime() + 60;
        while (cada_reshard_recv_landed(rv) < 1.0 && MPI_Wtime() < deadline) cada_reshard_recv_progress(rv);
        const double share = cada_reshard_recv_landed(rv);
        if (share < 1.0) FAIL("%s, %s: progress alone landed %.0f%% of the sync in 60 s", what, wire ? "bf16" : "fp32", 100 * share);
        CHECK_OK(cada_reshard_recv_finish(rv, NULL));
        cada_reshard_recv_free(rv);
        const size_t wrong = wrong_entries(&part, &want, wire);
        if (wrong) FAIL("%s, %s, overlapped: %zu of %zu parameters are not this rank's slice", what, wire ? "bf16" : "fp32", wrong,
                        part.n_params);
        if (told != part.n_params) FAIL("%s, %s, overlapped: told of %zu values landing, want %zu", what, wire ? "bf16" : "fp32", told,
                                        part.n_params);
    }
    {
        int bad = fails, total;
        MPI_Allreduce(&bad, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) printf("mpi_reshard_test: %s, overlapped receive by progress alone: every rollout slice %s\n", what,
                              total ? "WRONG" : "exact");
    }

    /* a rollout rank that expects another version: an error naming the learner, nothing taken */
    o.wire = CADA_WIRE_F32;
    if (!learner) {
        for (size_t e = 0; e < part.n_params; e++) part.params[e] = MARKER;
        int peer = -1;
        cada_status st = cada_reshard_sync(&o, &part, 99, &peer);
        if (st != CADA_ERR_FORMAT) FAIL("a version mismatch gave %s, not a format error", cada_status_name(st));
        else if (!strstr(cada_error_message(), "version 20") || !strstr(cada_error_message(), "expects version 99"))
            FAIL("the error does not name both versions: %s", cada_error_message());
        for (size_t e = 0; e < part.n_params; e++)
            if (part.params[e] != MARKER) {
                FAIL("a rejected chunk changed parameter %zu", e);
                break;
            }
        if (r == 0) printf("mpi_reshard_test: version mismatch: %s\n", cada_error_message());
        drain(L);
    } else {
        CHECK_OK(cada_reshard_sync(&o, &part, 20, NULL));
    }
    MPI_Barrier(MPI_COMM_WORLD);

    if (bench) {
        /* today's transfer: the whole model, fp32, broadcast from learner 0 to every
         * rollout rank (64 MiB buckets); the rollout ranks hold a whole copy for it */
        MPI_Comm bc;
        MPI_Comm_split(MPI_COMM_WORLD, rank == 0 || !learner ? 0 : MPI_UNDEFINED, rank, &bc);
        cada_model whole;
        memset(&whole, 0, sizeof whole);
        double t_bc[3], t_f32[3], t_bf16[3];
        if (bc != MPI_COMM_NULL) CHECK_OK(cada_model_load(&whole, model));
        for (int it = 0; it < 3; it++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (bc != MPI_COMM_NULL) {
                const size_t B = (size_t)16 << 20;
                for (size_t at = 0; at < whole.n_params; at += B)
                    MPI_Bcast(whole.params + at, (int)(whole.n_params - at < B ? whole.n_params - at : B), MPI_FLOAT, 0, bc);
            }
            double t = MPI_Wtime() - t0;
            MPI_Allreduce(&t, &t_bc[it], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            o.wire = CADA_WIRE_F32;
            t_f32[it] = timed(&o, &part, 100 + it);
            o.wire = CADA_WIRE_BF16;
            t_bf16[it] = timed(&o, &part, 200 + it);
        }
        if (bc != MPI_COMM_NULL) {
            cada_model_free(&whole);
            MPI_Comm_free(&bc);
        }
        qsort(t_bc, 3, sizeof(double), cmp_double);
        qsort(t_f32, 3, sizeof(double), cmp_double);
        qsort(t_bf16, 3, sizeof(double), cmp_double);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long rss = ru.ru_maxrss, rss_l = learner ? rss : 0, rss_r = learner ? 0 : rss, mx_l, mx_r;
        MPI_Reduce(&rss_l, &mx_l, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
        MPI_Reduce(&rss_r, &mx_r, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            const double gb = (double)part.n_params * 4 / 1e9;
            printf("mpi_reshard_test: %s: seconds per sync (median of 3): resharded fp32 %.3f, resharded bf16 %.3f; "
                   "funnelled fp32 broadcast of the whole model from learner 0 %.3f (learner part %.3f GB fp32)\n",
                   what, t_f32[1], t_bf16[1], t_bc[1], gb);
            printf("mpi_reshard_test: peak RSS: learners %.0f MiB, rollout ranks %.0f MiB (max; includes the "
                   "whole model each rank loads at start and the broadcast's whole copy)\n",
                   mx_l / 1024.0, mx_r / 1024.0);
        }
    }
    cada_model_free(&want);
    cada_model_free(&part);
    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_reshard_test: %d ranks: %s (%d failures)\n", size, total ? "FAILED" : "ok", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
