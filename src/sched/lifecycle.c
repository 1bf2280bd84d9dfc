/* sched/lifecycle.c: see lifecycle.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/lifecycle.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"
#include "model/infer_weights.h"
#include "sched/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* SIGTERM (Slurm preemption, scancel) and SIGINT only set this flag. The step loop
 * reads it between steps, the ranks agree on it (a max over ranks, once per step), and
 * every rank writes its part of the checkpoint of the last finished step, then exits 0. */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

void trainer_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* An async run's checkpoint: rank 0 takes back the batch ahead (pipeline.h); every
 * rank learns whether there was one (none: the pipeline starts again). */
static cada_status restore_pipeline(trainer *t) {
    const seq_limits lim = {t->cursor.data.n, t->cfg.prompts_per_step};
    cada_status mine = t->rank == 0 ? cada_pipeline_load(t->resume, t->start_step, &lim, t->cfg.samples_per_prompt, &t->ahead) : CADA_OK;
    CADA_TRY(trainer_agree(t, mine, t->resume));
    double held = t->ahead.seqs != NULL;
    CADA_TRY(cada_comm_allreduce_f64(t->comm, &held, 1, CADA_RED_MAX));
    t->ahead_resumed = held > 0;
    if (t->rank == 0 && !t->ahead_resumed)
        CADA_INFO("%s holds no batch ahead (the last step of its run): the pipeline starts again, step %lld samples on-policy",
                  t->resume, t->start_step + 1);
    return CADA_OK;
}

cada_status trainer_begin(trainer *t) {
    if (t->resume[0]) {
        CADA_TRY(cada_checkpoint_restore(t));
        if (!strcmp(t->cfg.mode, "async")) CADA_TRY(restore_pipeline(t));
        if (t->rank == 0) CADA_INFO("resumed from %s: step %lld of %d", t->resume, t->start_step, t->cfg.steps);
    }
    /* rollout.weights = bf16 on a disaggregated rollout rank (the config refuses it with
     * cuda): packed from the weights held now, model.path's at version 0; a resumed run's
     * first sync brings the checkpoint's and repacks (unknown version until then); its
     * fp32 matrices are then released, as after every sync. A
     * colocated rank packs before each rollout instead (colocated.c), from the weights
     * its learner makes whole. */
    if (t->have_policy && t->roles.disaggregated && cada_roles_of(&t->roles, t->rank) == CADA_ROLE_ROLLOUT &&
        !strcmp(t->cfg.rollout_weights, "bf16")) {
        /* the fp32 matrices only receive the next syncs from now on (disagg.c packs each
         * bucket as it lands): released matrix by matrix as they are packed */
        CADA_TRY(cada_infer_weights_pack_and_release(&t->policy, t->resume[0] ? -1 : t->start_step));
    }
    if (t->rank == 0) CADA_TRY(cada_metrics_open(&t->metrics, &t->cfg, t->resume[0] ? t->start_step : 0));
    return CADA_OK;
}

cada_status trainer_report(trainer *t, long long step, const seq_rec *all, int n_all, const cada_step_metrics *sm,
                           const cada_metric_field *fields, int n_fields) {
    double refusal = NAN;
    CADA_TRY(cada_metrics_step(&t->metrics, &t->cfg, step, all, n_all, sm, fields, n_fields, &refusal));
    if (step == t->start_step) t->first_loss = sm->loss;
    t->last_loss = sm->loss;
    if (step == 0) {
        t->first_reward = sm->adv.reward_mean;
        t->first_refusal = refusal;
    }
    t->last_reward = sm->adv.reward_mean;
    t->last_refusal = refusal;
    return CADA_OK;
}

cada_status trainer_step_end(trainer *t, long long step, int *stopped) {
    const cada_run_config *c = &t->cfg;
    int save = (c->checkpoint_every > 0 && (step + 1) % c->checkpoint_every == 0) || step + 1 == c->steps;
    if (save) CADA_TRY(cada_checkpoint_write(t, step + 1));
    /* the step boundary: did a signal reach any rank? (this small all-reduce is also
     * the per-step check that every rank is still there) */
    t->watch.phase = "step boundary";
    double sig = (double)stop_signal;
    CADA_TRY(cada_comm_allreduce_f64(t->comm, &sig, 1, CADA_RED_MAX));
    *stopped = sig > 0;
    if (*stopped) {
        if (!save) CADA_TRY(cada_checkpoint_write(t, step + 1));
        CADA_INFO("%s: checkpoint-%lld written, exiting", (int)sig == SIGINT ? "SIGINT" : "SIGTERM", step + 1);
    }
    return CADA_OK;
}

/* This process's resident memory now, MiB (/proc/self/statm; 0 where unreadable). */
static double resident_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    int ok = fscanf(f, "%ld %ld", &pages, &resident) == 2;
    fclose(f);
    return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0) : 0;
}

/* Rank 0's last line: every rank's peak resident memory with its role, and what it holds
 * at the end (the peak includes start-up: loading the model, and on a tensor-parallel
 * rank the whole model it cuts its part from). One all-reduce of the world's figures. */
static cada_status report_peak_memory(trainer *t) {
    double *mib = calloc((size_t)t->world * 2, sizeof *mib);
    if (!mib) return CADA_ERR(CADA_ERR_NOMEM, "peak memory report");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    mib[2 * t->rank] = (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
    mib[2 * t->rank + 1] = resident_mib();
    cada_status st = cada_comm_allreduce_f64(t->comm, mib, 2 * t->world, CADA_RED_SUM);
    if (st == CADA_OK && t->rank == 0) {
        char line[3072], who[64];
        size_t at = 0;
        for (int r = 0; r < t->world && at < sizeof line; r++)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%d (%s) %.0f [%.0f]", r ? ", " : "", r,
                                   cada_roles_name(&t->roles, r, who, sizeof who), mib[2 * r], mib[2 * r + 1]);
        CADA_INFO("peak RSS per rank, MiB [at the end]: %s", line);
    }
    free(mib);
    return st;
}

cada_status trainer_finish(trainer *t, int stopped) {
    if (t->rank == 0 && !stopped && cada_config_offline(&t->cfg))
        CADA_INFO("done: %s loss %.4f -> %.4f over steps %lld..%d; metrics in %s/metrics.jsonl", t->cfg.algorithm, t->first_loss,
                  t->last_loss, t->start_step + 1, t->cfg.steps, t->cfg.out_dir);
    else if (t->rank == 0 && !stopped)
        CADA_INFO("done: reward %.3f -> %.3f, refusal rate on harmful prompts %.2f -> %.2f over %d steps; metrics in %s/metrics.jsonl",
                  t->first_reward, t->last_reward, t->first_refusal, t->last_refusal, t->cfg.steps, t->cfg.out_dir);
    t->watch.phase = "shutdown";
    CADA_TRY(report_peak_memory(t)); /* a collective too: timed, names a missing rank */
    return cada_comm_barrier(t->comm); /* timed: a rank missing at the end is named, not waited for forever */
}

#endif
