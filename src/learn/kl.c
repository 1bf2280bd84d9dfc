/* learn/kl.c: see kl.h. */
#include "learn/kl.h"

#include <math.h>
#include <string.h>

static double clamp_log_r(double log_r) {
    return log_r > CADA_KL_LOG_R_MAX ? CADA_KL_LOG_R_MAX : log_r < -CADA_KL_LOG_R_MAX ? -CADA_KL_LOG_R_MAX : log_r;
}

double cada_kl_value(cada_kl_estimator e, double logprob, double ref_logprob) {
    double log_r = ref_logprob - logprob;
    switch (e) {
    case CADA_KL_K1: return -log_r;
    case CADA_KL_K2: return 0.5 * log_r * log_r;
    case CADA_KL_K3: {
        double lr = clamp_log_r(log_r);
        return expm1(lr) - lr; /* (r - 1) - log r without cancellation near r = 1 */
    }
    }
    return 0.0;
}

double cada_kl_grad(cada_kl_estimator e, double logprob, double ref_logprob) {
    double log_r = ref_logprob - logprob;
    switch (e) {
    case CADA_KL_K1: return 1.0;
    case CADA_KL_K2: return -log_r;
    case CADA_KL_K3: {
        if (log_r > CADA_KL_LOG_R_MAX || log_r < -CADA_KL_LOG_R_MAX) return 0.0; /* clamped: flat */
        return -expm1(log_r); /* 1 - r */
    }
    }
    return 0.0;
}

const char *cada_kl_name(cada_kl_estimator e) {
    return e == CADA_KL_K1 ? "k1" : e == CADA_KL_K2 ? "k2" : e == CADA_KL_K3 ? "k3" : "?";
}

int cada_kl_parse(const char *name, cada_kl_estimator *out) {
    if (!strcmp(name, "k1")) *out = CADA_KL_K1;
    else if (!strcmp(name, "k2")) *out = CADA_KL_K2;
    else if (!strcmp(name, "k3")) *out = CADA_KL_K3;
    else return -1;
    return 0;
}
