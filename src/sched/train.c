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
#include "io/safetensors.h"
#include "learn/learner.h"
#include "learn/traj.h"
#include "model/load.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "rollout/engine.h"
#include "sched/config.h"
#include "sched/tb_events.h"
#include "sched/trainer.h"
#include "sched/wire.h"
#include "tok/export.h"
#include "tok/tokenizer.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CADA_HAVE_MPI
#include <mpi.h>

#define TAG_TRAJ 101

/* cluster.device = cuda: this rank's GPU and the frozen reference on it (one rank per
 * process, so file-level state is this rank's). The policy's GPU model is the learner's
 * (cada_learner_gpu_model): colocated rollouts generate with the weights it trains. */
static struct {
    int device, local_rank, n_visible;
    cada_gpu_scorer *ref;
} gpu;

const char *const train_comp_names[TRAIN_N_COMP] = {"comply", "refuse", "judge", "help", "format"};

void train_free_seqs(seq_rec *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].tokens);
        free(s[i].rollout_lp);
        free(s[i].ref_lp);
    }
    free(s);
}

/* ---- preemption and failures ------------------------------------------------------- */

/* SIGTERM (Slurm preemption, scancel) and SIGINT only set this flag. The step loop
 * reads it between steps, the ranks agree on it (a max over ranks, once per step), and
 * every rank writes its part of the checkpoint of the last finished step, then exits 0. */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

static void install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* What a rank does in this layout (sched/roles.h); fail() names up to 9 ranks in one
 * message, hence the rotating buffers. */
static const char *role_of(const trainer *t, int rank) {
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
void train_test_stall(const trainer *t, const char *phase, long long step) {
    const char *spec = getenv("CADA_TEST_STALL_AT");
    if (!spec || !*spec) return;
    char ph[32] = "";
    int rank = -1;
    long long at = 1;
    if (sscanf(spec, "%31[^:]:%d:%lld", ph, &rank, &at) < 2 || strcmp(ph, phase) || rank != t->rank || at != step) return;
    CADA_WARN("test hook CADA_TEST_STALL_AT=%s: rank %d stops answering in the %s phase of step %lld", spec, t->rank, phase, step);
    for (;;) sleep(1000);
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

int train_prompt_at(trainer *t, long long position) {
    long long epoch = position / t->data.n;
    if (epoch != t->shuffled_epoch) {
        shuffle_epoch(t, epoch);
        t->shuffled_epoch = epoch;
    }
    return t->order[position % t->data.n];
}

/* train_reference on the GPU: the scorer packs and chunks the sequences itself. */
static cada_status reference_gpu(seq_rec *s, int n) {
    cada_traj *tr = calloc((size_t)(n ? n : 1), sizeof *tr);
    float **out = calloc((size_t)(n ? n : 1), sizeof *out);
    cada_status st = tr && out ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "reference batch");
    for (int i = 0; st == CADA_OK && i < n; i++) {
        tr[i] = (cada_traj){.tokens = s[i].tokens, .prompt_len = s[i].prompt_len, .completion_len = s[i].completion_len};
        out[i] = s[i].ref_lp = malloc(sizeof(float) * (size_t)(s[i].completion_len ? s[i].completion_len : 1));
        if (!s[i].ref_lp) st = CADA_ERR(CADA_ERR_NOMEM, "reference log-probs");
    }
    if (st == CADA_OK) st = cada_gpu_scorer_logprobs(gpu.ref, tr, n, out);
    free(tr);
    free(out);
    return st;
}

/* Reference log-probs of each sequence's completion tokens (one packed forward). */
cada_status train_reference(trainer *t, seq_rec *s, int n) {
    if (gpu.ref) return reference_gpu(s, n);
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

cada_status train_render(trainer *t, int item, cada_tok_ids *ids) {
    const cada_item *it = &t->data.items[item];
    cada_str rendered = {0};
    cada_prompt_choice choice;
    cada_status st = cada_prompt_render(&t->builder, t->tok, it->id, it->prompt, it->cat, &choice, &rendered);
    if (st == CADA_OK) st = cada_tok_encode(t->tok, rendered.data, rendered.len, 0, ids);
    cada_str_free(&rendered);
    return st;
}

cada_status train_generate(trainer *t, long long step, const cada_gen_request *reqs, int n, cada_gen_result *res) {
    const cada_run_config *c = &t->cfg;
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling = (cada_sampling){c->temperature, c->top_k, c->top_p};
    /* a new stream per step: the same prompt drawn in another epoch samples afresh */
    ec.seed = c->seed ^ ((uint64_t)step * 0x9E3779B97F4A7C15ull);
    ec.n_slots = c->slots;
    ec.max_len = c->max_len;
    ec.eos_ids = t->eos;
    ec.n_eos = t->n_eos;
    cada_gpu_model *gm = t->learner ? cada_learner_gpu_model(t->learner) : NULL;
    if (gm) return cada_generate_gpu(gm, &ec, reqs, n, res, NULL); /* colocated on the GPU: the learner's own model */
    return cada_generate(&t->policy, &ec, reqs, n, res, NULL);
}

cada_status train_seq_from(seq_rec *q, const cada_gen_request *req, const cada_gen_result *res) {
    q->prompt_len = req->prompt_len;
    q->completion_len = res->n;
    q->finish = (int)res->finish;
    q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
    q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
    if (!q->tokens || !q->rollout_lp) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    memcpy(q->tokens, req->prompt, sizeof(int) * (size_t)q->prompt_len);
    memcpy(q->tokens + q->prompt_len, res->tokens, sizeof(int) * (size_t)q->completion_len);
    memcpy(q->rollout_lp, res->logprobs, sizeof(float) * (size_t)q->completion_len);
    return CADA_OK;
}

/* reward.detector = target_tokens: the share of completion tokens whose id lies in one
 * of reward.target_ids' ranges. A test task: with a range covering a fraction of the
 * vocabulary, any model starts with a non-zero mean reward and a policy gradient raises
 * it within a few steps, which the phrase-based refusal reward cannot offer a model
 * that has never refused. */
static float target_share(const trainer *t, const seq_rec *q) {
    if (q->completion_len == 0) return 0;
    int hit = 0;
    for (int j = 0; j < q->completion_len; j++) {
        int id = q->tokens[q->prompt_len + j];
        for (int r = 0; r < t->n_target; r++)
            if (id >= t->target[r][0] && id <= t->target[r][1]) {
                hit++;
                break;
            }
    }
    return (float)hit / (float)q->completion_len;
}

cada_status train_score(trainer *t, seq_rec *s, int n) {
    for (int i = 0; i < n; i++) {
        memset(s[i].comp, 0, sizeof s[i].comp);
        s[i].harmful = t->data.items[s[i].item].label != CADA_LABEL_BENIGN;
        s[i].refused = 0;
    }
    if (t->n_target) {
        for (int i = 0; i < n; i++) s[i].reward = target_share(t, &s[i]);
        return CADA_OK;
    }
    cada_reward_input *rin = calloc((size_t)(n ? n : 1), sizeof *rin);
    cada_reward *rout = calloc((size_t)(n ? n : 1), sizeof *rout);
    cada_tok_bytes *text = calloc((size_t)(n ? n : 1), sizeof *text);
    cada_status st = rin && rout && text ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: reward buffers", t->rank);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        const cada_item *it = &t->data.items[s[i].item];
        st = cada_tok_decode(t->tok, s[i].tokens + s[i].prompt_len, (size_t)s[i].completion_len, CADA_TOK_SKIP_SPECIAL, &text[i]);
        rin[i] = (cada_reward_input){it->prompt, text[i].data ? text[i].data : "", text[i].len, it->label, it->cat};
    }
    cada_reward_ctx rctx = {&t->reward_cfg, t->rules, NULL};
    if (st == CADA_OK) st = cada_reward_compute(&rctx, rin, n, rout);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        s[i].reward = rout[i].total;
        s[i].refused = rout[i].refused;
        const float comp[TRAIN_N_COMP] = {rout[i].r_comply, rout[i].r_refuse, rout[i].r_judge, rout[i].r_help, rout[i].r_format};
        memcpy(s[i].comp, comp, sizeof comp);
    }
    if (text)
        for (int i = 0; i < n; i++) cada_tok_bytes_free(&text[i]);
    free(rin);
    free(rout);
    free(text);
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
    cada_status st = CADA_OK;
    if (!reqs || !res || !ids || !pos_of || !item_of || !seqs) {
        st = CADA_ERR(CADA_ERR_NOMEM, "rank %d: rollout buffers", t->rank);
        goto done;
    }
    int k = 0;
    for (int p = 0; p < P && st == CADA_OK; p++) {
        if (p % t->world != t->rank) continue;
        int item = train_prompt_at(t, (long long)step * P + p);
        st = train_render(t, item, &ids[k]);
        pos_of[k] = p;
        item_of[k] = item;
        for (int s = 0; s < S; s++)
            reqs[k * S + s] = (cada_gen_request){(uint64_t)item, (uint32_t)s, ids[k].ids, (int)ids[k].n, c->max_new_tokens};
        k++;
    }
    if (st == CADA_OK) st = train_generate(t, step, reqs, n, res);
    for (int i = 0; st == CADA_OK && i < n; i++) {
        seq_rec *q = &seqs[i];
        q->order = pos_of[i / S];
        q->sample = i % S;
        q->item = item_of[i / S];
        q->version = step;
        st = train_seq_from(q, &reqs[i], &res[i]);
    }
    if (st == CADA_OK) st = train_score(t, seqs, n);
    if (st == CADA_OK && t->have_reference) st = train_reference(t, seqs, n);
done:
    if (res)
        for (int i = 0; i < n; i++) cada_gen_result_free(&res[i]);
    if (ids)
        for (int i = 0; i < mine; i++) cada_tok_ids_free(&ids[i]);
    free(reqs); free(res); free(ids); free(pos_of); free(item_of);
    if (st != CADA_OK) {
        if (seqs) train_free_seqs(seqs, n);
        return st;
    }
    *out = seqs;
    *n_out = n;
    return CADA_OK;
}

/* A sequence as a protobuf Trajectory: the item, order and sample travel in prompt_id,
 * position and sample_index; harmful/refused in label and category. The message points
 * into q's buffers. */
void train_traj_to_msg(const seq_rec *q, Cada__Trajectory *tr) {
    cada__trajectory__init(tr);
    tr->prompt_id = (uint64_t)q->item;
    tr->position = q->order;
    tr->sample_index = (uint32_t)q->sample;
    tr->policy_version = (uint64_t)q->version;
    tr->finish = (Cada__FinishReason)q->finish;
    tr->n_prompt_tokens = (size_t)q->prompt_len;
    tr->prompt_tokens = q->tokens;
    tr->n_completion_tokens = (size_t)q->completion_len;
    tr->completion_tokens = q->tokens + q->prompt_len;
    tr->n_rollout_logprobs = (size_t)q->completion_len;
    tr->rollout_logprobs = q->rollout_lp;
    if (q->ref_lp) {
        tr->n_ref_logprobs = (size_t)q->completion_len;
        tr->ref_logprobs = q->ref_lp;
    }
    tr->label = q->harmful;
    tr->category = q->refused ? "refused" : "";
}

/* The inverse (q's buffers malloc'd); checks the lengths and the item index. */
cada_status train_traj_from_msg(const trainer *t, const Cada__Trajectory *tr, seq_rec *q, int from, int i) {
    memset(q, 0, sizeof *q);
    if (!tr || tr->n_rollout_logprobs != tr->n_completion_tokens ||
        (tr->n_ref_logprobs && tr->n_ref_logprobs != tr->n_completion_tokens) || tr->n_prompt_tokens == 0 ||
        tr->prompt_id >= (uint64_t)t->data.n || tr->position < 0 || tr->position >= t->cfg.prompts_per_step)
        return CADA_ERR(CADA_ERR_FORMAT, "trajectories from rank %d: item %d has inconsistent lengths or ids", from, i);
    q->order = tr->position;
    q->item = (int)tr->prompt_id;
    q->sample = (int)tr->sample_index;
    q->prompt_len = (int)tr->n_prompt_tokens;
    q->completion_len = (int)tr->n_completion_tokens;
    q->tokens = malloc(sizeof(int) * (size_t)(q->prompt_len + q->completion_len));
    q->rollout_lp = malloc(sizeof(float) * (size_t)(q->completion_len ? q->completion_len : 1));
    if (tr->n_ref_logprobs) q->ref_lp = malloc(sizeof(float) * (size_t)q->completion_len);
    if (!q->tokens || !q->rollout_lp || (tr->n_ref_logprobs && !q->ref_lp)) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    memcpy(q->tokens, tr->prompt_tokens, sizeof(int) * (size_t)q->prompt_len);
    memcpy(q->tokens + q->prompt_len, tr->completion_tokens, sizeof(int) * (size_t)q->completion_len);
    memcpy(q->rollout_lp, tr->rollout_logprobs, sizeof(float) * (size_t)q->completion_len);
    if (q->ref_lp) memcpy(q->ref_lp, tr->ref_logprobs, sizeof(float) * (size_t)q->completion_len);
    q->version = (long long)tr->policy_version;
    q->finish = (int)tr->finish;
    q->harmful = tr->label;
    q->refused = tr->category && !strcmp(tr->category, "refused");
    return CADA_OK;
}

/* Protobuf TrainBatch of this rank's sequences. */
cada_status train_send_batch(trainer *t, long long step, const seq_rec *s, int n, int dest) {
    Cada__TrainItem *items = calloc((size_t)(n ? n : 1), sizeof *items);
    Cada__TrainItem **iptr = calloc((size_t)(n ? n : 1), sizeof *iptr);
    Cada__Trajectory *trajs = calloc((size_t)(n ? n : 1), sizeof *trajs);
    if (!items || !iptr || !trajs) {
        free(items); free(iptr); free(trajs);
        return CADA_ERR(CADA_ERR_NOMEM, "trajectory message");
    }
    for (int i = 0; i < n; i++) {
        train_traj_to_msg(&s[i], &trajs[i]);
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

cada_status train_recv_batch(trainer *t, int from, double timeout_s, seq_rec **out, int *n_out) {
    cada_wire_options o = cada_wire_defaults();
    Cada__Envelope *env = NULL;
    int got_from = -1;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, from, TAG_TRAJ, timeout_s, &o, &env, &got_from));
    if (env->body_case != CADA__ENVELOPE__BODY_TRAIN_BATCH) {
        cada_wire_free(env);
        return CADA_ERR(CADA_ERR_FORMAT, "rank %d: expected a TrainBatch from rank %d", t->rank, from);
    }
    const Cada__TrainBatch *b = env->train_batch;
    int n = (int)b->n_items;
    seq_rec *s = calloc((size_t)(n ? n : 1), sizeof *s);
    cada_status st = s ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    for (int i = 0; st == CADA_OK && i < n; i++) {
        st = train_traj_from_msg(t, b->items[i]->trajectory, &s[i], from, i);
        s[i].reward = b->items[i]->reward;
    }
    cada_wire_free(env);
    if (st != CADA_OK) {
        if (s) train_free_seqs(s, n);
        return st;
    }
    *out = s;
    *n_out = n;
    return CADA_OK;
}

int train_by_order(const void *a, const void *b) {
    const seq_rec *x = a, *y = b;
    if (x->order != y->order) return x->order - y->order;
    return x->sample - y->sample;
}

/* All ranks' sequences, in (prompt position, sample) order, on every rank. Every pair
 * of ranks swaps shares (ranks are few: learners of one job), the pairs taken in one
 * global order, the lower rank of a pair sending first: a send completes only when its
 * receiver takes it (any frame above MPI's eager limit, a few KiB), so "every rank
 * sends, then every rank receives" would wait forever. */
static cada_status exchange(trainer *t, long long step, seq_rec *mine, int n_mine, seq_rec **all, int *n_all) {
    int total = n_mine, cap = n_mine + 64;
    seq_rec *acc = malloc(sizeof *acc * (size_t)cap);
    if (!acc) return CADA_ERR(CADA_ERR_NOMEM, "global batch");
    memcpy(acc, mine, sizeof *acc * (size_t)n_mine);
    for (int r = 0; r < t->world; r++) {
        if (r == t->rank) continue;
        seq_rec *theirs = NULL;
        int n = 0;
        t->peer = r;
        cada_status st = t->rank < r ? train_send_batch(t, step, mine, n_mine, r) : train_recv_batch(t, r, t->cfg.timeout_seconds, &theirs, &n);
        if (st == CADA_OK) st = t->rank < r ? train_recv_batch(t, r, t->cfg.timeout_seconds, &theirs, &n) : train_send_batch(t, step, mine, n_mine, r);
        if (st != CADA_OK) {
            if (theirs) train_free_seqs(theirs, n);
            free(acc);
            return st;
        }
        if (total + n > cap) {
            cap = (total + n) * 2;
            seq_rec *grown = realloc(acc, sizeof *acc * (size_t)cap);
            if (!grown) {
                free(acc);
                train_free_seqs(theirs, n);
                return CADA_ERR(CADA_ERR_NOMEM, "global batch");
            }
            acc = grown;
        }
        memcpy(acc + total, theirs, sizeof *acc * (size_t)n);
        total += n;
        free(theirs); /* the records moved; their buffers now belong to acc */
    }
    t->peer = -1;
    qsort(acc, (size_t)total, sizeof *acc, train_by_order);
    *all = acc;
    *n_all = total;
    return CADA_OK;
}

/* Every rank's verdict on a collective piece of work (a max over ranks): all ranks fail
 * together, and the rank at fault keeps its own message. */
cada_status train_agree(trainer *t, cada_status mine, const char *what) {
    double bad = mine != CADA_OK ? (double)(t->rank + 1) : 0.0;
    cada_status st = cada_comm_allreduce_f64(t->comm, &bad, 1, CADA_RED_MAX);
    if (mine != CADA_OK) return mine;
    if (st != CADA_OK) return st;
    if (bad > 0) return CADA_ERR(CADA_ERR_IO, "%s: rank %d failed (its message says why)", what, (int)bad - 1);
    return CADA_OK;
}

static cada_status copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    ok = !ferror(in) && ok;
    fclose(in);
    ok = fclose(out) == 0 && ok;
    return ok ? CADA_OK : CADA_ERR(CADA_ERR_IO, "%s: copy to %s failed", from, to);
}

/* Rank 0's first part: the weights in fp32 (the training weights themselves, bit for
 * bit: the CPU learner keeps no other master copy), the tokenizer, config.ini. */
static cada_status checkpoint_prepare(trainer *t, const char *tmp) {
    char cmd[2600], path[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot clear", tmp);
    CADA_TRY(cada_model_save_hf(&t->policy, tmp, CADA_DTYPE_F32));
    cada_source_kind kind;
    if (cada_model_source_kind(t->cfg.model_path, &kind) == CADA_OK && kind == CADA_SOURCE_GGUF) {
        cada_status st = cada_tok_export_gguf(t->cfg.model_path, tmp);
        if (st != CADA_OK && st != CADA_ERR_UNSUPPORTED) return st;
    } else { /* a Hugging Face folder: its tokenizer files travel along */
        char dir[1024];
        cada_model_hf_folder(t->cfg.model_path, dir, sizeof dir);
        const char *names[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};
        for (int i = 0; i < 3; i++) {
            char from[1200];
            snprintf(from, sizeof from, "%s/%s", dir, names[i]);
            snprintf(path, sizeof path, "%s/%s", tmp, names[i]);
            if (access(from, R_OK) == 0) CADA_TRY(copy_file(from, path));
        }
    }
    snprintf(path, sizeof path, "%s/config.ini", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    cada_config_write(&t->cfg, f);
    if (fclose(f) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    return CADA_OK;
}

static void json_double(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, "  \"%s\": %.17g,\n", key, v);
    else fprintf(f, "  \"%s\": null,\n", key);
}

/* Rank 0's last part: run_state.json, then the rename that makes the folder complete. */
static cada_status checkpoint_finish(trainer *t, const char *tmp, const char *final, long long step) {
    char cmd[2600], path[1400];
    snprintf(path, sizeof path, "%s/run_state.json", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const cada_run_config *c = &t->cfg;
    const cada_baseline *b = cada_learner_baseline(t->learner);
    const cada_adamw *o = cada_learner_optimizer(t->learner);
    long long cursor = step * c->prompts_per_step;
    fprintf(f, "{\n  \"format\": 1,\n  \"step\": %lld,\n  \"policy_version\": %lld,\n  \"placement\": \"%s\",\n  \"learners\": %d,\n  \"zero\": %d,\n",
            step, step, c->placement, t->roles.learners, c->zero);
    fprintf(f, "  \"n_params\": %zu,\n  \"prompts\": %d,\n  \"data_cursor\": %lld,\n  \"epoch\": %lld,\n", t->policy.n_params,
            t->data.n, cursor, cursor / t->data.n);
    fprintf(f, "  \"seed\": %llu,\n  \"rng\": \"stateless: every stream is keyed by (seed, step | epoch | prompt id, sample)\",\n",
            (unsigned long long)c->seed);
    json_double(f, "baseline", b->value);
    fprintf(f, "  \"baseline_updates\": %lld,\n  \"learner_steps\": %lld,\n  \"optimizer_step\": %lld,\n  \"optimizer_skipped\": %lld,\n",
            b->updates, cada_learner_steps(t->learner), o->step, o->skipped);
    cJSON *ref = cJSON_CreateString(c->kl_coef > 0 ? (c->reference_path[0] ? c->reference_path : c->model_path) : "");
    char *ref_json = ref ? cJSON_PrintUnformatted(ref) : NULL; /* a path, quoted and escaped */
    fprintf(f, "  \"kl_coef\": %.9g,\n  \"reference\": %s,\n", (double)c->kl_coef, ref_json ? ref_json : "null");
    cJSON_free(ref_json);
    cJSON_Delete(ref);
    json_double(f, "first_reward", t->first_reward);
    json_double(f, "first_refusal", t->first_refusal);
    fprintf(f, "  \"optimizer_shards\": \"optimizer-rank-R.bin, R = 0..%d\"\n}\n", t->roles.learners - 1);
    if (fclose(f) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", final);
    if (system(cmd) != 0 || rename(tmp, final) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot rename into place", final);
    return CADA_OK;
}

/* out_dir/checkpoint-<step>, written by every rank together: rank 0 puts the model,
 * tokenizer and config.ini into checkpoint-<step>.tmp, every rank adds its optimizer
 * shard (optimizer-rank-R.bin, learn/learner.h), rank 0 writes run_state.json last and
 * renames the folder. The ranks agree after each stage, so a folder named
 * checkpoint-<step> is complete by construction. out_dir must be a file system every
 * rank sees (as on a cluster's shared storage). */
static cada_status checkpoint(trainer *t, long long step) {
    char tmp[1300], final[1200], path[1400];
    snprintf(final, sizeof final, "%s/checkpoint-%lld", t->cfg.out_dir, step);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", final) >= (int)sizeof tmp) return CADA_ERR(CADA_ERR_CONFIG, "run.out_dir is too long");
    const char *was = t->phase;
    t->phase = "checkpoint";
    /* GPU learners: the fp32 master weights come back to the host first */
    CADA_TRY(train_agree(t, t->learner ? cada_learner_pull_params(t->learner) : CADA_OK, final));
    CADA_TRY(train_agree(t, t->rank == 0 ? checkpoint_prepare(t, tmp) : CADA_OK, final));
    snprintf(path, sizeof path, "%s/optimizer-rank-%d.bin", tmp, t->rank);
    CADA_TRY(train_agree(t, t->learner ? cada_learner_save_optimizer(t->learner, path) : CADA_OK, final));
    CADA_TRY(train_agree(t, t->rank == 0 ? checkpoint_finish(t, tmp, final, step) : CADA_OK, final));
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", final);
    t->phase = was;
    if (t->rank == 0) CADA_INFO("checkpoint %s", final);
    return CADA_OK;
}

/* ---- resuming ------------------------------------------------------------------------ */

static cada_status read_run_state(const char *ckpt, run_state *rs) {
    char path[1300];
    snprintf(path, sizeof path, "%s/run_state.json", ckpt);
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s (not a complete checkpoint)", path, strerror(errno));
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    if (!j) return CADA_ERR(CADA_ERR_FORMAT, "%s: not valid JSON", path);
    struct {
        const char *key;
        int nullable;
        double *out;
    } want[] = {{"format", 0, NULL}, {"step", 0, NULL}, {"learners", 0, NULL}, {"zero", 0, NULL}, {"n_params", 0, NULL},
                {"prompts", 0, NULL}, {"baseline", 0, &rs->baseline}, {"baseline_updates", 0, NULL},
                {"first_reward", 1, &rs->first_reward}, {"first_refusal", 1, &rs->first_refusal}};
    double v[10];
    cada_status st = CADA_OK;
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "placement");
    snprintf(rs->placement, sizeof rs->placement, "%s", cJSON_IsString(pl) ? pl->valuestring : "colocated");
    for (int i = 0; i < 10 && st == CADA_OK; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, want[i].key);
        if (want[i].nullable && cJSON_IsNull(x)) v[i] = NAN;
        else if (cJSON_IsNumber(x)) v[i] = x->valuedouble;
        else st = CADA_ERR(CADA_ERR_FORMAT, "%s: field %s is missing or not a number", path, want[i].key);
        if (st == CADA_OK && want[i].out) *want[i].out = v[i];
    }
    cJSON_Delete(j);
    if (st != CADA_OK) return st;
    if (v[0] != 1) return CADA_ERR(CADA_ERR_FORMAT, "%s: field format = %g, this build reads 1", path, v[0]);
    rs->step = (long long)v[1];
    rs->learners = (int)v[2];
    rs->zero = (int)v[3];
    rs->n_params = (long long)v[4];
    rs->prompts = (long long)v[5];
    rs->baseline_updates = (long long)v[7];
    if (rs->step < 1 || rs->learners < 1 || rs->prompts < 1)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: fields step = %lld, learners = %d, prompts = %lld out of range", path, rs->step,
                        rs->learners, rs->prompts);
    return CADA_OK;
}

/* `--resume latest`: the highest checkpoint-N under out_dir with a run_state.json (a
 * checkpoint-N.tmp is an unfinished one and never matches). */
static cada_status find_latest(const char *out_dir, char *path, size_t cap) {
    DIR *d = opendir(out_dir);
    if (!d) return CADA_ERR(CADA_ERR_IO, "--resume latest: %s (run.out_dir): cannot open: %s", out_dir, strerror(errno));
    long long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long n = -1;
        int used = 0;
        if (sscanf(e->d_name, "checkpoint-%lld%n", &n, &used) != 1 || e->d_name[used] || n <= best) continue;
        char rs[1300];
        snprintf(rs, sizeof rs, "%s/%s/run_state.json", out_dir, e->d_name);
        if (access(rs, R_OK) == 0) best = n;
    }
    closedir(d);
    if (best < 0) return CADA_ERR(CADA_ERR_IO, "--resume latest: no complete checkpoint-N folder in %s (run.out_dir)", out_dir);
    snprintf(path, cap, "%s/checkpoint-%lld", out_dir, best);
    return CADA_OK;
}

/* Weights, this rank's optimizer shard, the baseline and the counters, from t->resume. */
static cada_status restore(trainer *t) {
    const char *ck = t->resume;
    const run_state *rs = &t->rs;
    t->start_step = rs->step;
    t->first_reward = rs->first_reward;
    t->first_refusal = rs->first_refusal;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", ck);
    if (!t->learner) return CADA_OK; /* rollout ranks get the weights from learner 0's broadcast */
    if (rs->n_params != (long long)t->policy.n_params)
        return CADA_ERR(CADA_ERR_CONFIG, "%s/run_state.json: n_params = %lld, but model.path %s has %zu parameters", ck, rs->n_params,
                        t->cfg.model_path, t->policy.n_params);
    if (rs->prompts != t->data.n)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "%s/run_state.json: prompts = %lld, but data.train_set now holds %d prompts: the data cursor would not continue",
                        ck, rs->prompts, t->data.n);
    cada_safetensors sf;
    CADA_TRY(cada_safetensors_open(&sf, ck));
    cada_status st = CADA_OK;
    for (int i = 0; i < sf.n_tensors && st == CADA_OK; i++)
        if (sf.tensors[i].dtype != CADA_DTYPE_F32)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor %s is %s; --resume needs the fp32 weights (cada checkpoints write F32)", ck,
                          sf.tensors[i].name, cada_dtype_name(sf.tensors[i].dtype));
    cada_safetensors_close(&sf);
    if (st != CADA_OK) return st;
    cada_model m;
    CADA_TRY(cada_model_load(&m, ck));
    if (m.n_params != t->policy.n_params) st = CADA_ERR(CADA_ERR_FORMAT, "%s: %zu parameters, the policy has %zu", ck, m.n_params, t->policy.n_params);
    else memcpy(t->policy.params, m.params, sizeof(float) * m.n_params);
    cada_model_free(&m);
    if (st != CADA_OK) return st;
    if (t->learner) CADA_TRY(cada_learner_push_params(t->learner)); /* GPU learners: onto the device */
    char path[1300];
    snprintf(path, sizeof path, "%s/optimizer-rank-%d.bin", ck, t->rank);
    CADA_TRY(cada_learner_load_optimizer(t->learner, path));
    if (cada_learner_steps(t->learner) != rs->step)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: field learner steps = %lld, but %s/run_state.json has step %lld", path,
                        cada_learner_steps(t->learner), ck, rs->step);
    cada_baseline *b = cada_learner_baseline(t->learner);
    b->value = rs->baseline;
    b->updates = rs->baseline_updates;
    return CADA_OK;
}

/* On resume, metrics.jsonl keeps the lines of steps up to the checkpoint's (a run that
 * died after it may have written more) and the continued run appends. */
static cada_status open_metrics(trainer *t, const char *path) {
    if (!t->resume[0]) {
        t->metrics = fopen(path, "w");
        if (!t->metrics) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        return CADA_OK;
    }
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
    if (!out) {
        if (in) fclose(in);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char line[8192];
    while (in && fgets(line, sizeof line, in)) {
        long long s = -1;
        if (sscanf(line, "{\"step\": %lld", &s) == 1 && s >= 1 && s <= t->start_step) fputs(line, out);
    }
    if (in) fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot rewrite", path);
    t->metrics = fopen(path, "a");
    if (!t->metrics) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return CADA_OK;
}

/* reward.target_ids "lo-hi,id,..." into t->target (ids in [0, vocabulary)). */
static cada_status parse_target_ids(trainer *t) {
    char buf[CADA_CFG_STR];
    snprintf(buf, sizeof buf, "%s", t->cfg.target_ids);
    int vocab = (int)cada_tok_vocab_size(t->tok);
    for (char *save = NULL, *r = strtok_r(buf, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
        int lo, hi, used = 0;
        if (sscanf(r, " %d - %d %n", &lo, &hi, &used) == 2 && !r[used]) {
        } else if (sscanf(r, " %d %n", &lo, &used) == 1 && !r[used]) hi = lo;
        else return CADA_ERR(CADA_ERR_CONFIG, "reward.target_ids = '%s': '%s' is not an id or a lo-hi range", t->cfg.target_ids, r);
        if (lo < 0 || hi < lo || hi >= vocab)
            return CADA_ERR(CADA_ERR_CONFIG, "reward.target_ids = '%s': range %d-%d is outside [0, %d) of the vocabulary", t->cfg.target_ids,
                            lo, hi, vocab);
        int (*grown)[2] = realloc(t->target, sizeof *grown * (size_t)(t->n_target + 1));
        if (!grown) return CADA_ERR(CADA_ERR_NOMEM, "reward.target_ids");
        t->target = grown;
        t->target[t->n_target][0] = lo;
        t->target[t->n_target][1] = hi;
        t->n_target++;
    }
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
        printf("rank %d, GPU %d: %s%s\n", t->rank, gpu.device, what, t->rank == 0 ? "" : " (differs from rank 0's)");
        report(obj);
        fflush(stdout);
    }
    return CADA_OK;
}
static void report_learner(const void *L) { cada_learner_gpu_report(L); }
static void report_scorer(const void *s) { cada_gpu_scorer_report(s); }

/* cluster.device = cuda: this rank's GPU (the node-local rank modulo the visible GPUs),
 * the learner on it, whose model also holds the rollout KV cache (colocated), and the
 * reference model when the KL term needs it; each model's arena report once. */
static cada_status gpu_setup(trainer *t, const cada_learner_config *lc) {
    const cada_run_config *c = &t->cfg;
    if (t->roles.disaggregated)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "cluster.device = cuda with cluster.placement = disaggregated is not built yet "
                                              "(rollout ranks would need their own GPU models and the weight broadcast over "
                                              "NCCL); use cluster.placement = colocated");
    CADA_TRY(cada_learner_pick_device(MPI_COMM_WORLD, &gpu.device, &gpu.local_rank, &gpu.n_visible));
    double *dev = calloc((size_t)t->world, sizeof *dev);
    if (!dev) return CADA_ERR(CADA_ERR_NOMEM, "device table");
    dev[t->rank] = gpu.device;
    cada_status st = cada_comm_allreduce_f64(t->comm, dev, t->world, CADA_RED_SUM);
    if (st == CADA_OK && t->rank == 0) {
        char line[800];
        size_t at = 0;
        for (int r = 0; r < t->world && at + 16 < sizeof line; r++)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%d:%d", r ? " " : "", r, (int)dev[r]);
        CADA_INFO("layout: cluster.device = cuda, rank:GPU %s (node-local rank modulo %d visible GPU%s)", line, gpu.n_visible,
                  gpu.n_visible == 1 ? "" : "s");
    }
    free(dev);
    CADA_TRY(st);
    cada_learner_gpu_options go;
    memset(&go, 0, sizeof go);
    go.device = gpu.device;
    go.kv_slots = c->slots;
    go.kv_max_len = c->max_len;
    go.gen_max_tokens = c->slots > c->max_len ? c->slots : c->max_len; /* a whole prompt, or every slot's decode step */
    go.group = MPI_COMM_WORLD; /* colocated: every rank is a learner, in world order as learn_comm */
    CADA_TRY(cada_learner_init_gpu(&t->learner, &t->policy, t->learn_comm, lc, &go));
    CADA_TRY(gpu_report(t, "policy (learner + rollout KV cache)", cada_learner_gpu_bytes(t->learner), report_learner, t->learner));
    if (t->have_reference) {
        CADA_TRY(cada_gpu_scorer_create(&gpu.ref, &t->reference, lc->row_tokens, lc->micro_tokens, gpu.device));
        CADA_TRY(gpu_report(t, "reference (forward only)", cada_gpu_scorer_bytes(gpu.ref), report_scorer, gpu.ref));
    }
    return CADA_OK;
}

static cada_status setup(trainer *t) {
    const cada_run_config *c = &t->cfg;
    t->phase = "set-up";
    t->peer = -1;
    t->first_reward = t->first_refusal = NAN;
    CADA_TRY(write_pid_file(t));
    int colocated = !strcmp(c->placement, "colocated"), learners = colocated ? t->world : c->learner_ranks;
    if (t->resume[0] && t->rs.learners != learners)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "--resume %s: the checkpoint was written by %d learner ranks, this job has %d (%s); the learner count "
                        "must match (each learner reloads its own optimizer shard)",
                        t->resume, t->rs.learners, learners, colocated ? "colocated: mpirun -np" : "cluster.learner_ranks");
    CADA_TRY(cada_roles_init(&t->roles, c->placement, c->learner_ranks, c->rollout_ranks, c->reward_ranks, t->world));
    cada_role role = cada_roles_of(&t->roles, t->rank);
    if (!t->roles.disaggregated && !strcmp(c->mode, "async"))
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.mode = async needs cluster.placement = disaggregated (a colocated rank rolls out "
                                         "with the very weights it trains, so its samples cannot lag)");
    int threads = c->threads_per_rank;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(cores / t->world);
        if (threads < 1) threads = 1;
    }
    omp_set_num_threads(threads);
    if (t->rank == 0) {
        char line[600];
        cada_roles_describe(&t->roles, line, sizeof line);
        CADA_INFO("layout: %s%s, %d OpenMP threads per rank", line,
                  !t->roles.disaggregated ? "" : !strcmp(c->mode, "async") ? "; one-step-off asynchronous" : "; synchronous on-policy",
                  threads);
    }
    /* Reward ranks hold no policy. The frozen reference lives where the KL's log-probs are
     * computed: on every colocated rank, on the reward ranks, or, without reward ranks, on
     * the scheduler. */
    t->have_policy = role != CADA_ROLE_REWARD;
    if (t->have_policy) CADA_TRY(cada_model_load(&t->policy, c->model_path));
    t->have_reference = c->kl_coef > 0 && (!t->roles.disaggregated || role == CADA_ROLE_REWARD || (t->roles.reward == 0 && t->rank == 0));
    if (t->have_reference) CADA_TRY(cada_model_load(&t->reference, c->reference_path[0] ? c->reference_path : c->model_path));
    CADA_TRY(cada_tok_load(&t->tok, c->model_path, 0));
    t->n_eos = cada_eos_ids(cada_tok_eos_id(t->tok), t->have_policy ? t->policy.cfg.eos_token_id : -1, t->eos);
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
    if (!strcmp(c->detector, "target_tokens")) CADA_TRY(parse_target_ids(t));
    else if (strcmp(c->detector, "rule"))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "reward.detector = %s in cada train is not built yet (rule or target_tokens)", c->detector);
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
    t->learn_comm = t->comm;
    if (t->roles.disaggregated) { /* the learner group, and rank 0 + the rollout ranks (the weight broadcast) */
        CADA_TRY(cada_comm_split(t->comm, role == CADA_ROLE_LEARNER ? 0 : 1, t->rank, &t->learn_comm));
        int in_weights = t->rank == 0 || role == CADA_ROLE_ROLLOUT;
        cada_comm *w = NULL;
        CADA_TRY(cada_comm_split(t->comm, in_weights ? 0 : 1, t->rank, &w));
        if (in_weights) t->weights_comm = w;
        else cada_comm_free(w);
    }
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
    lc.fixed_order = c->fixed_order;
    if (!strcmp(c->device, "cuda")) CADA_TRY(gpu_setup(t, &lc));
    else if (role == CADA_ROLE_LEARNER) CADA_TRY(cada_learner_init(&t->learner, &t->policy, t->learn_comm, &lc));
    if (t->resume[0]) {
        CADA_TRY(restore(t));
        if (t->rank == 0) CADA_INFO("resumed from %s: step %lld of %d", t->resume, t->start_step, c->steps);
    }
    if (t->rank == 0) {
        CADA_TRY(cada_mkdir_p(c->out_dir));
        char path[1100];
        snprintf(path, sizeof path, "%s/metrics.jsonl", c->out_dir);
        CADA_TRY(open_metrics(t, path));
        snprintf(path, sizeof path, "%s/tb", c->out_dir);
        if (c->tensorboard) CADA_TRY(cada_tb_open(&t->tb, path, c->run_name));
        snprintf(path, sizeof path, "%s/samples.jsonl", c->out_dir);
        if (c->dump_samples && !(t->samples = fopen(path, t->resume[0] ? "a" : "w")))
            return CADA_ERR(CADA_ERR_IO, "%s (run.dump_samples): cannot open: %s", path, strerror(errno));
    }
    return CADA_OK;
}

cada_status train_learn(trainer *t, long long step, seq_rec *all, int n_all, cada_step_metrics *sm, double *learn_s) {
    double t0 = cada_now();
    cada_traj *tr = calloc((size_t)(n_all ? n_all : 1), sizeof *tr);
    if (!tr) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    for (int i = 0; i < n_all; i++)
        tr[i] = (cada_traj){.tokens = all[i].tokens, .prompt_len = all[i].prompt_len, .completion_len = all[i].completion_len,
                            .rollout_logprob = all[i].rollout_lp, .ref_logprob = all[i].ref_lp, .reward = all[i].reward,
                            .group = all[i].order};
    t->phase = "learner step";
    train_test_stall(t, "learn", step + 1);
    cada_status st = cada_learner_step(t->learner, tr, n_all, sm);
    free(tr);
    *learn_s = cada_now() - t0;
    return st;
}

/* JSON has no NaN: a number or null. */
static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.6g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

cada_status train_report(trainer *t, long long step, const seq_rec *all, int n_all, const cada_step_metrics *sm,
                         const train_field *fields, int n_fields) {
    const cada_run_config *c = &t->cfg;
    int harmful = 0, refused_harmful = 0;
    double reward_sq = 0, completion_tokens = 0, comp[TRAIN_N_COMP] = {0}; /* spread, rollout tokens/s, component means */
    for (int i = 0; i < n_all; i++) {
        harmful += all[i].harmful;
        refused_harmful += all[i].harmful && all[i].refused;
        reward_sq += (double)all[i].reward * all[i].reward;
        completion_tokens += all[i].completion_len;
        for (int k = 0; k < TRAIN_N_COMP; k++) comp[k] += all[i].comp[k] / (double)n_all;
    }
    double refusal = harmful ? (double)refused_harmful / harmful : NAN;
    if (step == 0) {
        t->first_reward = sm->adv.reward_mean;
        t->first_refusal = refusal;
    }
    t->last_reward = sm->adv.reward_mean;
    t->last_refusal = refusal;
    if (t->rank != 0) return CADA_OK;
    double reward_std = n_all ? sqrt(fmax(0, reward_sq / n_all - sm->adv.reward_mean * sm->adv.reward_mean)) : 0;
    double rollout_s = 0;
    for (int i = 0; i < n_fields; i++)
        if (!strcmp(fields[i].name, "rollout_s")) rollout_s = fields[i].value;
    double rollout_tps = rollout_s > 0 ? completion_tokens / rollout_s : 0;
    FILE *f = t->metrics;
    fprintf(f, "{\"step\": %lld", step + 1);
    json_num(f, "reward_mean", sm->adv.reward_mean);
    json_num(f, "reward_std", reward_std);
    json_num(f, "refusal_rate_harmful", refusal);
    json_num(f, "kl", sm->kl_mean);
    json_num(f, "entropy", sm->entropy_mean);
    json_num(f, "loss", sm->loss);
    json_num(f, "grad_norm", sm->grad_norm);
    json_num(f, "lr", sm->lr);
    json_num(f, "baseline", sm->adv.baseline_next);
    json_num(f, "logprob_mismatch", sm->lp_diff_max); /* max |rollout - learner| log-prob of the step's tokens */
    fprintf(f, ", \"sequences\": %d", n_all);
    for (int k = 0; k < TRAIN_N_COMP; k++) {
        char key[32];
        snprintf(key, sizeof key, "reward_%s", train_comp_names[k]);
        json_num(f, key, comp[k]);
    }
    for (int i = 0; i < n_fields; i++) json_num(f, fields[i].name, fields[i].value);
    fprintf(f, ", \"rollout_tokens_per_s\": %.1f, \"learner_tokens_per_s\": %.1f}\n", rollout_tps, sm->tokens_per_s);
    fflush(f);
    if (t->tb) { /* the same numbers as TensorBoard scalars; a failed write stops the charts, not the run */
        const char *tags[32] = {"reward/mean", "reward/std", "refusal_rate", "kl", "entropy", "loss", "grad_norm", "lr",
                                "baseline", "tokens_per_s/rollout", "tokens_per_s/learner"};
        double vals[32] = {sm->adv.reward_mean, reward_std, refusal, sm->kl_mean, sm->entropy_mean, sm->loss,
                           sm->grad_norm, sm->lr, sm->adv.baseline_next, rollout_tps, sm->tokens_per_s};
        char names[16][48], comp_tags[TRAIN_N_COMP][32];
        int n = 11;
        for (int k = 0; k < TRAIN_N_COMP; k++) { /* each reward component's mean: "reward/refuse" */
            snprintf(comp_tags[k], sizeof comp_tags[k], "reward/%s", train_comp_names[k]);
            tags[n] = comp_tags[k];
            vals[n++] = comp[k];
        }
        for (int i = 0; i < n_fields && i < 16 && n < 32; i++) { /* "rollout_s" -> "time/rollout" */
            size_t len = strlen(fields[i].name);
            if (len > 2 && !strcmp(fields[i].name + len - 2, "_s"))
                snprintf(names[i], sizeof names[i], "time/%.*s", (int)(len - 2), fields[i].name);
            else snprintf(names[i], sizeof names[i], "%s", fields[i].name);
            tags[n] = names[i];
            vals[n++] = fields[i].value;
        }
        if (cada_tb_scalars(t->tb, step + 1, cada_tb_now(), tags, vals, n) != CADA_OK) {
            CADA_WARN("tensorboard: %s; no more events are written", cada_error_message());
            cada_tb_close(t->tb);
            t->tb = NULL;
        }
    }
    if (t->samples) { /* run.dump_samples: what every sequence was, to compare runs token by token */
        for (int i = 0; i < n_all; i++) {
            const seq_rec *q = &all[i];
            fprintf(t->samples, "{\"step\": %lld, \"position\": %d, \"sample\": %d, \"prompt_id\": %d, \"policy_version\": %lld, "
                                "\"finish\": \"%s\", \"reward\": %.9g, \"completion\": [",
                    step + 1, q->order, q->sample, q->item, q->version, cada_finish_name((cada_finish_reason)q->finish), (double)q->reward);
            for (int j = 0; j < q->completion_len; j++) fprintf(t->samples, "%s%d", j ? ", " : "", q->tokens[q->prompt_len + j]);
            fprintf(t->samples, "]}\n");
        }
        fflush(t->samples);
    }
    if ((step + 1) % c->log_every == 0 || step + 1 == c->steps) {
        char phases[400] = "";
        size_t at = 0;
        for (int i = 0; i < n_fields && at < sizeof phases; i++) {
            size_t len = strlen(fields[i].name);
            if (len > 2 && !strcmp(fields[i].name + len - 2, "_s"))
                at += (size_t)snprintf(phases + at, sizeof phases - at, " %.*s %.2fs", (int)(len - 2), fields[i].name, fields[i].value);
        }
        CADA_INFO("step %lld/%d  reward %+.3f  refusal(harmful) %.2f  kl %.4f  entropy %.3f  grad %.3f  |%s", step + 1, c->steps,
                  sm->adv.reward_mean, refusal, sm->kl_mean, sm->entropy_mean, sm->grad_norm, phases);
    }
    return CADA_OK;
}

cada_status train_step_end(trainer *t, long long step, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int save = (c->checkpoint_every > 0 && (step + 1) % c->checkpoint_every == 0) || step + 1 == c->steps;
    if (save) CADA_TRY(checkpoint(t, step + 1));
    /* the step boundary: did a signal reach any rank? (this small all-reduce is also
     * the per-step check that every rank is still there) */
    t->phase = "step boundary";
    double sig = (double)stop_signal;
    CADA_TRY(cada_comm_allreduce_f64(t->comm, &sig, 1, CADA_RED_MAX));
    *stopped = sig > 0;
    if (*stopped) {
        if (!save) CADA_TRY(checkpoint(t, step + 1));
        CADA_INFO("%s: checkpoint-%lld written, exiting", (int)sig == SIGINT ? "SIGINT" : "SIGTERM", step + 1);
    }
    return CADA_OK;
}

cada_status train_finish(trainer *t, int stopped) {
    if (t->rank == 0 && !stopped)
        CADA_INFO("done: reward %.3f -> %.3f, refusal rate on harmful prompts %.2f -> %.2f over %d steps; metrics in %s/metrics.jsonl",
                  t->first_reward, t->last_reward, t->first_refusal, t->last_refusal, t->cfg.steps, t->cfg.out_dir);
    t->phase = "shutdown";
    return cada_comm_barrier(t->comm); /* timed: a rank missing at the end is named, not waited for forever */
}

/* The colocated step: every rank rolls out and scores its share, the ranks swap shares,
 * every rank runs the learner step on the whole batch. */
static cada_status run(trainer *t) {
    const cada_run_config *c = &t->cfg;
    CADA_TRY(setup(t));
    if (t->roles.disaggregated) return cada_disagg_run(t);
    int stopped = 0;
    for (long long step = t->start_step; step < c->steps && !stopped; step++) {
        double t0 = cada_now();
        seq_rec *mine = NULL, *all = NULL;
        int n_mine = 0, n_all = 0;
        t->at_step = step + 1;
        t->phase = "rollout";
        train_test_stall(t, "rollout", step + 1);
        CADA_TRY(rollout_share(t, step, &mine, &n_mine));
        double t1 = cada_now();
        t->phase = "trajectory exchange";
        cada_status st = exchange(t, step, mine, n_mine, &all, &n_all);
        free(mine); /* records moved into all (or freed on error below) */
        if (st != CADA_OK) return st;
        double t2 = cada_now(), learn_s = 0;
        cada_step_metrics sm;
        st = train_learn(t, step, all, n_all, &sm, &learn_s);
        train_field fields[] = {{"rollout_s", t1 - t0}, {"exchange_s", t2 - t1}, {"learn_s", learn_s}};
        if (st == CADA_OK) st = train_report(t, step, all, n_all, &sm, fields, 3);
        train_free_seqs(all, n_all);
        if (st != CADA_OK) return st;
        CADA_TRY(train_step_end(t, step, &stopped));
    }
    return train_finish(t, stopped);
}

static void teardown(trainer *t) {
    if (t->metrics) fclose(t->metrics);
    if (t->samples) fclose(t->samples);
    cada_tb_close(t->tb);
    cada_learner_free(t->learner);
    cada_gpu_scorer_free(gpu.ref);
    gpu.ref = NULL;
    if (t->learn_comm != t->comm) cada_comm_free(t->learn_comm);
    cada_comm_free(t->weights_comm);
    cada_comm_free(t->comm);
    free(t->target);
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

/* --check: the configuration loaded and validated; print the layout a launcher must
 * provide (deploy/ reads the "resolved:" line) and start nothing (no MPI, no model). */
static int check_only(const cada_run_config *c) {
    int colocated = !strcmp(c->placement, "colocated");
    int ranks = colocated ? c->learner_ranks : c->learner_ranks + c->rollout_ranks + c->reward_ranks;
    printf("configuration valid\n");
    printf("layout: %d ranks, %s (learners %d, rollout %d, reward %d), ZeRO stage %d, ", ranks, c->placement, c->learner_ranks,
           c->rollout_ranks, c->reward_ranks, c->zero);
    if (c->threads_per_rank) printf("%d OpenMP threads per rank\n", c->threads_per_rank);
    else printf("OpenMP threads per rank = cores / ranks\n");
    printf("model: %s%s\n", c->model_path, access(c->model_path, R_OK) ? " (not present on this machine)" : "");
    printf("resolved: ranks=%d placement=%s learner_ranks=%d rollout_ranks=%d reward_ranks=%d threads_per_rank=%d out_dir=%s\n",
           ranks, c->placement, c->learner_ranks, c->rollout_ranks, c->reward_ranks, c->threads_per_rank, c->out_dir);
    return 0;
}

/* A failed rank's last word (then MPI_Abort stops every rank): who it is, what it was
 * doing, who stopped answering (from the timed-out wait), and where to resume from. */
static _Noreturn void fail(trainer *t, cada_status st) {
    char who[600] = "";
    int missing[8], n = 0;
    if (st == CADA_ERR_MPI) { /* a timeout or a failed MPI call */
        n = t->comm ? cada_comm_missing(t->comm, missing, 8) : 0;
        if (n == 0 && t->learn_comm && t->learn_comm != t->comm) n = cada_comm_missing(t->learn_comm, missing, 8); /* learner k = rank k */
        if (n == 0 && t->weights_comm) { /* rank 0, then the rollout ranks */
            n = cada_comm_missing(t->weights_comm, missing, 8);
            for (int i = 0; i < n && i < 8; i++) missing[i] = missing[i] ? cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, missing[i] - 1) : 0;
        }
        for (int i = 0; n == 0 && i < t->n_missing && i < 8; i++) missing[n++] = t->missing[i];
        if (n == 0 && t->peer >= 0) missing[n++] = t->peer;
    }
    size_t at = 0;
    for (int i = 0; i < n && i < 8 && at < sizeof who; i++)
        at += (size_t)snprintf(who + at, sizeof who - at, "%s rank %d (%s)", i ? "," : "; stopped answering:", missing[i],
                               role_of(t, missing[i]));
    char resume[2600] = "none";
    if (t->last_ckpt[0]) snprintf(resume, sizeof resume, "%s (continue with --resume %s)", t->last_ckpt, t->last_ckpt);
    char where[160];
    if (t->at_step > 0) snprintf(where, sizeof where, "in the %s phase of step %lld", t->phase, t->at_step);
    else snprintf(where, sizeof where, "during %s", t->phase ? t->phase : "set-up");
    CADA_FATAL("train: rank %d (%s) failed %s: %s%s; last complete checkpoint: %s", t->rank, role_of(t, t->rank), where,
               cada_error_message(), who, resume);
}

static void train_help(FILE *f) {
    fprintf(f,
            "usage: cada train -c CONFIG.ini [--set section.key=value]... [--resume CKPT|latest] [--print-config] [--check] [--keys]\n"
            "  run under mpirun (colocated: -np = cluster.learner_ranks; disaggregated: -np = learner_ranks\n"
            "  + rollout_ranks + reward_ranks, rank 0 the scheduler and learner 0)\n"
            "  -c, --config FILE     the run configuration (INI; every key: --keys)\n"
            "  --set S.K=V           override one key (after -c, in order)\n"
            "  --resume CKPT         continue the run of OUT_DIR/checkpoint-N exactly: weights (fp32), every\n"
            "                        rank's optimizer shard, baseline, data cursor, counters. Without -c the\n"
            "                        checkpoint's config.ini is the configuration; keys that change the\n"
            "                        computation must match it (run.steps may be raised); -np must match\n"
            "  --resume latest       the highest complete checkpoint-N under run.out_dir\n"
            "  --print-config        print every resolved key at start\n"
            "  --check               validate the configuration and print the layout; start nothing\n"
            "  --keys                list every configuration key\n"
            "  SIGTERM / SIGINT      finish the current step, write checkpoint-N on every rank, exit 0\n"
            "                        (Open MPI's mpirun passes SIGTERM on after odls_base_sigkill_timeout s,\n"
            "                        default 1, and kills the same interval later: give it\n"
            "                        --mca odls_base_sigkill_timeout 30, or signal the ranks, as srun does)\n"
            "  failures              a rank silent for cluster.timeout_seconds (default 60) fails the job:\n"
            "                        the message names it, its role and the last complete checkpoint;\n"
            "                        OUT_DIR/ranks/rank-R.pid holds each rank's process id\n");
}

int cada_cmd_train(int argc, char **argv) {
    trainer *t = calloc(1, sizeof *t);
    if (!t) return 1;
    cada_config_defaults(&t->cfg);
    int show = 0, check = 0, have_config = 0;
    const char *resume_arg = NULL;
    for (int i = 0; i < argc; i++) {
        cada_status st = CADA_OK;
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            st = cada_config_load(&t->cfg, argv[++i]);
            have_config = 1;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) st = cada_config_set(&t->cfg, argv[++i]);
        else if (!strcmp(argv[i], "--resume") && i + 1 < argc) resume_arg = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            train_help(stdout);
            free(t);
            return 0;
        } else if (!strcmp(argv[i], "--print-config")) show = 1;
        else if (!strcmp(argv[i], "--check")) check = 1;
        else if (!strcmp(argv[i], "--keys")) {
            cada_config_describe(stdout);
            free(t);
            return 0;
        } else {
            train_help(stderr);
            free(t);
            return 2;
        }
        if (st != CADA_OK) {
            free(t);
            return cada_cli_fail("train");
        }
    }
    if (resume_arg) { /* the checkpoint, its configuration and its run state; all checks before MPI starts */
        cada_run_config *saved = malloc(sizeof *saved);
        char ini[1300];
        cada_status st = saved ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "configuration");
        if (st == CADA_OK && !strcmp(resume_arg, "latest")) st = find_latest(t->cfg.out_dir, t->resume, sizeof t->resume);
        else if (st == CADA_OK) {
            snprintf(t->resume, sizeof t->resume, "%s", resume_arg);
            for (size_t n = strlen(t->resume); n > 1 && t->resume[n - 1] == '/'; n--) t->resume[n - 1] = 0;
        }
        snprintf(ini, sizeof ini, "%s/config.ini", t->resume);
        if (st == CADA_OK) {
            cada_config_defaults(saved);
            st = cada_config_load(saved, ini);
        }
        if (st == CADA_OK && !have_config) { /* the checkpoint's configuration, then the --set overrides */
            t->cfg = *saved;
            for (int i = 0; i + 1 < argc && st == CADA_OK; i++)
                if (!strcmp(argv[i], "--set")) st = cada_config_set(&t->cfg, argv[++i]);
        }
        if (st == CADA_OK) st = read_run_state(t->resume, &t->rs);
        if (st == CADA_OK && strcmp(t->rs.placement, t->cfg.placement))
            st = CADA_ERR(CADA_ERR_CONFIG,
                          "--resume %s: the checkpoint comes from a %s run (run_state.json placement), this run is %s "
                          "(cluster.placement): resuming across placements is not supported",
                          t->resume, t->rs.placement, t->cfg.placement);
        if (st == CADA_OK) st = cada_config_check_resume(saved, &t->cfg, t->rs.step, ini);
        free(saved);
        if (st != CADA_OK) {
            free(t);
            return cada_cli_fail("train");
        }
    }
    if (cada_config_validate_run(&t->cfg) != CADA_OK) {
        free(t);
        return cada_cli_fail("train");
    }
    if (check) {
        int rc = check_only(&t->cfg);
        free(t);
        return rc;
    }
    if (cada_config_check_device(&t->cfg) != CADA_OK) { /* cluster.device = cuda: a GPU on this machine */
        free(t);
        return cada_cli_fail("train");
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->world);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    cada_set_rank(t->rank);
    install_stop_handlers();
    if (t->rank == 0) {
        fprintf(stderr, "== cada train: resolved configuration\n");
        if (show) cada_config_write(&t->cfg, stderr);
        else fprintf(stderr, "(--print-config shows every key; it is saved as config.ini in each checkpoint)\n");
    }
    cada_status st = run(t);
    if (st != CADA_OK) fail(t, st); /* aborts every rank */
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
