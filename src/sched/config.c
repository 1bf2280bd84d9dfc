/* sched/config.c: see config.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef CADA_HAVE_CUDA
#include "device.h"
#endif

typedef enum { KEY_INT, KEY_U64, KEY_FLOAT, KEY_DOUBLE, KEY_BOOL, KEY_STR, KEY_CHOICE } key_type;

typedef struct {
    const char *section, *name;
    key_type type;
    size_t offset, size; /* into cada_run_config; size for strings */
    const char *def;
    double lo, hi;       /* numeric range */
    const char *choices; /* "a|b|c" for KEY_CHOICE */
    const char *doc;
} key_spec;

#define F(field) offsetof(cada_run_config, field), sizeof(((cada_run_config *)0)->field)
static const key_spec keys[] = {
    {"run", "name", KEY_STR, F(run_name), "cada", 0, 0, NULL, "name of the run (used in logs)"},
    {"run", "out_dir", KEY_STR, F(out_dir), "runs/cada", 0, 0, NULL, "folder for checkpoints, metrics and reports"},
    {"run", "seed", KEY_U64, F(seed), "1234", 0, 0, NULL, "seed of every random stream (sampling, shuffling, case choice)"},
    {"run", "steps", KEY_INT, F(steps), "10", 1, 1e9, NULL, "policy updates to run"},
    {"run", "checkpoint_every", KEY_INT, F(checkpoint_every), "0", 0, 1e9, NULL, "steps between checkpoints (0: only at the end)"},
    {"run", "log_every", KEY_INT, F(log_every), "1", 1, 1e9, NULL, "steps between progress lines"},
    {"run", "progress_seconds", KEY_DOUBLE, F(progress_seconds), "30", 0, 1e9, NULL,
     "progress inside a phase: seconds between log lines (a terminal redraws one line instead); 0: off"},
    {"run", "tensorboard", KEY_BOOL, F(tensorboard), "true", 0, 0, NULL, "also write each step's metrics as TensorBoard scalars into out_dir/tb"},
    {"run", "dump_samples", KEY_BOOL, F(dump_samples), "false", 0, 0, NULL, "write every trajectory's token ids, reward and policy version to out_dir/samples.jsonl"},
    {"model", "path", KEY_STR, F(model_path), ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf", 0, 0, NULL, "starting policy (GGUF file or Hugging Face folder)"},
    {"model", "reference", KEY_STR, F(reference_path), "", 0, 0, NULL, "frozen reference model for the KL term (empty: the starting policy)"},
    {"cluster", "rollout_ranks", KEY_INT, F(rollout_ranks), "1", 0, 65536, NULL, "ranks that generate"},
    {"cluster", "reward_ranks", KEY_INT, F(reward_ranks), "1", 0, 65536, NULL, "ranks that score (and hold the reference)"},
    {"cluster", "learner_ranks", KEY_INT, F(learner_ranks), "1", 1, 65536, NULL, "data-parallel learner ranks"},
    {"cluster", "placement", KEY_CHOICE, F(placement), "disaggregated", 0, 0, "disaggregated|colocated", "one role per rank, or learners that also roll out"},
    {"cluster", "threads_per_rank", KEY_INT, F(threads_per_rank), "0", 0, 1024, NULL, "OpenMP threads per rank (0: cores on the node / ranks on the node)"},
    {"cluster", "timeout_seconds", KEY_DOUBLE, F(timeout_seconds), "60", 1, 1e6, NULL, "a peer silent this long fails the job"},
    {"cluster", "device", KEY_CHOICE, F(device), "cpu", 0, 0, "cpu|cuda", "where learners, rollouts and the reference model run (cuda: one GPU per rank, the node-local rank modulo the visible GPUs)"},
    {"data", "train_set", KEY_STR, F(train_set), "data/prompts/train.jsonl", 0, 0, NULL, "training prompts, JSONL {id, prompt, category, label}"},
    {"data", "prompts_per_step", KEY_INT, F(prompts_per_step), "8", 1, 1e7, NULL, "prompts drawn per step"},
    {"data", "shuffle", KEY_BOOL, F(shuffle), "true", 0, 0, NULL, "shuffle the prompts each epoch (by seed)"},
    {"prompt", "template", KEY_CHOICE, F(prompt_template), "cada", 0, 0, "cada|rule|plain", "case-augmented, rule-only spec, or no policy block"},
    {"prompt", "k", KEY_INT, F(prompt_k), "2", 0, 64, NULL, "cases in the policy block"},
    {"prompt", "selection", KEY_CHOICE, F(case_selection), "category+bm25", 0, 0, "category|bm25|category+bm25", "how cases are chosen"},
    {"rollout", "samples_per_prompt", KEY_INT, F(samples_per_prompt), "4", 1, 4096, NULL, "completions per prompt (the group of GRPO/RLOO)"},
    {"rollout", "temperature", KEY_FLOAT, F(temperature), "1.0", 0, 100, NULL, "sampling temperature (0: greedy)"},
    {"rollout", "top_p", KEY_FLOAT, F(top_p), "1.0", 1e-6, 1, NULL, "nucleus sampling threshold (1: off)"},
    {"rollout", "top_k", KEY_INT, F(top_k), "0", 0, 1e7, NULL, "top-k sampling (0: off)"},
    {"rollout", "max_new_tokens", KEY_INT, F(max_new_tokens), "96", 1, 1e6, NULL, "tokens generated at most per completion"},
    {"rollout", "max_len", KEY_INT, F(max_len), "1024", 2, 1e7, NULL, "context limit (prompt + completion)"},
    {"rollout", "slots", KEY_INT, F(slots), "16", 1, 65536, NULL, "sequences decoded together per rollout rank"},
    {"rollout", "mode", KEY_CHOICE, F(mode), "sync", 0, 0, "sync|async", "on-policy steps, or one-step-off rollouts"},
    {"rollout", "max_staleness", KEY_INT, F(max_staleness), "1", 0, 1000, NULL, "async: policy versions a sample may lag"},
    {"reward", "detector", KEY_CHOICE, F(detector), "rule", 0, 0, "rule|judge|target_tokens", "refusal detection: phrase patterns or an LLM judge; target_tokens: a test task (see target_ids)"},
    {"reward", "target_ids", KEY_STR, F(target_ids), "", 0, 0, NULL, "detector = target_tokens: reward = share of completion tokens whose id is in these ranges (\"lo-hi,id,...\"); a task any model learns in a few steps, for tests"},
    {"reward", "judge_model", KEY_STR, F(judge_model), "", 0, 0, NULL, "judge model path (detector = judge)"},
    {"reward", "benign_refusal", KEY_FLOAT, F(benign_refusal_reward), "-1.0", -1e6, 1e6, NULL, "reward for refusing a benign request"},
    {"reward", "benign_help", KEY_FLOAT, F(benign_help_reward), "1.0", -1e6, 1e6, NULL, "reward for helping with a benign request"},
    {"learn", "algorithm", KEY_CHOICE, F(algorithm), "reinforce", 0, 0, "reinforce|grpo|rloo|ppo|sft|dpo", "policy update (reinforce: the paper's running-mean baseline)"},
    {"learn", "lr", KEY_FLOAT, F(lr), "2e-6", 0, 1, NULL, "peak learning rate"},
    {"learn", "lr_schedule", KEY_CHOICE, F(lr_schedule), "constant", 0, 0, "constant|linear|cosine", "learning-rate schedule after warm-up"},
    {"learn", "warmup_steps", KEY_INT, F(warmup_steps), "0", 0, 1e9, NULL, "linear warm-up steps"},
    {"learn", "weight_decay", KEY_FLOAT, F(weight_decay), "0.0", 0, 10, NULL, "AdamW decoupled weight decay"},
    {"learn", "beta1", KEY_FLOAT, F(beta1), "0.9", 0, 0.999999, NULL, "AdamW beta1"},
    {"learn", "beta2", KEY_FLOAT, F(beta2), "0.999", 0, 0.999999, NULL, "AdamW beta2"},
    {"learn", "eps", KEY_FLOAT, F(adam_eps), "1e-8", 0, 1, NULL, "AdamW epsilon"},
    {"learn", "grad_clip", KEY_FLOAT, F(grad_clip), "1.0", 0, 1e9, NULL, "global gradient-norm clip (0: off)"},
    {"learn", "baseline_beta", KEY_FLOAT, F(baseline_beta), "0.1", 0, 1, NULL, "running-mean baseline step, b += beta (r - b)"},
    {"learn", "kl_coef", KEY_FLOAT, F(kl_coef), "0.01", 0, 1e3, NULL, "KL-to-reference coefficient (the paper: 0.01)"},
    {"learn", "kl_estimator", KEY_CHOICE, F(kl_estimator), "k3", 0, 0, "k1|k2|k3", "KL estimator"},
    {"learn", "kl_in", KEY_CHOICE, F(kl_in), "loss", 0, 0, "reward|loss", "apply the KL term in the reward or in the loss"},
    {"learn", "clip_low", KEY_FLOAT, F(clip_low), "0.2", 0, 10, NULL, "PPO/GRPO ratio clip below 1"},
    {"learn", "clip_high", KEY_FLOAT, F(clip_high), "0.28", 0, 10, NULL, "PPO/GRPO ratio clip above 1"},
    {"learn", "loss_agg", KEY_CHOICE, F(loss_agg), "token", 0, 0, "token|sequence", "average the loss over tokens or over sequences"},
    {"learn", "micro_batch_tokens", KEY_INT, F(micro_batch_tokens), "4096", 1, 1e9, NULL, "tokens per forward/backward (gradient accumulation)"},
    {"learn", "zero", KEY_INT, F(zero), "1", 0, 2, NULL, "0 data parallel, 1 ZeRO-1 (optimizer sharded), 2 ZeRO-2 (gradients too)"},
    {"learn", "fixed_order", KEY_BOOL, F(fixed_order), "false", 0, 0, NULL, "canonical gradient-reduction order: any learner count gives bit-identical weights (learn/learner.h)"},
};
#undef F
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static const key_spec *find_key(const char *section, const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

static int section_known(const char *section) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section)) return 1;
    return 0;
}

/* Sets one key from text; `where` prefixes errors ("configs/x.ini:12" or "--set"). */
static cada_status set_value(cada_run_config *c, const key_spec *k, const char *value, const char *where) {
    char *p = (char *)c + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case KEY_INT:
    case KEY_U64: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || v != floor(v))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not an integer", where, k->section, k->name, value);
        if (k->type == KEY_INT) {
            if (v < k->lo || v > k->hi)
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = %s is outside [%g, %g]", where, k->section, k->name, value, k->lo,
                                k->hi);
            *(int *)p = (int)v;
        } else {
            unsigned long long u = strtoull(value, &end, 10);
            if (*end || value[0] == '-')
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not a non-negative integer", where, k->section, k->name,
                                value);
            *(uint64_t *)p = (uint64_t)u;
        }
        return CADA_OK;
    }
    case KEY_FLOAT:
    case KEY_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not a number", where, k->section, k->name, value);
        if (v < k->lo || v > k->hi)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = %s is outside [%g, %g]", where, k->section, k->name, value, k->lo, k->hi);
        if (k->type == KEY_FLOAT) *(float *)p = (float)v;
        else *(double *)p = v;
        return CADA_OK;
    }
    case KEY_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes")) *(int *)p = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no")) *(int *)p = 0;
        else return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not true or false", where, k->section, k->name, value);
        return CADA_OK;
    case KEY_STR:
    case KEY_CHOICE:
        if (strlen(value) >= k->size)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s is longer than %zu characters", where, k->section, k->name, k->size - 1);
        if (k->type == KEY_CHOICE) {
            size_t n = strlen(value);
            const char *at = k->choices;
            int ok = 0;
            while (*at) {
                const char *bar = strchr(at, '|');
                size_t len = bar ? (size_t)(bar - at) : strlen(at);
                if (len == n && !strncmp(at, value, n)) ok = 1;
                at += len + (bar ? 1 : 0);
                if (!bar) break;
            }
            if (!ok)
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not one of %s", where, k->section, k->name, value,
                                k->choices);
        }
        memcpy(p, value, strlen(value) + 1);
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_INTERNAL, "config: key type");
}

void cada_config_defaults(cada_run_config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_KEYS; i++) {
        cada_status st = set_value(c, &keys[i], keys[i].def, "defaults");
        if (st != CADA_OK) CADA_FATAL("bad default for %s.%s: %s", keys[i].section, keys[i].name, cada_error_message());
    }
}

typedef struct {
    cada_run_config *c;
    const char *path;
    cada_status st;
    FILE *f;
    int line; /* of the line inih handed over last */
} ini_ctx;

/* inih reads through this, so the handler knows the line it is looking at (Debian's
 * inih is built without INI_HANDLER_LINENO). */
static char *read_line(char *str, int num, void *stream) {
    ini_ctx *x = stream;
    char *got = fgets(str, num, x->f);
    if (got) x->line++;
    return got;
}

static int on_ini(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *x = user;
    int lineno = x->line;
    if (x->st != CADA_OK) return 0;
    char where[600];
    snprintf(where, sizeof where, "%s:%d", x->path, lineno);
    if (!name) { /* a section header alone */
        if (!section_known(section)) x->st = CADA_ERR(CADA_ERR_CONFIG, "%s: unknown section [%s]", where, section);
        return x->st == CADA_OK;
    }
    const key_spec *k = find_key(section, name);
    if (!k) {
        x->st = section_known(section) ? CADA_ERR(CADA_ERR_CONFIG, "%s: unknown key '%s' in [%s]", where, name, section)
                                       : CADA_ERR(CADA_ERR_CONFIG, "%s: unknown section [%s]", where, section);
        return 0;
    }
    x->st = set_value(x->c, k, value, where);
    return x->st == CADA_OK;
}

cada_status cada_config_load(cada_run_config *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ini_ctx x = {c, path, CADA_OK, f, 0};
    int rc = ini_parse_stream(read_line, &x, on_ini, &x);
    fclose(f);
    if (x.st != CADA_OK) return x.st;
    if (rc > 0) return CADA_ERR(CADA_ERR_CONFIG, "%s:%d: not a 'key = value' line or a [section]", path, rc);
    if (rc < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot read", path);
    return CADA_OK;
}

cada_status cada_config_set(cada_run_config *c, const char *assignment) {
    const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq)
        return CADA_ERR(CADA_ERR_CONFIG, "--set '%s': expected section.key=value", assignment);
    char section[64], name[64];
    size_t sl = (size_t)(dot - assignment), nl = (size_t)(eq - dot - 1);
    if (sl >= sizeof section || nl >= sizeof name) return CADA_ERR(CADA_ERR_CONFIG, "--set '%s': name too long", assignment);
    memcpy(section, assignment, sl);
    section[sl] = 0;
    memcpy(name, dot + 1, nl);
    name[nl] = 0;
    const key_spec *k = find_key(section, name);
    if (!k) return CADA_ERR(CADA_ERR_CONFIG, "--set: unknown key %s.%s", section, name);
    return set_value(c, k, eq + 1, "--set");
}

cada_status cada_config_validate_run(const cada_run_config *c) {
    if (!strcmp(c->device, "cuda")) {
#ifndef CADA_HAVE_CUDA
        return CADA_ERR(CADA_ERR_CONFIG,
                        "cluster.device = cuda: this build has no CUDA (rebuild where nvcc and cuBLASLt are installed, without CUDA=0)");
#endif
        if (c->zero != 0)
            return CADA_ERR(CADA_ERR_CONFIG,
                            "learn.zero = %d with cluster.device = cuda: ZeRO is not built on the GPU yet; set learn.zero = 0 "
                            "(data parallel)", c->zero);
    }
    if (!strcmp(c->placement, "colocated") && (c->rollout_ranks != 0))
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = colocated: learners roll out, so cluster.rollout_ranks must be 0 (is %d)",
                        c->rollout_ranks);
    if (!strcmp(c->placement, "disaggregated") && c->rollout_ranks < 1)
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = disaggregated needs cluster.rollout_ranks >= 1");
    if (c->max_new_tokens >= c->max_len)
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.max_new_tokens (%d) must be below rollout.max_len (%d)", c->max_new_tokens,
                        c->max_len);
    if (!strcmp(c->mode, "async") && c->max_staleness != 1)
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.mode = async is one-step-off: rollout.max_staleness must be 1 (is %d)", c->max_staleness);
    if (!strcmp(c->detector, "target_tokens") && !c->target_ids[0])
        return CADA_ERR(CADA_ERR_CONFIG, "reward.detector = target_tokens needs reward.target_ids (e.g. 0-6143)");
    if (!strcmp(c->detector, "judge") && !c->judge_model[0])
        return CADA_ERR(CADA_ERR_CONFIG, "reward.detector = judge needs reward.judge_model");
    if ((!strcmp(c->algorithm, "grpo") || !strcmp(c->algorithm, "rloo")) && c->samples_per_prompt < 2)
        return CADA_ERR(CADA_ERR_CONFIG, "learn.algorithm = %s needs rollout.samples_per_prompt >= 2", c->algorithm);
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

/* The value as config.ini holds it (floats with enough digits to read back exactly). */
static void value_string(const cada_run_config *c, const key_spec *k, char *buf, size_t cap) {
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case KEY_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case KEY_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case KEY_FLOAT: snprintf(buf, cap, "%.9g", (double)*(const float *)p); break;
    case KEY_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case KEY_BOOL: snprintf(buf, cap, "%s", *(const int *)p ? "true" : "false"); break;
    case KEY_STR:
    case KEY_CHOICE: snprintf(buf, cap, "%s", p); break;
    }
}

static void write_value(const cada_run_config *c, const key_spec *k, FILE *f) {
    char buf[CADA_CFG_STR + 64];
    value_string(c, k, buf, sizeof buf);
    fputs(buf, f);
}

/* Keys that do not enter the computation: where the run writes, how often it reports
 * or checkpoints, how long a silent peer is waited for, the thread count (OpenMP
 * reductions in cada's kernels use fixed chunks; a BLAS library may still split work
 * differently on another machine). run.steps is checked on its own. */
static const char *const resume_free[] = {"run.name", "run.out_dir", "run.checkpoint_every", "run.log_every",
                                           "cluster.timeout_seconds", "cluster.threads_per_rank", "run.tensorboard",
                                           "run.dump_samples", "run.progress_seconds"};

cada_status cada_config_check_resume(const cada_run_config *saved, const cada_run_config *now, long long step,
                                     const char *saved_path) {
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        char full[96];
        snprintf(full, sizeof full, "%s.%s", k->section, k->name);
        int free_key = 0;
        for (size_t j = 0; j < sizeof resume_free / sizeof resume_free[0]; j++) free_key |= !strcmp(full, resume_free[j]);
        if (free_key || !strcmp(full, "run.steps")) continue;
        char a[CADA_CFG_STR + 64], b[CADA_CFG_STR + 64];
        value_string(saved, k, a, sizeof a);
        value_string(now, k, b, sizeof b);
        if (strcmp(a, b))
            return CADA_ERR(CADA_ERR_CONFIG,
                            "--resume: %s = %s, but the checkpoint's configuration (%s) has %s: this key changes the "
                            "computation, so the run would not continue exactly (set it back, or start a new run)",
                            full, b, saved_path, a);
    }
    if (now->steps <= step)
        return CADA_ERR(CADA_ERR_CONFIG, "--resume: run.steps = %d, but the checkpoint is at step %lld: nothing left to run (raise run.steps)",
                        now->steps, step);
    if (now->steps != saved->steps && !strcmp(now->lr_schedule, "cosine"))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "--resume: run.steps = %d differs from the checkpoint's %d (%s), and learn.lr_schedule = cosine "
                        "takes its length from run.steps: the learning rates would change",
                        now->steps, saved->steps, saved_path);
    return CADA_OK;
}

void cada_config_write(const cada_run_config *c, FILE *f) {
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(section, keys[i].section)) {
            section = keys[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(f, "; %s\n%s = ", keys[i].doc, keys[i].name);
        write_value(c, &keys[i], f);
        fputc('\n', f);
    }
}

void cada_config_describe(FILE *f) {
    static const char *type_names[] = {"int", "uint64", "float", "float", "bool", "string", "choice"};
    for (int i = 0; i < N_KEYS; i++)
        fprintf(f, "%-28s %-7s default %-14s %s%s%s\n", keys[i].section[0] ? keys[i].section : "", type_names[keys[i].type],
                keys[i].def[0] ? keys[i].def : "\"\"", keys[i].doc, keys[i].choices ? ": " : "",
                keys[i].choices ? keys[i].choices : "");
}
