/* sched/train.c: `cada train`, the command: its arguments, the checks done before any
 * rank starts (configuration, resume), MPI start-up, and the failure report. The work is
 * the trainer (trainer.h: set-up and the stages) run by a placement (placement.h). */
#define _POSIX_C_SOURCE 200809L
#include "sched/train.h"

#include "base/log.h"
#include "cli/cli.h"
#include "sched/checkpoint.h"
#include "sched/config.h"
#include "sched/config_modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CADA_HAVE_MPI
#include "sched/lifecycle.h"
#include "sched/placement.h"

#include <mpi.h>

/* --check: the configuration loaded and validated; print the layout a launcher must
 * provide (deploy/ reads the "resolved:" line) and start nothing (no MPI, no model). */
static cada_status refuse_tensor_parallel(const cada_run_config *c);

static int check_only(const cada_run_config *c) {
    int colocated = !strcmp(c->placement, "colocated");
    int ranks = colocated ? c->learner_ranks : c->learner_ranks + c->rollout_ranks + c->reward_ranks;
    printf("configuration valid\n");
    printf("layout: %d ranks, %s (learners %d, rollout %d, reward %d), ZeRO stage %d, ", ranks, c->placement, c->learner_ranks,
           c->rollout_ranks, c->reward_ranks, c->zero);
    if (c->threads_per_rank) printf("%d OpenMP threads per rank\n", c->threads_per_rank);
    else printf("OpenMP threads per rank = cores / ranks on each machine\n");
    printf("model: %s%s\n", c->model_path, access(c->model_path, R_OK) ? " (not present on this machine)" : "");
    if (c->learn_tp > 1 || c->rollout_tp > 1 || c->reward_tp > 1)
        printf("tensor parallelism: learners in groups of %d, rollout engines of %d, reward groups of %d, inside nodes of %d "
               "GPUs (cada plan sizes it; cada train runs learner, rollout and reward groups on the CPU%s)\n",
               c->learn_tp, c->rollout_tp, c->reward_tp, c->gpus_per_node,
               refuse_tensor_parallel(c) == CADA_OK ? "" : ", and refuses this layout when it starts");
    printf("resolved: ranks=%d placement=%s learner_ranks=%d rollout_ranks=%d reward_ranks=%d threads_per_rank=%d "
           "gpus_per_node=%d learn_tp=%d rollout_tp=%d reward_tp=%d out_dir=%s\n",
           ranks, c->placement, c->learner_ranks, c->rollout_ranks, c->reward_ranks, c->threads_per_rank, c->gpus_per_node,
           c->learn_tp, c->rollout_tp, c->reward_tp, c->out_dir);
    return 0;
}

/* THE one place that refuses the tensor parallelism `cada train` does not run yet: all of
 * it is planned (cada plan, model/memplan.h) and validated (sched/tp_layout.h); the
 * trainer runs learner groups of learn.tp ranks (ZeRO over their data-parallel peers)
 * and rollout engines of rollout.tp ranks in the disaggregated placement on the CPU
 * (sched/disagg.h), the weight sync resharded between them (sched/reshard.h: one tp a
 * multiple of the other), and reward groups of reward.tp ranks holding the frozen
 * reference; colocated, the learner's TP groups roll out and hold the reference with
 * their own split (sched/placement.h). The GPU (NCCL) groups are not built. Narrow this
 * function as they are. */
static cada_status refuse_tensor_parallel(const cada_run_config *c) {
    const char *key = c->learn_tp > 1 ? "learn.tp" : c->rollout_tp > 1 ? "rollout.tp" : c->reward_tp > 1 ? "reward.tp" : NULL;
    const int tp = c->learn_tp > 1 ? c->learn_tp : c->rollout_tp > 1 ? c->rollout_tp : c->reward_tp;
    if (key && strcmp(c->device, "cpu"))
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "%s = %d runs with cluster.device = cpu only (have %s): GPU groups over NCCL are not built yet", key,
                        tp, c->device);
    if (!strcmp(c->placement, "colocated")) return CADA_OK; /* config.c: rollout.tp = reward.tp = learn.tp there */
    const int has_reference = !strcmp(c->algorithm, "dpo") || (c->kl_coef > 0 && !cada_config_offline(c));
    if (c->reward_tp > 1 && (!has_reference || c->reward_ranks == 0))
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "reward.tp = %d splits the frozen reference model over reward ranks, but this run has %s: set reward.tp "
                        "to 1 (the LLM judge is not split)",
                        c->reward_tp, c->reward_ranks == 0 ? "no reward ranks (cluster.reward_ranks = 0)" : "no reference (learn.kl_coef = 0)");
    if (c->rollout_tp % c->learn_tp && c->learn_tp % c->rollout_tp)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "rollout.tp = %d and learn.tp = %d: the resharded weight sync needs one to be a multiple of the "
                        "other (a rollout rank's slice cut from one learner part, or put together from whole ones; "
                        "sched/reshard.h)",
                        c->rollout_tp, c->learn_tp);
    return CADA_OK;
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
        for (int i = 0; n == 0 && i < t->watch.n_missing && i < 8; i++) missing[n++] = t->watch.missing[i];
        if (n == 0 && t->watch.peer >= 0) missing[n++] = t->watch.peer;
    }
    size_t at = 0;
    for (int i = 0; i < n && i < 8 && at < sizeof who; i++)
        at += (size_t)snprintf(who + at, sizeof who - at, "%s rank %d (%s)", i ? "," : "; stopped answering:", missing[i],
                               trainer_role_name(t, missing[i]));
    char resume[2600] = "none";
    if (t->last_ckpt[0]) snprintf(resume, sizeof resume, "%s (continue with --resume %s)", t->last_ckpt, t->last_ckpt);
    char where[160];
    if (t->watch.at_step > 0) snprintf(where, sizeof where, "in the %s phase of step %lld", t->watch.phase, t->watch.at_step);
    else snprintf(where, sizeof where, "during %s", t->watch.phase ? t->watch.phase : "set-up");
    CADA_FATAL("train: rank %d (%s) failed %s: %s%s; last complete checkpoint: %s", t->rank, trainer_role_name(t, t->rank), where,
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
        if (st == CADA_OK && !strcmp(resume_arg, "latest")) st = cada_checkpoint_latest(t->cfg.out_dir, t->resume, sizeof t->resume);
        else if (st == CADA_OK) {
            snprintf(t->resume, sizeof t->resume, "%s", resume_arg);
            for (size_t n = strlen(t->resume); n > 1 && t->resume[n - 1] == '/'; n--) t->resume[n - 1] = 0;
        }
        snprintf(ini, sizeof ini, "%s/config.ini", t->resume);
        if (st == CADA_OK) st = cada_checkpoint_verify(t->resume, 0, 1, 0); /* before reading anything of it */
        if (st == CADA_OK) {
            cada_config_defaults(saved);
            st = cada_config_load(saved, ini);
        }
        if (st == CADA_OK && !have_config) { /* the checkpoint's configuration, then the --set overrides */
            t->cfg = *saved;
            for (int i = 0; i + 1 < argc && st == CADA_OK; i++)
                if (!strcmp(argv[i], "--set")) st = cada_config_set(&t->cfg, argv[++i]);
        }
        if (st == CADA_OK) st = cada_run_state_read(t->resume, &t->rs);
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
    if (cada_config_validate_run(&t->cfg) != CADA_OK || cada_config_check_tp_shape(&t->cfg, NULL, NULL) != CADA_OK) {
        free(t);
        return cada_cli_fail("train");
    }
    if (check) {
        int rc = check_only(&t->cfg);
        free(t);
        return rc;
    }
    if (refuse_tensor_parallel(&t->cfg) != CADA_OK) {
        free(t);
        return cada_cli_fail("train");
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
    trainer_install_signals();
    if (t->rank == 0) {
        fprintf(stderr, "== cada train: resolved configuration\n");
        if (show) cada_config_write(&t->cfg, stderr);
        else fprintf(stderr, "(--print-config shows every key; it is saved as config.ini in each checkpoint)\n");
    }
    cada_status st = trainer_setup(t);
    if (st == CADA_OK) st = trainer_begin(t);
    if (st == CADA_OK) st = t->roles.disaggregated ? cada_disagg_run(t) : cada_colocated_run(t);
    if (st != CADA_OK) fail(t, st); /* aborts every rank */
    trainer_teardown(t);
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
