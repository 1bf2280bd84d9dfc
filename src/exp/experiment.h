/* exp/experiment.h: `cada experiment`'s configuration and its plan: the paper's grid
 * (methods x seeds x attacks, evaluated on benchmarks) as a list of jobs, each a
 * command line of cada itself (or mpirun running cada).
 *
 * The configuration (experiments/NAME.ini; INI, sections below; unknown keys are errors
 * naming file:line):
 *   [experiment]   name, out_dir, train_config (the cada train configuration every
 *                  method starts from), seeds (comma list of integers, each one training
 *                  and evaluation run per method), methods, attacks (none|template|pap|
 *                  pair), benchmarks (the [benchmark.NAME] sections used, in table order),
 *                  ranks (mpirun -np of each training), launcher (the training's launcher
 *                  command, "{ranks}" replaced; split at spaces), eval_args / build_args /
 *                  train_args (extra arguments of every cada eval / build-data / train,
 *                  split at spaces; a long one continues on indented lines: each adds
 *                  to it)
 *   [method.NAME]  base = true (no training: the model as it is), data = dr|rule|cr|dpo-cr
 *                  (a `cada build-data --method` set the method trains on; none: CADA's
 *                  own rollouts), algorithm (learn.algorithm), train_args, build_args
 *   [benchmark.NAME] set ([FORMAT:]FILE, cada eval's --set), kind = harmful (ASR; the
 *                  attacks apply) | benign (non-refusal rate: over-refusal; evaluated
 *                  without attack). How many prompts: experiment.eval_args = --limit N.
 *
 * Jobs, per seed s and method m (OUT = out_dir):
 *   data   cada build-data -c TRAIN --method D --out OUT/data/m-sS.jsonl --set run.seed=S
 *   train  LAUNCHER cada train -c TRAIN --set run.seed=S --set run.out_dir=OUT/runs/m-sS
 *          --set learn.algorithm=A ARGS [--set data.train_set=the data job's file]
 *   eval   cada eval -c TRAIN --model MODEL --seed S --out OUT/eval/m-sS/ATTACK
 *          --set eval.attack=ATTACK --set SET... ; MODEL: the last checkpoint of the
 *          train job (base: model.path of the train configuration); attack none
 *          evaluates every benchmark, the others the harmful ones only.
 * A job is done when OUT/jobs/NAME.done exists (written after it exits 0): a second
 * run of the same configuration skips what is done, so an interrupted experiment goes
 * on where it stopped (a training job interrupted midway starts again). */
#ifndef CADA_EXP_EXPERIMENT_H
#define CADA_EXP_EXPERIMENT_H

#include "base/error.h"

#define CADA_EXP_MAX_SEEDS 16
#define CADA_EXP_MAX_METHODS 16
#define CADA_EXP_MAX_ATTACKS 4
#define CADA_EXP_MAX_BENCH 16
#define CADA_EXP_STR 1024

typedef enum { CADA_BENCH_HARMFUL = 0, CADA_BENCH_BENIGN } cada_bench_kind;

typedef struct {
    char name[64];
    char set[CADA_EXP_STR];
    cada_bench_kind kind;
    int seen;                 /* its section was read */
} cada_exp_benchmark;

typedef struct {
    char name[64];
    int base;                 /* no training */
    char data[16];            /* build-data method, "" = none */
    char algorithm[16];       /* learn.algorithm ("" = the train configuration's) */
    char train_args[CADA_EXP_STR];
    char build_args[CADA_EXP_STR];
    int defined;              /* a [method.NAME] section was read */
} cada_exp_method;

typedef struct {
    char path[CADA_EXP_STR];  /* the file it was read from */
    char name[128];
    char out_dir[CADA_EXP_STR];
    char train_config[CADA_EXP_STR];
    long long seeds[CADA_EXP_MAX_SEEDS];
    int n_seeds;
    cada_exp_method methods[CADA_EXP_MAX_METHODS]; /* the ones experiment.methods lists, in its order */
    int n_methods;
    cada_exp_method method_defs[CADA_EXP_MAX_METHODS]; /* every [method.NAME] of the file */
    int n_method_defs;
    char attacks[CADA_EXP_MAX_ATTACKS][16];
    int n_attacks;
    cada_exp_benchmark bench[CADA_EXP_MAX_BENCH]; /* experiment.benchmarks, in order */
    int n_bench;
    cada_exp_benchmark bench_defs[CADA_EXP_MAX_BENCH]; /* every [benchmark.NAME] */
    int n_bench_defs;
    int ranks;
    char launcher[CADA_EXP_STR];
    char eval_args[CADA_EXP_STR], build_args[CADA_EXP_STR], train_args[CADA_EXP_STR];
} cada_experiment;

/* Reads and checks an experiment file (every listed method and benchmark has its
 * section, names are [A-Za-z0-9_.-], attacks are known, at least one seed, method and
 * benchmark). Errors name the file, line or key. */
cada_status cada_experiment_load(const char *path, cada_experiment *x);
/* Applies one "key=value" or "section.key=value" override (command line --set) after
 * loading: experiment.seeds=1, experiment.methods=base,cada, ... */
cada_status cada_experiment_set(cada_experiment *x, const char *assignment);
/* Checks the lists once the overrides are applied. */
cada_status cada_experiment_check(const cada_experiment *x);

typedef enum { CADA_JOB_DATA = 0, CADA_JOB_TRAIN, CADA_JOB_EVAL } cada_job_kind;

#define CADA_JOB_MAX_ARGS 160

typedef struct {
    cada_job_kind kind;
    char name[160];          /* unique: data-m-sS, train-m-sS, eval-m-sS-attack */
    int method, seed, attack; /* indices into the experiment's lists */
    char out[CADA_EXP_STR];  /* the file or folder the job writes */
    char *argv[CADA_JOB_MAX_ARGS]; /* NULL-terminated; argv[0] "cada" stands for this binary */
    int argc;
    int model_from_train;    /* eval: --model is the train job's last checkpoint, found when it runs */
} cada_job;

typedef struct {
    cada_job *jobs;
    int n, cap;
} cada_exp_plan;

/* Every job of the grid in the order they run (per seed, per method: data, train, then
 * each attack's eval). cada_bin: the path of the cada binary. */
cada_status cada_experiment_plan(const cada_experiment *x, const char *cada_bin, cada_exp_plan *plan);
void cada_exp_plan_free(cada_exp_plan *plan);

/* OUT/runs/m-sS: the train job's run folder; OUT/eval/m-sS/ATTACK: an eval's. */
void cada_exp_run_dir(const cada_experiment *x, int method, int seed, char *out, size_t cap);
void cada_exp_eval_dir(const cada_experiment *x, int method, int seed, int attack, char *out, size_t cap);

#endif
