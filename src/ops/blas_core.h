/* ops/blas_core.h: the OpenBLAS kernels cada's fp32 matmuls run on.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's and most distributions') picks its kernels
 * once, as the library loads, from the CPU's family and model numbers. A CPU newer than
 * the library falls back to Prescott, its SSE3 kernels: Debian 12's OpenBLAS 0.3.21 does
 * this on an Intel Xeon of model 207 (Emerald Rapids), where the fp32 train step
 * (`cada bench train-step`, SmolLM2-135M, 2 threads) ran at 50.7 tokens/s with Prescott
 * against 273.7 with the SkylakeX kernels that CPU runs. The variable OPENBLAS_CORETYPE
 * names the kernels instead, read at that same load: so cada, before anything else,
 * names the best core the CPU runs when the user has not set OPENBLAS_CORETYPE and
 * OpenBLAS has taken one without AVX2 on a CPU with AVX2 + FMA, and executes itself again
 * (main.c). A user's OPENBLAS_CORETYPE is always kept, whatever it names. */
#ifndef CADA_OPS_BLAS_CORE_H
#define CADA_OPS_BLAS_CORE_H

/* Sets OPENBLAS_CORETYPE (SkylakeX with AVX-512 F/CD/BW/DQ/VL, else Haswell) and
 * CADA_OPENBLAS_FALLBACK (the core OpenBLAS had taken) when the rule above applies; a
 * core cada named that this CPU does not run (the variables inherited from another
 * machine) is unset again. Returns 1 when it changed them (the caller re-executes), 0
 * otherwise. */
int cada_blas_choose_core(void);

/* One line for `cada version`: "OpenBLAS 0.3.21 ..., kernels SkylakeX (named by cada:
 * OpenBLAS took Prescott on this CPU)" or "... (OpenBLAS's choice)". */
void cada_blas_describe(char *buf, int cap);

#endif
