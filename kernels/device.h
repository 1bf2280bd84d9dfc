/* kernels/device.h: what the CUDA build can see of the machine. Declared for every
 * build; without CUDA compiled in, cada_gpu_count() reports 0 with a reason. */
#ifndef CADA_KERNELS_DEVICE_H
#define CADA_KERNELS_DEVICE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable GPUs (0 when none, no driver, or a CPU-only build); *why receives
 * a static explanation when 0. */
int cada_gpu_count(const char **why);
/* Prints one line per GPU (name, compute capability, memory) to stdout. */
void cada_gpu_report(void);

#ifdef __cplusplus
}
#endif

#endif
