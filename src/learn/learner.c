/* learn/learner.c: see learner.h. */
#define _POSIX_C_SOURCE 200809L
#include "base/cpu.h"
#include "learn/learner.h"

#include "base/dfile.h"

#include "base/log.h"
#include "learn/accum.h"
#include "learn/entropy.h"
#include "model/tp_slice.h"
#include "learn/learner_gpu.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef cada_micro_batch micro_batch;

/* The model one micro-batch runs on, so that packing, the loss, its dlogprob and the
 * token counts exist once (run_micro) for both devices:
 *   forward     a packed batch (B, T) -> *logprob (B*T, host memory, valid until the
 *               next forward) and *entropy_sum, the policy's entropy summed over the
 *               rows with a target (learn/entropy.h);
 *   backward    of the last forward, with dJ/dlogprob (B*T), ACCUMULATING into the
 *               backend's gradients; hooks: ZeRO-2's (CPU only, else NULL);
 *   zero_grads  clears those gradients;
 *   host_grads  the gradient buffer in host memory, which the canonical tree
 *               accumulator (learn/accum.h) stacks; NULL when the gradients live on a
 *               device (no canonical order there). */
typedef struct {
    cada_status (*forward)(cada_learner *L, const cada_batch *b, const float **logprob, double *entropy_sum);
    cada_status (*backward)(cada_learner *L, const float *dlogprob, const cada_backward_hooks *hooks);
    cada_status (*zero_grads)(cada_learner *L);
    float *(*host_grads)(cada_learner *L);
} learner_backend;

struct cada_learner {
    cada_learner_config cfg;
    cada_model *m;
    cada_comm *c;
    int W, rank;
    cada_shards sh;
    size_t shard_off, shard_n;
    cada_adamw opt;
    cada_baseline baseline;
    long long steps;
    /* gradients */
    float *g_shard;   /* ZeRO-2: the reduced gradient of this rank's shard (ZeRO-1 keeps it in m->grads) */
    cada_accum acc;   /* fixed order: DP/ZeRO-1 full-size leaves, ZeRO-2 shard-size rounds */
    float *round_buf; /* ZeRO-2: this round's reduced shard (allocated when k > 1) */
    float *round_out; /* where the hooks reduce to this round: round_buf or g_shard */
    float *zbuf[2];   /* ZeRO-2/3: the two reusable layer gradient blocks */
    /* ZeRO-3: two layer parameter blocks (the layer in use and the next, being gathered) */
    float *pbuf[2];
    int player[2];    /* the layer each holds or is receiving; -1: none (or stale) */
    cada_comm_req *preq[2];
    int whole;        /* m->params holds every layer's current values (not only this shard) */
    cada_param_source psrc;
    int zlayer[2];
    cada_comm_req *zreq[2];
    size_t layer0_off, layers_end, head_off, stride;
    cada_status hook_status;
    /* scratch */
    cada_packed pk;
    float *adv;
    int adv_cap;
    float *dlp;
    size_t dlp_cap;
    float *ent; /* (N) the policy's entropy per row of a micro-batch (CPU) */
    size_t ent_cap;
    micro_batch *mb;
    int mb_cap;
    /* the model the micro-batches run on: the CPU model above, or the GPU backend */
    const learner_backend *be;
    cada_learner_gpu *gpu; /* the GPU backend's state (NULL on the CPU) */
    /* progress of a step on this rank (cada_learner_set_progress) */
    void (*progress)(void *ctx, int done, int total, double tokens);
    void *progress_ctx;
};

/* ---- the two backends ------------------------------------------------------------------------ */

/* The policy's entropy of each row, from each chunk of logits as forward makes them
 * (backward overwrites them, and with chunked logits no other moment sees them all). */
typedef struct {
    float *h;        /* (N), zeroed: rows the forward does not show (targets_only) keep 0 */
    float *chunk;    /* (logits chunk rows) one chunk's entropies before they go to their rows */
    const int *mask; /* the packed targets */
    int V;
} entropy_rows;

static void entropy_of_chunk(void *ctx, const float *logits, const float *lse, const int *row_of, int rows) {
    entropy_rows *e = ctx;
    if (rows < 1) return;
    if (row_of[rows - 1] - row_of[0] == rows - 1) { /* consecutive rows: the mask leaves out those without a target */
        cada_token_entropy(logits, lse, e->mask + row_of[0], rows, e->V, e->h + row_of[0]);
        return;
    }
    /* rows gathered by the model's targets_only: every one has a target */
    cada_token_entropy(logits, lse, NULL, rows, e->V, e->chunk);
    for (int i = 0; i < rows; i++) e->h[row_of[i]] = e->chunk[i];
}

/* Under tensor parallelism each rank saw its (rows, V/P) logits only, so entropy_of_chunk
 * gave h_r = lse - sum_{v in rank r} p_v logit_v (lse is the whole vocabulary's). The
 * entropy lse - sum_r sum_{v in r} p_v logit_v = sum_r (h_r - lse (P-1)/P): each rank
 * shifts its rows, then one all-reduce of N floats over the group. */
static cada_status tp_whole_entropy(const cada_model *m, const cada_batch *b, float *ent) {
    const int N = b->B * b->T;
    const float share = (float)(m->tp->size - 1) / (float)m->tp->size;
    for (int n = 0; n < N; n++) ent[n] = b->targets[n] >= 0 ? ent[n] - share * m->act.lse[n] : 0.0f;
    return m->tp->allreduce_sum(m->tp->ctx, ent, (size_t)N);
}

static cada_status cpu_forward(cada_learner *L, const cada_batch *b, const float **logprob, double *entropy_sum) {
    cada_model *m = L->m;
    const int N = b->B * b->T;
    if ((size_t)N > L->ent_cap) { /* N entropies, then one chunk's (at most N rows) */
        float *h = realloc(L->ent, sizeof(float) * 2 * (size_t)N);
        if (!h) return CADA_ERR(CADA_ERR_NOMEM, "learner: entropy of %d rows", N);
        L->ent = h;
        L->ent_cap = (size_t)N;
    }
    memset(L->ent, 0, sizeof(float) * (size_t)N);
    entropy_rows e = {L->ent, L->ent + N, b->targets, m->cfg.vocab_size};
    cada_logits_observer obs = {entropy_of_chunk, &e};
    CADA_TRY(cada_model_forward_observed(m, b, &obs));
    if (m->tp && m->tp->size > 1) CADA_TRY(tp_whole_entropy(m, b, L->ent));
    double sum = 0.0; /* in row order: the same total whatever the chunks */
    for (int n = 0; n < N; n++)
        if (b->targets[n] >= 0) sum += L->ent[n];
    *entropy_sum = sum;
    *logprob = m->act.logprob;
    return CADA_OK;
}
static cada_status cpu_backward(cada_learner *L, const float *dlogprob, const cada_backward_hooks *hooks) {
    return cada_model_backward_hooked(L->m, dlogprob, hooks);
}
static cada_status cpu_zero_grads(cada_learner *L) {
    cada_model_zero_grads(L->m);
    return CADA_OK;
}
static float *cpu_host_grads(cada_learner *L) { return L->m->grads; }

static const learner_backend cpu_backend = {cpu_forward, cpu_backward, cpu_zero_grads, cpu_host_grads};

/* The GPU model: its forward downloads the log-probs and computes the entropy on the
 * device (model/model_gpu.h); the gradients stay on the device. */
static cada_status gpu_forward(cada_learner *L, const cada_batch *b, const float **logprob, double *entropy_sum) {
    return cada_learner_gpu_forward(L->gpu, b, logprob, entropy_sum);
}
static cada_status gpu_backward(cada_learner *L, const float *dlogprob, const cada_backward_hooks *hooks) {
    if (hooks) return CADA_ERR(CADA_ERR_INTERNAL, "learner: backward hooks (ZeRO-2) on the GPU backend");
    return cada_learner_gpu_backward(L->gpu, dlogprob);
}
static cada_status gpu_zero_grads(cada_learner *L) { return cada_learner_gpu_zero_grads(L->gpu); }
static float *gpu_host_grads(cada_learner *L) { return (void)L, NULL; }

static const learner_backend gpu_backend = {gpu_forward, gpu_backward, gpu_zero_grads, gpu_host_grads};

void cada_learner_config_default(cada_learner_config *c, cada_algo algo) {
    memset(c, 0, sizeof *c);
    cada_algo_config_default(&c->algo, algo);
    cada_adamw_config_default(&c->opt);
    c->zero = CADA_DP;
    c->row_tokens = 512;
    c->micro_tokens = 4096;
    c->pad_id = 0;
    c->fixed_order = 1;
}

static const char *const zero_names[] = {"dp", "zero1", "zero2", "zero3"};
const char *cada_zero_name(cada_zero_stage z) { return (unsigned)z < 4 ? zero_names[z] : "?"; }
int cada_zero_parse(const char *name, cada_zero_stage *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, zero_names[i])) {
            *out = (cada_zero_stage)i;
            return 0;
        }
    return -1;
}

/* B x T of the largest micro-batch split() makes: budget rows of row_tokens, or the two
 * rows of a DPO pair that opens a micro-batch alone. */
static int max_micro_tokens(const cada_learner_config *cfg) {
    int rows = cfg->micro_tokens / cfg->row_tokens;
    if (cfg->algo.algo == CADA_ALGO_DPO && rows < 2) rows = 2;
    return rows * cfg->row_tokens;
}

/* The part of a learner both backends share: configuration, communicator, shards of the
 * flat buffer and the layer geometry, the baseline. */
static cada_status learner_new(cada_learner **out, cada_model *m, cada_comm *c, const cada_learner_config *cfg) {
    if (cfg->row_tokens < 2 || cfg->micro_tokens < cfg->row_tokens)
        return CADA_ERR(CADA_ERR_CONFIG, "learner: row_tokens %d, micro_tokens %d (need row_tokens >= 2 and micro_tokens >= row_tokens)",
                        cfg->row_tokens, cfg->micro_tokens);
    cada_learner *L = CADA_CALLOC(1, sizeof *L, "learner");
    if (!L) return CADA_ERR_NOMEM;
    L->cfg = *cfg;
    L->m = m;
    L->c = c;
    L->W = cada_comm_size(c);
    L->rank = cada_comm_rank(c);
    cada_shards_init(&L->sh, m->n_params, L->W, 16);
    cada_model_layer_range(m, 0, &L->layer0_off, &L->stride);
    L->layers_end = L->layer0_off + (size_t)m->cfg.n_layers * L->stride;
    L->head_off = (size_t)(m->p.final_norm - m->params);
    L->be = &cpu_backend;
    cada_baseline_init(&L->baseline, &cfg->algo.adv);
    *out = L;
    return CADA_OK;
}

cada_status cada_learner_init_gpu(cada_learner **out, cada_model *m, cada_comm *c, const cada_learner_config *cfg,
                                  const cada_learner_gpu_options *g) {
    *out = NULL;
    if (m->tp && m->tp->size > 1)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "learn.tp = %d with cluster.device = cuda: the GPU learner does not split "
                        "layers yet (tensor parallelism runs on the CPU learner)", m->tp->size);
    if (cfg->zero != CADA_DP)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "learn.zero = %d (%s) with cluster.device = cuda: ZeRO is not built on the GPU yet; use learn.zero = 0 "
                        "(data parallel)", (int)cfg->zero, cada_zero_name(cfg->zero));
    cada_learner *L = NULL;
    CADA_TRY(learner_new(&L, m, c, cfg));
    const size_t n = m->n_params;
    L->shard_off = 0;
    L->shard_n = n;
    /* the optimizer's state lives on the device: the host struct keeps its
     * configuration, shard and counters only (m and v stay NULL) */
    L->opt.cfg = cfg->opt;
    L->opt.offset = 0;
    L->opt.count = n;
    L->be = &gpu_backend;
    cada_status s = cada_learner_gpu_create(&L->gpu, m, max_micro_tokens(cfg), L->W, g,
                                            cada_comm_get_options(c)->timeout_s);
    if (s != CADA_OK) {
        cada_learner_free(L);
        return s;
    }
    *out = L;
    return CADA_OK;
}

cada_gpu_model *cada_learner_gpu_model(cada_learner *L) { return L->gpu ? cada_learner_gpu_model_of(L->gpu) : NULL; }

cada_status cada_learner_pull_params(cada_learner *L) {
    return L->gpu ? cada_learner_gpu_download_params(L->gpu, L->m->params) : cada_learner_gather_params(L);
}

cada_status cada_learner_push_params(cada_learner *L) {
    if (L->gpu) return cada_learner_gpu_upload_params(L->gpu, L->m->params);
    L->whole = 1; /* a restore wrote every parameter */
    L->player[0] = L->player[1] = -1;
    return CADA_OK;
}

void cada_learner_gpu_report(const cada_learner *L) {
    if (L->gpu) cada_learner_gpu_report_model(L->gpu);
}

size_t cada_learner_gpu_bytes(const cada_learner *L) {
    if (!L->gpu) return 0;
    size_t p, g, o, a, total;
    cada_learner_gpu_plan(L->gpu, &p, &g, &o, &a, &total);
    return total;
}

cada_status cada_learner_init(cada_learner **out, cada_model *m, cada_comm *c, const cada_learner_config *cfg) {
    *out = NULL;
    cada_learner *L = NULL;
    CADA_TRY(learner_new(&L, m, c, cfg));
    const size_t n = m->n_params;
    L->shard_off = cada_shards_offset(&L->sh, L->rank);
    L->shard_n = cada_shards_count(&L->sh, L->rank);
    cada_status s = cada_model_set_options(m, &cfg->model);
    const int dp = cfg->zero == CADA_DP;
    if (s == CADA_OK && dp) s = cada_adamw_init(&L->opt, &cfg->opt, 0, n);
    else if (s == CADA_OK) s = cada_adamw_init(&L->opt, &cfg->opt, L->shard_off, L->shard_n);
    if (s == CADA_OK) s = cada_model_alloc_grads(m); /* ZeRO-2: never written outside the embedding/head ranges */
    const int sharded_grads = cfg->zero == CADA_ZERO2 || cfg->zero == CADA_ZERO3;
    if (s == CADA_OK && sharded_grads) { /* ZeRO-1 reduces in place into its region of m->grads */
        L->g_shard = CADA_CALLOC(L->shard_n ? L->shard_n : 1, sizeof(float), "gradient shard");
        if (!L->g_shard) s = CADA_ERR_NOMEM;
    }
    if (s == CADA_OK && sharded_grads)
        for (int b = 0; b < 2 && s == CADA_OK; b++) {
            L->zbuf[b] = CADA_MALLOC(sizeof(float) * (L->stride ? L->stride : 1), "ZeRO-2 layer gradient block");
            L->zlayer[b] = -1;
            if (!L->zbuf[b]) s = CADA_ERR_NOMEM;
        }
    L->whole = 1; /* loaded (or broadcast) whole on every rank */
    L->player[0] = L->player[1] = -1;
    if (s == CADA_OK && cfg->zero == CADA_ZERO3)
        for (int b = 0; b < 2 && s == CADA_OK; b++) {
            L->pbuf[b] = CADA_MALLOC(sizeof(float) * (L->stride ? L->stride : 1), "ZeRO-3 layer parameter block");
            if (!L->pbuf[b]) s = CADA_ERR_NOMEM;
        }
    if (s != CADA_OK) {
        cada_learner_free(L);
        return s;
    }
    cada_accum_init(&L->acc, sharded_grads ? L->shard_n : n);
    *out = L;
    return CADA_OK;
}

void cada_learner_free(cada_learner *L) {
    if (!L) return;
    cada_learner_gpu_free(L->gpu);
    cada_adamw_free(&L->opt);
    cada_accum_free(&L->acc);
    free(L->g_shard);
    free(L->round_buf);
    free(L->zbuf[0]);
    free(L->zbuf[1]);
    free(L->pbuf[0]);
    free(L->pbuf[1]);
    cada_packed_free(&L->pk);
    free(L->adv);
    free(L->dlp);
    free(L->ent);
    free(L->mb);
    free(L);
}

cada_baseline *cada_learner_baseline(cada_learner *L) { return &L->baseline; }
cada_adamw *cada_learner_optimizer(cada_learner *L) { return &L->opt; }
long long cada_learner_steps(const cada_learner *L) { return L->steps; }

/* ---- optimizer shard files ----------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "optimizer shard files are written in host order, which must be little-endian"
#endif

#define OPT_MAGIC "CADAOPT"
#define OPT_VERSION 1u
#define OPT_HEADER 80

typedef struct {
    uint32_t version, rank, world, zero;
    uint64_t n_params, offset, count;
    int64_t step, skipped, learner_steps;
} opt_header;

static void put(unsigned char *b, size_t *at, const void *v, size_t n) {
    memcpy(b + *at, v, n);
    *at += n;
}
static void get(const unsigned char *b, size_t *at, void *v, size_t n) {
    memcpy(v, b + *at, n);
    *at += n;
}

/* The GPU backend's m and v between the device and the file f (positioned after the
 * header), in chunks: file layout m[count] then v[count], so each chunk of m and v is
 * written (read) at its two places. Loading uploads chunk by chunk after every header
 * check passed; a read error midway leaves the device state partial, and the caller's
 * restore fails. */
#define OPT_IO_CHUNK ((size_t)4 << 20)
static cada_status gpu_optimizer_io(const cada_learner *L, FILE *f, int save, const char *path) {
    const size_t count = L->opt.count, chunk = count < OPT_IO_CHUNK ? (count ? count : 1) : OPT_IO_CHUNK;
    float *m = CADA_MALLOC(sizeof(float) * chunk, "optimizer chunk m");
    float *v = CADA_MALLOC(sizeof(float) * chunk, "optimizer chunk v");
    cada_status st = m && v ? CADA_OK : CADA_ERR_NOMEM;
    for (size_t off = 0; st == CADA_OK && off < count; off += chunk) {
        const size_t c = count - off < chunk ? count - off : chunk;
        const long at_m = (long)(OPT_HEADER + sizeof(float) * off), at_v = (long)(OPT_HEADER + sizeof(float) * (count + off));
        if (save) {
            st = cada_learner_gpu_download_adamw(L->gpu, off, c, m, v);
            if (st == CADA_OK && (fseek(f, at_m, SEEK_SET) != 0 || fwrite(m, sizeof(float), c, f) != c ||
                                  fseek(f, at_v, SEEK_SET) != 0 || fwrite(v, sizeof(float), c, f) != c))
                st = CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        } else {
            if (fseek(f, at_m, SEEK_SET) != 0 || fread(m, sizeof(float), c, f) != c || fseek(f, at_v, SEEK_SET) != 0 ||
                fread(v, sizeof(float), c, f) != c)
                st = CADA_ERR(CADA_ERR_IO, "%s: cannot read m and v", path);
            if (st == CADA_OK) st = cada_learner_gpu_upload_adamw(L->gpu, off, c, m, v);
        }
    }
    free(m);
    free(v);
    return st;
}

cada_status cada_learner_save_optimizer(const cada_learner *L, const char *path) {
    const cada_adamw *o = &L->opt;
    unsigned char h[OPT_HEADER];
    memset(h, 0, sizeof h);
    size_t at = 0;
    put(h, &at, OPT_MAGIC, 8); /* includes the terminating zero */
    opt_header x = {OPT_VERSION, (uint32_t)L->rank, (uint32_t)L->W, (uint32_t)L->cfg.zero, (uint64_t)L->m->n_params,
                    (uint64_t)o->offset, (uint64_t)o->count, o->step, o->skipped, L->steps};
    put(h, &at, &x.version, 4);
    put(h, &at, &x.rank, 4);
    put(h, &at, &x.world, 4);
    put(h, &at, &x.zero, 4);
    put(h, &at, &x.n_params, 8);
    put(h, &at, &x.offset, 8);
    put(h, &at, &x.count, 8);
    put(h, &at, &x.step, 8);
    put(h, &at, &x.skipped, 8);
    put(h, &at, &x.learner_steps, 8);
    if (!L->gpu) { /* the moments straight to the disk (base/dfile.h), synced */
        cada_dfile *df = NULL;
        CADA_TRY(cada_dfile_create(&df, path));
        cada_status st = cada_dfile_write(df, h, sizeof h);
        if (st == CADA_OK) st = cada_dfile_write(df, o->m, sizeof(float) * o->count);
        if (st == CADA_OK) st = cada_dfile_write(df, o->v, sizeof(float) * o->count);
        if (st != CADA_OK) {
            cada_dfile_abort(df);
            return st;
        }
        return cada_dfile_close(df);
    }
    /* GPU: m and v come down in chunks and are placed with seeks */
    FILE *f = fopen(path, "wb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    {
        cada_status st = gpu_optimizer_io(L, f, 1, path);
        if (st != CADA_OK) {
            fclose(f);
            return st;
        }
    }
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok; /* synced like the CPU learner's (base/dfile.h) */
    ok = fclose(f) == 0 && ok;
    if (!ok) return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return CADA_OK;
}

cada_status cada_learner_load_optimizer(cada_learner *L, const char *path) {
    cada_adamw *o = &L->opt;
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open this rank's optimizer shard: %s", path, strerror(errno));
    unsigned char h[OPT_HEADER];
    cada_status st = CADA_OK;
    if (fseek(f, 0, SEEK_END) != 0) st = CADA_ERR(CADA_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    long size = st == CADA_OK ? ftell(f) : -1;
    if (st == CADA_OK && size < OPT_HEADER)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: truncated: %ld bytes, shorter than the %d-byte header", path, size, OPT_HEADER);
    if (st == CADA_OK && (fseek(f, 0, SEEK_SET) != 0 || fread(h, 1, sizeof h, f) != sizeof h))
        st = CADA_ERR(CADA_ERR_IO, "%s: cannot read the header", path);
    if (st != CADA_OK) {
        fclose(f);
        return st;
    }
    size_t at = 8;
    opt_header x;
    get(h, &at, &x.version, 4);
    get(h, &at, &x.rank, 4);
    get(h, &at, &x.world, 4);
    get(h, &at, &x.zero, 4);
    get(h, &at, &x.n_params, 8);
    get(h, &at, &x.offset, 8);
    get(h, &at, &x.count, 8);
    get(h, &at, &x.step, 8);
    get(h, &at, &x.skipped, 8);
    get(h, &at, &x.learner_steps, 8);
#define FIELD_ERR(...) (st = CADA_ERR(CADA_ERR_FORMAT, __VA_ARGS__))
    if (memcmp(h, OPT_MAGIC, 8)) FIELD_ERR("%s: field magic: not an optimizer shard (expected \"CADAOPT\")", path);
    else if (x.version != OPT_VERSION) FIELD_ERR("%s: field version = %u, this build reads %u", path, x.version, OPT_VERSION);
    else if (x.rank != (uint32_t)L->rank) FIELD_ERR("%s: field rank = %u, but it is being loaded by rank %d", path, x.rank, L->rank);
    else if (x.world != (uint32_t)L->W)
        FIELD_ERR("%s: field world = %u learner ranks, this job has %d", path, x.world, L->W);
    else if (x.zero != (uint32_t)L->cfg.zero)
        FIELD_ERR("%s: field zero = %u (%s), this learner runs %s", path, x.zero, cada_zero_name((cada_zero_stage)x.zero),
                  cada_zero_name(L->cfg.zero));
    else if (x.n_params != (uint64_t)L->m->n_params)
        FIELD_ERR("%s: field n_params = %llu, the model has %zu", path, (unsigned long long)x.n_params, L->m->n_params);
    else if (x.offset != (uint64_t)o->offset)
        FIELD_ERR("%s: field offset = %llu, this rank's shard starts at %zu", path, (unsigned long long)x.offset, o->offset);
    else if (x.count != (uint64_t)o->count)
        FIELD_ERR("%s: field count = %llu, this rank's shard has %zu floats", path, (unsigned long long)x.count, o->count);
    else if (x.step < 0 || x.skipped < 0 || x.learner_steps < x.step)
        FIELD_ERR("%s: fields step = %lld, skipped = %lld, learner steps = %lld are inconsistent", path, (long long)x.step,
                  (long long)x.skipped, (long long)x.learner_steps);
    else if ((uint64_t)size != OPT_HEADER + 8 * x.count)
        FIELD_ERR("%s: %s: %ld bytes, the header's count = %llu needs %llu (m and v)", path,
                  (uint64_t)size < OPT_HEADER + 8 * x.count ? "truncated" : "trailing bytes", size,
                  (unsigned long long)x.count, (unsigned long long)(OPT_HEADER + 8 * x.count));
#undef FIELD_ERR
    if (st == CADA_OK && L->gpu) {
        st = gpu_optimizer_io(L, f, 0, path);
        fclose(f);
        if (st != CADA_OK) return st;
        o->step = x.step;
        o->skipped = x.skipped;
        L->steps = x.learner_steps;
        return CADA_OK;
    }
    float *m = NULL, *v = NULL;
    if (st == CADA_OK) {
        m = CADA_MALLOC(sizeof(float) * (o->count ? o->count : 1), "optimizer shard m");
        v = CADA_MALLOC(sizeof(float) * (o->count ? o->count : 1), "optimizer shard v");
        if (!m || !v) st = CADA_ERR_NOMEM;
    }
    if (st == CADA_OK && (fread(m, sizeof(float), o->count, f) != o->count || fread(v, sizeof(float), o->count, f) != o->count))
        st = CADA_ERR(CADA_ERR_IO, "%s: cannot read m and v", path);
    fclose(f);
    if (st != CADA_OK) {
        free(m);
        free(v);
        return st;
    }
    memcpy(o->m, m, sizeof(float) * o->count);
    memcpy(o->v, v, sizeof(float) * o->count);
    free(m);
    free(v);
    o->step = x.step;
    o->skipped = x.skipped;
    L->steps = x.learner_steps;
    return CADA_OK;
}

/* ---- micro-batches ------------------------------------------------------------------------ */

/* Cuts t[0..n) in order into micro-batches of at most `budget` rows of T tokens (DPO:
 * pairs stay together), a micro-batch also closing before a unit that would take it
 * past `target` tokens by more than half the unit (target <= 0: no such limit) unless
 * it is the parts-th (which takes the rest), into mb[0..); returns how many, or -1 for
 * a DPO sequence without its partner (*bad: it). */
static int cut(micro_batch *mb, const cada_traj *t, int n, int T, int budget, long target, int parts, int pairs, int *bad) {
    int K = 0, rows = 0, used = T, first = 0;
    long tokens = 0;
    for (int i = 0; i < n;) {
        int u = 1;
        if (pairs) {
            if (i + 1 >= n || t[i].group != t[i + 1].group) {
                *bad = i;
                return -1;
            }
            u = 2;
        }
        int r = rows, us = used;
        long ut = 0;
        for (int j = i; j < i + u; j++) {
            const int len = t[j].prompt_len + t[j].completion_len;
            ut += len;
            if (us + len > T) {
                r++;
                us = len;
            } else {
                us += len;
            }
        }
        if (i > first && (r > budget || (target > 0 && K + 1 < parts && 2 * (tokens - target) + ut > 0))) {
            mb[K++] = (micro_batch){first, i - first}; /* close the current micro-batch; the unit opens the next */
            first = i;
            rows = 0;
            used = T;
            tokens = 0;
            continue;
        }
        rows = r;
        used = us;
        tokens += ut;
        i += u;
    }
    if (n > first) mb[K++] = (micro_batch){first, n - first};
    return K;
}

cada_status cada_learner_split(const cada_traj *t, int n, int T, int micro_tokens, int W, int balance, int pairs,
                               cada_micro_batch *mb, int *K_out) {
    const int budget = micro_tokens / T > 0 ? micro_tokens / T : 1;
    int bad = 0;
    for (int j = 0; j < n; j++) {
        const int len = t[j].prompt_len + t[j].completion_len;
        if (len > T) return CADA_ERR(CADA_ERR_ARG, "learner: sequence %d has %d tokens, more than a row (row_tokens %d)", j, len, T);
    }
    int K = cut(mb, t, n, T, budget, 0, 0, pairs, &bad);
    if (K < 0)
        return CADA_ERR(CADA_ERR_ARG, "learner: DPO sequence %d (pair %d) must be followed by its partner", bad, t[bad].group);
    if (balance && W > 1 && K % W) {
        long total = 0;
        for (int j = 0; j < n; j++) total += t[j].prompt_len + t[j].completion_len;
        const int want = (K + W - 1) / W * W;
        const int Ke = cut(mb, t, n, T, budget, (total + want - 1) / want, want, pairs, &bad);
        if (Ke > K && Ke <= want) K = Ke;
        else K = cut(mb, t, n, T, budget, 0, 0, pairs, &bad); /* the budget's cut again, padded below */
    }
    while (K % W) mb[K++] = (micro_batch){n, 0};
    if (K == 0) /* an empty batch: one empty micro-batch per rank keeps the collectives in step */
        while (K < W) mb[K++] = (micro_batch){n, 0};
    *K_out = K;
    return CADA_OK;
}

/* The step's micro-batches (learner.h, item 2) into L->mb. */
static cada_status split(cada_learner *L, const cada_traj *t, int n, int *K_out) {
    const int cap = n + L->W + 1;
    if (cap > L->mb_cap) {
        micro_batch *p = realloc(L->mb, sizeof *p * (size_t)cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "learner: %d micro-batches", cap);
        L->mb = p;
        L->mb_cap = cap;
    }
    return cada_learner_split(t, n, L->cfg.row_tokens, L->cfg.micro_tokens, L->W, !L->cfg.fixed_order,
                              L->cfg.algo.algo == CADA_ALGO_DPO, L->mb, K_out);
}

/* Forward, entropy, loss and backward of one micro-batch on the learner's backend: the
 * loss and its dlogprob are computed on the host from the forward's log-probs, the same
 * code for the CPU and the GPU. *tokens: the micro-batch's sequence tokens are added. */
static cada_status run_micro(cada_learner *L, const cada_traj *t, micro_batch mb, const cada_loss_norm *norm,
                             const cada_backward_hooks *hooks, cada_token_stats *st, double *tokens) {
    CADA_TRY(cada_pack_tight(&L->pk, t + mb.first, NULL, mb.count, L->cfg.row_tokens, L->cfg.pad_id));
    const int N = L->pk.B * L->pk.T;
    if ((size_t)N > L->dlp_cap) {
        float *d = realloc(L->dlp, sizeof(float) * (size_t)N);
        if (!d) return CADA_ERR(CADA_ERR_NOMEM, "learner: dlogprob of %d tokens", N);
        L->dlp = d;
        L->dlp_cap = (size_t)N;
    }
    cada_batch b = cada_packed_batch(&L->pk);
    const float *logprob = NULL;
    double entropy = 0.0;
    CADA_TRY(L->be->forward(L, &b, &logprob, &entropy));
    st->entropy_sum += entropy;
    CADA_TRY(cada_algo_loss(&L->cfg.algo, t + mb.first, mb.count, L->pk.lp_index, L->adv + mb.first, logprob, N, norm,
                            L->dlp, st));
    for (int i = 0; i < mb.count; i++) *tokens += t[mb.first + i].prompt_len + t[mb.first + i].completion_len;
    return L->be->backward(L, L->dlp, hooks);
}

static void report_progress(const cada_learner *L, int done, int total, double tokens) {
    if (L->progress) L->progress(L->progress_ctx, done, total, tokens);
}

void cada_learner_set_progress(cada_learner *L, void (*fn)(void *ctx, int done, int total, double tokens), void *ctx) {
    L->progress = fn;
    L->progress_ctx = ctx;
}

/* ---- ZeRO-2 hooks ----------------------------------------------------------------------- */

static float *z2_layer_grads(void *ctx, int l) {
    cada_learner *L = ctx;
    const int b = l % 2;
    if (L->zreq[b]) { /* the block still feeds the reduce-scatter of layer l + 2 */
        cada_status s = cada_comm_wait(L->c, L->zreq[b]);
        L->zreq[b] = NULL;
        if (s != CADA_OK && L->hook_status == CADA_OK) L->hook_status = s;
    }
    memset(L->zbuf[b], 0, sizeof(float) * L->stride);
    L->zlayer[b] = l;
    return L->zbuf[b];
}

static void z2_range_done(void *ctx, size_t off, size_t count) {
    cada_learner *L = ctx;
    if (L->hook_status != CADA_OK) return;
    const float *src;
    int b = -1;
    if (off >= L->layer0_off && off < L->layers_end) {
        int l = (int)((off - L->layer0_off) / L->stride);
        b = l % 2;
        if (L->zlayer[b] != l || count != L->stride) {
            L->hook_status = CADA_ERR(CADA_ERR_INTERNAL, "learner: ZeRO-2 range [%zu, +%zu) is not layer %d's block", off, count, l);
            return;
        }
        src = L->zbuf[b];
    } else {
        src = L->m->grads + off;
    }
    size_t a = off > L->shard_off ? off : L->shard_off;
    float *out = L->round_out + (a > L->shard_off + L->shard_n ? L->shard_n : a - L->shard_off);
    cada_comm_req *r = NULL;
    cada_status s = cada_comm_reduce_scatter_start(L->c, &L->sh, src, off, off + count, out, CADA_RED_SUM, &r);
    if (s == CADA_OK) s = cada_comm_progress(L->c);
    if (s != CADA_OK) {
        L->hook_status = s;
        return;
    }
    if (b >= 0) L->zreq[b] = r;
}

/* ---- ZeRO-3: layers' parameters gathered as forward and backward reach them ------------- */

/* Starts gathering layer l's parameters into block b (owners read their shard of
 * m->params, where AdamW updates it). */
static void z3_start_gather(cada_learner *L, int l, int b) {
    const size_t off = L->layer0_off + (size_t)l * L->stride;
    L->player[b] = l;
    cada_status s = cada_comm_allgather_range_start(L->c, &L->sh, L->m->params, off, off + L->stride, L->pbuf[b], &L->preq[b]);
    if (s == CADA_OK) s = cada_comm_progress(L->c);
    if (s != CADA_OK && L->hook_status == CADA_OK) L->hook_status = s;
}

/* The model's param source (model.h): layer l from block l % 2, gathered now unless it
 * is there or on its way; then the next layer's gather starts into the other block,
 * whose layer (l - 1 in a forward, l + 1 in a backward) the pass is done with. */
static const float *z3_layer_params(void *ctx, int l, int next) {
    cada_learner *L = ctx;
    const int b = l % 2;
    if (L->player[b] != l) z3_start_gather(L, l, b);
    if (L->preq[b]) {
        cada_status s = cada_comm_wait(L->c, L->preq[b]);
        L->preq[b] = NULL;
        if (s != CADA_OK && L->hook_status == CADA_OK) L->hook_status = s;
    }
    if (next >= 0 && L->player[next % 2] != next) z3_start_gather(L, next, next % 2);
    return L->pbuf[b];
}

/* The ranges backward reports, with zero gradients: a rank whose micro-batch of this
 * round is empty still takes part in every reduce-scatter (and with ZeRO-3 every
 * gather), in the same order as a pass that runs. */
static void z2_empty_round(cada_learner *L) {
    const cada_model *m = L->m;
    const int Ln = m->cfg.n_layers, z3 = L->cfg.zero == CADA_ZERO3;
    if (z3)
        for (int l = 0; l < Ln; l++) z3_layer_params(L, l, l + 1 < Ln ? l + 1 : -1);
    z2_range_done(L, L->head_off, m->n_params - L->head_off);
    for (int l = Ln - 1; l >= 0; l--) {
        if (z3) z3_layer_params(L, l, l - 1);
        z2_layer_grads(L, l);
        z2_range_done(L, L->layer0_off + (size_t)l * L->stride, L->stride);
    }
    z2_range_done(L, 0, L->layer0_off);
}

/* Drops the resident pages of the layer ranges outside this rank's shard: after an
 * update they are stale, and the passes read layers from the gathered blocks. They read
 * as zeros until cada_learner_gather_params fills them again. */
static void z3_release(cada_learner *L) {
    if (L->cfg.zero != CADA_ZERO3 || L->W == 1) return;
    /* [first layer, shard) and [shard end, end of the layers), clamped to the layers: a
     * shard may begin or end inside the embeddings or the head, which stay whole */
    const size_t end = L->shard_off + L->shard_n;
    const size_t lo[2] = {L->layer0_off, end > L->layer0_off ? end : L->layer0_off};
    const size_t hi[2] = {L->shard_off < L->layers_end ? L->shard_off : L->layers_end, L->layers_end};
    for (int i = 0; i < 2; i++)
        if (hi[i] > lo[i]) cada_release_pages(L->m->params + lo[i], sizeof(float) * (hi[i] - lo[i])); /* whole pages inside */
    L->whole = 0;
}

cada_status cada_learner_gather_params(cada_learner *L) {
    if (!L || L->gpu || L->cfg.zero != CADA_ZERO3 || L->whole) return CADA_OK;
    CADA_TRY(cada_comm_allgather(L->c, &L->sh, L->m->params));
    L->whole = 1;
    return CADA_OK;
}

static void z2_zero_outer(cada_learner *L) {
    memset(L->m->grads, 0, sizeof(float) * L->layer0_off);
    memset(L->m->grads + L->head_off, 0, sizeof(float) * (L->m->n_params - L->head_off));
}

static cada_status z2_rounds(cada_learner *L, const cada_traj *t, int K, const cada_loss_norm *norm, cada_token_stats *st,
                             double *tokens) {
    const int k = K / L->W;
    cada_backward_hooks hooks = {z2_range_done, z2_layer_grads, L};
    if (L->cfg.zero == CADA_ZERO3) {
        L->psrc = (cada_param_source){z3_layer_params, L};
        L->m->param_source = &L->psrc;
    }
    if (k > 1 && !L->round_buf) {
        L->round_buf = CADA_MALLOC(sizeof(float) * (L->shard_n ? L->shard_n : 1), "ZeRO-2 round shard");
        if (!L->round_buf) return CADA_ERR_NOMEM;
    }
    /* The first round reduces straight into the gradient shard when it is the only one
     * or when rounds are simply added in order (fixed_order = 0); the canonical order
     * stacks rounds in the tree accumulator. */
    const int tree = L->cfg.fixed_order && k > 1;
    z2_zero_outer(L);
    for (int i = 0; i < k; i++) {
        micro_batch mb = L->mb[i * L->W + L->rank];
        L->round_out = tree || i > 0 ? L->round_buf : L->g_shard;
        L->hook_status = CADA_OK;
        cada_status s = CADA_OK;
        if (mb.count > 0) s = run_micro(L, t, mb, norm, &hooks, st, tokens);
        else z2_empty_round(L);
        cada_status w = cada_comm_wait_all(L->c);
        L->zreq[0] = L->zreq[1] = NULL;
        L->preq[0] = L->preq[1] = NULL;
        if (s != CADA_OK) {
            L->m->param_source = NULL;
            return s;
        }
        if (L->hook_status != CADA_OK) return L->hook_status;
        if (w != CADA_OK) return w;
        if (tree) {
            CADA_TRY(cada_accum_push(&L->acc, L->round_buf));
        } else if (i > 0) {
            float *g = L->g_shard;
            const float *r = L->round_buf;
#pragma omp parallel for schedule(static)
            for (size_t j = 0; j < L->shard_n; j++) g[j] += r[j];
        }
        z2_zero_outer(L);
        report_progress(L, i + 1, k, *tokens);
    }
    L->m->param_source = NULL;
    if (tree) cada_accum_finish(&L->acc, L->g_shard);
    return CADA_OK;
}

/* ---- DP, ZeRO-1 and the GPU ---------------------------------------------------------------- */

/* This rank's contiguous block of micro-batches, their gradients summed in the backend's
 * buffer: in the canonical tree when the order is fixed and the gradients are on the
 * host, else accumulated by backward in order. */
static cada_status local_grads(cada_learner *L, const cada_traj *t, int K, const cada_loss_norm *norm, cada_token_stats *st,
                               double *tokens) {
    const int k = K / L->W;
    float *grads = L->be->host_grads(L);
    const int tree = grads && L->cfg.fixed_order && k > 1;
    CADA_TRY(L->be->zero_grads(L));
    for (int i = 0; i < k; i++) {
        micro_batch mb = L->mb[L->rank * k + i];
        if (tree && i > 0) CADA_TRY(L->be->zero_grads(L));
        if (mb.count > 0) CADA_TRY(run_micro(L, t, mb, norm, NULL, st, tokens));
        if (tree) CADA_TRY(cada_accum_push(&L->acc, grads));
        report_progress(L, i + 1, k, *tokens);
    }
    if (tree) cada_accum_finish(&L->acc, grads);
    return CADA_OK;
}

/* After local_grads on the GPU: the gradients summed over the learners, then AdamW on
 * the device; *ar as cada_adamw_step reports it. */
static cada_status gpu_update(cada_learner *L, cada_adamw_result *ar) {
    CADA_TRY(cada_learner_gpu_reduce(L->gpu));
    /* the update count and the result as cada_adamw_step reports them */
    const cada_adamw_config *c = &L->opt.cfg;
    const long long step = L->opt.step + 1;
    double gnorm = 0.0; /* the global norm (not squared) */
    CADA_TRY(cada_learner_gpu_adamw(L->gpu, c, step, &gnorm));
    memset(ar, 0, sizeof *ar);
    ar->grad_norm = gnorm;
    ar->clip_coef = 1.0;
    if (!isfinite(gnorm)) { /* skipped on every rank alike: the reduced gradient is the same */
        L->opt.skipped++;
        return CADA_OK;
    }
    ar->clip_coef = cada_clip_coef(c->max_grad_norm, gnorm);
    ar->applied = 1;
    ar->lr = cada_lr_at(c, step);
    L->opt.step = step;
    return CADA_OK;
}

/* ---- the step ----------------------------------------------------------------------------- */

cada_status cada_learner_step(cada_learner *L, const cada_traj *t, int n, cada_step_metrics *out) {
    const double t0 = cada_now();
    cada_model *m = L->m;
    cada_comm_set_fixed_order(L->c, L->cfg.fixed_order);
    CADA_TRY(cada_traj_validate(t, n, cada_model_vocab(m)));
    if (n > L->adv_cap) {
        float *a = realloc(L->adv, sizeof(float) * (size_t)n);
        if (!a) return CADA_ERR(CADA_ERR_NOMEM, "learner: advantages of %d sequences", n);
        L->adv = a;
        L->adv_cap = n;
    }
    cada_step_metrics sm;
    memset(&sm, 0, sizeof sm);
    CADA_TRY(cada_algo_prepare(&L->cfg.algo, t, n, &L->baseline, L->adv, &sm.adv));
    cada_loss_norm norm;
    cada_loss_norm_of(t, n, &norm);
    int K = 0;
    CADA_TRY(split(L, t, n, &K));
    cada_token_stats st;
    cada_token_stats_zero(&st);
    double tokens = 0.0;

    const size_t np = m->n_params;
    float *params = m->params, *grads = m->grads;
    double sq = 0.0;
    cada_adamw_result ar;
    double t_grads = 0, t_reduced = 0, t_updated = 0; /* where a CPU step's time goes (CADA_LOG=debug) */
    if (L->gpu) {
        CADA_TRY(local_grads(L, t, K, &norm, &st, &tokens));
        CADA_TRY(gpu_update(L, &ar));
    } else if (L->cfg.zero == CADA_ZERO2 || L->cfg.zero == CADA_ZERO3) {
        z3_release(L);
        cada_status zs = z2_rounds(L, t, K, &norm, &st, &tokens);
        if (zs != CADA_OK) {
            L->player[0] = L->player[1] = -1;
            return zs;
        }
        params = m->params + L->shard_off;
        grads = L->g_shard;
        sq = cada_tp_grad_sqnorm(m, L->g_shard, L->shard_off, L->shard_n);
        CADA_TRY(cada_comm_allreduce_f64(L->c, &sq, 1, CADA_RED_SUM));
    } else {
        CADA_TRY(local_grads(L, t, K, &norm, &st, &tokens));
        t_grads = cada_now();
        if (L->cfg.zero == CADA_DP) {
            CADA_TRY(cada_comm_allreduce(L->c, m->grads, np, CADA_RED_SUM));
            sq = cada_tp_grad_sqnorm(m, m->grads, 0, np); /* the same reduced gradient on every rank */
        } else {
            /* in place: this rank's region of the full buffer receives the reduced shard */
            CADA_TRY(cada_comm_reduce_scatter(L->c, &L->sh, m->grads, 0, np, m->grads + L->shard_off, CADA_RED_SUM));
            params = m->params + L->shard_off;
            grads = m->grads + L->shard_off;
            sq = cada_tp_grad_sqnorm(m, grads, L->shard_off, L->shard_n);
            CADA_TRY(cada_comm_allreduce_f64(L->c, &sq, 1, CADA_RED_SUM));
        }
    }
    if (!L->gpu && m->tp && m->tp->size > 1) /* the layers' other slices live on the TP group */
        CADA_TRY(m->tp->allreduce_sum_f64(m->tp->ctx, &sq, 1));
    if (!L->gpu) {
        t_reduced = cada_now();
        CADA_TRY(cada_adamw_step(&L->opt, params, grads, sq, &ar));
        t_updated = cada_now();
        if (ar.applied && L->cfg.zero == CADA_ZERO3) {
            /* the embeddings, final norm and LM head are read whole by every pass; the
             * layers stay sharded (gathered layer by layer, or by gather_params) */
            L->player[0] = L->player[1] = -1;
            CADA_TRY(cada_comm_allgather_range(L->c, &L->sh, m->params, 0, L->layer0_off, m->params));
            CADA_TRY(cada_comm_allgather_range(L->c, &L->sh, m->params, L->layers_end, np, m->params + L->layers_end));
            z3_release(L); /* W > 1: the layers outside the shard are stale now */
        } else if (ar.applied && L->cfg.zero != CADA_DP) {
            CADA_TRY(cada_comm_allgather(L->c, &L->sh, m->params));
        }
        if (t_grads > 0) /* DP and ZeRO-1 (ZeRO-2/3 reduce inside backward) */
            CADA_DEBUG("learner step %lld: gradients %.2f s (%.0f tokens of %d sequences in %d of %d micro-batches), reduce %.2f "
                       "s, AdamW %.2f s, gather %.2f s",
                       L->steps + 1, t_grads - t0, tokens, n, K / L->W, K, t_reduced - t_grads, t_updated - t_reduced,
                       cada_now() - t_updated);
    }
    L->steps++;

    /* statistics of every rank's tokens */
    double sums[CADA_TOKEN_STATS_NSUM + 1], maxs[CADA_TOKEN_STATS_NMAX];
    cada_token_stats_pack(&st, sums, maxs);
    sums[CADA_TOKEN_STATS_NSUM] = tokens;
    CADA_TRY(cada_comm_allreduce_f64(L->c, sums, CADA_TOKEN_STATS_NSUM + 1, CADA_RED_SUM));
    CADA_TRY(cada_comm_allreduce_f64(L->c, maxs, CADA_TOKEN_STATS_NMAX, CADA_RED_MAX));
    cada_token_stats_unpack(&st, sums, maxs);
    if (!out) return CADA_OK;
    sm.step = L->steps;
    sm.applied = ar.applied;
    sm.skipped = L->opt.skipped;
    sm.lr = ar.lr;
    sm.grad_norm = ar.grad_norm;
    sm.clip_coef = ar.clip_coef;
    sm.micro_batches = K;
    sm.local_micro_batches = K / L->W;
    sm.tok = st;
    const double nt = st.tokens > 0 ? st.tokens : 1.0;
    sm.loss = st.loss;
    sm.entropy_mean = st.entropy_sum / nt;
    sm.kl_mean = st.kl_tokens > 0 ? st.kl_sum / st.kl_tokens : 0.0;
    sm.clip_frac = st.clipped / nt;
    sm.ratio_mean = st.ratio_sum / nt;
    sm.ratio_max = st.tokens > 0 ? st.ratio_max : 0.0;
    sm.ratio_min = st.tokens > 0 ? -st.ratio_min_neg : 0.0;
    sm.lp_diff_mean = st.lp_diff_sum / nt;
    sm.lp_diff_max = st.lp_diff_max;
    sm.kl_reward_mean = st.seqs > 0 ? st.kl_reward_sum / st.seqs : 0.0;
    sm.is_weight_mean = st.is_weight_sum / nt;
    sm.is_weight_max = st.tokens > 0 ? st.is_weight_max : 0.0;
    sm.is_weight_min = st.tokens > 0 ? -st.is_weight_min_neg : 0.0;
    sm.tis_frac = st.tis_truncated / nt;
    sm.dpo_accuracy = st.pairs > 0 ? st.dpo_correct / st.pairs : 0.0;
    sm.tokens = sums[CADA_TOKEN_STATS_NSUM];
    sm.seconds = cada_now() - t0;
    sm.tokens_per_s = sm.seconds > 0 ? sm.tokens / sm.seconds : 0.0;
    *out = sm;
    return CADA_OK;
}

void cada_learner_memory_get(const cada_learner *L, cada_learner_memory *o) {
    memset(o, 0, sizeof *o);
    const size_t F = sizeof(float), n = L->m->n_params;
    o->n_params = n;
    const size_t outer = L->layer0_off + (n - L->head_off); /* embeddings, final norm, LM head */
    /* ZeRO-3 between passes: the outer ranges, this shard's part of the layers, and the
     * two gathered layer blocks (the rest of the buffer is not resident: z3_release) */
    o->params = L->cfg.zero == CADA_ZERO3 && L->W > 1 ? (outer + L->shard_n + 2 * L->stride) * F : n * F;
    o->grads_alloc = L->m->grads ? n * F : 0;
    o->grads = L->cfg.zero == CADA_ZERO2 || L->cfg.zero == CADA_ZERO3 ? outer * F : n * F;
    o->grad_shard = cada_accum_bytes(&L->acc);
    if (L->g_shard) o->grad_shard += L->shard_n * F;
    if (L->round_buf) o->grad_shard += L->shard_n * F;
    if (L->zbuf[0]) o->grad_shard += 2 * L->stride * F;
    o->optimizer = 2 * L->opt.count * F;
    o->comm_scratch = cada_comm_scratch_peak(L->c);
    o->activations = L->m->act.bytes;
    o->total = o->params + o->grads + o->grad_shard + o->optimizer + o->comm_scratch;
    o->bytes_per_param = n ? (double)o->total / (double)n : 0.0;
    if (L->gpu) { /* device bytes of the GPU model (activations: buffers, logits and scratch) */
        size_t p, g, opt, a, total;
        cada_learner_gpu_plan(L->gpu, &p, &g, &opt, &a, &total);
        o->params = p;
        o->grads = o->grads_alloc = g;
        o->grad_shard = 0;
        o->optimizer = opt;
        o->activations = a;
        o->total = total;
        o->bytes_per_param = n ? (double)total / (double)n : 0.0;
    }
}
