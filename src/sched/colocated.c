/* sched/colocated.c: the colocated placement (placement.h). */
#include "sched/lifecycle.h"
#include "sched/placement.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"
#include "model/infer_weights.h"
#include "sched/exchange.h"
#include "sched/learn_stage.h"
#include "sched/requests.h"
#include "sched/rollout_stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who rolls out which prompts. Without tensor parallelism every rank is its own group.
 * With learn.tp = P > 1 the P consecutive ranks of a TP group hold one model between
 * them (model/tp.h) and generate, score the reference and (dpo) read it together, so a
 * step's prompts are shared by groups: group g of world / P takes the positions p with
 * p % (world / P) == g. Its leader (the group's first rank) alone keeps the group's
 * sequences for the exchange and scores their rewards (and runs any judge); the other
 * ranks computed the same tokens and reference log-probs, and drop them. */
typedef struct {
    int index, count, leader;
} share_group;

static share_group share_group_of(const trainer *t) {
    const int P = t->cfg.learn_tp > 1 ? t->cfg.learn_tp : 1; /* config.c: P divides the world (learner_ranks) */
    return (share_group){t->rank / P, t->world / P, t->rank % P == 0};
}

/* A member's copy of its group's sequences: the leader's are the ones exchanged. */
static void drop_unless_leader(const share_group *g, seq_rec **s, int *n) {
    if (g->leader) return;
    seqs_free(*s, *n);
    *s = NULL;
    *n = 0;
}

/* This rank's share of step `step`: its group's prompts rendered, generated and scored;
 * the phases' seconds in sec[0..3) = generate, reward, reference (cada_score_all's). */
static cada_status rollout_share(trainer *t, long long step, seq_rec **out, int *n_out, double *generate_s, double sec[3]) {
    const int P = t->cfg.prompts_per_step;
    const share_group g = share_group_of(t);
    int mine = 0;
    for (int p = 0; p < P; p++) mine += p % g.count == g.index;
    *out = NULL;
    *n_out = 0;
    *generate_s = 0;
    if (!mine) return CADA_OK;
    const int bare = cada_request_condition_bare(&t->cfg);
    cada_tok_ids *ids = calloc((size_t)mine, sizeof *ids), *bare_ids = calloc((size_t)mine, sizeof *bare_ids);
    cada_rollout_prompt *prompts = calloc((size_t)mine, sizeof *prompts);
    cada_status st = ids && bare_ids && prompts ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rank %d: rollout prompts", t->rank);
    for (int p = 0, k = 0; p < P && st == CADA_OK; p++) {
        if (p % g.count != g.index) continue;
        int item = cada_cursor_item(&t->cursor, step * P + p);
        const cada_item *it = &t->cursor.data.items[item];
        st = cada_request_render(&t->builder, t->tok, it, &ids[k]);
        if (st == CADA_OK && bare) st = cada_request_render_bare(t->tok, it, &bare_ids[k]);
        prompts[k] = (cada_rollout_prompt){item, p, it->label != CADA_LABEL_BENIGN, ids[k].ids, (int)ids[k].n,
                                           bare ? bare_ids[k].ids : NULL, (int)bare_ids[k].n};
        k++;
    }
    cada_rollout_policy pol = trainer_policy(t);
    char label[48];
    if (t->cfg.learn_tp > 1) snprintf(label, sizeof label, "rollout (TP group %d of %d)", g.index, g.count);
    else snprintf(label, sizeof label, "rollout (rank %d of %d)", t->rank, t->world);
    cada_progress *progress = t->rank == 0 ? &t->progress : NULL;
    if (st == CADA_OK) st = cada_rollout_stage_run(&pol, &t->cfg, step, step, prompts, mine, progress, label, out, n_out, generate_s);
    cada_score_ctx sc = trainer_scoring(t);
    double reward_s = 0, reference_s = 0;
    if (st == CADA_OK && g.leader) st = cada_score_all(&sc, *out, *n_out, &reward_s, &reference_s);
    else if (st == CADA_OK) { /* the group's reference passes need this rank's part */
        double t0 = cada_now();
        st = cada_score_reference(&sc, *out, *n_out);
        reference_s = cada_now() - t0;
    }
    sec[0] = *generate_s, sec[1] = reward_s, sec[2] = reference_s;
    if (st != CADA_OK || !g.leader) {
        seqs_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
    }
    for (int k = 0; ids && bare_ids && k < mine; k++) {
        cada_tok_ids_free(&ids[k]);
        cada_tok_ids_free(&bare_ids[k]);
    }
    free(ids);
    free(bare_ids);
    free(prompts);
    return st;
}

/* learn.algorithm = sft | dpo: this rank's group's share of step `step` from the fixed dataset
 * (offline_stage.h) in place of rollouts. */
static cada_status offline_share(trainer *t, long long step, seq_rec **out, int *n_out, double *data_s) {
    cada_score_ctx sc = trainer_scoring(t);
    const share_group g = share_group_of(t);
    cada_offline_ctx oc = trainer_offline(t, &sc);
    oc.rank = g.index, oc.world = g.count; /* a TP group's ranks read the same records (dpo: the reference together) */
    *out = NULL;
    *n_out = 0;
    CADA_TRY(cada_offline_stage_run(&oc, step, out, n_out, data_s));
    drop_unless_leader(&g, out, n_out);
    return CADA_OK;
}

/* The step's judge tally over the ranks (each judged its own share): counts and sums
 * added, seconds the busiest rank's. Collective; nothing without a judge. */
static cada_status judge_across_ranks(trainer *t, cada_judge_tally *out) {
    *out = t->judge_tally;
    if (!trainer_judges(t) || t->world == 1) return CADA_OK;
    double mx[2] = {out->seconds, out->cpu_seconds}, sum[2 + 2 * CADA_JS_N] = {out->prompt_tokens, out->gen_tokens};
    for (int k = 0; k < CADA_JS_N; k++) sum[2 + k] = out->sum[k], sum[2 + CADA_JS_N + k] = out->count[k];
    CADA_TRY(cada_comm_allreduce_f64(t->comm, mx, 2, CADA_RED_MAX));
    CADA_TRY(cada_comm_allreduce_f64(t->comm, sum, 2 + 2 * CADA_JS_N, CADA_RED_SUM));
    out->seconds = mx[0], out->cpu_seconds = mx[1], out->prompt_tokens = sum[0], out->gen_tokens = sum[1];
    for (int k = 0; k < CADA_JS_N; k++) out->sum[k] = sum[2 + k], out->count[k] = sum[2 + CADA_JS_N + k];
    return CADA_OK;
}

cada_status cada_colocated_run(trainer *t) {
    const cada_run_config *c = &t->cfg;
    const seq_limits lim = {t->cursor.data.n, c->prompts_per_step};
    const int offline = cada_config_offline(c); /* sft | dpo: the data stage replaces rollout and scoring */
    int stopped = 0;
    for (long long step = t->start_step; step < c->steps && !stopped; step++) {
        double t0 = cada_now(), generate_s = 0, phase_s[3] = {0, 0, 0}; /* this rank's generate, reward, reference */
        memset(&t->judge_tally, 0, sizeof t->judge_tally);
        seq_rec *mine = NULL, *all = NULL;
        int n_mine = 0, n_all = 0;
        t->watch.at_step = step + 1;
        t->watch.phase = offline ? "data" : "rollout";
        trainer_test_stall(t, "rollout", step + 1);
        if (offline) /* a bad record fails every rank at once, not the others at the exchange's timeout */
            CADA_TRY(trainer_agree(t, offline_share(t, step, &mine, &n_mine, &generate_s), "data stage"));
        else {
            CADA_TRY(cada_learner_gather_params(t->learner)); /* ZeRO-3: the rollout reads every layer */
            /* rollout.weights = bf16: packed here, from the whole weights (ZeRO-3 has just
             * gathered them), once per step, as the learner updates them in place */
            if (!strcmp(t->cfg.rollout_weights, "bf16")) CADA_TRY(cada_infer_weights_refresh(&t->policy, step));
            /* a reward or judge error (the judge runs on a group's first rank alone) fails
             * every rank at once, not the others at the exchange's timeout */
            CADA_TRY(trainer_agree(t, rollout_share(t, step, &mine, &n_mine, &generate_s, phase_s), "rollout"));
        }
        double t1 = cada_now();
        t->watch.phase = "trajectory exchange";
        CADA_TRY(cada_exchange_all(mine, n_mine, step, t->rank, t->world, &lim, c->timeout_seconds, &t->watch.peer, &all, &n_all));
        cada_judge_tally judge = {0};
        cada_status jst = judge_across_ranks(t, &judge);
        if (jst != CADA_OK) {
            seqs_free(all, n_all);
            return jst;
        }
        double t2 = cada_now(), learn_s = 0;
        cada_step_metrics sm;
        t->watch.phase = "learner step";
        trainer_test_stall(t, "learn", step + 1);
        cada_status st = cada_learn_stage_run(t->learner, all, n_all, t->rank == 0 ? &t->progress : NULL, "learn (rank 0)", &sm, &learn_s);
        /* rollout_s: the phase's wall time (render, generate, score); generate_s, reward_s
         * and reference_s: rank 0's parts of it, as the disaggregated placement reports its ranks' */
        cada_metric_field fields[7 + 5 + CADA_JS_N] = {{offline ? "data_s" : "rollout_s", t1 - t0}, {"exchange_s", t2 - t1}, {"learn_s", learn_s},
                                                       {"generate_s", phase_s[0]}, {"reward_s", phase_s[1]}, {"reference_s", phase_s[2]}};
        int n_fields = (offline ? 3 : 6);
        n_fields += trainer_judge_fields(t, &judge, fields + n_fields);
        if (offline) fields[n_fields++] = (cada_metric_field){"step_s", cada_now() - t0};
        if (st == CADA_OK) st = trainer_report(t, step, all, n_all, &sm, fields, n_fields);
        seqs_free(all, n_all);
        if (st != CADA_OK) return st;
        CADA_TRY(trainer_step_end(t, step, &stopped));
    }
    return trainer_finish(t, stopped);
}
#endif
