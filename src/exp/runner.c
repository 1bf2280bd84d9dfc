/* exp/runner.c: see runner.h. */
#define _GNU_SOURCE
#include "exp/runner.h"

#include "base/fs.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

cada_status cada_exp_last_checkpoint(const char *run_dir, char *out, size_t cap) {
    DIR *d = opendir(run_dir);
    if (!d) return CADA_ERR(CADA_ERR_IO, "%s: cannot open the run folder: %s", run_dir, strerror(errno));
    long best = -1;
    for (struct dirent *e; (e = readdir(d));) {
        char *end = NULL;
        if (strncmp(e->d_name, "checkpoint-", 11)) continue;
        long n = strtol(e->d_name + 11, &end, 10);
        if (end == e->d_name + 11 || *end || n < 0) continue;
        if (n > best) best = n;
    }
    closedir(d);
    if (best < 0) return CADA_ERR(CADA_ERR_IO, "%s: no checkpoint-N folder (did the training finish?)", run_dir);
    if ((size_t)snprintf(out, cap, "%s/checkpoint-%ld", run_dir, best) >= cap)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: the checkpoint path is too long", run_dir);
    return CADA_OK;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static cada_status touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "done\n");
    if (fclose(f) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    return CADA_OK;
}

/* Prints the last `lines` lines of a log to stderr (why a job failed, without opening
 * the file). */
static void print_tail(const char *path, int lines) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *ring[64] = {0};
    if (lines > 64) lines = 64;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        free(ring[n % lines]);
        ring[n % lines] = strdup(line);
        n++;
    }
    free(line);
    fclose(f);
    for (int i = n > lines ? n - lines : 0; i < n; i++) {
        fprintf(stderr, "    | %s", ring[i % lines] ? ring[i % lines] : "\n");
    }
    for (int i = 0; i < lines; i++) free(ring[i]);
}

static void print_argv(FILE *f, char *const *argv) {
    for (int i = 0; argv[i]; i++) fprintf(f, "%s%s", i ? " " : "", argv[i]);
    fputc('\n', f);
}

/* Runs argv with stdout and stderr appended to log; *rc: its exit status (128 + signal
 * when a signal ended it). */
static cada_status spawn_wait(char *const *argv, const char *log, int *rc) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot open the log: %s", log, strerror(errno));
    FILE *lf = fdopen(dup(fd), "a");
    if (lf) {
        fprintf(lf, "$ ");
        print_argv(lf, argv);
        fclose(lf);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    posix_spawn_file_actions_addclose(&fa, fd);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    if (err) return CADA_ERR(CADA_ERR_IO, "cannot start %s: %s", argv[0], strerror(err));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return CADA_ERR(CADA_ERR_IO, "waiting for %s: %s", argv[0], strerror(errno));
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    return CADA_OK;
}

/* A job waits for the ones it needs: the train job of its method and seed (an eval of a
 * trained method), the data job (a training on built data). */
static int blocked(const cada_exp_plan *p, const cada_job *j, const unsigned char *failed) {
    for (int i = 0; i < p->n; i++) {
        const cada_job *o = &p->jobs[i];
        if (!failed[i] || o == j || o->method != j->method || o->seed != j->seed) continue;
        if (o->kind == CADA_JOB_DATA && j->kind != CADA_JOB_DATA) return 1;
        if (o->kind == CADA_JOB_TRAIN && j->kind == CADA_JOB_EVAL) return 1;
    }
    return 0;
}

/* Before a training starts: a folder left by an earlier, unfinished try moves aside. */
static cada_status clear_run_dir(const char *dir) {
    if (!exists(dir)) return CADA_OK;
    char aside[CADA_EXP_STR + 16];
    snprintf(aside, sizeof aside, "%s.partial", dir);
    CADA_TRY(cada_rm_rf(aside));
    if (rename(dir, aside) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot move it to %s: %s", dir, aside, strerror(errno));
    CADA_WARN("%s was left by an unfinished training: moved to %s, training again", dir, aside);
    return CADA_OK;
}

static cada_status run_job(const cada_experiment *x, cada_job *j, const char *marker, const char *log, int *rc) {
    if (j->kind == CADA_JOB_TRAIN) CADA_TRY(clear_run_dir(j->out));
    if (j->kind == CADA_JOB_DATA) {
        char dir[CADA_EXP_STR];
        snprintf(dir, sizeof dir, "%s", j->out);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            CADA_TRY(cada_mkdir_p(dir));
        }
    }
    if (j->model_from_train) {
        char run_dir[CADA_EXP_STR], ckpt[CADA_EXP_STR + 32];
        cada_exp_run_dir(x, j->method, j->seed, run_dir, sizeof run_dir);
        CADA_TRY(cada_exp_last_checkpoint(run_dir, ckpt, sizeof ckpt));
        free(j->argv[j->argc - 1]);
        j->argv[j->argc - 1] = strdup(ckpt);
        if (!j->argv[j->argc - 1]) return CADA_ERR(CADA_ERR_NOMEM, "job %s", j->name);
    }
    CADA_TRY(spawn_wait(j->argv, log, rc));
    if (*rc == 0) CADA_TRY(touch(marker));
    return CADA_OK;
}

cada_status cada_exp_run(const cada_experiment *x, cada_exp_plan *p, const cada_exp_run_options *o, cada_exp_run_summary *sum) {
    memset(sum, 0, sizeof *sum);
    char jobs_dir[CADA_EXP_STR + 16], logs_dir[CADA_EXP_STR + 16];
    snprintf(jobs_dir, sizeof jobs_dir, "%s/jobs", x->out_dir);
    snprintf(logs_dir, sizeof logs_dir, "%s/logs", x->out_dir);
    if (!o->dry_run) {
        CADA_TRY(cada_mkdir_p(jobs_dir));
        CADA_TRY(cada_mkdir_p(logs_dir));
    }
    unsigned char *failed = calloc((size_t)p->n + 1, 1);
    if (!failed) return CADA_ERR(CADA_ERR_NOMEM, "the plan");
    double t0 = cada_now();
    cada_status st = CADA_OK;
    for (int i = 0; i < p->n && st == CADA_OK; i++) {
        cada_job *j = &p->jobs[i];
        char marker[CADA_EXP_STR + 200], log[CADA_EXP_STR + 200];
        snprintf(marker, sizeof marker, "%s/%s.done", jobs_dir, j->name);
        snprintf(log, sizeof log, "%s/%s.log", logs_dir, j->name);
        if (o->dry_run) {
            printf("%-28s ", j->name);
            print_argv(stdout, j->argv);
            continue;
        }
        if (exists(marker)) {
            sum->skipped_done++;
            CADA_INFO("[%d/%d] %s: done before, skipped", i + 1, p->n, j->name);
            continue;
        }
        if (blocked(p, j, failed)) {
            failed[i] = 1;
            sum->skipped_blocked++;
            CADA_WARN("[%d/%d] %s: skipped, a job it needs failed", i + 1, p->n, j->name);
            continue;
        }
        CADA_INFO("[%d/%d] %s: running (log %s)", i + 1, p->n, j->name, log);
        double t = cada_now();
        int rc = 0;
        st = run_job(x, j, marker, log, &rc);
        if (st != CADA_OK) {
            cada_error_wrap("%s", j->name);
            if (!o->keep_going) break;
            CADA_WARN("%s", cada_error_message());
            st = CADA_OK;
            rc = 1;
        }
        if (rc == 0) {
            sum->ran++;
            CADA_INFO("[%d/%d] %s: done in %.0fs", i + 1, p->n, j->name, cada_now() - t);
            continue;
        }
        failed[i] = 1;
        sum->failed++;
        fprintf(stderr, "cada experiment: job %s exited %d; the end of %s:\n", j->name, rc, log);
        print_tail(log, 12);
        if (!o->keep_going) st = CADA_ERR(CADA_ERR_IO, "job %s failed (exit %d): see %s", j->name, rc, log);
    }
    sum->seconds = cada_now() - t0;
    free(failed);
    return st;
}
