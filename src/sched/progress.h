/* sched/progress.h: progress inside a long phase of a training step.
 *
 * A phase on a big model takes minutes (thousands of sequences to generate, hundreds of
 * micro-batches to learn); the step line only comes at its end. A cada_progress shows
 * how far one rank's share of a phase is, in units (sequences, micro-batches) and
 * tokens, with the rate and an estimate of the time left:
 *     rollout (rank 2): 12/32 sequences, 3456 tokens, 19.3 tok/s, ETA 1m52s
 *     learn (rank 0): 3/8 micro-batches, 6144 tokens, 104.0 tok/s, ETA 42s
 * When stderr is a terminal the line is redrawn in place, at most 5 times a second, and
 * cleared at the end of the phase. Otherwise (logs, batch jobs, and every rank under
 * mpirun, whose stderr is a pipe; its stdout is a pseudo-terminal even when mpirun's own
 * output goes to a file, so it says nothing) it is a log line on stderr at most every
 * `every_s` seconds, none for a phase shorter than that. One rank per group shows
 * it (the trainer decides which): the others' shares run at the same pace.
 *
 * The ETA of a generation phase cannot know where sequences will end; the caller gives
 * an estimate of the phase's total tokens (rollout_stage.c: finished sequences at their
 * length, running ones at the mean finished length once a quarter has finished, else at
 * max_new_tokens). */
#ifndef CADA_SCHED_PROGRESS_H
#define CADA_SCHED_PROGRESS_H

typedef struct {
    int enabled;          /* 0: every call is a no-op */
    int tty;              /* stderr is a terminal: redraw one line, else log lines */
    double every_s;       /* log mode: seconds between lines */
    char label[64];       /* "rollout (rank 2)" */
    const char *unit;     /* "sequences" */
    long long total;      /* units in the phase */
    double t0, last;      /* phase start, last line printed */
    int drawn;            /* tty: a line is on screen */
} cada_progress;

/* every_s <= 0 turns progress off. */
void cada_progress_init(cada_progress *p, double every_s);
void cada_progress_begin(cada_progress *p, const char *label, const char *unit, long long total);
/* done of total units, tokens so far, tokens_estimate: the phase's expected total tokens
 * (<= 0: unknown, the ETA comes from units). Cheap: prints only when due. */
void cada_progress_update(cada_progress *p, long long done, double tokens, double tokens_estimate);
/* Clears a drawn line (tty); log mode prints nothing more (the step line follows). */
void cada_progress_end(cada_progress *p);

#endif
