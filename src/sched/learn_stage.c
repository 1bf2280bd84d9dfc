/* sched/learn_stage.c: see learn_stage.h. */
#include "sched/learn_stage.h"

#include "base/log.h"

#include <stdlib.h>

static void on_micro_batch(void *ctx, int done, int total, double tokens) {
    cada_progress *p = ctx;
    p->total = total;
    cada_progress_update(p, done, tokens, 0);
}

cada_status cada_learn_stage_run(cada_learner *L, const seq_rec *all, int n_all, cada_progress *progress, const char *label,
                                 cada_step_metrics *sm, double *learn_s) {
    double t0 = cada_now();
    cada_traj *tr = calloc((size_t)(n_all ? n_all : 1), sizeof *tr);
    if (!tr) return CADA_ERR(CADA_ERR_NOMEM, "trajectories");
    for (int i = 0; i < n_all; i++)
        tr[i] = (cada_traj){.tokens = all[i].tokens, .prompt_len = all[i].prompt_len, .completion_len = all[i].completion_len,
                            .rollout_logprob = all[i].rollout_lp, .ref_logprob = all[i].ref_lp, .reward = all[i].reward,
                            .group = all[i].order, .chosen = all[i].sample == 0}; /* DPO: seqs.h's pair order */
    if (progress && progress->enabled) {
        cada_progress_begin(progress, label, "micro-batches", 0); /* the total comes with the first report */
        cada_learner_set_progress(L, on_micro_batch, progress);
    }
    cada_status st = cada_learner_step(L, tr, n_all, sm);
    if (progress && progress->enabled) {
        cada_learner_set_progress(L, NULL, NULL);
        cada_progress_end(progress);
    }
    free(tr);
    *learn_s = cada_now() - t0;
    return st;
}
