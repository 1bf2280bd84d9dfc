/* learn/learner_gpu.c: see learner_gpu.h (the learner's GPU backend and the reference
 * scorer's device forward) and learner.h (the GPU scorer and the device choice). */
#define _POSIX_C_SOURCE 200809L
#include "learn/learner_gpu.h"

#include <stdlib.h>
#include <string.h>

#ifdef CADA_HAVE_CUDA
#include "comm/nccl.h"
#include "device.h"
#include "model/model_gpu.h"

#include <cuda_runtime.h>

struct cada_learner_gpu {
    cada_gpu_model *gm;
    cada_nccl *nc; /* the "gradients" communicator (W > 1) */
    int W;
    size_t n;      /* parameters */
};

/* Makes `device` current (the model and its stream live there). */
static cada_status use_device(int device, const char *who) {
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: no usable GPU: %s", cada_get_rank(), who, cudaGetErrorString(rc));
    }
    if (device < 0 || device >= n)
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: CUDA device %d does not exist (%d visible)", cada_get_rank(), who,
                        device, n);
    rc = cudaSetDevice(device);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: %s: cudaSetDevice(%d): %s", cada_get_rank(), who, device,
                        cudaGetErrorString(rc));
    }
    return CADA_OK;
}

cada_status cada_learner_gpu_create(cada_learner_gpu **out, const cada_model *m, int max_tokens, int W,
                                    const cada_learner_gpu_options *o, double timeout_s) {
    *out = NULL;
#if !(defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI))
    if (W > 1)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "cluster.device = cuda with %d learner ranks needs NCCL and MPI, which this build lacks", W);
    (void)timeout_s;
#endif
    CADA_TRY(use_device(o->device, "GPU learner"));
    cada_learner_gpu *g = calloc(1, sizeof *g);
    if (!g) return CADA_ERR(CADA_ERR_NOMEM, "GPU learner");
    g->W = W;
    g->n = m->n_params;
    cada_gpu_model_options go = {.max_tokens = max_tokens,
                                 .training = 1,
                                 .recompute = o->recompute,
                                 .kv_slots = o->kv_slots,
                                 .kv_max_len = o->kv_max_len,
                                 .gen_max_tokens = o->gen_max_tokens};
    cada_status st = cada_gpu_model_create(&g->gm, m, &go);
#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)
    if (st == CADA_OK && W > 1) {
        st = cada_nccl_create(&g->nc, o->group, o->device, timeout_s, "gradients");
        if (st == CADA_OK && cada_nccl_size(g->nc) != W)
            st = CADA_ERR(CADA_ERR_ARG, "GPU learner: the learner group has %d ranks, the learner communicator %d",
                          cada_nccl_size(g->nc), W);
    }
#endif
    if (st != CADA_OK) {
        cada_error_wrap("rank %d: GPU learner on device %d", cada_get_rank(), o->device);
        cada_learner_gpu_free(g);
        return st;
    }
    *out = g;
    return CADA_OK;
}

void cada_learner_gpu_free(cada_learner_gpu *g) {
    if (!g) return;
#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)
    cada_nccl_destroy(g->nc);
#endif
    cada_gpu_model_free(g->gm);
    free(g);
}

cada_gpu_model *cada_learner_gpu_model_of(cada_learner_gpu *g) { return g ? g->gm : NULL; }

cada_status cada_learner_gpu_forward(cada_learner_gpu *g, const cada_batch *b, const float **logprob,
                                     double *entropy_sum) {
    CADA_TRY(cada_gpu_model_forward(g->gm, b));
    *logprob = cada_gpu_model_logprobs(g->gm);
    return cada_gpu_model_entropy(g->gm, entropy_sum);
}

cada_status cada_learner_gpu_backward(cada_learner_gpu *g, const float *dlogprob) {
    return cada_gpu_model_backward(g->gm, dlogprob);
}

cada_status cada_learner_gpu_zero_grads(cada_learner_gpu *g) { return cada_gpu_model_zero_grads(g->gm); }

cada_status cada_learner_gpu_reduce(cada_learner_gpu *g) {
    if (g->W <= 1) return CADA_OK;
#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)
    void *stream = (void *)cada_gpu_model_stream(g->gm);
    CADA_TRY(cada_nccl_after(g->nc, stream)); /* after the backward kernels that wrote the gradients */
    CADA_TRY(cada_nccl_allreduce(g->nc, cada_gpu_model_grads(g->gm), g->n, CADA_NCCL_F32, CADA_RED_SUM));
    CADA_TRY(cada_nccl_join(g->nc, stream)); /* AdamW's kernels after the reduction */
    return cada_nccl_wait(g->nc);            /* timed: a silent peer fails here, not in a hang */
#else
    return CADA_ERR(CADA_ERR_UNSUPPORTED, "GPU learner: %d learners need NCCL", g->W);
#endif
}

cada_status cada_learner_gpu_adamw(cada_learner_gpu *g, const cada_adamw_config *cfg, long long t, double *grad_norm) {
    return cada_gpu_model_adamw_step(g->gm, cfg, t, grad_norm);
}

cada_status cada_learner_gpu_download_params(cada_learner_gpu *g, float *host) {
    return cada_gpu_model_download_params(g->gm, host);
}

cada_status cada_learner_gpu_upload_params(cada_learner_gpu *g, const float *host) {
    CADA_TRY(cada_gpu_model_upload_params(g->gm, host));
    return cada_gpu_model_sync(g->gm);
}

cada_status cada_learner_gpu_download_adamw(cada_learner_gpu *g, size_t offset, size_t count, float *m, float *v) {
    return cada_gpu_model_download_adamw(g->gm, offset, count, m, v);
}

cada_status cada_learner_gpu_upload_adamw(cada_learner_gpu *g, size_t offset, size_t count, const float *m,
                                          const float *v) {
    CADA_TRY(cada_gpu_model_upload_adamw(g->gm, offset, count, m, v));
    return cada_gpu_model_sync(g->gm); /* the caller reuses its host buffers */
}

void cada_learner_gpu_plan(const cada_learner_gpu *g, size_t *params, size_t *grads, size_t *optimizer,
                           size_t *activations, size_t *total) {
    const cada_gpu_model_plan_out *p = cada_gpu_model_plan_of(g->gm);
    *params = p->weights + p->master;
    *grads = p->grads;
    *optimizer = p->adam_m + p->adam_v;
    *activations = p->activations + p->logits + p->scratch;
    *total = p->total;
}

void cada_learner_gpu_report_model(const cada_learner_gpu *g) { cada_gpu_model_report(g->gm); }

/* ---- the reference scorer ------------------------------------------------------------ */

struct cada_gpu_scorer {
    cada_gpu_model *gm;
    int T, rows; /* row_tokens, rows per forward */
};

cada_status cada_gpu_scorer_create(cada_gpu_scorer **out, const cada_model *m, int row_tokens, int max_tokens,
                                   int device) {
    *out = NULL;
    if (row_tokens < 2 || max_tokens < row_tokens)
        return CADA_ERR(CADA_ERR_ARG, "GPU scorer: row_tokens %d, max_tokens %d (need 2 <= row_tokens <= max_tokens)",
                        row_tokens, max_tokens);
    CADA_TRY(use_device(device, "GPU scorer"));
    cada_gpu_scorer *s = calloc(1, sizeof *s);
    if (!s) return CADA_ERR(CADA_ERR_NOMEM, "GPU scorer");
    s->T = row_tokens;
    s->rows = max_tokens / row_tokens;
    cada_gpu_model_options go = {.max_tokens = s->rows * row_tokens};
    cada_status st = cada_gpu_model_create(&s->gm, m, &go);
    if (st != CADA_OK) {
        cada_error_wrap("rank %d: reference model on device %d", cada_get_rank(), device);
        free(s);
        return st;
    }
    *out = s;
    return CADA_OK;
}

void cada_gpu_scorer_free(cada_gpu_scorer *s) {
    if (!s) return;
    cada_gpu_model_free(s->gm);
    free(s);
}

cada_status cada_gpu_scorer_forward(cada_gpu_scorer *s, const cada_batch *b, const float **logprob) {
    CADA_TRY(cada_gpu_model_forward(s->gm, b));
    *logprob = cada_gpu_model_logprobs(s->gm);
    return CADA_OK;
}

void cada_gpu_scorer_shape(const cada_gpu_scorer *s, int *row_tokens, int *rows) {
    *row_tokens = s->T;
    *rows = s->rows;
}

void cada_gpu_scorer_report(const cada_gpu_scorer *s) {
    if (s) cada_gpu_model_report(s->gm);
}
size_t cada_gpu_scorer_bytes(const cada_gpu_scorer *s) { return s ? cada_gpu_model_plan_of(s->gm)->total : 0; }

#ifdef CADA_HAVE_MPI
cada_status cada_learner_pick_device(MPI_Comm world, int *device, int *local_rank, int *n_visible) {
    MPI_Comm node = MPI_COMM_NULL;
    int lr = 0;
    if (MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS ||
        MPI_Comm_rank(node, &lr) != MPI_SUCCESS)
        return CADA_ERR(CADA_ERR_MPI, "rank %d: cluster.device = cuda: cannot find this rank's place on its node "
                                      "(MPI_Comm_split_type)", cada_get_rank());
    MPI_Comm_free(&node);
    const char *why = "";
    const int n = cada_gpu_count(&why);
    *local_rank = lr;
    *n_visible = n;
    if (n <= 0)
        return CADA_ERR(CADA_ERR_CONFIG, "rank %d: cluster.device = cuda, but this node shows no GPU: %s", cada_get_rank(),
                        why ? why : "none visible");
    *device = lr % n;
    return CADA_OK;
}
#endif

#else /* a build without CUDA: the GPU backend is refused where it would start */

#define NO_CUDA(what) CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: this build has no CUDA (cluster.device = cuda needs one)", what)

struct cada_learner_gpu {
    int unused;
};
struct cada_gpu_scorer {
    int unused;
};

cada_status cada_learner_gpu_create(cada_learner_gpu **out, const cada_model *m, int max_tokens, int W,
                                    const cada_learner_gpu_options *o, double timeout_s) {
    (void)m, (void)max_tokens, (void)W, (void)o, (void)timeout_s;
    *out = NULL;
    return NO_CUDA("GPU learner");
}
void cada_learner_gpu_free(cada_learner_gpu *g) { free(g); }
cada_gpu_model *cada_learner_gpu_model_of(cada_learner_gpu *g) { return (void)g, NULL; }
cada_status cada_learner_gpu_forward(cada_learner_gpu *g, const cada_batch *b, const float **logprob,
                                     double *entropy_sum) {
    (void)g, (void)b, (void)logprob, (void)entropy_sum;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_backward(cada_learner_gpu *g, const float *dlogprob) {
    (void)g, (void)dlogprob;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_zero_grads(cada_learner_gpu *g) { return (void)g, NO_CUDA("GPU learner"); }
cada_status cada_learner_gpu_reduce(cada_learner_gpu *g) { return (void)g, NO_CUDA("GPU learner"); }
cada_status cada_learner_gpu_adamw(cada_learner_gpu *g, const cada_adamw_config *cfg, long long t, double *grad_norm) {
    (void)g, (void)cfg, (void)t, (void)grad_norm;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_download_params(cada_learner_gpu *g, float *host) {
    (void)g, (void)host;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_upload_params(cada_learner_gpu *g, const float *host) {
    (void)g, (void)host;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_download_adamw(cada_learner_gpu *g, size_t offset, size_t count, float *m, float *v) {
    (void)g, (void)offset, (void)count, (void)m, (void)v;
    return NO_CUDA("GPU learner");
}
cada_status cada_learner_gpu_upload_adamw(cada_learner_gpu *g, size_t offset, size_t count, const float *m,
                                          const float *v) {
    (void)g, (void)offset, (void)count, (void)m, (void)v;
    return NO_CUDA("GPU learner");
}
void cada_learner_gpu_plan(const cada_learner_gpu *g, size_t *params, size_t *grads, size_t *optimizer,
                           size_t *activations, size_t *total) {
    (void)g;
    *params = *grads = *optimizer = *activations = *total = 0;
}
void cada_learner_gpu_report_model(const cada_learner_gpu *g) { (void)g; }

cada_status cada_gpu_scorer_create(cada_gpu_scorer **out, const cada_model *m, int row_tokens, int max_tokens,
                                   int device) {
    (void)m, (void)row_tokens, (void)max_tokens, (void)device;
    *out = NULL;
    return NO_CUDA("GPU scorer");
}
void cada_gpu_scorer_free(cada_gpu_scorer *s) { free(s); }
cada_status cada_gpu_scorer_forward(cada_gpu_scorer *s, const cada_batch *b, const float **logprob) {
    (void)s, (void)b, (void)logprob;
    return NO_CUDA("GPU scorer");
}
void cada_gpu_scorer_shape(const cada_gpu_scorer *s, int *row_tokens, int *rows) {
    (void)s;
    *row_tokens = *rows = 0;
}
void cada_gpu_scorer_report(const cada_gpu_scorer *s) { (void)s; }
size_t cada_gpu_scorer_bytes(const cada_gpu_scorer *s) { return (void)s, 0; }

#ifdef CADA_HAVE_MPI
cada_status cada_learner_pick_device(MPI_Comm world, int *device, int *local_rank, int *n_visible) {
    (void)world;
    *device = *local_rank = *n_visible = 0;
    return CADA_ERR(CADA_ERR_CONFIG, "cluster.device = cuda: this build has no CUDA (rebuild where nvcc and cuBLASLt are "
                                     "installed, without CUDA=0)");
}
#endif

#endif /* CADA_HAVE_CUDA */
