/* sched/train.c: see train.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/train.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/rng.h"
#include "cada/dataset.h"
#include "cada/prompt.h"
#include "cli/cli.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/traj.h"
#include "model/load.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "rollout/engine.h"
#include "sched/config.h"
#include "sched/wire.h"
#include "tok/export.h"
#include "tok/tokenizer.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CADA_HAVE_MPI
#include <mpi.h>

#define TAG_TRAJ 101

/* One sequence of the step, as every learner sees it. */
typedef struct {
    int order;        /* position of its prompt in the step, then the sample */
    int sample;
    int *tokens;      /* prompt + completion */
    int prompt_len, completion_len;
    float *rollout_lp, *ref_lp; /* (completion_len); ref_lp NULL without KL */
    float reward;
    int refused, harmful;
} seq_rec;

typedef struct {
    cada_run_config cfg;
    int rank, world;
    cada_model policy, reference;
    int have_reference;
    cada_tokenizer *tok;
    cada_prompt_builder builder;
    cada_refusal_rules *rules;
    cada_reward_config reward_cfg;
    cada_prompt_set data;
    int *order;             /* (data.n) shuffled indices of epoch `shuffled_epoch` */
    long long shuffled_epoch; /* -1 before the first */
    cada_comm *comm;
    cada_learner *learner;
    FILE *metrics;
    int eos[2], n_eos;
} trainer;

static void free_seqs(seq_rec *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].tokens);
        free(s[i].rollout_lp);
        free(s[i].ref_lp);
    }
    free(s);
}

/* Epoch e's order: a Fisher-Yates shuffle from the Philox stream (seed, "epoch", e). */
static void shuffle_epoch(trainer *t, long long epoch) {
    for (int i = 0; i < t->data.n; i++) t->order[i] = i;
    if (!t->cfg.shuffle) return;
    cada_rng r;
    cada_rng_init(&r, t->cfg.seed, 0x45504f4348ull, (uint64_t)epoch, 0);
    for (int i = t->data.n - 1; i > 0; i--) {
        int j = (int)(cada_rng_u32(&r) % (uint32_t)(i + 1));
        int tmp = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = tmp;
    }
}

/* Dataset index of the step's p-th prompt (the cursor runs over shuffled epochs). */
static int prompt_at(trainer *t, long long position) {
    long long epoch = position / t->data.n;
    if (epoch != t->shuffled_epoch) {
        shuffle_epoch(t, epoch);
        t->shuffled_epoch = epoch;
    }
    return t->order[position % t->data.n];
}

/* Reference log-probs of each sequence's completion tokens (one packed forward). */
static cada_status reference_logprobs(trainer *t, seq_rec *s, int n) {
    cada_traj *tr = calloc((size_t)n, sizeof *tr);
    if (!tr) return CADA_ERR(CADA_ERR_NOMEM, "reference batch");
    int T = 0;
    for (int i = 0; i < n; i++) {
        tr[i] = (cada_traj){.tokens = s[i].tokens, .prompt_len = s[i].prompt_len, .completion_len = s[i].completion_len};
        if (s[i].prompt_len + s[i].completion_len > T) T = s[i].prompt_len + s[i].completion_len;
    }
    cada_packed p = {0};
    cada_status st = cada_pack(&p, tr, NULL, n, T, 0);
    if (st == CADA_OK) {
        cada_batch b = {p.B, p.T, p.tokens, p.positions, p.targets};
        st = cada_model_forward(&t->reference, &b);
    }
    for (int i = 0; st == CADA_OK && i < n; i++) {
        s[i].ref_lp = malloc(sizeof(float) * (size_t)(s[i].completion_len ? s[i].completion_len : 1));
        if (!s[i].ref_lp) {
            st = CADA_ERR(CADA_ERR_NOMEM, "reference log-probs");
            break;
        }
        for (int j = 0; j < s[i].completion_len; j++) s[i].ref_lp[j] = t->reference.act.logprob[p.lp_index[i] + j];
    }
    cada_packed_free(&p);
    free(tr);
    return st;
}

/* Rolls out and scores this rank's share of the step. */
static cada_status rollout_share(trainer *t, long long step, seq_rec **out, int *n_out) {
    const cada_run_config *c = &t->cfg;
    int P = c->prompts_per_step, S = c->samples_per_prompt;
    int mine = 0;
    for (int p = 0; p < P; p++) mine += p % t->world == t->rank;
    *out = NULL;
    *n_out = 0;
    if (!mine) return CADA_OK;
    int n = mine * S;
    cada_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    cada_gen_result *res = calloc((size_t)n, sizeof *res);
    cada_tok_ids *ids = calloc((size_t)mine, sizeof *ids);
    int *pos_of = calloc((size_t)mine, sizeof(int)), *item_of = calloc((size_t)mine, sizeof(int));
    seq_rec *seqs = calloc((size_t)n, sizeof *seqs);
    cada_reward_input *rin = calloc((size_t)n, sizeof *rin);
    cada_reward *rout = calloc((size_t)n, sizeof *rout);
    cada_tok_bytes *text = calloc((size_t)n, sizeof *text);
    cada_status st = CADA_OK;
    if (!reqs || !res || !ids || !pos_of || !item_of || !seqs || !rin || !rout || !text) {
        st = CADA_ERR(CADA_ERR_NOMEM, "rank %d: rollout buffers", t->rank);
        goto done;
    }
    int k = 0;
    for (int p = 0; p < P && st == CADA_OK; p++) {
        if (p % t->world != t->rank) continue;
        int item = prompt_at(t, (long long)step * P + p);
        const cada_item *it = &t->data.items[item];
        cada_str rendered = {0};
        cada_prompt_choice choice;
        st = cada_prompt_render(&t->builder, t->tok, it->id, it->prompt, it->cat, &choice, &rendered);
        if (st == CADA_OK) st = cada_tok_encode(t->tok, rendered.data, rendered.len, 0, &ids[k]);
        cada_str_free(&rendered);
        pos_of[k] = p;
        item_of[k] = item;
        for (int s = 0; s < S; s++)
            reqs[k * S + s] = (cada_gen_request){(uint64_t)item, (uint32_t)s, ids[k].ids, (int)ids[k].n, c->max_new_tokens};
        k++;
    }
    if (st != CADA_OK) goto done;
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling = (cada_sampling){c->temperature, c->top_k, c->top_p};
    /* a new stream per step: the same prompt drawn in another epoch samples afresh */
    ec.seed = c->seed ^ ((uint64_t)step * 0x9E3779B97F4A7C15ull);
    ec.n_slots = c->slots;
    ec.max_len = c->max_len;
    ec.eos_ids = t->eos;
    ec.n_eos = t->n_eos;
    st = cada_generate(&t->policy, &ec, reqs, n, res, NULL);
    if (st != CADA_OK) goto done;
    for (int i = 0; i < n; i++) {
        int kk = i / S;
        const cada_item *it = &t->data.items[item_of[kk]];
        seq_rec *q = &seqs[i];
        q->order = pos_of[kk];
        q->sample = i % S;
        q->prompt_len = reqs[i].prompt_len;
        q->completion_len = res[i].n;
        q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
        q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
        if (!q->tokens || !q->rollout_lp) {
            st = CADA_ERR(CADA_ERR_NOMEM, "trajectories");
            goto done;
        }
        memcpy(q->tokens, reqs[i].prompt, sizeof(int) * (size_t)q->prompt_len);
        memcpy(q->tokens + q->prompt_len, res[i].tokens, sizeof(int) * (size_t)q->completion_len);
        memcpy(q->rollout_lp, res[i].logprobs, sizeof(float) * (size_t)q->completion_len);
        q->harmful = it->label != CADA_LABEL_BENIGN;
        st = cada_tok_decode(t->tok, res[i].tokens, (size_t)res[i].n, CADA_TOK_SKIP_SPECIAL, &text[i]);
        if (st != CADA_OK) goto done;
        rin[i] = (cada_reward_input){it->prompt, text[i].data ? text[i].data : "", text[i].len, it->label, it->cat};
    }
    cada_reward_ctx rctx = {&t->reward_cfg, t->rules, NULL};
    st = cada_reward_compute(&rctx, rin, n, rout);
    if (st != CADA_OK) goto done;
    for (int i = 0; i < n; i++) {
        seqs[i].reward = rout[i].total;
        seqs[i].refused = rout[i].refused;
    }
    if (t->have_reference) st = reference_logprobs(t, seqs, n);
done:
    if (res)
        for (int i = 0; i < n; i++) cada_gen_result_free(&res[i]);
    if (ids)
        for (int i = 0; i < mine; i++) cada_tok_ids_free(&ids[i]);
    if (text)
        for (int i = 0; i < n; i++) cada_tok_bytes_free(&text[i]);
    free(reqs); free(res); free(ids); free(pos_of); free(item_of); free(rin); free(rout); free(text);
    if (st != CADA_OK) {
        if (seqs) free_seqs(seqs, n);
        return st;
    }
    *out = seqs;
    *n_out = n;
    return CADA_OK;
}

/* Protobuf TrainBatch of this rank's sequences. The order and sample travel in the
 * trajectory's prompt_id and sample_index; harmful/refused in label and verdict. */
static cada_status send_share(trainer *t, long long step, const seq_rec *s, int n, int dest) {
    Cada__TrainItem *items = calloc((size_t)(n ? n : 1), sizeof *items);
    Cada__TrainItem **iptr = calloc((size_t)(n ? n : 1), sizeof *iptr);
    Cada__Trajectory *trajs = calloc((size_t)(n ? n : 1), sizeof *trajs);
    if (!items || !iptr || !trajs) {
        free(items); free(iptr); free(trajs);
        return CADA_ERR(CADA_ERR_NOMEM, "trajectory message");
    }
    for (int i = 0; i < n; i++) {
        cada__trajectory__init(&trajs[i]);
        trajs[i].prompt_id = (uint64_t)s[i].order;
        trajs[i].sample_index = (uint32_t)s[i].sample;
        trajs[i].policy_version = (uint64_t)step;
        trajs[i].n_prompt_tokens = (size_t)s[i].prompt_len;
        trajs[i].prompt_tokens = s[i].tokens;
        trajs[i].n_completion_tokens = (size_t)s[i].completion_len;
        trajs[i].completion_tokens = s[i].tokens + s[i].prompt_len;
        trajs[i].n_rollout_logprobs = (size_t)s[i].completion_len;
        trajs[i].rollout_logprobs = s[i].rollout_lp;
        if (s[i].ref_lp) {
            trajs[i].n_ref_logprobs = (size_t)s[i].completion_len;
            trajs[i].ref_logprobs = s[i].ref_lp;
        }
        trajs[i].label = s[i].harmful;
        trajs[i].category = s[i].refused ? "refused" : "";
        cada__train_item__init(&items[i]);
        items[i].trajectory = &trajs[i];
        items[i].reward = s[i].reward;
        iptr[i] = &items[i];
    }
    Cada__TrainBatch batch = CADA__TRAIN_BATCH__INIT;
    batch.step = (uint64_t)step;
    batch.n_items = (size_t)n;
    batch.items = iptr;
    Cada__Envelope env = CADA__ENVELOPE__INIT;
    env.body_case = CADA__ENVELOPE__BODY_TRAIN_BATCH;
    env.train_batch = &batch;
    cada_wire_options o = cada_wire_defaults();
    cada_status st = cada_wire_send(MPI_COMM_WORLD, dest, TAG_TRAJ, &env, &o, t->cfg.timeout_seconds);
    free(items); free(iptr); free(trajs);
    return st;
}

static cada_status recv_share(trainer *t, int from, seq_rec **out, int *n_out) {
    cada_wire_options o = cada_wire_defaults();
    Cada__Envelope *env = NULL;
    int got_from = -1;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, from, TAG_TRAJ, t->cfg.timeout_seconds, &o, &env, &got_from));
    if (env->body_case != CADA__ENVELOPE__BODY_TRAIN_BATCH) {
        cada_wire_free(env);
        return CADA_ERR(CADA_ERR_FORMAT, "rank %d: expected a TrainBatch from rank %d", t->rank, from);
    }
    const Cada__TrainBatch *b = env->train_batch;
    int n = (int)b->n_items;
    seq_rec *s = calloc((size_t)(n ? n : 1), sizeof *s);
    cada_status st = s ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    for (int i = 0; st == CADA_OK && i < n; i++) {
        const Cada__Trajectory *tr = b->items[i]->trajectory;
        if (!tr || tr->n_rollout_logprobs != tr->n_completion_tokens ||
            (tr->n_ref_logprobs && tr->n_ref_logprobs != tr->n_completion_tokens) || tr->n_prompt_tokens == 0) {
            st = CADA_ERR(CADA_ERR_FORMAT, "TrainBatch from rank %d: item %d has inconsistent lengths", from, i);
            break;
        }
        seq_rec *q = &s[i];
        q->order = (int)tr->prompt_id;
        q->sample = (int)tr->sample_index;
        q->prompt_len = (int)tr->n_prompt_tokens;
        q->completion_len = (int)tr->n_completion_tokens;
        q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
        q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
        if (tr->n_ref_logprobs) q->ref_lp = malloc(sizeof(float) * (size_t)q->completion_len);
        if (!q->tokens || !q->rollout_lp || (tr->n_ref_logprobs && !q->ref_lp)) {
            st = CADA_ERR(CADA_ERR_NOMEM, "trajectories");
            break;
        }
        memcpy(q->tokens, tr->prompt_tokens, sizeof(int) * (size_t)q->prompt_len);
        memcpy(q->tokens + q->prompt_len, tr->completion_tokens, sizeof(int) * (size_t)q->completion_len);
        memcpy(q->rollout_lp, tr->rollout_logprobs, sizeof(float) * (size_t)q->completion_len);
        if (q->ref_lp) memcpy(q->ref_lp, tr->ref_logprobs, sizeof(float) * (size_t)q->completion_len);
        q->reward = b->items[i]->reward;
        q->harmful = tr->label;
        q->refused = tr->category && !strcmp(tr->category, "refused");
    }
    cada_wire_free(env);
    if (st != CADA_OK) {
        if (s) free_seqs(s, n);
        return st;
    }
    *out = s;
    *n_out = n;
    return CADA_OK;
}

static int by_order(const void *a, const void *b) {
    const seq_rec *x = a, *y = b;
    if (x->order != y->order) return x->order - y->order;
    return x->sample - y->sample;
}

/* All ranks' sequences, in (prompt position, sample) order, on every rank. Each rank
 * sends its share to every other rank (ranks are few: learners of one job). */
static cada_status exchange(trainer *t, long long step, seq_rec *mine, int n_mine, seq_rec **all, int *n_all) {
    for (int r = 0; r < t->world; r++)
        if (r != t->rank) CADA_TRY(send_share(t, step, mine, n_mine, r));
    int total = n_mine, cap = n_mine + 64;
    seq_rec *acc = malloc(sizeof *acc * (size_t)cap);
    if (!acc) return CADA_ERR(CADA_ERR_NOMEM, "global batch");
    memcpy(acc, mine, sizeof *acc * (size_t)n_mine);
    for (int r = 0; r < t->world; r++) {
        if (r == t->rank) continue;
        seq_rec *theirs = NULL;
        int n = 0;
        cada_status st = recv_share(t, r, &theirs, &n);
        if (st != CADA_OK) {
            free(acc);
            return st;
        }
        if (total + n > cap) {
            cap = (total + n) * 2;
            seq_rec *grown = realloc(acc, sizeof *acc * (size_t)cap);
            if (!grown) {
                free(acc);
                free_seqs(theirs, n);
                return CADA_ERR(CADA_ERR_NOMEM, "global batch");
            }
            acc = grown;
        }
        memcpy(acc + total, theirs, sizeof *acc * (size_t)n);
        total += n;
        free(theirs); /* the records moved; their buffers now belong to acc */
    }
    qsort(acc, (size_t)total, sizeof *acc, by_order);
    *all = acc;
    *n_all = total;
    return CADA_OK;
}

/* out_dir/checkpoint-<step>: written under a temporary name, renamed when complete. */
static cada_status checkpoint(trainer *t, long long step) {
    char tmp[1300], final[1200], path[1400];
    snprintf(final, sizeof final, "%s/checkpoint-%lld", t->cfg.out_dir, step);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", final) >= (int)sizeof tmp) return CADA_ERR(CADA_ERR_CONFIG, "run.out_dir is too long");
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot clear", tmp);
    CADA_TRY(cada_model_save_hf(&t->policy, tmp, CADA_DTYPE_F32));
    cada_source_kind kind;
    if (cada_model_source_kind(t->cfg.model_path, &kind) == CADA_OK && kind == CADA_SOURCE_GGUF) {
        cada_status st = cada_tok_export_gguf(t->cfg.model_path, tmp);
        if (st != CADA_OK && st != CADA_ERR_UNSUPPORTED) return st;
    }
    snprintf(path, sizeof path, "%s/config.ini", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    cada_config_write(&t->cfg, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/run_state.json", tmp);
    f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const cada_baseline *b = cada_learner_baseline(t->learner);
    fprintf(f, "{\"step\": %lld, \"policy_version\": %lld, \"data_cursor\": %lld, \"seed\": %llu, \"baseline\": %.17g, \"baseline_updates\": %lld}\n",
            step, step, (long long)step * t->cfg.prompts_per_step, (unsigned long long)t->cfg.seed, b->value, b->updates);
    fclose(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", final);
    if (system(cmd) != 0 || rename(tmp, final) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot rename into place", final);
    CADA_INFO("checkpoint %s", final);
    return CADA_OK;
}

static cada_status setup(trainer *t) {
    const cada_run_config *c = &t->cfg;
    if (strcmp(c->placement, "colocated"))
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "cluster.placement = %s is not built yet; this version of cada train runs colocated (every rank a learner that rolls out)",
                        c->placement);
    if (c->learner_ranks != t->world || c->rollout_ranks != 0 || c->reward_ranks != 0)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "layout: colocated needs cluster.learner_ranks = world size (%d) and rollout_ranks = reward_ranks = 0 (have %d/%d/%d)",
                        t->world, c->learner_ranks, c->rollout_ranks, c->reward_ranks);
    if (!strcmp(c->mode, "async")) return CADA_ERR(CADA_ERR_UNSUPPORTED, "rollout.mode = async is not built yet");
    int threads = c->threads_per_rank;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(cores / t->world);
        if (threads < 1) threads = 1;
    }
    omp_set_num_threads(threads);
    if (t->rank == 0)
        CADA_INFO("layout: %d ranks, colocated (each rank: learner + rollout + reward), %d OpenMP threads per rank", t->world,
                  threads);
    CADA_TRY(cada_model_load(&t->policy, c->model_path));
    t->have_reference = c->kl_coef > 0;
    if (t->have_reference) CADA_TRY(cada_model_load(&t->reference, c->reference_path[0] ? c->reference_path : c->model_path));
    CADA_TRY(cada_tok_load(&t->tok, c->model_path, 0));
    t->n_eos = cada_eos_ids(cada_tok_eos_id(t->tok), t->policy.cfg.eos_token_id, t->eos);
    cada_prompt_config pc;
    cada_prompt_config_default(&pc);
    char kv[600];
    snprintf(kv, sizeof kv, "template=%s", c->prompt_template);
    CADA_TRY(cada_prompt_config_set(&pc, kv));
    snprintf(kv, sizeof kv, "k=%d", c->prompt_k);
    CADA_TRY(cada_prompt_config_set(&pc, kv));
    snprintf(kv, sizeof kv, "selection=%s", c->case_selection);
    CADA_TRY(cada_prompt_config_set(&pc, kv));
    snprintf(kv, sizeof kv, "seed=%llu", (unsigned long long)c->seed);
    CADA_TRY(cada_prompt_config_set(&pc, kv));
    CADA_TRY(cada_prompt_builder_init(&t->builder, &pc));
    cada_reward_config_default(&t->reward_cfg);
    if (strcmp(c->detector, "rule"))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "reward.detector = %s in cada train is not built yet (rule only)", c->detector);
    t->reward_cfg.benign_refuse = c->benign_refusal_reward;
    t->reward_cfg.benign_help = c->benign_help_reward;
    CADA_TRY(cada_refusal_rules_load(&t->rules, t->reward_cfg.patterns));
    /* data: one or more comma-separated prompt files */
    char files[CADA_CFG_STR];
    snprintf(files, sizeof files, "%s", c->train_set);
    cada_set_options so;
    cada_set_options_default(&so);
    for (char *save = NULL, *f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        cada_prompt_set one;
        CADA_TRY(cada_set_load(&one, f, &so));
        for (int i = 0; i < one.n; i++) {
            if (t->data.n == t->data.cap) {
                int cap = t->data.cap ? 2 * t->data.cap : 256;
                cada_item *grown = realloc(t->data.items, sizeof *grown * (size_t)cap);
                if (!grown) return CADA_ERR(CADA_ERR_NOMEM, "training prompts");
                t->data.items = grown;
                t->data.cap = cap;
            }
            t->data.items[t->data.n++] = one.items[i]; /* the strings move */
        }
        free(one.items);
    }
    if (t->data.n == 0) return CADA_ERR(CADA_ERR_CONFIG, "data.train_set '%s': no prompts", c->train_set);
    t->order = malloc(sizeof(int) * (size_t)t->data.n);
    if (!t->order) return CADA_ERR(CADA_ERR_NOMEM, "data order");
    t->shuffled_epoch = -1;
    /* learners */
    cada_comm_options co;
    cada_comm_options_default(&co);
    co.timeout_s = c->timeout_seconds;
    CADA_TRY(cada_comm_init_world(&t->comm, &co));
    cada_algo algo;
    if (cada_algo_parse(c->algorithm, &algo) != 0) return CADA_ERR(CADA_ERR_CONFIG, "learn.algorithm '%s'", c->algorithm);
    if (algo == CADA_ALGO_SFT || algo == CADA_ALGO_DPO)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "learn.algorithm = %s needs a fixed dataset; cada train runs RL algorithms", c->algorithm);
    cada_learner_config lc;
    cada_learner_config_default(&lc, algo);
    lc.algo.adv.baseline_beta = c->baseline_beta;
    cada_kl_estimator est = !strcmp(c->kl_estimator, "k1") ? CADA_KL_K1 : !strcmp(c->kl_estimator, "k2") ? CADA_KL_K2 : CADA_KL_K3;
    cada_algo_set_kl(&lc.algo, c->kl_coef > 0 ? (!strcmp(c->kl_in, "reward") ? CADA_KL_IN_REWARD : CADA_KL_IN_LOSS) : CADA_KL_OFF,
                     est, c->kl_coef);
    lc.algo.pg.clip_low = c->clip_low;
    lc.algo.pg.clip_high = c->clip_high;
    lc.opt.lr = c->lr;
    lc.opt.beta1 = c->beta1;
    lc.opt.beta2 = c->beta2;
    lc.opt.eps = c->adam_eps;
    lc.opt.weight_decay = c->weight_decay;
    lc.opt.max_grad_norm = c->grad_clip;
    lc.opt.warmup_steps = c->warmup_steps;
    lc.opt.total_steps = c->steps;
    lc.opt.schedule = !strcmp(c->lr_schedule, "cosine") ? CADA_LR_COSINE : CADA_LR_CONSTANT;
    if (!strcmp(c->lr_schedule, "linear")) lc.opt.schedule = CADA_LR_LINEAR_WARMUP;
    lc.zero = (cada_zero_stage)c->zero;
    lc.row_tokens = c->max_len;
    lc.micro_tokens = c->micro_batch_tokens > c->max_len ? c->micro_batch_tokens : c->max_len;
    lc.pad_id = 0;
    lc.fixed_order = 0;
    CADA_TRY(cada_learner_init(&t->learner, &t->policy, t->comm, &lc));
    if (t->rank == 0) {
        CADA_TRY(cada_mkdir_p(c->out_dir));
        char path[1100];
        snprintf(path, sizeof path, "%s/metrics.jsonl", c->out_dir);
        t->metrics = fopen(path, "w");
        if (!t->metrics) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    return CADA_OK;
}

static cada_status run(trainer *t) {
    const cada_run_config *c = &t->cfg;
    CADA_TRY(setup(t));
    double first_reward = NAN, first_refusal = NAN, last_reward = NAN, last_refusal = NAN;
    for (long long step = 0; step < c->steps; step++) {
        double t0 = cada_now();
        seq_rec *mine = NULL, *all = NULL;
        int n_mine = 0, n_all = 0;
        CADA_TRY(rollout_share(t, step, &mine, &n_mine));
        double t1 = cada_now();
        cada_status st = exchange(t, step, mine, n_mine, &all, &n_all);
        free(mine); /* records moved into all (or freed on error below) */
        if (st != CADA_OK) return st;
        double t2 = cada_now();
        cada_traj *tr = calloc((size_t)n_all, sizeof *tr);
        if (!tr) {
            free_seqs(all, n_all);
            return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
        }
        int harmful = 0, refused_harmful = 0;
        for (int i = 0; i < n_all; i++) {
            tr[i] = (cada_traj){.tokens = all[i].tokens, .prompt_len = all[i].prompt_len, .completion_len = all[i].completion_len,
                                .rollout_logprob = all[i].rollout_lp, .ref_logprob = all[i].ref_lp, .reward = all[i].reward,
                                .group = all[i].order};
            harmful += all[i].harmful;
            refused_harmful += all[i].harmful && all[i].refused;
        }
        cada_step_metrics sm;
        st = cada_learner_step(t->learner, tr, n_all, &sm);
        free(tr);
        free_seqs(all, n_all);
        if (st != CADA_OK) return st;
        double t3 = cada_now();
        double refusal = harmful ? (double)refused_harmful / harmful : NAN;
        if (step == 0) {
            first_reward = sm.adv.reward_mean;
            first_refusal = refusal;
        }
        last_reward = sm.adv.reward_mean;
        last_refusal = refusal;
        if (t->rank == 0) {
            fprintf(t->metrics,
                    "{\"step\": %lld, \"reward_mean\": %.6g, \"refusal_rate_harmful\": %.6g, \"kl\": %.6g, \"entropy\": %.6g, "
                    "\"loss\": %.6g, \"grad_norm\": %.6g, \"lr\": %.6g, \"baseline\": %.6g, \"sequences\": %d, "
                    "\"rollout_s\": %.3f, \"exchange_s\": %.3f, \"learn_s\": %.3f, \"learner_tokens_per_s\": %.1f}\n",
                    step + 1, sm.adv.reward_mean, refusal, sm.kl_mean, sm.entropy_mean, sm.loss, sm.grad_norm, sm.lr,
                    sm.adv.baseline_next, n_all, t1 - t0, t2 - t1, t3 - t2, sm.tokens_per_s);
            fflush(t->metrics);
            if ((step + 1) % c->log_every == 0 || step + 1 == c->steps)
                CADA_INFO("step %lld/%d  reward %+.3f  refusal(harmful) %.2f  kl %.4f  entropy %.3f  grad %.3f  | rollout %.1fs exchange %.2fs learn %.1fs",
                          step + 1, c->steps, sm.adv.reward_mean, refusal, sm.kl_mean, sm.entropy_mean, sm.grad_norm, t1 - t0,
                          t2 - t1, t3 - t2);
        }
        int save = (c->checkpoint_every > 0 && (step + 1) % c->checkpoint_every == 0) || step + 1 == c->steps;
        if (save && t->rank == 0) CADA_TRY(checkpoint(t, step + 1));
    }
    if (t->rank == 0)
        CADA_INFO("done: reward %.3f -> %.3f, refusal rate on harmful prompts %.2f -> %.2f over %d steps; metrics in %s/metrics.jsonl",
                  first_reward, last_reward, first_refusal, last_refusal, c->steps, c->out_dir);
    return CADA_OK;
}

static void teardown(trainer *t) {
    if (t->metrics) fclose(t->metrics);
    cada_learner_free(t->learner);
    cada_comm_free(t->comm);
    free(t->order);
    for (int i = 0; i < t->data.n; i++) {
        free(t->data.items[i].id);
        free(t->data.items[i].prompt);
        free(t->data.items[i].category);
        free(t->data.items[i].response);
    }
    free(t->data.items);
    cada_refusal_rules_free(t->rules);
    cada_prompt_builder_free(&t->builder);
    cada_tok_free(t->tok);
    cada_model_free(&t->policy);
    if (t->have_reference) cada_model_free(&t->reference);
}

int cada_cmd_train(int argc, char **argv) {
    trainer *t = calloc(1, sizeof *t);
    if (!t) return 1;
    cada_config_defaults(&t->cfg);
    int show = 0;
    for (int i = 0; i < argc; i++) {
        cada_status st = CADA_OK;
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) st = cada_config_load(&t->cfg, argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) st = cada_config_set(&t->cfg, argv[++i]);
        else if (!strcmp(argv[i], "--print-config")) show = 1;
        else if (!strcmp(argv[i], "--keys")) {
            cada_config_describe(stdout);
            free(t);
            return 0;
        } else {
            fprintf(stderr, "usage: cada train -c CONFIG.ini [--set section.key=value]... [--print-config] [--keys]\n");
            free(t);
            return 2;
        }
        if (st != CADA_OK) {
            free(t);
            return cada_cli_fail("train");
        }
    }
    if (cada_config_validate_run(&t->cfg) != CADA_OK) {
        free(t);
        return cada_cli_fail("train");
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->world);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    cada_set_rank(t->rank);
    if (t->rank == 0) {
        fprintf(stderr, "== cada train: resolved configuration\n");
        if (show) cada_config_write(&t->cfg, stderr);
        else fprintf(stderr, "(--print-config shows every key; it is saved as config.ini in each checkpoint)\n");
    }
    cada_status st = run(t);
    if (st != CADA_OK) CADA_FATAL("train: %s", cada_error_message()); /* aborts every rank */
    teardown(t);
    free(t);
    MPI_Finalize();
    return 0;
}
#else
int cada_cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cada train: this build has no MPI (install libopenmpi-dev and rebuild)\n");
    return 1;
}
#endif
