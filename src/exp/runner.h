/* exp/runner.h: runs an experiment's plan (exp/experiment.h), job after job.
 *
 * Each job runs as a child process (posix_spawnp; no shell), its stdout and stderr
 * appended to OUT/logs/NAME.log; a job that exits 0 leaves OUT/jobs/NAME.done, and a
 * job whose marker exists is skipped, so running the same experiment again goes on
 * where it stopped. A training job that did not finish is started again in an empty
 * folder: what it left is moved to RUN_DIR.partial (the previous one replaced). An
 * eval of a trained method evaluates the train job's last checkpoint (the
 * checkpoint-N folder with the largest N), found when the eval starts.
 *
 * One `cada experiment` per out_dir at a time: markers are written when a job ends, so
 * two runs of the same plan would both start its unfinished jobs (two runs restricted to
 * different methods with --set methods=... touch different jobs and may run together).
 *
 * A failing job stops the experiment with an error naming the job, its exit status
 * and its log (the last lines of the log are printed), unless keep_going: then the
 * jobs that need it (a failed data job's training, a failed training's evals) are
 * skipped and counted, and the others run. */
#ifndef CADA_EXP_RUNNER_H
#define CADA_EXP_RUNNER_H

#include "exp/experiment.h"

typedef struct {
    int dry_run;    /* print each job's command line, run nothing */
    int keep_going; /* run what does not depend on a failed job */
} cada_exp_run_options;

typedef struct {
    int ran, skipped_done, failed, skipped_blocked;
    double seconds;
} cada_exp_run_summary;

cada_status cada_exp_run(const cada_experiment *x, cada_exp_plan *plan, const cada_exp_run_options *o, cada_exp_run_summary *sum);

/* The checkpoint-N folder with the largest N under run_dir. Errors: none there. */
cada_status cada_exp_last_checkpoint(const char *run_dir, char *out, size_t cap);

#endif
