/* sched/disagg.c: the disaggregated placement of `cada train` (cluster.placement =
 * disaggregated; roles in sched/roles.h, set-up and the shared step pieces in
 * train.c / trainer.h).
 *
 * One step s (0-based; policy version v = the updates applied so far):
 *   scheduler (rank 0)  renders the step's prompts (the colocated order: the same data
 *                       cursor and epoch shuffles), gives each prompt to the rollout rank
 *                       with the fewest outstanding tokens (S samples x (prompt +
 *                       max_new_tokens)) and sends every rollout rank one RolloutRequest
 *                       (possibly empty) tagged with the policy version it must sample with;
 *   rollout ranks       check the version against the weights they hold, generate (the
 *                       engine's streams are keyed by seed, step, prompt id and sample, so
 *                       a sample does not depend on which rank draws it) and send a
 *                       TrajectoryBatch to their reward rank (rollout i -> reward i mod Q);
 *   reward ranks        score each batch as it arrives (rule rewards with components, or
 *                       reward.detector's test task), add the frozen reference's
 *                       log-probs (KL) and send a RewardBatch with the trajectories to the
 *                       scheduler; with no reward rank the scheduler does this itself;
 *   scheduler           checks that every sample of the step is there, once, from the
 *                       expected policy version, orders them as colocated does and sends
 *                       the batch to the other learners (TrainBatch);
 *   learners            cada_learner_step (advantages, micro-batches split by tokens over
 *                       the learner group, gradient reduction, ZeRO: learn/learner.h);
 *   weights             learner 0 sends each rollout rank a Control WEIGHTS notice, then
 *                       broadcasts the parameters (comm/comm.h, on rank 0 + the rollout
 *                       ranks, in 64 MiB buckets) after a header with the policy version
 *                       and parameter count that each receiver checks;
 *   every rank          checkpoint when due and the step boundary (train_step_end).
 * rollout.mode = async (one-step-off): the rollout and reward ranks run one step ahead.
 * Before the first step they do step `start`'s work; during step s they generate and
 * score step s + 1 with version s while the learners train on step s (generated with
 * version s - 1): staleness 1 from the second step on, recorded per step. Sends that
 * may cross the step boundary (to the scheduler) are non-blocking and completed at the
 * next step (sched/wire.h cada_wire_isend), so no rank waits in a send while its
 * receiver waits in the boundary's collective.
 * Resuming an async run restarts the pipeline: its first step samples with the
 * checkpoint's weights (staleness 0), where the uninterrupted run used the version
 * before; sync runs resume exactly.
 *
 * Waiting: every wait is a timed poll with back-off (wire.h, comm.h). A wait that
 * normally covers other ranks' work gets more time the more work it covers: a reward
 * rank waits cluster.timeout_seconds (T) for trajectories, the scheduler 1.25 T for
 * results, other learners and the rollout ranks 1.5 T for the batch or the weights; so
 * the rank next to a silent one times out first and names it. */
#define _POSIX_C_SOURCE 200809L
#include "sched/trainer.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TAG_WORK 102   /* RolloutRequest / Control WEIGHTS: scheduler -> rollout */
#define TAG_TRAJS 103  /* TrajectoryBatch: rollout -> reward (or scheduler) */
#define TAG_SCORED 104 /* RewardBatch: reward -> scheduler */

#define WEIGHT_BUCKET ((size_t)16 << 20) /* floats per broadcast: 64 MiB */

static double wait_for(const trainer *t, double tier) { return t->cfg.timeout_seconds * tier; }

static int async_mode(const trainer *t) { return !strcmp(t->cfg.mode, "async"); }

/* Completes the sends this rank started with cada_wire_isend. */
static cada_status flush_sends(trainer *t) {
    cada_status st = CADA_OK;
    for (int i = 0; i < t->n_pending; i++) {
        cada_status s = cada_wire_wait(t->pending[i], wait_for(t, 1.5));
        if (st == CADA_OK) st = s;
    }
    t->n_pending = 0;
    return st;
}

static cada_status start_send(trainer *t, int dest, int tag, const Cada__Envelope *env) {
    if (t->n_pending == (int)(sizeof t->pending / sizeof t->pending[0])) CADA_TRY(flush_sends(t));
    cada_wire_options o = cada_wire_defaults();
    cada_wire_pending *p = NULL;
    CADA_TRY(cada_wire_isend(MPI_COMM_WORLD, dest, tag, env, &o, &p));
    t->pending[t->n_pending++] = p;
    return CADA_OK;
}

/* Learner 0's weights to every rollout rank: a notice (each rollout rank waits for it
 * with a message timeout, not inside the collective), then a 4-float header (version
 * and parameter count, split in 24-bit halves: exact as floats), then the parameters
 * in buckets. The receiver checks both header fields before taking any weight. */
static cada_status sync_weights(trainer *t, long long version) {
    cada_comm *w = t->weights_comm;
    t->phase = "weight broadcast";
    if (t->rank == 0) {
        Cada__Control ctl = CADA__CONTROL__INIT;
        ctl.kind = CADA__CONTROL__KIND__WEIGHTS;
        ctl.step = (uint64_t)version;
        Cada__Envelope env = CADA__ENVELOPE__INIT;
        env.body_case = CADA__ENVELOPE__BODY_CONTROL;
        env.control = &ctl;
        cada_wire_options o = cada_wire_defaults();
        for (int r = 0; r < t->roles.rollout; r++) {
            t->peer = cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, r);
            CADA_TRY(cada_wire_send(MPI_COMM_WORLD, t->peer, TAG_WORK, &env, &o, wait_for(t, 1.5)));
        }
    } else {
        cada_wire_options o = cada_wire_defaults();
        Cada__Envelope *env = NULL;
        t->peer = 0;
        CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, 0, TAG_WORK, wait_for(t, 1.5), &o, &env, NULL));
        int ok = env->body_case == CADA__ENVELOPE__BODY_CONTROL && env->control->kind == CADA__CONTROL__KIND__WEIGHTS &&
                 env->control->step == (uint64_t)version;
        long long got = env->body_case == CADA__ENVELOPE__BODY_CONTROL ? (long long)env->control->step : -1;
        cada_wire_free(env);
        if (!ok)
            return CADA_ERR(CADA_ERR_FORMAT, "rank %d: expected the notice of weights version %lld from rank 0, got another message (step %lld)",
                            t->rank, version, got);
    }
    t->peer = -1;
    const float M = 16777216.0f; /* 2^24 */
    size_t n = t->policy.n_params;
    float head[4] = {(float)(version % (1 << 24)), (float)(version >> 24), (float)(n % (1u << 24)), (float)(n >> 24)};
    CADA_TRY(cada_comm_broadcast(w, head, 4, 0));
    long long got_version = (long long)head[0] + (long long)(head[1] * M);
    size_t got_n = (size_t)head[2] + (size_t)head[3] * (size_t)M;
    if (got_version != version || got_n != n)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "rank %d: weight broadcast header says version %lld, %zu parameters; this rank expects version %lld, %zu",
                        t->rank, got_version, got_n, version, n);
    for (size_t at = 0; at < n; at += WEIGHT_BUCKET)
        CADA_TRY(cada_comm_broadcast(w, t->policy.params + at, n - at < WEIGHT_BUCKET ? n - at : WEIGHT_BUCKET, 0));
    t->version = version;
    return CADA_OK;
}

/* ---- scheduler -------------------------------------------------------------------------- */

/* Step `step`'s prompts to the rollout ranks, to be sampled with `version`. */
static cada_status send_requests(trainer *t, long long step, long long version) {
    const cada_run_config *c = &t->cfg;
    int P = c->prompts_per_step, S = c->samples_per_prompt, R = t->roles.rollout;
    t->phase = "scheduling";
    cada_tok_ids *ids = calloc((size_t)P, sizeof *ids);
    int *item = calloc((size_t)P, sizeof(int)), *to = calloc((size_t)P, sizeof(int));
    double *load = calloc((size_t)R, sizeof(double));
    Cada__Prompt *pm = calloc((size_t)P, sizeof *pm);
    Cada__Prompt **pp = calloc((size_t)P, sizeof *pp);
    cada_status st = ids && item && to && load && pm && pp ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rollout requests");
    for (int p = 0; p < P && st == CADA_OK; p++) {
        item[p] = train_prompt_at(t, step * P + p);
        st = train_render(t, item[p], &ids[p]);
        if (st != CADA_OK) break;
        int best = 0; /* the rank with the fewest outstanding tokens (ties: the lower rank) */
        for (int r = 1; r < R; r++)
            if (load[r] < load[best]) best = r;
        to[p] = best;
        load[best] += (double)S * ((double)ids[p].n + c->max_new_tokens);
        const cada_item *it = &t->data.items[item[p]];
        cada__prompt__init(&pm[p]);
        pm[p].prompt_id = (uint64_t)item[p];
        pm[p].position = p;
        pm[p].n_tokens = ids[p].n;
        pm[p].tokens = ids[p].ids;
        pm[p].label = it->label != CADA_LABEL_BENIGN;
        pm[p].category = it->category ? it->category : "";
    }
    Cada__SamplingParams sp = CADA__SAMPLING_PARAMS__INIT;
    sp.temperature = c->temperature;
    sp.top_p = c->top_p;
    sp.top_k = c->top_k;
    sp.max_new_tokens = c->max_new_tokens;
    sp.seed = c->seed;
    for (int r = 0; r < R && st == CADA_OK; r++) {
        int k = 0;
        for (int p = 0; p < P; p++)
            if (to[p] == r) pp[k++] = &pm[p];
        Cada__RolloutRequest rq = CADA__ROLLOUT_REQUEST__INIT;
        rq.step = (uint64_t)step;
        rq.policy_version = (uint64_t)version;
        rq.sampling = &sp;
        rq.n_prompts = (size_t)k;
        rq.prompts = pp;
        rq.samples_per_prompt = S;
        rq.reward_rank = t->roles.reward ? cada_roles_reward_of(&t->roles, cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, r)) : -1;
        Cada__Envelope env = CADA__ENVELOPE__INIT;
        env.body_case = CADA__ENVELOPE__BODY_ROLLOUT_REQUEST;
        env.rollout_request = &rq;
        cada_wire_options o = cada_wire_defaults();
        t->peer = cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, r);
        st = cada_wire_send(MPI_COMM_WORLD, t->peer, TAG_WORK, &env, &o, wait_for(t, 1.5));
    }
    t->peer = -1;
    if (ids)
        for (int p = 0; p < P; p++) cada_tok_ids_free(&ids[p]);
    free(ids); free(item); free(to); free(load); free(pm); free(pp);
    return st;
}

static double metric_of(Cada__Metric **m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (m[i]->name && !strcmp(m[i]->name, name)) return m[i]->value;
    return 0;
}

typedef struct {
    double generate_s, reward_s, reference_s; /* the busiest rank's, summed over its batches */
} work_times;

/* Scores (and, with a KL term, the reference log-probs of) sequences on this rank. */
static cada_status score_here(trainer *t, seq_rec *s, int n, double *reward_s, double *reference_s) {
    if (n == 0) return CADA_OK; /* a rollout rank that got no prompt this step */
    double t0 = cada_now();
    CADA_TRY(train_score(t, s, n));
    double t1 = cada_now();
    if (t->have_reference) CADA_TRY(train_reference(t, s, n));
    *reward_s += t1 - t0;
    *reference_s += cada_now() - t1;
    return CADA_OK;
}

/* Every sample of step `step`, in (position, sample) order, from one batch per rollout
 * rank: RewardBatches from the reward ranks, or, with none, TrajectoryBatches that the
 * scheduler scores itself. Each must come from policy version `version`. */
static cada_status collect(trainer *t, long long step, long long version, seq_rec **out, int *n_out, work_times *wt) {
    const cada_run_config *c = &t->cfg;
    int R = t->roles.rollout, want = c->prompts_per_step * c->samples_per_prompt, n = 0;
    int from_reward = t->roles.reward > 0;
    t->phase = from_reward ? "collecting rewards" : "collecting trajectories";
    seq_rec *all = calloc((size_t)(want ? want : 1), sizeof *all);
    char *got = calloc((size_t)want, 1);
    int *done = calloc((size_t)R, sizeof(int));
    double *gen = calloc((size_t)R, sizeof(double)), *rew = calloc((size_t)t->world, sizeof(double)),
           *ref = calloc((size_t)t->world, sizeof(double));
    cada_status st = all && got && done && gen && rew && ref ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "step batch");
    for (int b = 0; b < R && st == CADA_OK; b++) {
        t->n_missing = 0; /* who a timeout would be blamed on: a reward rank nothing came from, else the rollout ranks */
        for (int r = 0; r < R && t->n_missing < 8; r++) {
            int rr = cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, r), via = cada_roles_reward_of(&t->roles, rr);
            if (done[r]) continue;
            int any = 0;
            for (int q = 0; q < R; q++) any |= done[q] && cada_roles_reward_of(&t->roles, cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, q)) == via;
            int who = from_reward && !any ? via : rr, dup = 0;
            for (int k = 0; k < t->n_missing; k++) dup |= t->missing[k] == who;
            if (!dup) t->missing[t->n_missing++] = who;
        }
        cada_wire_options o = cada_wire_defaults();
        Cada__Envelope *env = NULL;
        int src = -1;
        st = cada_wire_recv(MPI_COMM_WORLD, MPI_ANY_SOURCE, from_reward ? TAG_SCORED : TAG_TRAJS, wait_for(t, 1.25), &o, &env, &src);
        if (st != CADA_OK) break;
        Cada__Trajectory **tr = NULL;
        Cada__Metric **m = NULL;
        size_t n_tr = 0, n_m = 0, n_res = 0;
        uint64_t bstep = 0;
        if (from_reward && env->body_case == CADA__ENVELOPE__BODY_REWARDS) {
            tr = env->rewards->trajectories, n_tr = env->rewards->n_trajectories, n_res = env->rewards->n_results;
            m = env->rewards->metrics, n_m = env->rewards->n_metrics, bstep = env->rewards->step;
        } else if (!from_reward && env->body_case == CADA__ENVELOPE__BODY_TRAJECTORIES) {
            tr = env->trajectories->trajectories, n_tr = env->trajectories->n_trajectories, n_res = n_tr;
            m = env->trajectories->metrics, n_m = env->trajectories->n_metrics, bstep = env->trajectories->step;
        } else st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: unexpected message from rank %d while collecting step %lld", src, step + 1);
        int r = st == CADA_OK ? (int)metric_of(m, n_m, "rollout_rank") - t->roles.learners : -1;
        if (st == CADA_OK && (bstep != (uint64_t)step || n_res != n_tr || r < 0 || r >= R || done[r]))
            st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: batch from rank %d: step %llu (expected %lld), %zu results for %zu trajectories, rollout rank %d",
                          src, (unsigned long long)bstep, step, n_res, n_tr, r + t->roles.learners);
        int first = n;
        for (size_t i = 0; st == CADA_OK && i < n_tr; i++) {
            if (n == want) {
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: more than %d samples in step %lld (rank %d)", want, step + 1, src);
                break;
            }
            seq_rec *q = &all[n];
            st = train_traj_from_msg(t, tr[i], q, src, (int)i);
            if (st != CADA_OK) break;
            n++;
            int slot = q->order * c->samples_per_prompt + q->sample;
            if (q->sample < 0 || q->sample >= c->samples_per_prompt || got[slot])
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: sample %d of prompt position %d from rank %d: out of range or twice", q->sample, q->order, src);
            else if (q->version != version)
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: a sample of step %lld from rank %d was drawn with policy version %lld, expected %lld "
                                               "(no step mixes versions)", step + 1, src, q->version, version);
            else got[slot] = 1;
            if (st == CADA_OK && from_reward) {
                const Cada__RewardResult *res = env->rewards->results[i];
                q->reward = res->total;
                q->refused = res->refused;
                for (size_t k = 0; k < res->n_components; k++)
                    for (int j = 0; j < TRAIN_N_COMP; j++)
                        if (res->components[k]->name && !strcmp(res->components[k]->name, train_comp_names[j])) q->comp[j] = res->components[k]->value;
            }
        }
        if (st == CADA_OK) {
            done[r] = 1;
            gen[r] = metric_of(m, n_m, "generate_s");
            rew[src] += metric_of(m, n_m, "reward_s");
            ref[src] += metric_of(m, n_m, "reference_s");
            if (!from_reward) st = score_here(t, all + first, n - first, &rew[0], &ref[0]);
        }
        cada_wire_free(env);
    }
    if (st == CADA_OK && n != want) st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: step %lld has %d samples, expected %d", step + 1, n, want);
    if (st == CADA_OK) {
        t->n_missing = 0;
        memset(wt, 0, sizeof *wt);
        for (int r = 0; r < R; r++) wt->generate_s = fmax(wt->generate_s, gen[r]);
        for (int k = 0; k < t->world; k++) wt->reward_s = fmax(wt->reward_s, rew[k]), wt->reference_s = fmax(wt->reference_s, ref[k]);
        qsort(all, (size_t)n, sizeof *all, train_by_order);
    }
    free(got); free(done); free(gen); free(rew); free(ref);
    if (st != CADA_OK) {
        if (all) train_free_seqs(all, n);
        return st;
    }
    *out = all;
    *n_out = n;
    return CADA_OK;
}

/* The learners' loop (rank 0 also schedules). */
static cada_status run_learner(trainer *t, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int async = async_mode(t);
    long long start = t->start_step;
    if (t->rank == 0 && async && start < c->steps) CADA_TRY(send_requests(t, start, start));
    for (long long step = start; step < c->steps && !*stopped; step++) {
        double t0 = cada_now();
        long long version = async && step > start ? step - 1 : step;
        seq_rec *all = NULL;
        int n_all = 0;
        work_times wt = {0};
        double schedule_s = 0, collect_s = 0, distribute_s = 0, learn_s = 0, sync_s = 0;
        t->at_step = step + 1;
        if (t->rank == 0) {
            if (!async) CADA_TRY(send_requests(t, step, version));
            double t1 = cada_now();
            CADA_TRY(collect(t, step, version, &all, &n_all, &wt));
            double t2 = cada_now();
            /* one-step-off: the next step's samples start now, with the weights the rollout ranks hold (version step) */
            if (async && step + 1 < c->steps) CADA_TRY(send_requests(t, step + 1, step));
            double t3 = cada_now();
            t->phase = "batch to the learners";
            cada_status st = CADA_OK;
            for (int l = 1; l < t->roles.learners && st == CADA_OK; l++) {
                t->peer = l;
                st = train_send_batch(t, step, all, n_all, l);
            }
            t->peer = -1;
            if (st != CADA_OK) {
                train_free_seqs(all, n_all);
                return st;
            }
            schedule_s = (t1 - t0) + (t3 - t2);
            collect_s = t2 - t1;
            distribute_s = cada_now() - t3;
        } else {
            t->phase = "waiting for the batch";
            t->peer = 0;
            CADA_TRY(train_recv_batch(t, 0, wait_for(t, 1.5), &all, &n_all));
            t->peer = -1;
        }
        cada_step_metrics sm;
        cada_status st = train_learn(t, step, all, n_all, &sm, &learn_s);
        if (st == CADA_OK && t->rank == 0) {
            double t4 = cada_now();
            st = sync_weights(t, step + 1);
            sync_s = cada_now() - t4;
        }
        if (st == CADA_OK) {
            double step_s = cada_now() - t0;
            /* messages, compression and scheduling: what the step spent beyond the phases'
             * compute (sync: rollout, reward and reference run one after the other inside
             * collect_s; async: they overlap the previous learner step) */
            double overhead_s = schedule_s + distribute_s + (async ? 0 : fmax(0, collect_s - wt.generate_s - wt.reward_s - wt.reference_s));
            train_field fields[] = {{"rollout_s", wt.generate_s}, {"reward_s", wt.reward_s}, {"reference_s", wt.reference_s},
                                    {"collect_s", collect_s},     {"schedule_s", schedule_s}, {"distribute_s", distribute_s},
                                    {"learn_s", learn_s},         {"sync_s", sync_s},       {"step_s", step_s},
                                    {"overhead_s", overhead_s},   {"staleness", (double)(step - version)},
                                    {"policy_version", (double)version}};
            st = train_report(t, step, all, n_all, &sm, fields, (int)(sizeof fields / sizeof fields[0]));
        }
        train_free_seqs(all, n_all);
        if (st != CADA_OK) return st;
        CADA_TRY(train_step_end(t, step, stopped));
        /* stopped in async mode: the next step's results are on their way; take them so no send is left open */
        if (*stopped && async && t->rank == 0 && step + 1 < c->steps) {
            CADA_TRY(collect(t, step + 1, step, &all, &n_all, &wt));
            train_free_seqs(all, n_all);
        }
    }
    return CADA_OK;
}

/* ---- rollout and reward ranks ----------------------------------------------------------- */

static Cada__Metric *metric(Cada__Metric *m, const char *name, double v) {
    cada__metric__init(m);
    m->name = (char *)name;
    m->value = v;
    return m;
}

/* One RolloutRequest: generate with the weights held, send the trajectories on. */
static cada_status rollout_work(trainer *t, long long step) {
    t->at_step = step + 1;
    t->phase = "waiting for a rollout request";
    train_test_stall(t, "rollout", step + 1);
    cada_wire_options o = cada_wire_defaults();
    Cada__Envelope *env = NULL;
    t->peer = 0;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, 0, TAG_WORK, wait_for(t, 1.5), &o, &env, NULL));
    t->peer = -1;
    if (env->body_case != CADA__ENVELOPE__BODY_ROLLOUT_REQUEST || env->rollout_request->step != (uint64_t)step ||
        env->rollout_request->samples_per_prompt != t->cfg.samples_per_prompt) {
        cada_wire_free(env);
        return CADA_ERR(CADA_ERR_FORMAT, "rank %d: expected the rollout request of step %lld from rank 0", t->rank, step + 1);
    }
    const Cada__RolloutRequest *rq = env->rollout_request;
    if (rq->policy_version != (uint64_t)t->version) {
        long long want = (long long)rq->policy_version;
        cada_wire_free(env);
        return CADA_ERR(CADA_ERR_FORMAT, "rank %d: step %lld asks for policy version %lld, this rank holds version %lld", t->rank, step + 1,
                        want, t->version);
    }
    t->phase = "rollout";
    int S = rq->samples_per_prompt, P = (int)rq->n_prompts, n = P * S;
    cada_gen_request *reqs = calloc((size_t)(n ? n : 1), sizeof *reqs);
    cada_gen_result *res = calloc((size_t)(n ? n : 1), sizeof *res);
    seq_rec *seqs = calloc((size_t)(n ? n : 1), sizeof *seqs);
    Cada__Trajectory *tm = calloc((size_t)(n ? n : 1), sizeof *tm);
    Cada__Trajectory **tp = calloc((size_t)(n ? n : 1), sizeof *tp);
    cada_status st = reqs && res && seqs && tm && tp ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: rollout buffers", t->rank);
    for (int p = 0; p < P && st == CADA_OK; p++) {
        const Cada__Prompt *pr = rq->prompts[p];
        if (pr->prompt_id >= (uint64_t)t->data.n || pr->n_tokens == 0 || pr->position < 0 || pr->position >= t->cfg.prompts_per_step)
            st = CADA_ERR(CADA_ERR_FORMAT, "rank %d: rollout request prompt %d: id %llu, position %d, %zu tokens", t->rank, p,
                          (unsigned long long)pr->prompt_id, pr->position, pr->n_tokens);
        for (int s = 0; s < S; s++)
            reqs[p * S + s] = (cada_gen_request){pr->prompt_id, (uint32_t)s, pr->tokens, (int)pr->n_tokens, t->cfg.max_new_tokens};
    }
    double t0 = cada_now();
    if (st == CADA_OK && n) st = train_generate(t, step, reqs, n, res);
    double generate_s = cada_now() - t0;
    for (int i = 0; st == CADA_OK && i < n; i++) {
        const Cada__Prompt *pr = rq->prompts[i / S];
        seqs[i].order = pr->position;
        seqs[i].sample = i % S;
        seqs[i].item = (int)pr->prompt_id;
        seqs[i].version = t->version;
        st = train_seq_from(&seqs[i], &reqs[i], &res[i]);
        seqs[i].harmful = pr->label;
        train_traj_to_msg(&seqs[i], &tm[i]);
        tp[i] = &tm[i];
    }
    if (st == CADA_OK) {
        Cada__Metric m[2], *mp[2] = {metric(&m[0], "generate_s", generate_s), metric(&m[1], "rollout_rank", t->rank)};
        Cada__TrajectoryBatch tb = CADA__TRAJECTORY_BATCH__INIT;
        tb.step = (uint64_t)step;
        tb.n_trajectories = (size_t)n;
        tb.trajectories = tp;
        tb.n_metrics = 2;
        tb.metrics = mp;
        Cada__Envelope out = CADA__ENVELOPE__INIT;
        out.body_case = CADA__ENVELOPE__BODY_TRAJECTORIES;
        out.trajectories = &tb;
        t->phase = "sending trajectories";
        st = start_send(t, cada_roles_reward_of(&t->roles, t->rank), TAG_TRAJS, &out);
    }
    if (res)
        for (int i = 0; i < n; i++) cada_gen_result_free(&res[i]);
    if (seqs) train_free_seqs(seqs, n);
    free(reqs); free(res); free(tm); free(tp);
    cada_wire_free(env);
    return st;
}

/* One TrajectoryBatch per rollout rank this reward rank serves: score, reference
 * log-probs, RewardBatch to the scheduler. */
static cada_status reward_work(trainer *t, long long step) {
    int feeds = cada_roles_feeds(&t->roles, t->rank);
    char *seen = calloc((size_t)t->world, 1);
    if (!seen) return CADA_ERR(CADA_ERR_NOMEM, "reward rank");
    t->at_step = step + 1;
    train_test_stall(t, "reward", step + 1);
    cada_status st = CADA_OK;
    for (int b = 0; b < feeds && st == CADA_OK; b++) {
        t->phase = "waiting for trajectories";
        t->n_missing = 0;
        for (int r = 0; r < t->roles.rollout && t->n_missing < 8; r++) {
            int rr = cada_roles_rank(&t->roles, CADA_ROLE_ROLLOUT, r);
            if (cada_roles_reward_of(&t->roles, rr) == t->rank && !seen[rr]) t->missing[t->n_missing++] = rr;
        }
        cada_wire_options o = cada_wire_defaults();
        Cada__Envelope *env = NULL;
        int src = -1;
        st = cada_wire_recv(MPI_COMM_WORLD, MPI_ANY_SOURCE, TAG_TRAJS, wait_for(t, 1.0), &o, &env, &src);
        if (st != CADA_OK) break;
        t->n_missing = 0;
        if (env->body_case != CADA__ENVELOPE__BODY_TRAJECTORIES || env->trajectories->step != (uint64_t)step || seen[src] ||
            cada_roles_of(&t->roles, src) != CADA_ROLE_ROLLOUT) {
            cada_wire_free(env);
            st = CADA_ERR(CADA_ERR_FORMAT, "rank %d: unexpected message from rank %d (want the trajectories of step %lld)", t->rank, src, step + 1);
            break;
        }
        seen[src] = 1;
        t->phase = "reward";
        const Cada__TrajectoryBatch *tb = env->trajectories;
        int n = (int)tb->n_trajectories;
        seq_rec *s = calloc((size_t)(n ? n : 1), sizeof *s);
        Cada__Trajectory *tm = calloc((size_t)(n ? n : 1), sizeof *tm);
        Cada__Trajectory **tp = calloc((size_t)(n ? n : 1), sizeof *tp);
        Cada__RewardResult *rr = calloc((size_t)(n ? n : 1), sizeof *rr);
        Cada__RewardResult **rp = calloc((size_t)(n ? n : 1), sizeof *rp);
        Cada__RewardComponent *cm = calloc((size_t)(n ? n : 1) * TRAIN_N_COMP, sizeof *cm);
        Cada__RewardComponent **cp = calloc((size_t)(n ? n : 1) * TRAIN_N_COMP, sizeof *cp);
        st = s && tm && tp && rr && rp && cm && cp ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: reward buffers", t->rank);
        int parsed = 0;
        for (int i = 0; st == CADA_OK && i < n; i++, parsed++) st = train_traj_from_msg(t, tb->trajectories[i], &s[i], src, i);
        double reward_s = 0, reference_s = 0;
        if (st == CADA_OK) st = score_here(t, s, n, &reward_s, &reference_s);
        for (int i = 0; st == CADA_OK && i < n; i++) {
            train_traj_to_msg(&s[i], &tm[i]);
            tp[i] = &tm[i];
            cada__reward_result__init(&rr[i]);
            rr[i].prompt_id = (uint64_t)s[i].item;
            rr[i].sample_index = (uint32_t)s[i].sample;
            rr[i].total = s[i].reward;
            rr[i].refused = s[i].refused;
            rr[i].n_components = TRAIN_N_COMP;
            rr[i].components = cp + (size_t)i * TRAIN_N_COMP;
            for (int k = 0; k < TRAIN_N_COMP; k++) {
                Cada__RewardComponent *x = &cm[(size_t)i * TRAIN_N_COMP + k];
                cada__reward_component__init(x);
                x->name = (char *)train_comp_names[k];
                x->value = s[i].comp[k];
                cp[(size_t)i * TRAIN_N_COMP + k] = x;
            }
            rp[i] = &rr[i];
        }
        if (st == CADA_OK) {
            Cada__Metric m[4], *mp[4] = {metric(&m[0], "generate_s", metric_of(tb->metrics, tb->n_metrics, "generate_s")),
                                         metric(&m[1], "rollout_rank", src), metric(&m[2], "reward_s", reward_s),
                                         metric(&m[3], "reference_s", reference_s)};
            Cada__RewardBatch out = CADA__REWARD_BATCH__INIT;
            out.step = (uint64_t)step;
            out.n_results = (size_t)n;
            out.results = rp;
            out.n_trajectories = (size_t)n;
            out.trajectories = tp;
            out.n_metrics = 4;
            out.metrics = mp;
            Cada__Envelope e = CADA__ENVELOPE__INIT;
            e.body_case = CADA__ENVELOPE__BODY_REWARDS;
            e.rewards = &out;
            t->phase = "sending rewards";
            st = start_send(t, 0, TAG_SCORED, &e);
        }
        if (s) train_free_seqs(s, parsed);
        free(tm); free(tp); free(rr); free(rp); free(cm); free(cp);
        cada_wire_free(env);
    }
    free(seen);
    return st;
}

/* Rollout and reward ranks: the work of each step (one step ahead in async mode), the
 * weights after each update (rollout ranks), the step boundary. */
static cada_status run_worker(trainer *t, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int rollout = cada_roles_of(&t->roles, t->rank) == CADA_ROLE_ROLLOUT, async = async_mode(t);
    long long start = t->start_step;
    if (async && start < c->steps) CADA_TRY(rollout ? rollout_work(t, start) : reward_work(t, start));
    for (long long step = start; step < c->steps && !*stopped; step++) {
        long long work = async ? step + 1 : step;
        /* async: the scheduler takes the previous step's results at the start of this step */
        if (async) CADA_TRY(flush_sends(t));
        if (work < c->steps) CADA_TRY(rollout ? rollout_work(t, work) : reward_work(t, work));
        if (!async) CADA_TRY(flush_sends(t)); /* sync: taken within this step */
        t->at_step = step + 1;
        if (rollout) CADA_TRY(sync_weights(t, step + 1));
        CADA_TRY(train_step_end(t, step, stopped));
    }
    return flush_sends(t);
}

cada_status cada_disagg_run(trainer *t) {
    int stopped = 0;
    t->version = t->start_step;
    /* a resumed run's rollout ranks start from the checkpoint's weights, which only the
     * learners loaded (a fresh run's ranks all loaded model.path) */
    if (t->weights_comm && t->start_step > 0) CADA_TRY(sync_weights(t, t->start_step));
    if (cada_roles_of(&t->roles, t->rank) == CADA_ROLE_LEARNER) CADA_TRY(run_learner(t, &stopped));
    else CADA_TRY(run_worker(t, &stopped));
    return train_finish(t, stopped);
}
#endif
