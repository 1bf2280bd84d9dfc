/* sched/disagg_worker.c: the rollout and reward ranks of the disaggregated placement
 * (disagg.h describes the step). */
#include "sched/disagg.h"
#include "sched/lifecycle.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"
#include "sched/exchange.h"
#include "sched/requests.h"
#include "sched/rollout_stage.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One RolloutRequest: generate with the weights held, send the trajectories on. */
static cada_status rollout_work(trainer *t, long long step) {
    t->watch.at_step = step + 1;
    t->watch.phase = "waiting for a rollout request";
    trainer_test_stall(t, "rollout", step + 1);
    cada_wire_options o = cada_wire_defaults();
    Cada__Envelope *env = NULL;
    /* an engine of rollout.tp ranks: its leader takes the request from the scheduler and
     * hands it to the others, and all of them generate together (model/tp.h) */
    int leader = t->rank;
    cada_roles_engine_of(&t->roles, t->rank, &leader);
    t->watch.peer = leader == t->rank ? 0 : leader;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, t->watch.peer, CADA_TAG_WORK, disagg_wait(t, 1.5), &o, &env, NULL));
    for (int k = 1; leader == t->rank && k < t->roles.rollout_tp; k++) {
        t->watch.peer = t->rank + k;
        cada_status fs = cada_wire_send(MPI_COMM_WORLD, t->rank + k, CADA_TAG_WORK, env, &o, disagg_wait(t, 1.5));
        if (fs != CADA_OK) {
            cada_wire_free(env);
            return fs;
        }
    }
    t->watch.peer = -1;
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
    t->watch.phase = "rollout";
    int P = (int)rq->n_prompts, n = 0;
    cada_rollout_prompt *prompts = calloc((size_t)(P ? P : 1), sizeof *prompts);
    const int bare = cada_request_condition_bare(&t->cfg);
    cada_tok_ids *bare_ids = calloc((size_t)(P ? P : 1), sizeof *bare_ids);
    seq_rec *seqs = NULL;
    Cada__Trajectory *tm = NULL, **tp = NULL;
    cada_status st = prompts && bare_ids ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: rollout prompts", t->rank);
    for (int p = 0; p < P && st == CADA_OK; p++) {
        const Cada__Prompt *pr = rq->prompts[p];
        if (pr->prompt_id >= (uint64_t)t->cursor.data.n || pr->n_tokens == 0 || pr->position < 0 || pr->position >= t->cfg.prompts_per_step)
            st = CADA_ERR(CADA_ERR_FORMAT, "rank %d: rollout request prompt %d: id %llu, position %d, %zu tokens", t->rank, p,
                          (unsigned long long)pr->prompt_id, pr->position, pr->n_tokens);
        prompts[p] = (cada_rollout_prompt){(int)pr->prompt_id, pr->position, pr->label, pr->tokens, (int)pr->n_tokens, NULL, 0};
        /* learn.condition = bare: the sequences carry the bare request's prompt, rendered
         * here from this rank's copy of the training set (the scheduler sends the prompt
         * the samples are drawn under) */
        if (st == CADA_OK && bare) {
            st = cada_request_render_bare(t->tok, &t->cursor.data.items[pr->prompt_id], &bare_ids[p]);
            prompts[p].train_ids = bare_ids[p].ids;
            prompts[p].n_train_ids = (int)bare_ids[p].n;
        }
    }
    double generate_s = 0;
    cada_rollout_policy pol = trainer_policy(t);
    if (t->sync_next) { /* the next weights move between the model calls (disagg.h) */
        pol.between_calls = disagg_sync_progress;
        pol.between_ctx = t->sync_next;
    }
    char label[48];
    if (t->roles.rollout_tp > 1)
        snprintf(label, sizeof label, "rollout (rank %d, engine %d of %d)", t->rank, cada_roles_engine_of(&t->roles, t->rank, NULL),
                 cada_roles_engines(&t->roles));
    else
        snprintf(label, sizeof label, "rollout (rank %d, 1 of %d rollout ranks)", t->rank, t->roles.rollout);
    int shows = cada_roles_index(&t->roles, t->rank) == 0; /* one rollout rank shows the group's progress */
    if (st == CADA_OK)
        st = cada_rollout_stage_run(&pol, &t->cfg, step, t->version, prompts, P, shows ? &t->progress : NULL, label, &seqs, &n, &generate_s);
    const int sends = leader == t->rank; /* one batch per engine, from its leader; the others hold the same samples */
    if (sends) {
        tm = calloc((size_t)(n ? n : 1), sizeof *tm);
        tp = calloc((size_t)(n ? n : 1), sizeof *tp);
        if (st == CADA_OK && (!tm || !tp)) st = CADA_ERR(CADA_ERR_NOMEM, "rank %d: trajectory messages", t->rank);
    }
    for (int i = 0; st == CADA_OK && sends && i < n; i++) {
        seq_to_msg(&seqs[i], &tm[i]);
        tp[i] = &tm[i];
    }
    if (st == CADA_OK && sends) {
        Cada__Metric m[2], *mp[2] = {disagg_metric(&m[0], "generate_s", generate_s), disagg_metric(&m[1], "rollout_rank", t->rank)};
        Cada__TrajectoryBatch tb = CADA__TRAJECTORY_BATCH__INIT;
        tb.step = (uint64_t)step;
        tb.n_trajectories = (size_t)n;
        tb.trajectories = tp;
        tb.n_metrics = 2;
        tb.metrics = mp;
        Cada__Envelope out = CADA__ENVELOPE__INIT;
        out.body_case = CADA__ENVELOPE__BODY_TRAJECTORIES;
        out.trajectories = &tb;
        t->watch.phase = "sending trajectories";
        st = disagg_start_send(t, cada_roles_reward_of(&t->roles, t->rank), CADA_TAG_TRAJS, &out);
    }
    seqs_free(seqs, n);
    free(prompts);
    for (int p = 0; bare_ids && p < P; p++) cada_tok_ids_free(&bare_ids[p]);
    free(bare_ids);
    free(tm);
    free(tp);
    cada_wire_free(env);
    return st;
}

/* A reward group's leader hands a TrajectoryBatch to its other ranks (reward.tp > 1). */
static cada_status reward_forward(trainer *t, const Cada__Envelope *env) {
    cada_wire_options o = cada_wire_defaults();
    for (int k = 1; k < t->roles.reward_tp; k++) {
        t->watch.peer = t->rank + k;
        CADA_TRY(cada_wire_send(MPI_COMM_WORLD, t->rank + k, CADA_TAG_TRAJS, env, &o, disagg_wait(t, 1.0)));
    }
    t->watch.peer = -1;
    return CADA_OK;
}

/* One TrajectoryBatch per rollout engine this reward rank serves: score, reference
 * log-probs, RewardBatch to the scheduler. A reward group of reward.tp ranks holds the
 * reference as one (model/tp.h): its leader takes each batch from the rollout engine
 * and hands it on; every rank computes the reference log-probs together (the same on
 * each); the leader scores and sends. */
static cada_status reward_work(trainer *t, long long step) {
    int feeds = cada_roles_feeds(&t->roles, t->rank), leader = t->rank;
    cada_roles_reward_group_of(&t->roles, t->rank, &leader);
    char *seen = calloc((size_t)t->world, 1);
    if (!seen) return CADA_ERR(CADA_ERR_NOMEM, "reward rank");
    t->watch.at_step = step + 1;
    trainer_test_stall(t, "reward", step + 1);
    cada_status st = CADA_OK;
    for (int b = 0; b < feeds && st == CADA_OK; b++) {
        t->watch.phase = "waiting for trajectories";
        t->watch.n_missing = 0;
        for (int e = 0; leader == t->rank && e < cada_roles_engines(&t->roles) && t->watch.n_missing < 8; e++) {
            int rr = cada_roles_engine_rank(&t->roles, e);
            if (cada_roles_reward_of(&t->roles, rr) == t->rank && !seen[rr]) t->watch.missing[t->watch.n_missing++] = rr;
        }
        if (leader != t->rank) t->watch.missing[t->watch.n_missing++] = leader;
        cada_wire_options o = cada_wire_defaults();
        Cada__Envelope *env = NULL;
        int src = -1;
        st = cada_wire_recv(MPI_COMM_WORLD, leader == t->rank ? MPI_ANY_SOURCE : leader, CADA_TAG_TRAJS, disagg_wait(t, 1.0), &o,
                            &env, &src);
        if (st != CADA_OK) break;
        t->watch.n_missing = 0;
        int engine_leader = -1; /* a batch comes from a rollout engine's leader (to a group's other ranks: from its leader) */
        if (cada_roles_of(&t->roles, src) == CADA_ROLE_ROLLOUT) cada_roles_engine_of(&t->roles, src, &engine_leader);
        const int from_ok = leader == t->rank ? engine_leader == src && !seen[src] : src == leader;
        if (env->body_case != CADA__ENVELOPE__BODY_TRAJECTORIES || env->trajectories->step != (uint64_t)step || !from_ok) {
            cada_wire_free(env);
            st = CADA_ERR(CADA_ERR_FORMAT, "rank %d: unexpected message from rank %d (want the trajectories of step %lld)", t->rank, src, step + 1);
            break;
        }
        seen[src] = 1;
        if (leader == t->rank && t->roles.reward_tp > 1 && (st = reward_forward(t, env)) != CADA_OK) {
            cada_wire_free(env);
            break;
        }
        t->watch.phase = "reward";
        const Cada__TrajectoryBatch *tb = env->trajectories;
        int n = (int)tb->n_trajectories;
        seq_rec *s = calloc((size_t)(n ? n : 1), sizeof *s);
        st = s ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: reward buffers", t->rank);
        int parsed = 0;
        const seq_limits lim = {t->cursor.data.n, t->cfg.prompts_per_step};
        for (int i = 0; st == CADA_OK && i < n; i++, parsed++) st = seq_from_msg(tb->trajectories[i], &lim, &s[i], src, i);
        double reward_s = 0, reference_s = 0;
        memset(&t->judge_tally, 0, sizeof t->judge_tally); /* this batch's judge work, sent with it */
        cada_score_ctx sc = trainer_scoring(t);
        if (st == CADA_OK && leader == t->rank) st = cada_score_all(&sc, s, n, &reward_s, &reference_s);
        else if (st == CADA_OK) st = cada_score_reference(&sc, s, n); /* the leader's reference passes need this part */
        seq_reward_msg rm = {0};
        if (st == CADA_OK && leader == t->rank) st = seq_reward_msg_init(&rm, s, n, step);
        if (st == CADA_OK && leader == t->rank) {
            Cada__Metric m[4], *mp[4] = {disagg_metric(&m[0], "generate_s", disagg_metric_of(tb->metrics, tb->n_metrics, "generate_s")),
                                         disagg_metric(&m[1], "rollout_rank", src), disagg_metric(&m[2], "reward_s", reward_s),
                                         disagg_metric(&m[3], "reference_s", reference_s)};
            rm.batch.n_metrics = 4;
            rm.batch.metrics = mp;
            Cada__JudgeStats js;
            Cada__JudgeScoreSum sums[CADA_JS_N], *sp[CADA_JS_N];
            if (trainer_judges(t)) {
                cada_judge_tally_to_msg(&t->judge_tally, &js, sums, sp);
                rm.batch.judge = &js;
            }
            Cada__Envelope e = CADA__ENVELOPE__INIT;
            e.body_case = CADA__ENVELOPE__BODY_REWARDS;
            e.rewards = &rm.batch;
            t->watch.phase = "sending rewards";
            st = disagg_start_send(t, 0, CADA_TAG_SCORED, &e);
        }
        seq_reward_msg_free(&rm);
        seqs_free(s, parsed);
        cada_wire_free(env);
    }
    free(seen);
    return st;
}

/* Rollout and reward ranks: the work of each step (one step ahead in async mode), the
 * weights after each update (rollout ranks), the step boundary. */
cada_status disagg_run_worker(trainer *t, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int rollout = cada_roles_of(&t->roles, t->rank) == CADA_ROLE_ROLLOUT, async = disagg_async(t);
    long long start = t->start_step;
    /* async: fill the pipeline, unless the resumed checkpoint held the batch ahead */
    if (async && !t->ahead_resumed && start < c->steps) CADA_TRY(rollout ? rollout_work(t, start) : reward_work(t, start));
    for (long long step = start; step < c->steps && !*stopped; step++) {
        long long work = async ? step + 1 : step;
        /* async: the scheduler took the previous batch before the last step boundary */
        if (async) CADA_TRY(disagg_flush_sends(t));
        /* overlapped: version step + 1 lands in the second copy while step + 1 is generated */
        const int overlap = rollout && disagg_overlapped(t) && work < c->steps;
        if (overlap) CADA_TRY(disagg_sync_begin(t, step + 1));
        if (work < c->steps) CADA_TRY(rollout ? rollout_work(t, work) : reward_work(t, work));
        if (!async) CADA_TRY(disagg_flush_sends(t)); /* sync: taken within this step */
        t->watch.at_step = step + 1;
        if (rollout) CADA_TRY(overlap ? disagg_sync_finish(t) : disagg_sync_weights(t, step + 1));
        CADA_TRY(trainer_step_end(t, step, stopped));
    }
    return disagg_flush_sends(t);
}

#endif
