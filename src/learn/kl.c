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

const char *cada_kl_gradient(cada_kl_placement place, cada_kl_estimator e) {
    if (place == CADA_KL_OFF) return "no KL penalty";
    if (place == CADA_KL_IN_REWARD) {
        switch (e) {
        case CADA_KL_K1: return "k1 summed over the sequence, in the reward: the gradient of the sequence-level KL(pi || pi_ref), exact";
        case CADA_KL_K2: return "k2 summed over the sequence, in the reward: a biased mix, the score function of the summed (log r)^2 / 2, "
                                "the gradient of neither KL";
        case CADA_KL_K3: return "k3 summed over the sequence, in the reward: a biased mix, the gradient of KL(pi || pi_ref) minus each "
                                "token's gradient of KL(pi_ref || pi) given its prefix";
        }
    } else if (place == CADA_KL_IN_LOSS) {
        switch (e) {
        case CADA_KL_K1: return "k1 per token in the loss: expected gradient zero (refused)";
        case CADA_KL_K2: return "k2 per token in the loss: each token's gradient of KL(pi || pi_ref) given its prefix, ignoring its "
                                "effect on later tokens' KL";
        case CADA_KL_K3: return "k3 per token in the loss: each token's gradient of the reverse KL(pi_ref || pi) given its prefix "
                                "(GRPO's), ignoring later tokens";
        }
    }
    return "unknown KL placement or estimator";
}

cada_status cada_kl_check(cada_kl_placement place, cada_kl_estimator e) {
    if (place == CADA_KL_IN_LOSS && e == CADA_KL_K1)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "KL estimator k1 in the loss: its expected gradient is zero (d k1 / d logprob = 1, and E[grad log pi] = 0), "
                        "so it only adds noise; put k1 in the reward (the gradient of the sequence-level KL(pi || pi_ref)), or use "
                        "k2 or k3 in the loss");
    if (place != CADA_KL_OFF && place != CADA_KL_IN_REWARD && place != CADA_KL_IN_LOSS)
        return CADA_ERR(CADA_ERR_CONFIG, "KL placement %d is not off, reward or loss", (int)place);
    if (place != CADA_KL_OFF && e != CADA_KL_K1 && e != CADA_KL_K2 && e != CADA_KL_K3)
        return CADA_ERR(CADA_ERR_CONFIG, "KL estimator %d is not k1, k2 or k3", (int)e);
    return CADA_OK;
}
