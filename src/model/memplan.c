/* model/memplan.c: see memplan.h. */
#include "model/memplan.h"

#include "model/infer.h"
#include "model/infer_weights.h"
#include "model/model.h"
#include "model/tp.h"

#include <string.h>

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

size_t cada_memplan_layer_params(const cada_model_config *c) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t HD = (size_t)c->n_heads * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    return 2 * C + QKV * C + (c->qkv_bias ? QKV : 0) + C * HD + 3 * C * I;
}

size_t cada_memplan_whole_ranges(const cada_model_config *c) {
    const size_t V = (size_t)c->vocab_size, C = (size_t)c->hidden_size;
    return V * C * (c->tie_embeddings ? 1 : 2) + C;
}

/* Training activations of model_gpu.h for Nm rows, `kept` layer sets. */
static size_t train_activations(const cada_model_config *c, size_t Nm, size_t kept) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, H = (size_t)c->n_heads;
    const size_t L = (size_t)c->n_layers, HD = H * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    size_t per_layer = 4 * C /* resmid */ + 2 * C /* xn1 */ + 4 /* rstd1 */ + 2 * QKV + 2 * HD + 4 * H /* lse */ +
                       2 * C /* xn2 */ + 4 /* rstd2 */ + 4 * I /* gate/up */ + 2 * I /* swiglu out */;
    size_t final = 2 * C + 4 /* rstdf */ + 4 /* vocab lse */ + 4 /* logprob */ + 12 /* tokens, pos, targets */;
    return 4 * (L + 1) * Nm * C + kept * Nm * per_layer + Nm * final;
}

/* Inference-only forward of Nm rows (two residual buffers, one layer set). */
static size_t forward_only(const cada_model_config *c, size_t Nm) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, H = (size_t)c->n_heads;
    const size_t HD = H * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    size_t per_layer = 4 * C + 2 * C + 4 + 2 * QKV + 2 * HD + 4 * H + 2 * C + 4 + 4 * I + 2 * I;
    size_t final = 2 * C + 4 + 4 + 4 + 12;
    return 2 * 4 * Nm * C + Nm * per_layer + Nm * final;
}

static size_t backward_scratch(const cada_model_config *c, size_t Nm) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t HD = (size_t)c->n_heads * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    return Nm * (4 /* dlogprob */ + 4 * C /* dres */ + 2 * C /* its bf16 copy */ + 2 * C /* dxn */ + 2 * QKV + 2 * HD +
                 4 * I /* dgu */ + 2 * I /* dh */) +
           8 /* the norm's double */;
}

/* V: the whole vocabulary (under tensor parallelism the last rows' logits are gathered
 * whole on every rank, model/tp.h; c is the rank's local shape). */
static size_t infer_buffers(const cada_model_config *c, size_t V, size_t S, size_t G) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, H = (size_t)c->n_heads;
    const size_t HD = H * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    size_t Sp = S < G ? S : G;
    size_t rows = G * (4 * C + 2 * C + 4 + 2 * QKV + 2 * HD + 4 * H + 4 * I + 2 * I + 12);
    size_t last = Sp * (4 * C + 2 * C + 4 + 12);
    return Sp * V * 4 + rows + last;
}

size_t cada_memplan_tp_split_params(const cada_model_config *full) {
    /* the count is affine in (H, KVH, I, V) taken together: doubling all four adds
     * exactly the split part once */
    cada_model_config twice = *full;
    twice.n_heads *= 2;
    twice.n_kv_heads *= 2;
    twice.intermediate_size *= 2;
    twice.vocab_size *= 2;
    return (size_t)(cada_config_param_count(&twice) - cada_config_param_count(full));
}

cada_status cada_memplan_role(const cada_model_config *full, const cada_memplan_in *in, cada_mem_role role,
                              cada_memplan *p) {
    if (!full || !in || !p) return CADA_ERR(CADA_ERR_ARG, "memplan: NULL argument");
    memset(p, 0, sizeof *p);
    CADA_TRY(cada_config_validate(full, "memplan: model shape"));
    if (in->learners < 1) return CADA_ERR(CADA_ERR_ARG, "memplan: learners = %d, must be >= 1", in->learners);
    if (in->zero < 0 || in->zero > 3) return CADA_ERR(CADA_ERR_ARG, "memplan: zero = %d, must be 0, 1, 2 or 3", in->zero);
    const int P = in->tp > 1 ? in->tp : 1;
    cada_model_config local; /* the rank's part of the model: H/P, KVH/P, I/P, V/P */
    CADA_TRY(cada_tp_local_config(full, P, &local));
    const cada_model_config *cfg = &local;
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    if (trains && in->learners % P != 0)
        return CADA_ERR(CADA_ERR_ARG, "memplan: learners = %d is not a multiple of tp = %d (whole tensor-parallel groups)",
                        in->learners, P);
    if (in->micro_tokens < 1) return CADA_ERR(CADA_ERR_ARG, "memplan: micro_tokens = %d, must be >= 1", in->micro_tokens);
    if (in->micro_per_rank < 1)
        return CADA_ERR(CADA_ERR_ARG, "memplan: micro_per_rank = %d, must be >= 1", in->micro_per_rank);
    if (in->recompute != 0 && in->recompute != 1)
        return CADA_ERR(CADA_ERR_ARG, "memplan: recompute = %d, must be 0 or 1", in->recompute);
    int infers = role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_COLOCATED;
    if (infers && (in->slots < 1 || in->max_len < 1 || in->prefill_tokens < 1))
        return CADA_ERR(CADA_ERR_ARG, "memplan: slots %d, max_len %d and prefill_tokens %d must be >= 1 for a rank that rolls out",
                        in->slots, in->max_len, in->prefill_tokens);

    /* n: the parameters this rank holds (all of them without tensor parallelism); W: the
     * data-parallel ranks ZeRO shards over, one per tensor-parallel group */
    const size_t n = (size_t)cada_config_param_count(cfg), W = (size_t)(in->learners / P), Nm = (size_t)in->micro_tokens;
    const size_t V = (size_t)cfg->vocab_size, D = (size_t)cfg->head_dim;
    p->n_params = (size_t)cada_config_param_count(full);
    p->rank_params = n;
    p->workspace = CADA_MEMPLAN_BLAS + CADA_MEMPLAN_COMM + CADA_MEMPLAN_RESERVE;
    if (role != CADA_ROLE_REFERENCE) p->weights = 2 * n + D / 2 * 4; /* + rope inv_freq */
    if (trains) {
        size_t shard = ceil_div(n, W);
        if (role == CADA_ROLE_LEARNER && in->zero == 3 && W > 1) /* outer ranges, the shard, two gathered layers */
            p->weights = 2 * (cada_memplan_whole_ranges(cfg) + shard + 2 * cada_memplan_layer_params(cfg)) + D / 2 * 4;
        p->master = 4 * (in->zero == 0 ? n : shard);
        p->adam = 8 * (in->zero == 0 ? n : shard);
        if (in->zero < 2) p->grads = 4 * n;
        else
            p->grads = 4 * (cada_memplan_whole_ranges(cfg) + 2 * cada_memplan_layer_params(cfg)) + 4 * shard +
                       (in->micro_per_rank > 1 ? 4 * shard : 0);
        p->activations = train_activations(cfg, Nm, in->recompute ? 1 : (size_t)cfg->n_layers);
        p->logits = Nm * V * 4 + Nm * V * 2;
        p->scratch = backward_scratch(cfg, Nm);
    }
    if (infers) {
        const size_t S = (size_t)in->slots, M = (size_t)in->max_len;
        p->kv_cache = 2 * S * (size_t)cfg->n_layers * M * (size_t)cfg->n_kv_heads * D * 2;
        p->infer = infer_buffers(cfg, (size_t)full->vocab_size, S, (size_t)in->prefill_tokens);
    }
    if (role == CADA_ROLE_REFERENCE || (role == CADA_ROLE_COLOCATED && in->reference)) {
        size_t staging = n < ((size_t)4 << 20) ? n : ((size_t)4 << 20);
        p->reference = 2 * n + D / 2 * 4 + forward_only(cfg, Nm) + Nm * V * 4 + staging * 4 + CADA_MEMPLAN_BLAS;
    }
    if (role == CADA_ROLE_ROLLOUT && in->sync_copy) p->sync_copy = p->weights; /* the next version lands beside it */
    p->total = p->weights + p->master + p->grads + p->adam + p->activations + p->logits + p->scratch + p->kv_cache +
               p->infer + p->reference + p->sync_copy + p->workspace;
    return CADA_OK;
}

cada_status cada_memplan_cpu_role(const cada_model_config *full, const cada_memplan_in *in, int logits_chunk, int threads,
                                  cada_mem_role role, cada_memplan_cpu *p) {
    if (!p) return CADA_ERR(CADA_ERR_ARG, "memplan: NULL argument");
    memset(p, 0, sizeof *p);
    cada_memplan g; /* the checks, and the gradient and AdamW layout (ZeRO-3's are ZeRO-2's) */
    cada_memplan_in gin = *in;
    if (in->zero == 3) gin.zero = 2;
    CADA_TRY(cada_memplan_role(full, &gin, role, &g));
    if (logits_chunk < 0) return CADA_ERR(CADA_ERR_ARG, "memplan: logits_chunk = %d, must be >= 0", logits_chunk);
    const int P = in->tp > 1 ? in->tp : 1, W = in->learners / P;
    cada_model_config local; /* the rank's part under tensor parallelism (checked above) */
    CADA_TRY(cada_tp_local_config(full, P, &local));
    const cada_model_config *cfg = &local;
    const size_t n = g.rank_params;
    const int M = in->max_len > 0 ? in->max_len : in->micro_tokens;
    p->n_params = g.n_params;
    p->rank_params = n;
    if (role != CADA_ROLE_REFERENCE) p->params = 4 * n + (size_t)cfg->head_dim / 2 * 4;
    if (role == CADA_ROLE_LEARNER && in->zero == 3 && W > 1) /* outer ranges, the shard, two gathered layers */
        p->params = 4 * (cada_memplan_whole_ranges(cfg) + ceil_div(n, (size_t)W) + 2 * cada_memplan_layer_params(cfg)) +
                    (size_t)cfg->head_dim / 2 * 4;
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    if (trains) {
        p->grads = g.grads;
        p->adam = g.adam;
        const int rows = in->micro_tokens / M > 0 ? in->micro_tokens / M : 1;
        const cada_model_options o = {in->recompute, logits_chunk, 0, 1}; /* as the learner (learn/learner.c) */
        p->activations = cada_model_activation_bytes(cfg, rows, M, &o);
    }
    if (role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_COLOCATED) { /* as rollout/engine.c sizes its cache */
        const int prompt = in->slots > 0 ? in->prefill_tokens / in->slots : 0;
        const int blocks = in->kv_pool > 0 ? cada_kv_blocks_for_bytes(cfg, in->kv_pool, 0)
                                           : cada_kv_pool_blocks(in->slots, in->max_len, 0, in->samples, prompt);
        const int S = in->slots < blocks ? in->slots : blocks > 0 ? blocks : 1;
        p->rollout = cada_kv_cache_bytes(cfg, S + 1 /* the engine's prompt holder */, in->max_len,
                                         cada_kv_call_tokens(S, in->max_len, prompt), 0, blocks, threads > 0 ? threads : 1);
    }
    if (role == CADA_ROLE_REFERENCE || (role == CADA_ROLE_COLOCATED && in->reference)) {
        const cada_model_options o = {1, logits_chunk, 0, 1}; /* as the reference (sched/trainer.c) */
        p->reference = 4 * n + (size_t)cfg->head_dim / 2 * 4 + cada_model_activation_bytes(cfg, 1, M, &o);
    }
    if (in->rollout_bf16 && (role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_COLOCATED)) p->infer_weights = cada_infer_weights_bytes(cfg);
    p->peak = p->params + p->infer_weights + p->grads + p->adam + p->reference +
              (p->activations > p->rollout ? p->activations : p->rollout);
    if (in->rollout_bf16 && role == CADA_ROLE_ROLLOUT) {
        /* a rollout rank releases its fp32 matrices as they are packed and packs each
         * sync bucket as it lands (model/infer_weights.h): it keeps the rest of the fp32
         * parameters (the tied embedding among them) and one bucket of matrices; its
         * peak is the load, all 4n before the first pack, unless the run holds more */
        const size_t mats = cada_infer_weights_released_floats(cfg);
        const size_t bucket = (size_t)CADA_SYNC_BUCKET_FLOATS < mats ? (size_t)CADA_SYNC_BUCKET_FLOATS : mats;
        const size_t load = p->params;
        p->params -= 4 * (mats - bucket);
        const size_t run = p->params + p->infer_weights + p->rollout;
        p->peak = run > load ? run : load;
    }
    if (in->sync_copy && role == CADA_ROLE_ROLLOUT) {
        p->sync_copy = p->params + p->infer_weights;
        p->peak += p->sync_copy;
    }
    return CADA_OK;
}

/* ---- presets: the published config.json of each model ------------------------------- */

typedef struct {
    const char *name;
    cada_arch arch;
    int V, C, I, L, H, KVH, D, tied, bias;
    float theta;
    int max_pos;
} preset;

static const preset presets[] = {
    /* meta-llama/Meta-Llama-3-8B-Instruct */
    {"llama3-8b", CADA_ARCH_LLAMA, 128256, 4096, 14336, 32, 32, 8, 128, 0, 0, 500000.f, 8192},
    /* meta-llama/Meta-Llama-3-70B-Instruct */
    {"llama3-70b", CADA_ARCH_LLAMA, 128256, 8192, 28672, 80, 64, 8, 128, 0, 0, 500000.f, 8192},
    /* Qwen/Qwen2.5-7B-Instruct (QKV bias, untied) */
    {"qwen2.5-7b", CADA_ARCH_QWEN2, 152064, 3584, 18944, 28, 28, 4, 128, 0, 1, 1000000.f, 32768},
    /* HuggingFaceTB/SmolLM2-135M-Instruct (tied) */
    {"smollm2-135m", CADA_ARCH_LLAMA, 49152, 576, 1536, 30, 9, 3, 64, 1, 0, 100000.f, 8192},
};

int cada_memplan_preset(const char *name, cada_model_config *cfg) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const preset *p = &presets[i];
        if (strcmp(name, p->name)) continue;
        memset(cfg, 0, sizeof *cfg);
        cfg->arch = p->arch;
        cfg->vocab_size = p->V;
        cfg->hidden_size = p->C;
        cfg->intermediate_size = p->I;
        cfg->n_layers = p->L;
        cfg->n_heads = p->H;
        cfg->n_kv_heads = p->KVH;
        cfg->head_dim = p->D;
        cfg->tie_embeddings = p->tied;
        cfg->qkv_bias = p->bias;
        cfg->rms_eps = p->arch == CADA_ARCH_QWEN2 ? 1e-6f : 1e-5f;
        cfg->rope_theta = p->theta;
        cfg->rope_type = CADA_ROPE_DEFAULT;
        cfg->max_position_embeddings = p->max_pos;
        cfg->bos_token_id = -1;
        cfg->eos_token_id = -1;
        strcpy(cfg->dtype, "bfloat16");
        return 0;
    }
    return -1;
}

const char *cada_memplan_presets(void) { return "llama3-8b, llama3-70b, qwen2.5-7b, smollm2-135m"; }
