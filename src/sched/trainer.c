/* sched/trainer.c: see trainer.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/trainer.h"
#include "sched/reshard.h"

#include "model/tp_slice.h"

#ifdef CADA_HAVE_MPI
#include "base/cpu.h"
#include "base/fs.h"
#include "base/log.h"
#include "cada/dataset.h"
#include "sched/requests.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a rank does in this layout (sched/roles.h); fail() names up to 9 ranks in one
 * message, hence the rotating buffers. */
const char *trainer_role_name(const trainer *t, int rank) {
    static char buf[10][48];
    static int next;
    next = (next + 1) % 10;
    return cada_roles_name(&t->roles, rank, buf[next], sizeof buf[next]);
}

/* TEST HOOK (tests/cli/train_rankdeath.sh), not a feature: CADA_TEST_STALL_AT=
 * PHASE:RANK[:STEP] makes rank RANK stop answering (alive, asleep forever) when it
 * reaches PHASE (rollout or learn) of step STEP (1-based, default 1), so the other
 * ranks' timeouts and the message naming the silent rank can be tested
 * deterministically. */
void trainer_test_stall(const trainer *t, const char *phase, long long step) {
    const char *spec = getenv("CADA_TEST_STALL_AT");
    if (!spec || !*spec) return;
    char ph[32] = "";
    int rank = -1;
    long long at = 1;
    if (sscanf(spec, "%31[^:]:%d:%lld", ph, &rank, &at) < 2 || strcmp(ph, phase) || rank != t->rank || at != step) return;
    CADA_WARN("test hook CADA_TEST_STALL_AT=%s: rank %d stops answering in the %s phase of step %lld", spec, t->rank, phase, step);
    for (;;) sleep(1000);
}

/* Every rank's verdict on a collective piece of work (a max over ranks): all ranks fail
 * together, and the rank at fault keeps its own message. */
cada_status trainer_agree(trainer *t, cada_status mine, const char *what) {
    double bad = mine != CADA_OK ? (double)(t->rank + 1) : 0.0;
    cada_status st = cada_comm_allreduce_f64(t->comm, &bad, 1, CADA_RED_MAX);
    if (mine != CADA_OK) return mine;
    if (st != CADA_OK) return st;
    if (bad > 0) return CADA_ERR(CADA_ERR_IO, "%s: rank %d failed (its message says why)", what, (int)bad - 1);
    return CADA_OK;
}

/* out_dir/ranks/rank-R.pid: this rank's process id (operators and tests find a rank's
 * process by it). */
static cada_status write_pid_file(trainer *t) {
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/ranks", t->cfg.out_dir);
    CADA_TRY(cada_mkdir_p(dir));
    snprintf(path, sizeof path, "%s/rank-%d.pid", dir, t->rank);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    return CADA_OK;
}

/* Prints the arena report of one of this rank's GPU models when it is rank 0 or its
 * plan differs from rank 0's (the ranks agree on rank 0's size first). */
static cada_status gpu_report(trainer *t, const char *what, size_t bytes, void (*report)(const void *), const void *obj) {
    double rank0 = t->rank == 0 ? (double)bytes : 0.0;
    CADA_TRY(cada_comm_allreduce_f64(t->comm, &rank0, 1, CADA_RED_SUM));
    if (t->rank == 0 || (double)bytes != rank0) {
        printf("rank %d, GPU %d: %s%s\n", t->rank, t->gpu_device, what, t->rank == 0 ? "" : " (differs from rank 0's)");
        report(obj);
        fflush(stdout);
    }
    return CADA_OK;
}
static void report_learner(const void *L) { cada_learner_gpu_report(L); }
static void report_scorer(const void *s) { cada_scorer_report(s); }

/* cluster.device = cuda: this rank's GPU (the node-local rank modulo the visible GPUs)
 * and the learner on it, whose model also holds the rollout KV cache (colocated). */
static cada_status gpu_setup(trainer *t, const cada_learner_config *lc) {
    const cada_run_config *c = &t->cfg;
    if (t->roles.disaggregated)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "cluster.device = cuda with cluster.placement = disaggregated is not built yet "
                                              "(rollout ranks would need their own GPU models and the weight broadcast over "
                                              "NCCL); use cluster.placement = colocated");
    int local_rank = 0, n_visible = 0;
    CADA_TRY(cada_learner_pick_device(MPI_COMM_WORLD, &t->gpu_device, &local_rank, &n_visible));
    double *dev = calloc((size_t)t->world, sizeof *dev);
    if (!dev) return CADA_ERR(CADA_ERR_NOMEM, "device table");
    dev[t->rank] = t->gpu_device;
    cada_status st = cada_comm_allreduce_f64(t->comm, dev, t->world, CADA_RED_SUM);
    if (st == CADA_OK && t->rank == 0) {
        char line[800];
        size_t at = 0;
        for (int r = 0; r < t->world && at + 16 < sizeof line; r++)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%d:%d", r ? " " : "", r, (int)dev[r]);
        CADA_INFO("layout: cluster.device = cuda, rank:GPU %s (node-local rank modulo %d visible GPU%s)", line, n_visible,
                  n_visible == 1 ? "" : "s");
    }
    free(dev);
    CADA_TRY(st);
    cada_learner_gpu_options go;
    memset(&go, 0, sizeof go);
    go.device = t->gpu_device;
    go.recompute = c->recompute; /* model_gpu.h: keep one layer's activations, recompute the others in backward */
    go.kv_slots = c->slots;
    go.kv_max_len = c->max_len;
    go.gen_max_tokens = c->slots > c->max_len ? c->slots : c->max_len; /* a whole prompt, or every slot's decode step */
    go.group = MPI_COMM_WORLD; /* colocated: every rank is a learner, in world order as learn_comm */
    CADA_TRY(cada_learner_init_gpu(&t->learner, &t->policy, t->learn_comm, lc, &go));
    return gpu_report(t, "policy (learner + rollout KV cache)", cada_learner_gpu_bytes(t->learner), report_learner, t->learner);
}

/* The layout (roles.h), OpenMP threads, and the start-up line. */
static cada_status setup_layout(trainer *t) {
    const cada_run_config *c = &t->cfg;
    int colocated = !strcmp(c->placement, "colocated"), learners = colocated ? t->world : c->learner_ranks;
    if (t->resume[0] && t->rs.learners != learners)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "--resume %s: the checkpoint was written by %d learner ranks, this job has %d (%s); the learner count "
                        "must match (each learner reloads its own optimizer shard)",
                        t->resume, t->rs.learners, learners, colocated ? "colocated: mpirun -np" : "cluster.learner_ranks");
    CADA_TRY(cada_roles_init(&t->roles, c->placement, c->learner_ranks, c->rollout_ranks, c->reward_ranks, t->world));
    if (t->roles.disaggregated) {
        CADA_TRY(cada_roles_set_rollout_tp(&t->roles, c->rollout_tp));
        CADA_TRY(cada_roles_set_reward_tp(&t->roles, c->reward_tp));
    }
    if (!t->roles.disaggregated && !strcmp(c->mode, "async"))
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.mode = async needs cluster.placement = disaggregated (a colocated rank rolls out "
                                         "with the very weights it trains, so its samples cannot lag)");
    int threads = c->threads_per_rank;
    if (threads <= 0) { /* this machine's cores over the job's ranks on it (not the world's: ranks on other nodes have their own) */
        long cores = sysconf(_SC_NPROCESSORS_ONLN), local = cada_local_ranks();
        threads = (int)(cores / (local < t->world ? local : t->world));
        if (threads < 1) threads = 1;
    }
    omp_set_num_threads(threads);
    if (t->rank == 0) {
        char line[600];
        cada_roles_describe(&t->roles, line, sizeof line);
        char groups[160] = "";
        if (!t->roles.disaggregated && c->learn_tp > 1) /* colocated TP groups (colocated.c) */
            snprintf(groups, sizeof groups, "; %d tensor-parallel groups of %d ranks (learn.tp), each rolling out its share",
                     t->world / c->learn_tp, c->learn_tp);
        CADA_INFO("layout: %s%s%s, %d OpenMP threads per rank", line, groups,
                  !t->roles.disaggregated ? "" : !strcmp(c->mode, "async") ? "; one-step-off asynchronous" : "; synchronous on-policy",
                  threads);
    }
    return CADA_OK;
}

/* The LLM judge, opened once where sequences are scored (every colocated rank; the
 * reward ranks; the scheduler without reward ranks) when the reward needs one. It runs
 * on the CPU whatever cluster.device is (reward/judge.h uses the CPU model). */
static cada_status setup_judge(trainer *t) {
    const cada_run_config *c = &t->cfg;
    cada_role role = cada_roles_of(&t->roles, t->rank);
    int scores = !t->roles.disaggregated || role == CADA_ROLE_REWARD || (t->roles.reward == 0 && t->rank == 0);
    /* reward.tp > 1: a reward group's leader scores, its other ranks compute reference
     * log-probs only; colocated with learn.tp > 1 likewise each group's first rank (colocated.c) */
    int leader = t->rank;
    if (role == CADA_ROLE_REWARD) cada_roles_reward_group_of(&t->roles, t->rank, &leader);
    if (!t->roles.disaggregated && c->learn_tp > 1) leader = t->rank - t->rank % c->learn_tp;
    if (!scores || leader != t->rank || !cada_reward_needs_judge(&t->reward_cfg) || t->target.n) return CADA_OK;
    cada_judge_config jc;
    CADA_TRY(cada_config_judge(c, &jc));
    double t0 = cada_now();
    cada_status st = cada_eval_judge_open(&t->judge, c->judge_model, cada_config_tok_flags(c), &jc);
    if (st != CADA_OK) {
        cada_error_wrap("rank %d: reward.judge_model", t->rank);
        return st;
    }
    CADA_INFO("rank %d: judge %s loaded in %.1fs (%d items per call, on the CPU)", t->rank, c->judge_model, cada_now() - t0,
              jc.n_slots);
    return CADA_OK;
}

/* Prompt builder, rewards, training set (what the rollout and score stages read): the
 * modules' configurations come from the run configuration (config.h), as in cada eval
 * and cada score. */
static cada_status setup_task(trainer *t) {
    const cada_run_config *c = &t->cfg;
    cada_prompt_config pc;
    CADA_TRY(cada_config_prompt(c, &pc));
    CADA_TRY(cada_prompt_builder_init(&t->builder, &pc));
    CADA_TRY(cada_config_reward(c, &t->reward_cfg));
    if (!strcmp(c->detector, "target_tokens")) CADA_TRY(cada_target_parse(&t->target, c->target_ids, (int)cada_tok_vocab_size(t->tok)));
    CADA_TRY(cada_refusal_rules_load(&t->rules, t->reward_cfg.patterns));
    if (!cada_config_offline(c)) CADA_TRY(setup_judge(t)); /* sft and dpo score nothing */
    if (t->reward_cfg.monitor_patterns[0]) CADA_TRY(cada_monitor_load(&t->monitor, t->reward_cfg.monitor_patterns));
    cada_set_options so;
    CADA_TRY(cada_config_dataset(c, &so));
    /* sft and dpo learn from each record's response (dpo: and its rejected one) */
    so.require_response = cada_config_offline(c);
    so.require_rejected = !strcmp(c->algorithm, "dpo");
    cada_status st = cada_cursor_init(&t->cursor, c->train_set, &so, c->seed, c->shuffle);
    if (st != CADA_OK && cada_config_offline(c)) /* an empty build-data output: its stats say what the filter dropped */
        cada_error_wrap("learn.algorithm = %s reads records of cada build-data (its FILE.stats.json counts what was kept)",
                        c->algorithm);
    return st;
}

/* learn.tp > 1: TP groups of consecutive learners, and the data-parallel peers holding
 * the same part (collective over the learner group only). */
static cada_status split_learner_groups(trainer *t) {
    const int Pl = t->cfg.learn_tp, k = cada_roles_index(&t->roles, t->rank);
    CADA_TRY(cada_comm_split(t->learn_comm, k / Pl, k, &t->learn_tp_comm));
    return cada_comm_split(t->learn_comm, k % Pl, k, &t->learn_dp_comm);
}

/* Every rank's communicator; disaggregated: the learner group, and rank 0 + the rollout
 * ranks (the weight broadcast); with learn.tp > 1 the learners' TP groups and their
 * data-parallel peers (colocated: every rank is a learner). */
static cada_status setup_comms(trainer *t, cada_role role) {
    cada_comm_options co;
    cada_comm_options_default(&co);
    co.timeout_s = t->cfg.timeout_seconds;
    CADA_TRY(cada_comm_init_world(&t->comm, &co));
    t->learn_comm = t->comm;
    if (!t->roles.disaggregated) return t->cfg.learn_tp > 1 ? split_learner_groups(t) : CADA_OK;
    CADA_TRY(cada_comm_split(t->comm, role == CADA_ROLE_LEARNER ? 0 : 1, t->rank, &t->learn_comm));
    int in_weights = t->rank == 0 || role == CADA_ROLE_ROLLOUT;
    cada_comm *w = NULL;
    CADA_TRY(cada_comm_split(t->comm, in_weights ? 0 : 1, t->rank, &w));
    if (in_weights) t->weights_comm = w;
    else cada_comm_free(w);
    if (t->cfg.learn_tp > 1 && role == CADA_ROLE_LEARNER) CADA_TRY(split_learner_groups(t));
    if (t->roles.rollout_tp > 1) {
        /* rollout.tp > 1: each engine's ranks; every other rank lands in one group it drops */
        const int engine = role == CADA_ROLE_ROLLOUT ? cada_roles_engine_of(&t->roles, t->rank, NULL) : -1;
        cada_comm *g = NULL;
        CADA_TRY(cada_comm_split(t->comm, engine + 1, t->rank, &g));
        if (engine >= 0) t->engine_comm = g;
        else cada_comm_free(g);
    }
    if (t->roles.reward_tp > 1) { /* reward.tp > 1: each reward group's ranks, the same way */
        const int group = role == CADA_ROLE_REWARD ? cada_roles_reward_group_of(&t->roles, t->rank, NULL) : -1;
        cada_comm *g = NULL;
        CADA_TRY(cada_comm_split(t->comm, group + 1, t->rank, &g));
        if (group >= 0) t->reward_comm = g;
        else cada_comm_free(g);
    }
    return CADA_OK;
}

/* The policy of a rank that holds one: the whole model, or with rollout.tp > 1 on a
 * rollout rank and learn.tp > 1 on a learner only this rank's part of it (its heads,
 * intermediate units and vocabulary rows, model/tp.h), read from the file without the
 * whole model (70B's whole fp32 model fits no rank), its passes communicating over the
 * TP group (bound into *tp). */
static cada_status load_policy(trainer *t) {
    cada_comm *group = t->engine_comm ? t->engine_comm : t->learn_tp_comm;
    cada_tp *tp = t->engine_comm ? &t->engine_tp : &t->learn_tp;
    if (!group) return cada_model_load(&t->policy, t->cfg.model_path);
    CADA_TRY(cada_tp_init_comm(tp, group, &t->whole_cfg));
    CADA_TRY(cada_model_load_part(&t->policy, t->cfg.model_path, tp->rank, tp->size));
    t->policy.tp = tp;
    return CADA_OK;
}

/* The frozen reference where this rank computes its log-probs: whole, or with reward.tp
 * > 1 on a reward rank (colocated: with learn.tp > 1 on every rank, over the learner's TP
 * group) this rank's part of it, read alone (as load_policy). */
static cada_status load_reference(trainer *t) {
    const char *path = t->cfg.reference_path[0] ? t->cfg.reference_path : t->cfg.model_path;
    cada_comm *group = t->roles.disaggregated ? t->reward_comm : t->learn_tp_comm;
    if (!group) return cada_model_load(&t->reference, path);
    cada_model_config whole;
    CADA_TRY(cada_model_load_config(path, &whole));
    CADA_TRY(cada_tp_init_comm(&t->reward_tp, group, &whole));
    CADA_TRY(cada_model_load_part(&t->reference, path, t->reward_tp.rank, t->reward_tp.size));
    t->reference.tp = &t->reward_tp;
    return CADA_OK;
}

/* sft, dpo: the learner's rows as long as the set's longest sequence (rounded up to 64),
 * not rollout.max_len (offline_stage.h); the micro-batch budget stays. */
static cada_status offline_rows(trainer *t, cada_learner_config *lc) {
    if (t->n_eos < 1) return CADA_ERR(CADA_ERR_CONFIG, "%s: the model names no end-of-sequence token to end responses with", t->cfg.model_path);
    cada_score_ctx sc = trainer_scoring(t);
    const cada_offline_ctx oc = trainer_offline(t, &sc);
    int longest = 0;
    CADA_TRY(cada_offline_longest(&oc, &longest));
    int row = (longest + 63) / 64 * 64;
    lc->row_tokens = row < lc->row_tokens ? row : lc->row_tokens;
    if (t->rank == 0)
        CADA_INFO("update: %s on the responses of %d records of data.train_set (no rollout, no reward; learn.condition = %s%s); "
                  "learner rows of %d tokens (the longest sequence: %d)", t->cfg.algorithm, t->cursor.data.n, t->cfg.condition,
                  strcmp(t->cfg.algorithm, "dpo") ? "" : "; the reference model's log-probs of both responses", lc->row_tokens, longest);
    return CADA_OK;
}

cada_status trainer_setup(trainer *t) {
    const cada_run_config *c = &t->cfg;
    t->watch.phase = "set-up";
    t->watch.peer = -1;
    t->gpu_device = -1;
    t->first_reward = t->first_refusal = NAN;
    CADA_TRY(write_pid_file(t));
    CADA_TRY(setup_layout(t));
    cada_role role = cada_roles_of(&t->roles, t->rank);
    /* Reward ranks hold no policy. The frozen reference lives where the KL's (dpo: the
     * loss's) log-probs are computed: on every colocated rank, on the reward ranks, or,
     * without reward ranks, on the scheduler. */
    t->have_policy = role != CADA_ROLE_REWARD;
    if (t->have_policy) CADA_TRY(cada_model_load_config(c->model_path, &t->whole_cfg));
    const int needs_reference = !strcmp(c->algorithm, "dpo") || (c->kl_coef > 0 && !cada_config_offline(c)); /* sft: none */
    t->have_reference = needs_reference && (!t->roles.disaggregated || role == CADA_ROLE_REWARD || (t->roles.reward == 0 && t->rank == 0));
    CADA_TRY(cada_tok_load(&t->tok, c->model_path, cada_config_tok_flags(c)));
    t->n_eos = cada_eos_ids(cada_tok_eos_id(t->tok), t->have_policy ? t->whole_cfg.eos_token_id : -1, t->eos);
    CADA_TRY(setup_task(t));
    CADA_TRY(setup_comms(t, role));
    if (t->have_policy) {
        t->whole_params = (size_t)cada_config_param_count(&t->whole_cfg);
        CADA_TRY(load_policy(t));
    }
    if (t->have_reference) CADA_TRY(load_reference(t));
    cada_learner_config lc;
    CADA_TRY(cada_config_learner(c, &lc));
    if (cada_config_offline(c)) CADA_TRY(offline_rows(t, &lc));
    else if (t->rank == 0) /* what the KL term's expected gradient is (learn/kl.h), and the IS weights' cap */
        CADA_INFO("update: %s, KL: %s (learn.kl_coef %g), truncated importance sampling %s%g", c->algorithm,
                  cada_kl_gradient(lc.algo.pg.kl_place, lc.algo.pg.kl_est), (double)c->kl_coef,
                  lc.algo.pg.tis_cap > 0 ? "cap " : "off, learn.tis_cap ", lc.algo.pg.tis_cap);
    if (strcmp(c->device, "cuda") && lc.model.matmul_bf16 && t->rank == 0 &&
        cada_cpu_kernels_current() != CADA_CPU_AVX512BF16) /* ops/bgemm.h: only that family is faster than sgemm */
        CADA_WARN("learn.matmul = bf16 on CPU kernels '%s' (no AVX512-BF16 in use): the same bf16 numbers, but slower than "
                  "learn.matmul = fp32 here",
                  cada_cpu_kernels_name(cada_cpu_kernels_current()));
    if (strcmp(c->device, "cuda") && !strcmp(c->rollout_weights, "bf16") && t->rank == 0 &&
        cada_cpu_kernels_current() == CADA_CPU_SCALAR) /* docs/OPERATING.md: prefill and batched decode run slower there */
        CADA_WARN("rollout.weights = bf16 on the portable CPU kernels (no AVX2 in use): decode reads half the bytes, but "
                  "prefill and batched decode run slower than rollout.weights = fp32 here");
    if (!strcmp(c->device, "cuda")) CADA_TRY(gpu_setup(t, &lc));
    else if (role == CADA_ROLE_LEARNER)
        CADA_TRY(cada_learner_init(&t->learner, &t->policy, t->learn_dp_comm ? t->learn_dp_comm : t->learn_comm, &lc));
    if (t->have_reference) {
        /* the reference only runs forwards: it keeps one layer's activations (recompute
         * costs nothing without a backward), its logits come in the learner's chunks and
         * its matmuls in the learner's precision (so the KL of an unchanged policy is 0) */
        cada_model_options ro = {.recompute = 1, .logits_chunk = lc.model.logits_chunk, .matmul_bf16 = lc.model.matmul_bf16,
                                 .targets_only = 1};
        CADA_TRY(cada_model_set_options(&t->reference, &ro));
        cada_scorer_options so = {t->gpu_device, lc.row_tokens, lc.micro_tokens};
        CADA_TRY(cada_scorer_create(&t->ref, &t->reference, &so));
        if (t->gpu_device >= 0) CADA_TRY(gpu_report(t, "reference (forward only)", cada_scorer_bytes(t->ref), report_scorer, t->ref));
    }
    cada_progress_init(&t->progress, c->progress_seconds);
    return CADA_OK;
}

cada_rollout_policy trainer_policy(trainer *t) {
    cada_rollout_policy p = {&t->policy, t->learner ? cada_learner_gpu_model(t->learner) : NULL, t->eos, t->n_eos, NULL, NULL};
    return p;
}

cada_offline_ctx trainer_offline(trainer *t, const cada_score_ctx *sc) {
    const cada_run_config *c = &t->cfg;
    cada_offline_ctx o = {&t->cursor, t->tok, &t->builder, cada_request_condition_bare(c), !strcmp(c->algorithm, "dpo"),
                          t->eos[0], c->max_len, c->prompts_per_step, t->rank, t->world, sc};
    return o;
}

cada_score_ctx trainer_scoring(trainer *t) {
    cada_score_ctx s = {&t->cursor.data, t->tok, &t->reward_cfg, t->rules, &t->target, t->ref, t->rank, t->judge.judge, &t->judge_tally, t->monitor};
    return s;
}

int trainer_judges(const trainer *t) {
    return cada_reward_needs_judge(&t->reward_cfg) && !t->target.n && !cada_config_offline(&t->cfg);
}

int trainer_judge_fields(const trainer *t, const cada_judge_tally *step, cada_metric_field *out) {
    if (!trainer_judges(t)) return 0;
    return cada_judge_tally_fields(step, cada_reward_judge_scores(&t->reward_cfg), out);
}

void trainer_teardown(trainer *t) {
    cada_metrics_close(&t->metrics);
    cada_ahead_clear(&t->ahead);
    cada_learner_free(t->learner);
    cada_scorer_free(t->ref);
    if (t->learn_comm != t->comm) cada_comm_free(t->learn_comm);
    cada_comm_free(t->weights_comm);
    cada_comm_free(t->engine_comm);
    cada_comm_free(t->learn_dp_comm);
    cada_comm_free(t->learn_tp_comm);
    cada_comm_free(t->reward_comm);
    cada_comm_free(t->comm);
    cada_target_free(&t->target);
    cada_cursor_free(&t->cursor);
    cada_refusal_rules_free(t->rules);
    cada_eval_judge_close(&t->judge);
    cada_monitor_free(t->monitor);
    cada_prompt_builder_free(&t->builder);
    cada_tok_free(t->tok);
    cada_reshard_recv_free(t->sync_next); /* a sync left open by a failed step */
    cada_model_free(&t->policy_next);
    cada_model_free(&t->policy);
    if (t->have_reference) cada_model_free(&t->reference);
}
#endif
