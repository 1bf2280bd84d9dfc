/* base/cpu.c: see cpu.h. */
#include "base/cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[CADA_CPU_N] = {"scalar", "avx2", "avx512", "avx512bf16"};

const char *cada_cpu_kernels_name(cada_cpu_kernels k) { return k >= 0 && k < CADA_CPU_N ? names[k] : "?"; }

#if defined(__x86_64__) || defined(__i386__)
/* libgcc's cpu model also checks XCR0 (the OS saves the ymm / zmm state) before it
 * reports an AVX family. */
int cada_cpu_kernels_supported(cada_cpu_kernels k) {
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl");
    switch (k) {
    case CADA_CPU_SCALAR: return 1;
    case CADA_CPU_AVX2: return avx2;
    case CADA_CPU_AVX512: return avx512;
    case CADA_CPU_AVX512BF16: return avx512 && __builtin_cpu_supports("avx512bf16");
    default: return 0;
    }
}

void cada_cpu_features(char *buf, int cap) {
    static const char *const feats[] = {"sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16"};
    int n = 0;
    buf[0] = 0;
    __builtin_cpu_init();
    for (size_t i = 0; i < sizeof feats / sizeof feats[0] && n < cap; i++) {
        int on = 0;
        /* __builtin_cpu_supports needs a literal argument */
        switch (i) {
        case 0: on = __builtin_cpu_supports("sse4.2"); break;
        case 1: on = __builtin_cpu_supports("avx"); break;
        case 2: on = __builtin_cpu_supports("avx2"); break;
        case 3: on = __builtin_cpu_supports("fma"); break;
        case 4: on = __builtin_cpu_supports("avx512f"); break;
        case 5: on = __builtin_cpu_supports("avx512bw"); break;
        case 6: on = __builtin_cpu_supports("avx512vl"); break;
        default: on = __builtin_cpu_supports("avx512bf16"); break;
        }
        if (on) n += snprintf(buf + n, (size_t)(cap - n), "%s%s", n ? " " : "", feats[i]);
    }
}
#else
int cada_cpu_kernels_supported(cada_cpu_kernels k) { return k == CADA_CPU_SCALAR; }
void cada_cpu_features(char *buf, int cap) { snprintf(buf, (size_t)cap, "(not x86-64: portable C only)"); }
#endif

cada_cpu_kernels cada_cpu_kernels_newest(void) {
    for (int k = CADA_CPU_N - 1; k > 0; k--)
        if (cada_cpu_kernels_supported((cada_cpu_kernels)k)) return (cada_cpu_kernels)k;
    return CADA_CPU_SCALAR;
}

/* 1 on an Intel CPU whose vdpbf16ps runs at half the FMA rate (cpu.h) */
static int slow_bf16_dot(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") && cada_cpu_kernels_supported(CADA_CPU_AVX512BF16);
#else
    return 0;
#endif
}

cada_cpu_kernels cada_cpu_kernels_best(void) {
    const cada_cpu_kernels k = cada_cpu_kernels_newest();
    return k == CADA_CPU_AVX512BF16 && slow_bf16_dot() ? CADA_CPU_AVX512 : k;
}

const char *cada_cpu_kernels_best_reason(void) {
    return cada_cpu_kernels_best() != cada_cpu_kernels_newest()
               ? "avx512bf16 runs too, slower: an Intel vdpbf16ps issues at half the rate of two FMAs"
               : "";
}

/* resolved once, by the main thread before any parallel region uses it */
static int done;
static cada_cpu_kernels kind;
static char bad[64];

static void resolve(void) {
    if (!done) {
        const char *env = getenv("CADA_CPU_KERNELS");
        kind = cada_cpu_kernels_best();
        if (env && *env) {
            int found = -1;
            for (int i = 0; i < CADA_CPU_N; i++)
                if (!strcmp(env, names[i])) found = i;
            if (found < 0 || !cada_cpu_kernels_supported((cada_cpu_kernels)found)) snprintf(bad, sizeof bad, "%s", env);
            else kind = (cada_cpu_kernels)found;
        }
        done = 1;
    }
}

cada_cpu_kernels cada_cpu_kernels_current(void) {
    resolve();
    return kind;
}

cada_status cada_cpu_kernels_active(cada_cpu_kernels *k) {
    resolve();
    *k = kind;
    if (bad[0]) {
        int known = 0;
        for (int i = 0; i < CADA_CPU_N; i++) known |= !strcmp(bad, names[i]);
        return CADA_ERR(CADA_ERR_CONFIG, "CADA_CPU_KERNELS=%s: %s (this CPU runs up to %s; choices scalar|avx2|avx512|avx512bf16)", bad,
                        known ? "this CPU lacks that kernel family" : "unknown kernel family", names[cada_cpu_kernels_newest()]);
    }
    return CADA_OK;
}

cada_status cada_cpu_kernels_set(cada_cpu_kernels k) {
    if ((int)k < 0 || k >= CADA_CPU_N || !cada_cpu_kernels_supported(k))
        return CADA_ERR(CADA_ERR_CONFIG, "kernel family %s: this CPU runs up to %s", (int)k >= 0 && k < CADA_CPU_N ? names[k] : "?",
                        names[cada_cpu_kernels_newest()]);
    resolve();
    kind = k;
    bad[0] = 0;
    return CADA_OK;
}

long cada_local_ranks(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0; /* SLURM_TASKS_PER_NODE: "4(x2),3" */
        if (n > 0) return n;
    }
    return 1;
}

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

void cada_advise_huge_pages(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) / page * page,
                    hi = ((uintptr_t)p + bytes) / page * page;
    if (p && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice: a refusal changes nothing */
#else
    (void)p;
    (void)bytes;
#endif
}

void cada_release_pages(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_DONTNEED)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) / page * page,
                    hi = ((uintptr_t)p + bytes) / page * page;
    if (p && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)p;
    (void)bytes;
#endif
}
