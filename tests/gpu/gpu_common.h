/* tests/gpu/gpu_common.h: what the parts of the GPU test program share: host-side bf16
 * rounding, normalised error, timing, and the result line format that tests/gpu/run.sh
 * gathers into its table:
 *     RESULT <check> | <shape> | <measure> | <value> | <threshold or peer> | PASS/FAIL
 * Benchmarks print RESULT lines without PASS/FAIL. */
#ifndef CADA_TESTS_GPU_COMMON_H
#define CADA_TESTS_GPU_COMMON_H

#include "base/error.h"
#include "model/config.h"

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Round-to-nearest-even to bf16 and back, in place (NaN stays NaN). */
float gpu_test_round_bf16(float x);
void gpu_test_round_bf16_array(float *x, size_t n);
/* ||a - b|| / ||b|| in double; a NaN anywhere gives +Inf. *max_abs (may be NULL) gets
 * the largest |a - b|. */
double gpu_test_rel_err(const float *a, const float *b, size_t n, double *max_abs);
double gpu_test_now(void); /* seconds, monotonic */
/* Model shapes of the benchmarks and checks. */
void gpu_test_config_llama3_8b(cada_model_config *c, int layers);
void gpu_test_config_smollm2_135m(cada_model_config *c);
/* Prints the failing call's message and returns 1 when st != CADA_OK. */
int gpu_test_failed(cada_status st, const char *what);

int gpu_model_check(const char *log_dir);
int gpu_bench_peak(void);
int gpu_bench_train(int layers, int seq, int recompute);
int gpu_bench_decode(const int *batches, int n_batches, int prompt, int new_tokens);
/* Under mpirun, one rank per GPU: calls MPI_Init and MPI_Finalize itself. */
int gpu_nccl_check(int *argc, char ***argv);

#endif
