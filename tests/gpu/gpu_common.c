/* tests/gpu/gpu_common.c: see gpu_common.h. */
#include "gpu_common.h"

#include <math.h>
#include <string.h>
#include <time.h>

float gpu_test_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x; /* Inf, NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

void gpu_test_round_bf16_array(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = gpu_test_round_bf16(x[i]);
}

double gpu_test_rel_err(const float *a, const float *b, size_t n, double *max_abs) {
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (!isfinite(d)) {
            if (max_abs) *max_abs = INFINITY;
            return INFINITY;
        }
        num += d * d;
        den += (double)b[i] * (double)b[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    if (max_abs) *max_abs = mx;
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

double gpu_test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void common_llama(cada_model_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = CADA_ARCH_LLAMA;
    c->rms_eps = 1e-5f;
    c->bos_token_id = -1;
    c->eos_token_id = -1;
    strcpy(c->dtype, "bfloat16");
}

void gpu_test_config_llama3_8b(cada_model_config *c, int layers) {
    common_llama(c);
    c->vocab_size = 128256;
    c->hidden_size = 4096;
    c->intermediate_size = 14336;
    c->n_layers = layers;
    c->n_heads = 32;
    c->n_kv_heads = 8;
    c->head_dim = 128;
    c->rope_theta = 500000.0f;
    c->rope_type = CADA_ROPE_LLAMA3;
    c->rope_factor = 8.0f;
    c->rope_low_freq_factor = 1.0f;
    c->rope_high_freq_factor = 4.0f;
    c->rope_original_max_pos = 8192;
    c->max_position_embeddings = 131072;
    c->bos_token_id = 128000;
    c->eos_token_id = 128001;
}

void gpu_test_config_smollm2_135m(cada_model_config *c) {
    common_llama(c);
    c->vocab_size = 49152;
    c->hidden_size = 576;
    c->intermediate_size = 1536;
    c->n_layers = 30;
    c->n_heads = 9;
    c->n_kv_heads = 3;
    c->head_dim = 64;
    c->rope_theta = 100000.0f;
    c->max_position_embeddings = 8192;
    c->tie_embeddings = 1;
    c->bos_token_id = 1;
    c->eos_token_id = 2;
}

int gpu_test_failed(cada_status st, const char *what) {
    if (st == CADA_OK) return 0;
    fprintf(stderr, "%s: %s (%s)\n", what, cada_error_message(), cada_error_where());
    printf("RESULT %s | | error | %s | | FAIL\n", what, cada_error_message());
    return 1;
}
