/* learn/adamw.c: see adamw.h. */
#include "learn/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cada_adamw_config_default(cada_adamw_config *c) {
    memset(c, 0, sizeof *c);
    c->lr = 1e-3;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = 0.01;
    c->max_grad_norm = 1.0;
    c->schedule = CADA_LR_CONSTANT;
    c->min_lr_ratio = 0.0;
}

cada_status cada_adamw_init(cada_adamw *o, const cada_adamw_config *cfg, size_t offset, size_t count) {
    memset(o, 0, sizeof *o);
    if (cfg->lr < 0 || cfg->beta1 < 0 || cfg->beta1 >= 1 || cfg->beta2 < 0 || cfg->beta2 >= 1 || cfg->eps <= 0)
        return CADA_ERR(CADA_ERR_CONFIG, "adamw: lr %g, betas (%g, %g), eps %g: need lr >= 0, betas in [0, 1), eps > 0",
                        cfg->lr, cfg->beta1, cfg->beta2, cfg->eps);
    if (cfg->schedule == CADA_LR_COSINE && cfg->total_steps <= cfg->warmup_steps)
        return CADA_ERR(CADA_ERR_CONFIG, "adamw: cosine schedule needs total_steps (%lld) > warmup_steps (%lld)",
                        cfg->total_steps, cfg->warmup_steps);
    o->cfg = *cfg;
    o->offset = offset;
    o->count = count;
    o->m = CADA_CALLOC(count ? count : 1, sizeof(float), "adamw first moment");
    o->v = CADA_CALLOC(count ? count : 1, sizeof(float), "adamw second moment");
    if (!o->m || !o->v) {
        cada_adamw_free(o);
        return CADA_ERR_NOMEM;
    }
    return CADA_OK;
}

void cada_adamw_free(cada_adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double cada_lr_at(const cada_adamw_config *c, long long t) {
    const double W = (double)c->warmup_steps;
    switch (c->schedule) {
    case CADA_LR_CONSTANT: return c->lr;
    case CADA_LR_LINEAR_WARMUP: return W > 0 && t < W ? c->lr * (double)t / W : c->lr;
    case CADA_LR_COSINE: {
        if (W > 0 && t <= W) return c->lr * (double)t / W;
        double span = (double)(c->total_steps - c->warmup_steps);
        double progress = span > 0 ? ((double)t - W) / span : 1.0;
        if (progress > 1.0) progress = 1.0;
        double lr_min = c->lr * c->min_lr_ratio;
        return lr_min + (c->lr - lr_min) * 0.5 * (1.0 + cos(M_PI * progress));
    }
    }
    return c->lr;
}

double cada_clip_coef(double max_grad_norm, double grad_norm) {
    if (max_grad_norm > 0) {
        const double coef = max_grad_norm / (grad_norm + 1e-6);
        if (coef < 1.0) return coef;
    }
    return 1.0;
}

#define SQNORM_CHUNK 65536

double cada_sqnorm(const float *g, size_t n) {
    size_t chunks = (n + SQNORM_CHUNK - 1) / SQNORM_CHUNK;
    if (chunks <= 1) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
        return s;
    }
    double *part = malloc(sizeof(double) * chunks);
    if (!part) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
        return s;
    }
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        size_t lo = c * SQNORM_CHUNK, hi = lo + SQNORM_CHUNK < n ? lo + SQNORM_CHUNK : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double s = 0.0;
    for (size_t c = 0; c < chunks; c++) s += part[c];
    free(part);
    return s;
}

cada_status cada_adamw_step(cada_adamw *o, float *params, const float *grads, double global_sqnorm,
                            cada_adamw_result *out) {
    cada_adamw_result r = {0, 0.0, sqrt(global_sqnorm), 1.0};
    if (!isfinite(global_sqnorm)) {
        o->skipped++;
        if (out) *out = r;
        return CADA_OK;
    }
    const cada_adamw_config *c = &o->cfg;
    const long long t = o->step + 1;
    const double lr = cada_lr_at(c, t);
    r.clip_coef = cada_clip_coef(c->max_grad_norm, r.grad_norm);
    const float clip = (float)r.clip_coef;
    const float decay = (float)(1.0 - lr * c->weight_decay);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float one_b1 = (float)(1.0 - c->beta1), one_b2 = (float)(1.0 - c->beta2);
    const float step_size = (float)(lr / (1.0 - pow(c->beta1, (double)t)));
    const float inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow(c->beta2, (double)t)));
    const float eps = (float)c->eps;
    float *m = o->m, *v = o->v;
    const size_t n = o->count;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] * clip;
        float p = params[i] * decay;
        float mi = b1 * m[i] + one_b1 * g;
        float vi = b2 * v[i] + one_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
    o->step = t;
    r.applied = 1;
    r.lr = lr;
    if (out) *out = r;
    return CADA_OK;
}
