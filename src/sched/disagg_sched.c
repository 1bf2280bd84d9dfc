/* sched/disagg_sched.c: the learners of the disaggregated placement; rank 0 is also the
 * scheduler (requests, collection, the batch to the other learners, weight sync).
 * disagg.h describes the step. */
#include "sched/disagg.h"
#include "sched/lifecycle.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"
#include "sched/exchange.h"
#include "sched/learn_stage.h"
#include "sched/requests.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* Step `step`'s prompts to the rollout ranks, to be sampled with `version`. */
static cada_status send_requests(trainer *t, long long step, long long version) {
    const cada_run_config *c = &t->cfg;
    int P = c->prompts_per_step, S = c->samples_per_prompt, R = cada_roles_engines(&t->roles);
    t->watch.phase = "scheduling";
    cada_tok_ids *ids = calloc((size_t)P, sizeof *ids);
    int *item = calloc((size_t)P, sizeof(int)), *to = calloc((size_t)P, sizeof(int));
    double *load = calloc((size_t)R, sizeof(double));
    Cada__Prompt *pm = calloc((size_t)P, sizeof *pm);
    Cada__Prompt **pp = calloc((size_t)P, sizeof *pp);
    cada_status st = ids && item && to && load && pm && pp ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rollout requests");
    for (int p = 0; p < P && st == CADA_OK; p++) {
        item[p] = cada_cursor_item(&t->cursor, step * P + p);
        st = cada_request_render(&t->builder, t->tok, &t->cursor.data.items[item[p]], &ids[p]);
        if (st != CADA_OK) break;
        int best = 0; /* the engine with the fewest outstanding tokens (ties: the lower rank) */
        for (int r = 1; r < R; r++)
            if (load[r] < load[best]) best = r;
        to[p] = best;
        load[best] += (double)S * ((double)ids[p].n + c->max_new_tokens);
        const cada_item *it = &t->cursor.data.items[item[p]];
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
        rq.reward_rank = t->roles.reward ? cada_roles_reward_of(&t->roles, cada_roles_engine_rank(&t->roles, r)) : -1;
        Cada__Envelope env = CADA__ENVELOPE__INIT;
        env.body_case = CADA__ENVELOPE__BODY_ROLLOUT_REQUEST;
        env.rollout_request = &rq;
        cada_wire_options o = cada_wire_defaults();
        t->watch.peer = cada_roles_engine_rank(&t->roles, r);
        st = cada_wire_send(MPI_COMM_WORLD, t->watch.peer, CADA_TAG_WORK, &env, &o, disagg_wait(t, 1.5));
    }
    if (st == CADA_OK) t->watch.peer = -1; /* else it names the rollout rank that did not take its request */
    if (ids)
        for (int p = 0; p < P; p++) cada_tok_ids_free(&ids[p]);
    free(ids); free(item); free(to); free(load); free(pm); free(pp);
    return st;
}

typedef struct {
    double generate_s, reward_s, reference_s; /* the busiest rank's, summed over its batches */
    cada_judge_tally judge;                   /* the judge's, over the scoring ranks */
} work_times;

/* Every sample of step `step`, in (position, sample) order, from one batch per rollout
 * rank: RewardBatches from the reward ranks, or, with none, TrajectoryBatches that the
 * scheduler scores itself. Each must come from policy version `version`. */
static cada_status collect(trainer *t, long long step, long long version, seq_rec **out, int *n_out, work_times *wt) {
    const cada_run_config *c = &t->cfg;
    int R = cada_roles_engines(&t->roles), want = c->prompts_per_step * c->samples_per_prompt, n = 0;
    int from_reward = t->roles.reward > 0;
    const seq_limits lim = {t->cursor.data.n, c->prompts_per_step};
    t->watch.phase = from_reward ? "collecting rewards" : "collecting trajectories";
    seq_rec *all = calloc((size_t)(want ? want : 1), sizeof *all);
    char *got = calloc((size_t)want, 1);
    int *done = calloc((size_t)R, sizeof(int));
    double *gen = calloc((size_t)R, sizeof(double)), *rew = calloc((size_t)t->world, sizeof(double)),
           *ref = calloc((size_t)t->world, sizeof(double));
    cada_judge_tally *jt = calloc((size_t)t->world, sizeof *jt); /* per scoring rank, over its batches */
    memset(&t->judge_tally, 0, sizeof t->judge_tally);          /* the scheduler's own, without reward ranks */
    cada_status st = all && got && done && gen && rew && ref && jt ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "step batch");
    for (int b = 0; b < R && st == CADA_OK; b++) {
        t->watch.n_missing = 0; /* who a timeout would be blamed on: a reward rank nothing came from, else the rollout ranks */
        for (int r = 0; r < R && t->watch.n_missing < 8; r++) {
            int rr = cada_roles_engine_rank(&t->roles, r), via = cada_roles_reward_of(&t->roles, rr);
            if (done[r]) continue;
            int any = 0;
            for (int q = 0; q < R; q++) any |= done[q] && cada_roles_reward_of(&t->roles, cada_roles_engine_rank(&t->roles, q)) == via;
            int who = from_reward && !any ? via : rr, dup = 0;
            for (int k = 0; k < t->watch.n_missing; k++) dup |= t->watch.missing[k] == who;
            if (!dup) t->watch.missing[t->watch.n_missing++] = who;
        }
        cada_wire_options o = cada_wire_defaults();
        Cada__Envelope *env = NULL;
        int src = -1;
        st = cada_wire_recv(MPI_COMM_WORLD, MPI_ANY_SOURCE, from_reward ? CADA_TAG_SCORED : CADA_TAG_TRAJS, disagg_wait(t, 1.25), &o, &env, &src);
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
        /* the engine, from its leader's rank (another rank of an engine sends nothing) */
        int lead = st == CADA_OK ? (int)disagg_metric_of(m, n_m, "rollout_rank") : -1, r = -1;
        if (lead >= t->roles.learners && lead < t->roles.learners + t->roles.rollout &&
            (lead - t->roles.learners) % t->roles.rollout_tp == 0)
            r = (lead - t->roles.learners) / t->roles.rollout_tp;
        if (st == CADA_OK && (bstep != (uint64_t)step || n_res != n_tr || r < 0 || r >= R || done[r]))
            st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: batch from rank %d: step %llu (expected %lld), %zu results for %zu trajectories, rollout rank %d",
                          src, (unsigned long long)bstep, step, n_res, n_tr, lead);
        int first = n;
        for (size_t i = 0; st == CADA_OK && i < n_tr; i++) {
            if (n == want) {
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: more than %d samples in step %lld (rank %d)", want, step + 1, src);
                break;
            }
            seq_rec *q = &all[n];
            st = seq_from_msg(tr[i], &lim, q, src, (int)i);
            if (st != CADA_OK) break;
            n++;
            int slot = q->order * c->samples_per_prompt + q->sample;
            if (q->sample < 0 || q->sample >= c->samples_per_prompt || got[slot])
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: sample %d of prompt position %d from rank %d: out of range or twice", q->sample, q->order, src);
            else if (q->version != version)
                st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: a sample of step %lld from rank %d was drawn with policy version %lld, expected %lld "
                                               "(no step mixes versions)", step + 1, src, q->version, version);
            else got[slot] = 1;
            if (st == CADA_OK && from_reward) seq_apply_reward(q, env->rewards->results[i]);
        }
        if (st == CADA_OK && from_reward && env->rewards->judge) {
            cada_judge_tally one;
            st = cada_judge_tally_from_msg(env->rewards->judge, &one, src);
            if (st == CADA_OK) cada_judge_tally_add(&jt[src], &one);
        }
        if (st == CADA_OK) {
            done[r] = 1;
            gen[r] = disagg_metric_of(m, n_m, "generate_s");
            rew[src] += disagg_metric_of(m, n_m, "reward_s");
            ref[src] += disagg_metric_of(m, n_m, "reference_s");
            if (!from_reward) {
                cada_score_ctx sc = trainer_scoring(t);
                st = cada_score_all(&sc, all + first, n - first, &rew[0], &ref[0]);
            }
        }
        cada_wire_free(env);
    }
    if (st == CADA_OK && n != want) st = CADA_ERR(CADA_ERR_FORMAT, "rank 0: step %lld has %d samples, expected %d", step + 1, n, want);
    if (st == CADA_OK) {
        t->watch.n_missing = 0;
        memset(wt, 0, sizeof *wt);
        for (int r = 0; r < R; r++) wt->generate_s = fmax(wt->generate_s, gen[r]);
        for (int k = 0; k < t->world; k++) wt->reward_s = fmax(wt->reward_s, rew[k]), wt->reference_s = fmax(wt->reference_s, ref[k]);
        if (!from_reward) jt[0] = t->judge_tally;
        for (int k = 0; k < t->world; k++) cada_judge_tally_merge(&wt->judge, &jt[k]);
        seqs_sort(all, n);
    }
    free(got); free(done); free(gen); free(rew); free(ref); free(jt);
    if (st != CADA_OK) {
        if (all) seqs_free(all, n);
        return st;
    }
    *out = all;
    *n_out = n;
    return CADA_OK;
}

/* Async, rank 0: step `step`'s batch (policy version step - 1) into t->ahead. */
static cada_status collect_ahead(trainer *t, long long step) {
    double t0 = cada_now();
    work_times wt;
    cada_ahead *a = &t->ahead;
    CADA_TRY(collect(t, step, step - 1, &a->seqs, &a->n, &wt));
    a->step = step;
    a->generate_s = wt.generate_s, a->reward_s = wt.reward_s, a->reference_s = wt.reference_s;
    t->ahead_judge = wt.judge;
    a->collect_s = cada_now() - t0;
    return CADA_OK;
}

/* The learners' loop (rank 0 also schedules). */
cada_status disagg_run_learner(trainer *t, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int async = disagg_async(t);
    long long start = t->start_step;
    const seq_limits lim = {t->cursor.data.n, c->prompts_per_step};
    /* async: the pipeline's first step (fresh, or resumed without a batch ahead) samples
     * with the weights of its own step; every later one with the previous step's */
    long long fill = async && t->ahead_resumed ? -1 : start;
    if (t->rank == 0 && async && fill == start && start < c->steps) CADA_TRY(send_requests(t, start, start));
    for (long long step = start; step < c->steps && !*stopped; step++) {
        double t0 = cada_now();
        long long version = async && step > fill ? step - 1 : step;
        seq_rec *all = NULL;
        int n_all = 0;
        work_times wt = {0};
        double schedule_s = 0, collect_s = 0, distribute_s = 0, learn_s = 0, sync_s = 0;
        t->watch.at_step = step + 1;
        if (t->rank == 0) {
            if (!async) CADA_TRY(send_requests(t, step, version));
            double t1 = cada_now();
            if (t->ahead.seqs) { /* async: collected before the last step boundary */
                all = t->ahead.seqs, n_all = t->ahead.n;
                wt = (work_times){t->ahead.generate_s, t->ahead.reward_s, t->ahead.reference_s, t->ahead_judge};
                memset(&t->ahead_judge, 0, sizeof t->ahead_judge);
                t1 -= t->ahead.collect_s;
                memset(&t->ahead, 0, sizeof t->ahead);
            } else CADA_TRY(collect(t, step, version, &all, &n_all, &wt));
            double t2 = cada_now();
            /* one-step-off: the next step's samples start now, with the weights the rollout ranks hold (version step) */
            if (async && step + 1 < c->steps) CADA_TRY(send_requests(t, step + 1, step));
            double t3 = cada_now();
            t->watch.phase = "batch to the learners";
            cada_status st = CADA_OK;
            for (int l = 1; l < t->roles.learners && st == CADA_OK; l++) {
                t->watch.peer = l;
                st = cada_batch_send(all, n_all, step, l, c->timeout_seconds);
            }
            if (st != CADA_OK) { /* watch.peer still names the learner that did not take it */
                seqs_free(all, n_all);
                return st;
            }
            t->watch.peer = -1;
            schedule_s = (t1 - t0) + (t3 - t2);
            collect_s = t2 - t1;
            distribute_s = cada_now() - t3;
        } else {
            t->watch.phase = "waiting for the batch";
            t->watch.peer = 0;
            CADA_TRY(cada_batch_recv(0, &lim, disagg_wait(t, 1.5), &all, &n_all));
            t->watch.peer = -1;
        }
        cada_step_metrics sm;
        t->watch.phase = "learner step";
        trainer_test_stall(t, "learn", step + 1);
        cada_status st = cada_learn_stage_run(t->learner, all, n_all, t->rank == 0 ? &t->progress : NULL, "learn (rank 0)", &sm, &learn_s);
        if (st == CADA_OK) st = cada_learner_gather_params(t->learner); /* ZeRO-3: learner 0 sends every layer */
        if (st == CADA_OK && (t->rank == 0 || disagg_resharded(t))) { /* resharded: every learner sends */
            double t4 = cada_now();
            st = disagg_sync_weights(t, step + 1);
            sync_s = cada_now() - t4;
        }
        if (st == CADA_OK) {
            double step_s = cada_now() - t0;
            /* messages, compression and scheduling: what the step spent beyond the phases'
             * compute (sync: rollout, reward and reference run one after the other inside
             * collect_s; async: they overlap the previous learner step) */
            double overhead_s = schedule_s + distribute_s + (async ? 0 : fmax(0, collect_s - wt.generate_s - wt.reward_s - wt.reference_s));
            cada_metric_field fields[12 + 5 + CADA_JS_N] = {{"rollout_s", wt.generate_s}, {"reward_s", wt.reward_s}, {"reference_s", wt.reference_s},
                                    {"collect_s", collect_s},     {"schedule_s", schedule_s}, {"distribute_s", distribute_s},
                                    {"learn_s", learn_s},         {"sync_s", sync_s},       {"step_s", step_s},
                                    {"overhead_s", overhead_s},   {"staleness", (double)(step - version)},
                                    {"policy_version", (double)version}};
            int n_fields = 12 + trainer_judge_fields(t, &wt.judge, fields + 12);
            st = trainer_report(t, step, all, n_all, &sm, fields, n_fields);
        }
        seqs_free(all, n_all);
        if (st != CADA_OK) return st;
        /* async: the next step's batch (sampled with version step during this learner
         * step) is taken before the boundary, so the checkpoint written there holds the
         * whole pipeline (pipeline.h) and a stop leaves no send open */
        if (async && t->rank == 0 && step + 1 < c->steps) CADA_TRY(collect_ahead(t, step + 1));
        CADA_TRY(trainer_step_end(t, step, stopped));
    }
    return CADA_OK;
}

#endif
