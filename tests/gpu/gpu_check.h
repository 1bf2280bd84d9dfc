/* tests/gpu/gpu_check.h: the op-by-op GPU-vs-CPU checks (tests/gpu/ops_check.c).
 *
 * Every op of kernels/gpu_ops.h runs on fresh random inputs (seeded, the seed printed)
 * against the CPU op of src/ops (or learn/adamw.h, rollout/sampler.h), with a
 * normalised-error threshold per op, and is timed once on a Llama-3-8B-sized input.
 * One line per check goes to stdout, tagged RESULT so tests/gpu/run.sh gathers it:
 *   RESULT op  shape  max_abs  rel_err  threshold  PASS|FAIL  [GB/s | TFLOP/s]
 * and full details to LOG_DIR/ops.log.
 *
 * A failed launcher status or CUDA error fails that check and the next one runs. A
 * sticky CUDA error (illegal address, launch failure) breaks the context for the rest
 * of the process: the checks stop there with a line saying so, and the driver reruns
 * the remaining ops, one per process, through `only`. */
#ifndef CADA_TESTS_GPU_CHECK_H
#define CADA_TESTS_GPU_CHECK_H

/* Runs every op group (only == NULL) or the one named by `only` (a group name from
 * gpu_ops_check_name, or the name of one of its ops, with or without the gpu_ prefix).
 * log_dir: where ops.log goes (appended to; NULL: no log file). Inputs are fresh each
 * run: the seed is CADA_GPU_SEED from the environment when set (decimal), else drawn
 * from the clock and pid; it is printed, and the same seed gives the same inputs (each
 * group seeds its own stream, so `only` reproduces what a full run drew).
 * Returns the number of failed checks (an unknown `only` counts as one failure). */
int gpu_ops_check(const char *only, const char *log_dir);

/* The op groups, in the order gpu_ops_check runs them. gpu_ops_list prints one name a
 * line to stdout (`cada_gpu_test ops --list`, which tests/gpu/run.sh iterates over). */
int gpu_ops_check_count(void);
const char *gpu_ops_check_name(int i);
void gpu_ops_list(void);

/* 1 after a check hit a sticky CUDA error: the process must not run more GPU work. */
int gpu_ops_check_context_broken(void);

#endif
