/* sched/tb_events.h: TensorBoard event files, written (and read back) without
 * TensorFlow, so `tensorboard --logdir <out_dir>/tb` charts a run as it trains.
 *
 * File: <dir>/events.out.tfevents.<unix time>.<hostname>[.<run name>], a sequence of
 * TFRecords, each
 *     uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes |
 *     length bytes of data          | uint32 masked CRC-32C of the data
 * (masking: base/crc32c.h). Each record's data is a tensorflow.Event protobuf
 * (proto/tensorboard.proto, TensorFlow's field numbers); the first carries
 * file_version "brain.Event:2", every later one a Summary of scalar simple_values
 * at one step.
 *
 * The writer flushes after each call, so a crashed run keeps every step written
 * before the crash. The reader checks both CRCs of every record and unpacks the Event:
 * it is cada's own check of what the writer produced (tests/unit/test_tb.c), and
 * tests/ref/check_tb_events.py checks the same files with TensorBoard's reader. */
#ifndef CADA_SCHED_TB_EVENTS_H
#define CADA_SCHED_TB_EVENTS_H

#include "base/error.h"

typedef struct cada_tb_writer cada_tb_writer;

/* Creates dir (and parents) and a new event file in it, and writes the file_version
 * record. run_name (may be NULL or "") becomes the file name's suffix, characters
 * other than [A-Za-z0-9._-] replaced by '_'. An existing file is never overwritten:
 * when the name is taken (a restart within the same second), ".<pid>" is appended.
 * *w is NULL on failure. */
cada_status cada_tb_open(cada_tb_writer **w, const char *dir, const char *run_name);

/* One Event at `step` (wall_time: seconds since the epoch) holding n scalars
 * tags[i] = values[i] (stored as float: TensorBoard's simple_value). Non-finite values
 * are written as they are (TensorBoard shows NaN and inf). Errors: n < 1, an empty or
 * NULL tag (names its index), a failed write (names the file). */
cada_status cada_tb_scalars(cada_tb_writer *w, long long step, double wall_time, const char *const *tags,
                            const double *values, int n);

/* Seconds since the Unix epoch (CLOCK_REALTIME), the wall_time TensorBoard expects. */
double cada_tb_now(void);

/* The file being written. */
const char *cada_tb_path(const cada_tb_writer *w);

/* Closes the file and frees w (NULL is fine). Errors: the final close failed. */
cada_status cada_tb_close(cada_tb_writer *w);

/* ---- reading ----------------------------------------------------------------------- */

typedef struct {
    long long step;
    double wall_time;
    char *file_version; /* non-NULL for a file_version event */
    int n;              /* scalars of a summary event */
    char **tags;        /* (n) */
    float *values;      /* (n) */
} cada_tb_event;

/* Reads every record of an event file. Errors name the path, the record's index and
 * its byte offset: a truncated record, a length or data CRC mismatch, an Event that
 * does not unpack, a summary value that is not a simple_value. The caller frees the
 * events with cada_tb_events_free. */
cada_status cada_tb_read(const char *path, cada_tb_event **events, int *n_events);
void cada_tb_events_free(cada_tb_event *events, int n_events);

#endif
