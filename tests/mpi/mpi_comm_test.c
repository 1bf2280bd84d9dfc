/* tests/mpi/mpi_comm_test.c: comm/comm.h on real MPI ranks, nccl-tests style: every rank
 * builds its inputs from (rank, index) so every rank can compute every expected result
 * itself; failures are counted, and an all-reduce of the counts decides every rank's
 * exit code.
 *
 *   mpirun -np N build/mpi/mpi_comm_test            the collectives (any N)
 *   mpirun -np 2 build/mpi/mpi_comm_test timeout    rank 1 stays away from an allreduce:
 *                                                   rank 0 must time out naming rank 1
 *   mpirun -np 2 build/mpi/mpi_comm_test timeout-rs the same for the point-to-point
 *                                                   reduce-scatter
 *   mpirun -np 2 build/mpi/mpi_comm_test idle       rank 1 joins a barrier 2 s late: the
 *                                                   waiting rank 0 must use under 25% of
 *                                                   a core meanwhile (it sleeps between
 *                                                   polls; a blocking MPI call would use
 *                                                   100%)
 * In the timeout modes the error goes through cada_fatal (MPI_Abort), as in cada: the
 * script checks the message and that nothing hangs.
 *
 * Exactness: with fixed_order every reduction must equal cada_tree_sum over the ranks'
 * values bit for bit. Without it, MPI chooses the order: values are small integers
 * plus multiples of 1/1024 (exact in float whatever the order) for the exact checks,
 * and general values are checked to 1e-6 relative. */
#define _POSIX_C_SOURCE 200809L
#include "base/error.h"
#include "base/log.h"
#include "comm/comm.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int fails, rank, size;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "[rank %d] %s:%d: check failed: %s: ", rank, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            fails++;                                                                     \
        }                                                                                \
    } while (0)
#define OK(expr)                                                                         \
    do {                                                                                 \
        cada_status s_ = (expr);                                                         \
        if (s_ != CADA_OK) {                                                             \
            fprintf(stderr, "[rank %d] %s:%d: %s failed: %s\n", rank, __FILE__, __LINE__, #expr, cada_error_message()); \
            fails++;                                                                     \
        }                                                                                \
    } while (0)

/* rank r's value at i: "exact" ones are k/1024 with |k| < 2^13, summable in any order */
static float val_exact(int r, size_t i) { return (float)((int)((i * 7 + (size_t)r * 131) % 8191) - 4095) / 1024.0f; }
static float val_any(int r, size_t i) { return sinf((float)i * 0.37f + (float)r * 1.3f) * (1.0f + (float)(i % 13)); }

static float tree_of(float (*f)(int, size_t), size_t i) {
    float x[256];
    for (int r = 0; r < size; r++) x[r] = f(r, i);
    return cada_tree_sum(x, size);
}

static void test_allreduce(cada_comm *c, size_t n, int fixed) {
    float *a = malloc(sizeof(float) * (n ? n : 1)), *b = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        a[i] = val_exact(rank, i);
        b[i] = val_any(rank, i);
    }
    OK(cada_comm_allreduce(c, a, n, CADA_RED_SUM));
    OK(cada_comm_allreduce(c, b, n, CADA_RED_AVG));
    size_t bad_a = 0, bad_b = 0, first_b = 0;
    for (size_t i = 0; i < n; i++) {
        float want_a = tree_of(val_exact, i);
        float want_b = tree_of(val_any, i) / (float)size;
        if (a[i] != want_a) bad_a++;
        int ok_b = fixed ? b[i] == want_b : fabsf(b[i] - want_b) <= 1e-6f * (1.0f + fabsf(want_b)) * (float)size;
        if (!ok_b && !bad_b++) first_b = i;
    }
    CHECK(bad_a == 0, "allreduce sum (fixed %d, n %zu): %zu wrong", fixed, n, bad_a);
    CHECK(bad_b == 0, "allreduce avg (fixed %d, n %zu): %zu wrong, first at %zu: %.9g vs %.9g", fixed, n, bad_b, first_b,
          (double)b[first_b], (double)(tree_of(val_any, first_b) / (float)size));
    free(a);
    free(b);
}

static void test_reduce_scatter(cada_comm *c, size_t total, size_t lo, size_t hi, size_t align, int nonblocking) {
    cada_shards sh;
    cada_shards_init(&sh, total, size, align);
    float *in = malloc(sizeof(float) * (hi - lo + 1));
    for (size_t i = lo; i < hi; i++) in[i - lo] = val_any(rank, i);
    size_t mo = cada_shards_offset(&sh, rank), mc = cada_shards_count(&sh, rank);
    size_t a = lo > mo ? lo : mo, b = hi < mo + mc ? hi : mo + mc;
    size_t mine = b > a ? b - a : 0;
    float *out = malloc(sizeof(float) * (mine + 1));
    if (nonblocking) {
        cada_comm_req *r = NULL;
        OK(cada_comm_reduce_scatter_start(c, &sh, in, lo, hi, out, CADA_RED_SUM, &r));
        OK(cada_comm_progress(c));
        OK(cada_comm_wait(c, r));
    } else {
        OK(cada_comm_reduce_scatter(c, &sh, in, lo, hi, out, CADA_RED_SUM));
    }
    size_t bad = 0;
    for (size_t i = 0; i < mine; i++)
        if (out[i] != tree_of(val_any, a + i)) bad++;
    CHECK(bad == 0, "reduce-scatter [%zu, %zu) of %zu, align %zu: %zu of %zu wrong", lo, hi, total, align, bad, mine);
    free(in);
    free(out);
}

static void test_allgather(cada_comm *c, size_t total, size_t align) {
    cada_shards sh;
    cada_shards_init(&sh, total, size, align);
    float *buf = malloc(sizeof(float) * (total + 1));
    for (size_t i = 0; i < total; i++) buf[i] = -1.0f;
    size_t mo = cada_shards_offset(&sh, rank), mc = cada_shards_count(&sh, rank);
    for (size_t i = mo; i < mo + mc; i++) buf[i] = val_any(rank, i);
    OK(cada_comm_allgather(c, &sh, buf));
    size_t bad = 0;
    for (int r = 0; r < size; r++)
        for (size_t i = cada_shards_offset(&sh, r); i < cada_shards_offset(&sh, r) + cada_shards_count(&sh, r); i++)
            if (buf[i] != val_any(r, i)) bad++;
    CHECK(bad == 0, "all-gather of %zu: %zu wrong", total, bad);
    free(buf);
}

static void test_ranges(cada_comm *c) {
    /* 40 ranges of 1..3000 floats and two larger than the 4 KiB bucket */
    enum { R = 42 };
    cada_range rg[R];
    size_t base = 0;
    for (int k = 0; k < R; k++) {
        size_t n = k == 10 ? 5000 : k == 30 ? 1024 : (size_t)(1 + (k * 733) % 3000) / 10;
        rg[k].n = n;
        rg[k].data = malloc(sizeof(float) * (n + 1));
        for (size_t i = 0; i < n; i++) rg[k].data[i] = val_exact(rank, base + i);
        base += n;
    }
    OK(cada_comm_allreduce_ranges(c, rg, R, CADA_RED_SUM));
    size_t bad = 0;
    base = 0;
    for (int k = 0; k < R; k++) {
        for (size_t i = 0; i < rg[k].n; i++)
            if (rg[k].data[i] != tree_of(val_exact, base + i)) bad++;
        base += rg[k].n;
        free(rg[k].data);
    }
    CHECK(bad == 0, "allreduce_ranges: %zu wrong", bad);
}

static void test_f64(cada_comm *c) {
    double v[3] = {rank + 0.5, -(double)rank, 1.0 / (rank + 1)};
    OK(cada_comm_allreduce_f64(c, v, 3, CADA_RED_SUM));
    double s0 = 0, s2 = 0;
    for (int r = 0; r < size; r++) {
        s0 += r + 0.5;
        s2 += 1.0 / (r + 1);
    }
    CHECK(fabs(v[0] - s0) < 1e-12 && fabs(v[2] - s2) < 1e-12, "f64 sum %g %g vs %g %g", v[0], v[2], s0, s2);
    double m[2] = {(double)rank, -(double)rank};
    OK(cada_comm_allreduce_f64(c, m, 2, CADA_RED_MAX));
    CHECK(m[0] == size - 1 && m[1] == 0.0, "f64 max %g %g", m[0], m[1]);
}

static void test_broadcast(cada_comm *c) {
    size_t n = 100003;
    float *b = malloc(sizeof(float) * n);
    int root = size - 1;
    for (size_t i = 0; i < n; i++) b[i] = rank == root ? val_any(root, i) : 0.0f;
    OK(cada_comm_broadcast(c, b, n, root));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += b[i] != val_any(root, i);
    CHECK(bad == 0, "broadcast: %zu wrong", bad);
    free(b);
}

static int run_collectives(void) {
    for (int fixed = 0; fixed <= 1; fixed++) {
        cada_comm_options o;
        cada_comm_options_default(&o);
        o.timeout_s = 60;
        o.fixed_order = fixed;
        o.chunk_bytes = 64 << 10; /* many chunks per message: exercises the pipelining */
        o.bucket_bytes = 4096;
        cada_comm *c;
        OK(cada_comm_init_world(&c, &o));
        if (!c) return 1;
        CHECK(cada_comm_size(c) == size && cada_comm_rank(c) == rank, "comm %d/%d", cada_comm_rank(c), cada_comm_size(c));
        const size_t sizes[] = {0, 1, 17, 1000, 65536, (1 << 20) + 3};
        for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) test_allreduce(c, sizes[k], fixed);
        test_reduce_scatter(c, 1000, 0, 1000, 1, 0);
        test_reduce_scatter(c, 100000, 12345, 87654, 16, 0);
        test_reduce_scatter(c, 300000, 0, 300000, 64, 1);
        test_reduce_scatter(c, 10, 3, 4, 1, 0); /* one element: most ranks get nothing */
        /* several reduce-scatters in flight at once, as ZeRO-2 issues them */
        {
            cada_shards sh;
            cada_shards_init(&sh, 90000, size, 16);
            float *in = malloc(sizeof(float) * 90000), *out = calloc(90000, sizeof(float));
            for (size_t i = 0; i < 90000; i++) in[i] = val_any(rank, i);
            cada_comm_req *r[3];
            size_t cuts[4] = {90000, 60000, 20000, 0};
            for (int k = 0; k < 3; k++) {
                size_t lo = cuts[k + 1], hi = cuts[k], mo = cada_shards_offset(&sh, rank);
                size_t a = lo > mo ? lo : mo;
                OK(cada_comm_reduce_scatter_start(c, &sh, in + lo, lo, hi, out + a, CADA_RED_SUM, &r[k]));
            }
            OK(cada_comm_wait_all(c));
            size_t bad = 0, mo = cada_shards_offset(&sh, rank), mc = cada_shards_count(&sh, rank);
            for (size_t i = mo; i < mo + mc; i++) bad += out[i] != tree_of(val_any, i);
            CHECK(bad == 0, "overlapping reduce-scatters: %zu wrong", bad);
            free(in);
            free(out);
        }
        test_allgather(c, 1000, 1);
        test_allgather(c, 250007, 16);
        test_ranges(c);
        test_f64(c);
        test_broadcast(c);
        OK(cada_comm_barrier(c));
        /* split: even and odd ranks */
        cada_comm *sub = NULL;
        OK(cada_comm_split(c, rank % 2, rank, &sub));
        if (sub) {
            float x = (float)rank;
            OK(cada_comm_allreduce(sub, &x, 1, CADA_RED_SUM));
            float want = 0;
            for (int r = rank % 2; r < size; r += 2) want += (float)r;
            CHECK(x == want, "split allreduce %g vs %g", (double)x, (double)want);
            cada_comm_free(sub);
        }
        CHECK(cada_comm_scratch_bytes(c) <= cada_comm_scratch_peak(c), "scratch %zu above its peak", cada_comm_scratch_bytes(c));
        cada_comm_release_scratch(c);
        CHECK(cada_comm_scratch_bytes(c) == 0, "scratch left after release: %zu bytes", cada_comm_scratch_bytes(c));
        if (rank == 0)
            printf("mpi_comm_test: %d ranks, fixed_order %d: collectives checked (scratch peak %zu bytes)\n", size, fixed,
                   cada_comm_scratch_peak(c));
        cada_comm_free(c);
    }
    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_comm_test: %d ranks: %s (%d failures)\n", size, total ? "FAILED" : "ok", total);
    return total ? 1 : 0;
}

static int run_timeout(int p2p) {
    cada_comm_options o;
    cada_comm_options_default(&o);
    o.timeout_s = 1.0;
    cada_comm *c;
    CADA_CHECK(cada_comm_init_world(&c, &o));
    if (rank == 1) {
        sleep(6); /* busy elsewhere: never joins in time */
        return 0;
    }
    double t0 = cada_now();
    float buf[1000] = {0};
    cada_status s;
    if (p2p) {
        cada_shards sh;
        cada_shards_init(&sh, 1000, size, 1);
        s = cada_comm_reduce_scatter(c, &sh, buf, 0, 1000, buf, CADA_RED_SUM);
    } else {
        s = cada_comm_allreduce(c, buf, 1000, CADA_RED_SUM);
    }
    double waited = cada_now() - t0;
    if (s == CADA_OK) {
        fprintf(stderr, "mpi_comm_test: expected a timeout, the operation succeeded\n");
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    fprintf(stderr, "mpi_comm_test: returned after %.2f s: %s\n", waited, cada_error_message());
    CADA_CHECK(s); /* the fatal path: prints host/rank/pid and aborts every rank */
    return 1;
}

static int run_idle(void) {
    cada_comm *c;
    CADA_CHECK(cada_comm_init_world(&c, NULL));
    CADA_CHECK(cada_comm_barrier(c));
    if (rank == 1) sleep(2);
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    double t0 = cada_now();
    CADA_CHECK(cada_comm_barrier(c));
    double wall = cada_now() - t0;
    getrusage(RUSAGE_SELF, &b);
    double cpu = (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec) + (double)(b.ru_stime.tv_sec - a.ru_stime.tv_sec) +
                 1e-6 * (double)((b.ru_utime.tv_usec - a.ru_utime.tv_usec) + (b.ru_stime.tv_usec - a.ru_stime.tv_usec));
    int bad = 0;
    if (rank == 0) {
        printf("mpi_comm_test: rank 0 waited %.2f s in a barrier using %.3f s of CPU (%.1f%% of a core)\n", wall, cpu,
               100.0 * cpu / wall);
        bad = wall < 1.5 || cpu > 0.25 * wall;
    }
    cada_comm_free(c);
    int total = 0;
    MPI_Allreduce(&bad, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    return total ? 1 : 0;
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cada_set_rank(rank);
    int rc;
    if (argc > 1 && !strcmp(argv[1], "timeout")) rc = run_timeout(0);
    else if (argc > 1 && !strcmp(argv[1], "timeout-rs")) rc = run_timeout(1);
    else if (argc > 1 && !strcmp(argv[1], "idle")) rc = run_idle();
    else rc = run_collectives();
    MPI_Finalize();
    return rc;
}
