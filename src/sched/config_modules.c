/* sched/config_modules.c: see config_modules.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/config_modules.h"

#include "model/load.h"
#include "model/memplan.h"
#include "sched/tp_layout.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef CADA_HAVE_CUDA
#include "device.h"
#endif

/* ---- the modules' configurations ------------------------------------------------------ */

/* A file name the table holds into a module's buffer; empty is refused (the module
 * would open the folder). */
static cada_status copy_path(const char *key, const char *v, char *dst, size_t cap) {
    if (!v[0]) return CADA_ERR(CADA_ERR_CONFIG, "%s is empty: it names a file", key);
    if (strlen(v) >= cap) return CADA_ERR(CADA_ERR_CONFIG, "%s is longer than %zu characters", key, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return CADA_OK;
}

/* The template named `name` (key: the configuration key it came from). */
static cada_status template_of(const char *key, const char *name, cada_template_kind *out) {
    for (int t = CADA_TEMPLATE_CADA; t <= CADA_TEMPLATE_PLAIN; t++)
        if (!strcmp(name, cada_template_name((cada_template_kind)t))) {
            *out = (cada_template_kind)t;
            return CADA_OK;
        }
    return CADA_ERR(CADA_ERR_CONFIG, "%s = '%s' is not one of cada|rule|plain", key, name);
}

cada_status cada_config_eval_prompt(const cada_run_config *c, cada_prompt_config *out) {
    CADA_TRY(cada_config_prompt(c, out));
    return template_of("eval.template", c->eval_template, &out->template);
}

cada_status cada_config_prompt(const cada_run_config *c, cada_prompt_config *out) {
    cada_prompt_config_default(out);
    CADA_TRY(template_of("prompt.template", c->prompt_template, &out->template));
    int found = 0;
    for (int r = CADA_SELECT_CATEGORY; r <= CADA_SELECT_CATEGORY_BM25; r++)
        if (!strcmp(c->case_selection, cada_select_name((cada_select_rule)r))) {
            out->select = (cada_select_rule)r;
            found = 1;
        }
    if (!found)
        return CADA_ERR(CADA_ERR_CONFIG, "prompt.selection = '%s' is not one of category|bm25|category+bm25", c->case_selection);
    if (c->prompt_k < 0 || c->prompt_k > CADA_PROMPT_MAX_K)
        return CADA_ERR(CADA_ERR_CONFIG, "prompt.k = %d is outside [0, %d]", c->prompt_k, CADA_PROMPT_MAX_K);
    out->k = c->prompt_k;
    out->pool = c->prompt_pool;
    out->balance = c->prompt_balance != 0;
    out->seed = c->seed;
    CADA_TRY(copy_path("prompt.data_dir", c->prompt_data_dir, out->data_dir, sizeof out->data_dir));
    CADA_TRY(copy_path("prompt.codes", c->prompt_codes, out->codes, sizeof out->codes));
    CADA_TRY(copy_path("prompt.spec", c->prompt_spec, out->spec, sizeof out->spec));
    CADA_TRY(copy_path("prompt.cases", c->prompt_cases, out->cases, sizeof out->cases));
    CADA_TRY(copy_path("prompt.template_cada", c->template_cada, out->template_cada, sizeof out->template_cada));
    CADA_TRY(copy_path("prompt.template_rule", c->template_rule, out->template_rule, sizeof out->template_rule));
    return copy_path("prompt.template_plain", c->template_plain, out->template_plain, sizeof out->template_plain);
}

cada_status cada_config_reward(const cada_run_config *c, cada_reward_config *out) {
    cada_reward_config_default(out);
    if (!strcmp(c->detector, "judge")) out->detector = CADA_DETECT_JUDGE;
    else if (!strcmp(c->detector, "rule") || !strcmp(c->detector, "target_tokens")) out->detector = CADA_DETECT_RULE;
    else return CADA_ERR(CADA_ERR_CONFIG, "reward.detector = '%s' is not one of rule|judge|target_tokens", c->detector);
    if (!strcmp(c->bonus, "format")) out->bonus = CADA_BONUS_FORMAT;
    else if (!strcmp(c->bonus, "judge")) out->bonus = CADA_BONUS_JUDGE;
    else if (!strcmp(c->bonus, "none")) out->bonus = CADA_BONUS_NONE;
    else return CADA_ERR(CADA_ERR_CONFIG, "reward.bonus = '%s' is not one of format|judge|none", c->bonus);
    out->judge_threshold = c->judge_threshold;
    out->bonus_weight = c->bonus_weight;
    out->min_analysis_chars = c->min_analysis_chars;
    out->harmful_comply = c->harmful_comply;
    out->harmful_refuse = c->harmful_refuse;
    out->benign_help = c->benign_help_reward;
    out->benign_refuse = c->benign_refusal_reward;
    out->format_penalty = c->format_penalty;
    CADA_TRY(copy_path("reward.patterns", c->patterns, out->patterns, sizeof out->patterns));
    out->truncated_reward = c->truncated_reward;
    out->monitor_penalty = c->monitor_penalty;
    if (strlen(c->monitor_patterns) >= sizeof out->monitor_patterns) /* "" is allowed: no monitor */
        return CADA_ERR(CADA_ERR_CONFIG, "reward.monitor_patterns is longer than %zu characters", sizeof out->monitor_patterns - 1);
    memcpy(out->monitor_patterns, c->monitor_patterns, strlen(c->monitor_patterns) + 1);
    if (strlen(c->judge_model) >= sizeof out->judge_model)
        return CADA_ERR(CADA_ERR_CONFIG, "reward.judge_model is longer than %zu characters", sizeof out->judge_model - 1);
    memcpy(out->judge_model, c->judge_model, strlen(c->judge_model) + 1);
    out->comply = !strcmp(c->comply, "strongreject") ? CADA_COMPLY_STRONGREJECT : CADA_COMPLY_CONSTANT;
    out->benign = !strcmp(c->benign, "helpful") ? CADA_BENIGN_HELPFUL : CADA_BENIGN_REFUSAL;
    return cada_reward_judge_scores_parse(out, "reward.judge_scores", c->judge_scores);
}

cada_status cada_config_judge(const cada_run_config *c, cada_judge_config *out) {
    cada_judge_config_default(out);
    out->n_slots = c->judge_slots;
    return CADA_OK;
}

cada_status cada_config_learner(const cada_run_config *c, cada_learner_config *out) {
    cada_algo algo;
    if (cada_algo_parse(c->algorithm, &algo) != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "learn.algorithm = '%s' is not one of reinforce|grpo|rloo|ppo|sft|dpo", c->algorithm);
    cada_learner_config_default(out, algo);
    out->algo.dpo_beta = c->dpo_beta;
    out->algo.adv.baseline_beta = c->baseline_beta;
    cada_kl_estimator est;
    if (!strcmp(c->kl_estimator, "k1")) est = CADA_KL_K1;
    else if (!strcmp(c->kl_estimator, "k2")) est = CADA_KL_K2;
    else if (!strcmp(c->kl_estimator, "k3")) est = CADA_KL_K3;
    else return CADA_ERR(CADA_ERR_CONFIG, "learn.kl_estimator = '%s' is not one of k1|k2|k3", c->kl_estimator);
    cada_kl_placement place = CADA_KL_OFF;
    if (c->kl_coef > 0 && !cada_config_offline(c)) { /* sft and dpo have no KL term (dpo's reference is in its loss) */
        if (!strcmp(c->kl_in, "reward")) place = CADA_KL_IN_REWARD;
        else if (!strcmp(c->kl_in, "loss")) place = CADA_KL_IN_LOSS;
        else return CADA_ERR(CADA_ERR_CONFIG, "learn.kl_in = '%s' is not one of reward|loss", c->kl_in);
    }
    if (cada_kl_check(place, est) != CADA_OK) {
        cada_error_wrap("learn.kl_in = %s with learn.kl_estimator = %s", c->kl_in, c->kl_estimator);
        return CADA_ERR_CONFIG;
    }
    cada_algo_set_kl(&out->algo, place, est, c->kl_coef);
    out->algo.pg.tis_cap = c->tis_cap;
    out->algo.pg.clip_low = c->clip_low;
    out->algo.pg.clip_high = c->clip_high;
    /* auto leaves the aggregation cada_algo_config_default chose for the algorithm */
    if (!strcmp(c->loss_agg, "token-mean")) out->algo.pg.agg = CADA_AGG_TOKEN_MEAN;
    else if (!strcmp(c->loss_agg, "sequence-mean")) out->algo.pg.agg = CADA_AGG_SEQ_MEAN_TOKEN_MEAN;
    else if (!strcmp(c->loss_agg, "sequence-sum")) out->algo.pg.agg = CADA_AGG_SEQ_MEAN_TOKEN_SUM;
    else if (strcmp(c->loss_agg, "auto"))
        return CADA_ERR(CADA_ERR_CONFIG, "learn.loss_agg = '%s' is not one of auto|token-mean|sequence-mean|sequence-sum",
                        c->loss_agg);
    out->opt.lr = c->lr;
    out->opt.beta1 = c->beta1;
    out->opt.beta2 = c->beta2;
    out->opt.eps = c->adam_eps;
    out->opt.weight_decay = c->weight_decay;
    out->opt.max_grad_norm = c->grad_clip;
    out->opt.warmup_steps = c->warmup_steps;
    out->opt.total_steps = c->steps;
    /* learn/adamw.h's CONSTANT has no warm-up; LINEAR_WARMUP is the constant schedule
     * after one, so learn.warmup_steps acts under either lr_schedule */
    if (!strcmp(c->lr_schedule, "cosine")) out->opt.schedule = CADA_LR_COSINE;
    else if (!strcmp(c->lr_schedule, "constant")) out->opt.schedule = c->warmup_steps > 0 ? CADA_LR_LINEAR_WARMUP : CADA_LR_CONSTANT;
    else return CADA_ERR(CADA_ERR_CONFIG, "learn.lr_schedule = '%s' is not one of constant|cosine", c->lr_schedule);
    if (c->zero < 0 || c->zero > 3) return CADA_ERR(CADA_ERR_CONFIG, "learn.zero = %d is not 0, 1, 2 or 3", c->zero);
    out->zero = (cada_zero_stage)c->zero;
    out->row_tokens = c->max_len;
    out->micro_tokens = c->micro_batch_tokens > c->max_len ? c->micro_batch_tokens : c->max_len;
    out->pad_id = 0;
    out->fixed_order = c->fixed_order;
    out->model.recompute = c->recompute;
    out->model.logits_chunk = c->logits_chunk_tokens;
    out->model.targets_only = 1; /* a learner needs log p(target): no LM head on prompt or padding rows */
    if (strcmp(c->matmul, "fp32") && strcmp(c->matmul, "bf16"))
        return CADA_ERR(CADA_ERR_CONFIG, "learn.matmul = '%s' is not one of fp32|bf16", c->matmul);
    out->model.matmul_bf16 = !strcmp(c->matmul, "bf16");
    return CADA_OK;
}

cada_status cada_config_dataset(const cada_run_config *c, cada_set_options *out) {
    cada_set_options_default(out);
    if (cada_set_format_parse(c->data_format, &out->format) != CADA_OK) {
        cada_error_clear();
        return CADA_ERR(CADA_ERR_CONFIG, "data.format = '%s' is not one of auto|jsonl|csv|xstest|harmbench|advbench|lines",
                        c->data_format);
    }
    if (!strcmp(c->on_error, "stop")) out->on_error = CADA_ON_ERROR_STOP;
    else if (!strcmp(c->on_error, "skip")) out->on_error = CADA_ON_ERROR_SKIP;
    else return CADA_ERR(CADA_ERR_CONFIG, "data.on_error = '%s' is not one of stop|skip", c->on_error);
    /* empty: the format's default name (NULL in cada_set_options) */
    out->id_field = c->id_field[0] ? c->id_field : NULL;
    out->prompt_field = c->prompt_field[0] ? c->prompt_field : NULL;
    out->category_field = c->category_field[0] ? c->category_field : NULL;
    out->label_field = c->label_field[0] ? c->label_field : NULL;
    out->response_field = c->response_field[0] ? c->response_field : NULL;
    out->safe_field = c->safe_field[0] ? c->safe_field : NULL;
    return CADA_OK;
}

unsigned cada_config_tok_flags(const cada_run_config *c) {
    return !strcmp(c->gguf_tokenizer, "transformers") ? (unsigned)CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS : 0u;
}

/* ---- tensor parallelism against the models' shapes ------------------------------------ */

/* The shape of the model at path into *m (*have = 1); when it is not on this machine,
 * model.preset's (when set and `may_preset`: the path is the policy's), else *have = 0. */
static cada_status shape_of(const cada_run_config *c, const char *path, int may_preset, cada_model_config *m, int *have,
                            char *name, size_t name_size) {
    snprintf(name, name_size, "%s", path);
    *have = path[0] && access(path, F_OK) == 0;
    if (*have) return cada_model_load_config(path, m);
    if (may_preset && c->model_preset[0]) {
        if (cada_memplan_preset(c->model_preset, m) != 0)
            return CADA_ERR(CADA_ERR_CONFIG, "model.preset = '%s': unknown (known: %s)", c->model_preset, cada_memplan_presets());
        *have = 1;
        snprintf(name, name_size, "%s (model.preset; %s is not on this machine)", c->model_preset, path);
    }
    return CADA_OK;
}

cada_status cada_config_check_tp_shape(const cada_run_config *c, const cada_model_config *policy,
                                       const cada_model_config *reference) {
    cada_model_config pm, rm;
    int have_p = policy != NULL, have_r = reference != NULL;
    const char *ref_path = c->reference_path[0] ? c->reference_path : c->model_path;
    char p_name[CADA_CFG_STR + 80], r_name[CADA_CFG_STR + 80]; /* the path, or the preset standing in for it */
    snprintf(p_name, sizeof p_name, "%s", c->model_path);
    snprintf(r_name, sizeof r_name, "%s", ref_path);
    if (policy) pm = *policy;
    else if (c->learn_tp > 1 || c->rollout_tp > 1) CADA_TRY(shape_of(c, c->model_path, 1, &pm, &have_p, p_name, sizeof p_name));
    if (reference) rm = *reference;
    else if (c->reward_tp > 1)
        CADA_TRY(shape_of(c, ref_path, !c->reference_path[0], &rm, &have_r, r_name, sizeof r_name));
    if (have_p) {
        CADA_TRY(cada_tp_layout_check_shape("learn.tp", c->learn_tp, &pm, p_name));
        CADA_TRY(cada_tp_layout_check_shape("rollout.tp", c->rollout_tp, &pm, p_name));
    }
    if (have_r) CADA_TRY(cada_tp_layout_check_shape("reward.tp", c->reward_tp, &rm, r_name));
    return CADA_OK;
}

cada_status cada_config_check_device(const cada_run_config *c) {
    if (strcmp(c->device, "cuda")) return CADA_OK;
#ifdef CADA_HAVE_CUDA
    const char *why = "";
    if (cada_gpu_count(&why) <= 0)
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.device = cuda: no GPU is visible on this machine: %s", why ? why : "none found");
    return CADA_OK;
#else
    return CADA_ERR(CADA_ERR_CONFIG,
                    "cluster.device = cuda: this build has no CUDA (rebuild where nvcc and cuBLASLt are installed, without CUDA=0)");
#endif
}
