/* tests/unit/test_nccl_build.c: what the NCCL communicator (comm/nccl.h) can show
 * without a GPU job: argument checks, and that a device that cannot be used (no GPU or
 * driver here; an ordinal past the last GPU on a GPU machine) gives CADA_ERR_CUDA with
 * a message naming the communicator and the device instead of a crash or a hang. The
 * unit runner does not start MPI, which these paths must not need either. Built only
 * with NCCL and MPI (the CPU-only build skips the file's body). */
#include "test.h"

#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)

#include "base/error.h"
#include "comm/nccl.h"
#include "device.h"

#include <string.h>

TEST(nccl_create_rejects_bad_arguments) {
    cada_nccl *nc = (cada_nccl *)&nc; /* must be reset to NULL on failure */
    EXPECT(cada_nccl_create(NULL, MPI_COMM_WORLD, 0, 10.0, "gradients") == CADA_ERR_ARG);
    EXPECT(cada_nccl_create(&nc, MPI_COMM_WORLD, 0, 10.0, NULL) == CADA_ERR_ARG);
    EXPECT(nc == NULL);
    EXPECT(cada_nccl_create(&nc, MPI_COMM_WORLD, 0, 10.0, "") == CADA_ERR_ARG);
    EXPECT(cada_nccl_create(&nc, MPI_COMM_WORLD, 0, 10.0, "a-name-much-longer-than-the-thirty-one-allowed") ==
           CADA_ERR_ARG);
    EXPECT(cada_nccl_create(&nc, MPI_COMM_WORLD, 0, 0.0, "gradients") == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "'gradients'") && strstr(cada_error_message(), "timeout_s"),
           "message: %s", cada_error_message());
    EXPECT(cada_nccl_create(&nc, MPI_COMM_WORLD, -1, 10.0, "weights") == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "device -1"), "message: %s", cada_error_message());
    EXPECT(nc == NULL);
}

TEST(nccl_create_names_an_unusable_device) {
    const char *why = NULL;
    const int n_gpu = cada_gpu_count(&why);
    /* no GPU: device 0 cannot be used; with GPUs: the first ordinal past the last one */
    const int dev = n_gpu > 0 ? n_gpu : 0;
    cada_nccl *nc = NULL;
    cada_status s = cada_nccl_create(&nc, MPI_COMM_WORLD, dev, 5.0, "gradients");
    EXPECT(s == CADA_ERR_CUDA, "status %s: %s", cada_status_name(s), cada_error_message());
    EXPECT(nc == NULL);
    char want[32];
    snprintf(want, sizeof want, "device %d", dev);
    EXPECT(strstr(cada_error_message(), want) != NULL, "message lacks '%s': %s", want, cada_error_message());
    EXPECT(strstr(cada_error_message(), "'gradients'") != NULL, "message: %s", cada_error_message());
}

TEST(nccl_create_roles_needs_mpi) {
    cada_nccl *g = (cada_nccl *)&g, *w = (cada_nccl *)&w;
    cada_status s = cada_nccl_create_roles(&g, &w, MPI_COMM_WORLD, 1, 0, 0, 5.0);
    EXPECT(s == CADA_ERR_MPI, "status %s: %s", cada_status_name(s), cada_error_message());
    EXPECT(g == NULL && w == NULL);
    EXPECT(strstr(cada_error_message(), "MPI is not initialised") != NULL, "message: %s", cada_error_message());
}

TEST(nccl_calls_refuse_a_null_communicator) {
    cada_nccl_range r = {0, 4};
    EXPECT(cada_nccl_allreduce(NULL, (void *)&r, 1, CADA_NCCL_F32, CADA_RED_SUM) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "allreduce") != NULL, "message: %s", cada_error_message());
    EXPECT(cada_nccl_reduce_scatter(NULL, &r, &r, 1, CADA_NCCL_BF16, CADA_RED_AVG) == CADA_ERR_ARG);
    EXPECT(cada_nccl_all_gather(NULL, &r, &r, 1, CADA_NCCL_F32) == CADA_ERR_ARG);
    EXPECT(cada_nccl_broadcast(NULL, &r, 1, CADA_NCCL_F32, 0) == CADA_ERR_ARG);
    EXPECT(cada_nccl_allreduce_ranges(NULL, &r, 4, &r, 1, CADA_NCCL_F32, CADA_RED_SUM, 0) == CADA_ERR_ARG);
    EXPECT(cada_nccl_broadcast_buckets(NULL, &r, 1, CADA_NCCL_BF16, 0, 0, 7) == CADA_ERR_ARG);
    EXPECT(cada_nccl_wait(NULL) == CADA_ERR_ARG);
    EXPECT(cada_nccl_after(NULL, NULL) == CADA_ERR_ARG);
    EXPECT(cada_nccl_join(NULL, NULL) == CADA_ERR_ARG);
    EXPECT(cada_nccl_rank(NULL) == -1 && cada_nccl_size(NULL) == 0);
    EXPECT(cada_nccl_stream(NULL) == NULL);
    EXPECT(cada_nccl_received_version(NULL) == CADA_NCCL_ANY_VERSION);
    EXPECT(cada_nccl_dtype_size(CADA_NCCL_BF16) == 2 && cada_nccl_dtype_size(CADA_NCCL_F32) == 4);
    cada_nccl_destroy(NULL); /* a no-op */
    cada_error_clear();
}

#else
typedef int cada_test_nccl_build_skipped; /* CPU-only build: nothing to test */
#endif
