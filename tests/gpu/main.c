/* tests/gpu/main.c: cada_gpu_test, the GPU checks and benchmarks (tests/gpu/run.sh runs
 * every subcommand in turn on a machine with a GPU; CI only builds it).
 *   info                         the device, or why there is none (exit 2)
 *   ops --list | ops [NAME] [--log DIR]   kernels against the CPU ops (ops_check.c)
 *   model [--log DIR]            the GPU model against the CPU model (model_check.c)
 *   nccl                         NCCL communicators, under mpirun, one rank per GPU
 *   bench-peak                   cuBLASLt bf16 GEMM rate and copy bandwidth of the card
 *   bench-train [--layers L] [--seq T] [--recompute]   learner MFU, Llama-3-8B shapes
 *   bench-decode [--batch 1,64] [--prompt P] [--new N] decode tokens/s, 8B shape */
#include "device.h"
#include "gpu_check.h"
#include "gpu_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return fallback;
}
static int has_flag(int argc, char **argv, const char *name) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cada_gpu_test info|ops|model|bench-peak|bench-train|bench-decode [options]\n");
        return 2;
    }
    const char *cmd = argv[1];
    const char *why = NULL;
    if (cada_gpu_count(&why) == 0 && strcmp(cmd, "ops") != 0) {
        fprintf(stderr, "cada_gpu_test: no usable GPU: %s\n", why ? why : "unknown");
        return 2;
    }
    const char *log_dir = arg_value(argc, argv, "--log", ".");
    if (!strcmp(cmd, "info")) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return 2;
        int rt = 0, drv = 0;
        cudaRuntimeGetVersion(&rt);
        cudaDriverGetVersion(&drv);
        printf("%s, sm_%d%d, %d SMs, %.1f GiB, L2 %.0f MiB, CUDA runtime %d driver %d\n", p.name, p.major, p.minor,
               p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, p.l2CacheSize / 1048576.0, rt, drv);
        return 0;
    }
    if (!strcmp(cmd, "ops")) {
        if (has_flag(argc, argv, "--list")) {
            gpu_ops_list();
            return 0;
        }
        if (cada_gpu_count(&why) == 0) {
            fprintf(stderr, "cada_gpu_test: no usable GPU: %s\n", why ? why : "unknown");
            return 2;
        }
        const char *only = (argc > 2 && argv[2][0] != '-') ? argv[2] : NULL;
        return gpu_ops_check(only, log_dir) ? 1 : 0;
    }
    if (!strcmp(cmd, "model")) return gpu_model_check(log_dir) ? 1 : 0;
    if (!strcmp(cmd, "nccl")) return gpu_nccl_check(&argc, &argv);
    if (!strcmp(cmd, "bench-peak")) return gpu_bench_peak();
    if (!strcmp(cmd, "bench-train"))
        return gpu_bench_train(atoi(arg_value(argc, argv, "--layers", "4")), atoi(arg_value(argc, argv, "--seq", "4096")),
                               has_flag(argc, argv, "--recompute"));
    if (!strcmp(cmd, "bench-decode")) {
        int batches[8], n = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", arg_value(argc, argv, "--batch", "1,64"));
        for (char *tok = strtok(buf, ","); tok && n < 8; tok = strtok(NULL, ",")) batches[n++] = atoi(tok);
        return gpu_bench_decode(batches, n, atoi(arg_value(argc, argv, "--prompt", "128")),
                                atoi(arg_value(argc, argv, "--new", "128")));
    }
    fprintf(stderr, "cada_gpu_test: unknown command '%s'\n", cmd);
    return 2;
}
