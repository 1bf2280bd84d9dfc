/* ops/blas_core.c: see blas_core.h. */
#define _POSIX_C_SOURCE 200809L
#include "ops/blas_core.h"
#include "base/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* from OpenBLAS */
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

/* OpenBLAS's x86-64 cores without AVX2 kernels (its dynamic.c names; the AMD cores
 * from Steamroller on are left alone: OpenBLAS gives them AVX2 kernels where they run). */
static int core_without_avx2(const char *core) {
    static const char *const weak[] = {"Unknown", "Katmai",  "Coppermine",   "Northwood", "Prescott", "Banias",
                                       "Atom",    "Core2",   "Penryn",       "Dunnington", "Nehalem",  "Athlon",
                                       "Opteron", "Opteron_SSE3", "Opteron(SSE3)", "Barcelona", "Nano", "Sandybridge",
                                       "Bobcat",  "Bulldozer", "Piledriver"};
    for (size_t i = 0; i < sizeof weak / sizeof *weak; i++)
        if (!strcasecmp(core, weak[i])) return 1;
    return 0;
}

int cada_blas_choose_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    const int skylakex = cada_cpu_kernels_supported(CADA_CPU_AVX512) && __builtin_cpu_supports("avx512cd") &&
                         __builtin_cpu_supports("avx512dq");
    const char *named = getenv("OPENBLAS_CORETYPE");
    if (named && getenv("CADA_OPENBLAS_FALLBACK")) {
        /* named by cada, perhaps on another machine whose environment came along (srun
         * passes it on): kept only where this CPU runs it, else OpenBLAS chooses afresh */
        if (!strcmp(named, "SkylakeX") ? skylakex : cada_cpu_kernels_supported(CADA_CPU_AVX2)) return 0;
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("CADA_OPENBLAS_FALLBACK");
        return 1;
    }
    if (named) return 0;
    const char *core = openblas_get_corename();
    if (!core || !core_without_avx2(core) || !cada_cpu_kernels_supported(CADA_CPU_AVX2)) return 0;
    setenv("CADA_OPENBLAS_FALLBACK", core, 1);
    setenv("OPENBLAS_CORETYPE", skylakex ? "SkylakeX" : "Haswell", 1);
    return 1;
#else
    return 0;
#endif
}

void cada_blas_describe(char *buf, int cap) {
    const char *fallback = getenv("CADA_OPENBLAS_FALLBACK"), *named = getenv("OPENBLAS_CORETYPE");
    char why[96];
    if (fallback && named) snprintf(why, sizeof why, "named by cada: OpenBLAS took %s on this CPU", fallback);
    else if (named) snprintf(why, sizeof why, "OPENBLAS_CORETYPE=%s", named);
    else snprintf(why, sizeof why, "OpenBLAS's choice");
    snprintf(buf, (size_t)cap, "%s; kernels %s (%s)", openblas_get_config(), openblas_get_corename(), why);
}
