/* kernels/device.cu: device discovery for the CUDA build. On a machine without a driver
 * cudaGetDeviceCount fails with cudaErrorInsufficientDriver and leaves the count unset,
 * so the count starts at 0 and the error becomes the reason. */
#include "device.h"

#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int cada_gpu_count(const char **why) {
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        if (why) *why = cudaGetErrorString(rc);
        cudaGetLastError(); /* clear the sticky error */
        return 0;
    }
    if (count == 0 && why) *why = "no CUDA device";
    return count;
}

extern "C" void cada_gpu_report(void) {
    const char *why = NULL;
    int n = cada_gpu_count(&why);
    if (n == 0) {
        printf("  GPUs: none (%s)\n", why ? why : "unknown");
        return;
    }
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        printf("  GPU %d: %s, compute %d.%d, %.1f GiB\n", i, p.name, p.major, p.minor,
               (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    }
}
