/* base/cpu.h: which CPU kernel family runs, chosen at run time.
 *
 * The build compiles every x86-64 kernel family with __attribute__((target(...))), so one
 * binary runs on any x86-64 and picks the best family the CPU (and the OS's saved
 * vector state) supports, as __builtin_cpu_supports reports:
 *   avx512bf16  AVX-512F + BW + VL + AVX512_BF16 (vdpbf16ps)
 *   avx512      AVX-512F + BW + VL
 *   avx2        AVX2 + FMA
 *   scalar      portable C (the only family on other architectures)
 * The environment variable CADA_CPU_KERNELS=avx512bf16|avx512|avx2|scalar forces one
 * (tests check every family on one machine; a family the CPU lacks is an error, never a
 * silent fallback). */
#ifndef CADA_BASE_CPU_H
#define CADA_BASE_CPU_H

#include "base/error.h"

#include <stddef.h>

typedef enum {
    CADA_CPU_SCALAR = 0,
    CADA_CPU_AVX2,
    CADA_CPU_AVX512,
    CADA_CPU_AVX512BF16,
    CADA_CPU_N
} cada_cpu_kernels;

/* "scalar", "avx2", "avx512", "avx512bf16". */
const char *cada_cpu_kernels_name(cada_cpu_kernels k);
/* 1 when this CPU runs family k (scalar: always). */
int cada_cpu_kernels_supported(cada_cpu_kernels k);
/* The newest family this CPU runs (the last of the list above that it supports). */
cada_cpu_kernels cada_cpu_kernels_newest(void);
/* The family cada runs unless CADA_CPU_KERNELS says otherwise: the newest, except on
 * Intel CPUs with AVX512-BF16 and without AMX, where avx512 (each bf16 widened to fp32,
 * two FMAs a pair) runs faster than vdpbf16ps. Measured on an Intel Xeon of model 207,
 * one core: 1.34 G vdpbf16ps/s against 5.40 G 16-lane FMAs/s, so a pair of products
 * costs twice as long as two FMAs (AMD Zen 4 issues one of each per cycle, and there
 * avx512bf16 is ~2x); with 2 threads bf16 decode at batch 16 ran 415 tokens/s with
 * avx512 against 316, prefill 854 against 540, the train step's bf16 GEMMs 170 GFLOP/s
 * against 155. The rule is the CPU's vendor, not a timing, so every rank of a job
 * picks the same family (the same numbers bit for bit). */
cada_cpu_kernels cada_cpu_kernels_best(void);
/* Why best is not the newest ("" when it is), for `cada version`. */
const char *cada_cpu_kernels_best_reason(void);
/* The family in use: CADA_CPU_KERNELS when set, else the best. Errors (CADA_ERR_CONFIG)
 * name the variable: an unknown name, or a family this CPU lacks. Resolved once; later
 * calls return the first answer. */
cada_status cada_cpu_kernels_active(cada_cpu_kernels *k);
/* Makes k the family in use from now on (tests and benchmarks that compare families in
 * one process; call it from the main thread, outside parallel regions). Errors
 * (CADA_ERR_CONFIG): a family this CPU lacks; the choice is unchanged then. */
cada_status cada_cpu_kernels_set(cada_cpu_kernels k);
/* The family in use without the error: the best one when CADA_CPU_KERNELS is bad (for
 * hot paths whose callers checked cada_cpu_kernels_active once). */
cada_cpu_kernels cada_cpu_kernels_current(void);
/* CPU features as one line for `cada version` ("avx2 fma avx512f ..."), into buf. */
void cada_cpu_features(char *buf, int cap);

/* Asks the kernel to back [p, p + bytes) with transparent huge pages (Linux
 * madvise(MADV_HUGEPAGE), for the page-aligned part of the range; nothing elsewhere or
 * when refused). For large buffers streamed every step (decode reads every weight once
 * per token): 2 MiB pages cut the TLB misses of a 269 MB bf16 pack from ~66k per token
 * to ~130 (measured: ~8% faster bf16 GEMV at batch 1 on a 2-core EPYC VM whose THP
 * mode is madvise). */
void cada_advise_huge_pages(void *p, size_t bytes);

/* Returns the whole pages inside [p, p + bytes) to the system (Linux madvise
 * MADV_DONTNEED on a private anonymous mapping: they read as zeros afterwards and cost
 * no memory until written). Elsewhere: nothing. */
void cada_release_pages(void *p, size_t bytes);

/* The ranks of this job on this machine, as the launcher tells them in the environment
 * before MPI starts (Open MPI's mpirun: OMPI_COMM_WORLD_LOCAL_SIZE; MPICH's Hydra:
 * MPI_LOCALNRANKS; Slurm's srun: SLURM_NTASKS_PER_NODE, or the first node's count in
 * SLURM_TASKS_PER_NODE), else 1 (a process started alone). */
long cada_local_ranks(void);

#endif
