/* tests/gpu/nccl_check.c: `cada_gpu_test nccl`, the NCCL communicators of
 * src/comm/nccl.h on real GPUs, under mpirun with one rank per GPU (NCCL refuses two
 * ranks on one device). Values are small integers, exact in fp32 and bf16, so every
 * expected result is exact:
 *   allreduce sum (fp32) and avg (bf16), reduce-scatter then all-gather, the bucketed
 *   range all-reduce (elements outside the ranges must not change), the versioned
 *   bucketed broadcast (data and the received version; a receiver expecting another
 *   version must get CADA_ERR_FORMAT, when there are receivers);
 * then the time of a 1 GiB all-reduce and of broadcasting 8.03e9 bf16 parameters (the
 * Llama-3-8B weight sync) with bus bandwidth as NCCL's tests count it. With one rank
 * there is no interconnect: the figures then only show the path runs. */
#include "gpu_common.h"

#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)
#include "comm/nccl.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int rank_, world_, fails_;

static void check(const char *what, int ok, const char *detail) {
    if (rank_ == 0) printf("RESULT nccl %s | W=%d | %s | | | %s\n", what, world_, detail, ok ? "PASS" : "FAIL");
    if (!ok) fails_++;
}

static uint16_t to_bf16(float x) { /* exact for the small integers used here */
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static int all_ok(int ok) { /* every rank agrees */
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

int gpu_nccl_check(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    cada_set_rank(rank_);
    int ngpu = 0;
    cudaGetDeviceCount(&ngpu);
    if (ngpu < world_) {
        if (rank_ == 0) printf("RESULT nccl | W=%d | %d GPUs: one rank per GPU needed | | | FAIL\n", world_, ngpu);
        MPI_Finalize();
        return 1;
    }
    cada_nccl *nc = NULL;
    cada_status st = cada_nccl_create(&nc, MPI_COMM_WORLD, rank_, 60.0, "gradients");
    if (st != CADA_OK) {
        printf("RESULT nccl create | rank %d | %s | | | FAIL\n", rank_, cada_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const size_t n = (size_t)3 << 20; /* 3 Mi elements: several buckets of 4 MiB below */
    float *h = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    uint16_t *hb = malloc(n * 2);
    void *d;
    cudaMalloc(&d, n * sizeof(float) * 2);
    double wsum = world_ * (world_ + 1) / 2.0;

    /* allreduce sum, fp32 */
    for (size_t i = 0; i < n; i++) h[i] = (float)((rank_ + 1) * (int)(i % 1000));
    cudaMemcpy(d, h, n * 4, cudaMemcpyHostToDevice);
    st = cada_nccl_allreduce(nc, d, n, CADA_NCCL_F32, CADA_RED_SUM);
    if (st == CADA_OK) st = cada_nccl_wait(nc);
    cudaMemcpy(g, d, n * 4, cudaMemcpyDeviceToHost);
    int ok = st == CADA_OK;
    for (size_t i = 0; ok && i < n; i++) ok = g[i] == (float)(wsum * (double)(i % 1000));
    check("allreduce sum fp32", all_ok(ok), st == CADA_OK ? "exact" : cada_error_message());

    /* allreduce avg, bf16: every rank holds 2 (r + 1) * k, the average is (W + 1) * k */
    for (size_t i = 0; i < n; i++) hb[i] = to_bf16((float)(2 * (rank_ + 1) * (int)(i % 16)));
    cudaMemcpy(d, hb, n * 2, cudaMemcpyHostToDevice);
    st = cada_nccl_allreduce(nc, d, n, CADA_NCCL_BF16, CADA_RED_AVG);
    if (st == CADA_OK) st = cada_nccl_wait(nc);
    cudaMemcpy(hb, d, n * 2, cudaMemcpyDeviceToHost);
    ok = st == CADA_OK;
    for (size_t i = 0; ok && i < n; i++) ok = from_bf16(hb[i]) == (float)((world_ + 1) * (int)(i % 16));
    check("allreduce avg bf16", all_ok(ok), st == CADA_OK ? "exact" : cada_error_message());

    /* reduce-scatter then all-gather == allreduce */
    size_t block = n / (size_t)world_;
    for (size_t i = 0; i < block * world_; i++) h[i] = (float)((rank_ + 1) * (int)(i % 977));
    cudaMemcpy(d, h, block * world_ * 4, cudaMemcpyHostToDevice);
    float *dout = (float *)d + n;
    st = cada_nccl_reduce_scatter(nc, d, dout, block, CADA_NCCL_F32, CADA_RED_SUM);
    if (st == CADA_OK) st = cada_nccl_all_gather(nc, dout, d, block, CADA_NCCL_F32);
    if (st == CADA_OK) st = cada_nccl_wait(nc);
    cudaMemcpy(g, d, block * world_ * 4, cudaMemcpyDeviceToHost);
    ok = st == CADA_OK;
    for (size_t i = 0; ok && i < block * world_; i++) ok = g[i] == (float)(wsum * (double)(i % 977));
    check("reduce-scatter + all-gather", all_ok(ok), st == CADA_OK ? "exact" : cada_error_message());

    /* bucketed ranges: gaps stay untouched */
    cada_nccl_range ranges[] = {{10, 1000}, {5000, 3}, {1010, 20}, {(size_t)1 << 20, (size_t)3 << 19}};
    for (size_t i = 0; i < n; i++) h[i] = (float)((rank_ + 1) * (int)(i % 100));
    cudaMemcpy(d, h, n * 4, cudaMemcpyHostToDevice);
    st = cada_nccl_allreduce_ranges(nc, d, n, ranges, 4, CADA_NCCL_F32, CADA_RED_SUM, (size_t)4 << 20);
    if (st == CADA_OK) st = cada_nccl_wait(nc);
    cudaMemcpy(g, d, n * 4, cudaMemcpyDeviceToHost);
    ok = st == CADA_OK;
    for (size_t i = 0; ok && i < n; i++) {
        int in = 0;
        for (int k = 0; k < 4; k++) in |= i >= ranges[k].offset && i < ranges[k].offset + ranges[k].count;
        ok = g[i] == (in ? (float)(wsum * (double)(i % 100)) : h[i]);
    }
    check("allreduce ranges (4 ranges, 4 MiB buckets)", all_ok(ok), st == CADA_OK ? "exact, gaps untouched" : cada_error_message());

    /* versioned broadcast from rank 0 */
    for (size_t i = 0; i < n; i++) h[i] = rank_ == 0 ? (float)(i % 4099) : -1.0f;
    cudaMemcpy(d, h, n * 4, cudaMemcpyHostToDevice);
    st = cada_nccl_broadcast_buckets(nc, d, n, CADA_NCCL_F32, 0, (size_t)4 << 20, 5);
    if (st == CADA_OK) st = cada_nccl_wait(nc);
    cudaMemcpy(g, d, n * 4, cudaMemcpyDeviceToHost);
    ok = st == CADA_OK && cada_nccl_received_version(nc) == 5;
    for (size_t i = 0; ok && i < n; i++) ok = g[i] == (float)(i % 4099);
    check("broadcast_buckets version 5", all_ok(ok), st == CADA_OK ? "data and version" : cada_error_message());

    /* timing: 1 GiB all-reduce, 8.03e9 bf16 parameters broadcast */
    size_t big = (size_t)1 << 28;
    void *db = NULL;
    if (cudaMalloc(&db, big * 4) == cudaSuccess) {
        cudaMemset(db, 0, big * 4);
        double t[5];
        for (int i = 0; i < 7; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = gpu_test_now();
            st = cada_nccl_allreduce(nc, db, big, CADA_NCCL_F32, CADA_RED_SUM);
            if (st == CADA_OK) st = cada_nccl_wait(nc);
            if (i >= 2) t[i - 2] = gpu_test_now() - t0;
        }
        double best = t[0];
        for (int i = 1; i < 5; i++) best = t[i] < best ? t[i] : best;
        double bus = 2.0 * (world_ - 1) / world_ * big * 4 / best / 1e9;
        if (rank_ == 0)
            printf("RESULT nccl allreduce 1 GiB fp32 | W=%d | %.2f ms | bus %.1f GB/s | %s |\n", world_, best * 1e3, bus,
                   world_ == 1 ? "one rank: no interconnect" : "");
        cudaFree(db);
    }
    size_t params = 8030261248ull; /* Llama-3-8B */
    size_t chunk = (size_t)1 << 30;     /* bf16 elements per pass: 2 GiB of device memory */
    if (cudaMalloc(&db, chunk * 2) == cudaSuccess) {
        cudaMemset(db, 0, chunk * 2);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = gpu_test_now();
        for (size_t done = 0; done < params && st == CADA_OK; done += chunk) {
            size_t c = params - done < chunk ? params - done : chunk;
            st = cada_nccl_broadcast_buckets(nc, db, c, CADA_NCCL_BF16, 0, 0, 1);
            if (st == CADA_OK) st = cada_nccl_wait(nc);
        }
        double tb = gpu_test_now() - t0;
        if (rank_ == 0)
            printf("RESULT nccl weight broadcast 8.03e9 bf16 | W=%d | %.1f ms | %.1f GB/s | %s |\n", world_, tb * 1e3,
                   params * 2.0 / tb / 1e9, world_ == 1 ? "one rank: no interconnect" : "");
        cudaFree(db);
    }
    cada_nccl_destroy(nc);
    cudaFree(d);
    free(h);
    free(g);
    free(hb);
    MPI_Finalize();
    return fails_ ? 1 : 0;
}
#else
int gpu_nccl_check(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    printf("RESULT nccl | | this build has no NCCL or no MPI | | | FAIL\n");
    return 1;
}
#endif
