/* sched/tb_events.c: see tb_events.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/tb_events.h"

#include "base/crc32c.h"
#include "base/fs.h"
#include "tensorboard.pb-c.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cada_tb_writer {
    FILE *f;
    char path[2048];
};

const char *cada_tb_path(const cada_tb_writer *w) { return w->path; }

double cada_tb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* One TFRecord around the packed event, then a flush. */
static cada_status write_event(cada_tb_writer *w, const Tensorflow__Event *e) {
    size_t n = tensorflow__event__get_packed_size(e);
    uint8_t *rec = CADA_MALLOC(n + 16, "tensorboard event record");
    if (!rec) return CADA_ERR_NOMEM;
    put_le(rec, n, 8);
    put_le(rec + 8, cada_crc32c_mask(cada_crc32c(0, rec, 8)), 4);
    tensorflow__event__pack(e, rec + 12);
    put_le(rec + 12 + n, cada_crc32c_mask(cada_crc32c(0, rec + 12, n)), 4);
    size_t wrote = fwrite(rec, 1, n + 16, w->f);
    free(rec);
    if (wrote != n + 16 || fflush(w->f) != 0)
        return CADA_ERR(CADA_ERR_IO, "%s: cannot write an event: %s", w->path, strerror(errno));
    return CADA_OK;
}

static void sanitize(char *s) {
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            *s = '_';
}

cada_status cada_tb_open(cada_tb_writer **out, const char *dir, const char *run_name) {
    *out = NULL;
    CADA_TRY(cada_mkdir_p(dir));
    char host[256] = "localhost", suffix[300] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    sanitize(host);
    if (run_name && run_name[0]) {
        snprintf(suffix, sizeof suffix, ".%s", run_name);
        sanitize(suffix + 1);
    }
    cada_tb_writer *w = CADA_CALLOC(1, sizeof *w, "tensorboard writer");
    if (!w) return CADA_ERR_NOMEM;
    double now = cada_tb_now();
    if (snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s%s", dir, (long long)now, host, suffix) >=
        (int)sizeof w->path) {
        free(w);
        return CADA_ERR(CADA_ERR_ARG, "tensorboard: folder name '%s' is too long", dir);
    }
    w->f = fopen(w->path, "wbx"); /* never overwrite another writer's file */
    if (!w->f && errno == EEXIST) { /* same second, host and run (a quick restart): the pid tells them apart */
        size_t len = strlen(w->path);
        snprintf(w->path + len, sizeof w->path - len, ".%ld", (long)getpid());
        w->f = fopen(w->path, "wbx");
    }
    if (!w->f) {
        cada_status st = CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        free(w);
        return st;
    }
    Tensorflow__Event e = TENSORFLOW__EVENT__INIT;
    e.wall_time = now;
    e.what_case = TENSORFLOW__EVENT__WHAT_FILE_VERSION;
    e.file_version = "brain.Event:2";
    cada_status st = write_event(w, &e);
    if (st != CADA_OK) {
        fclose(w->f);
        free(w);
        return st;
    }
    *out = w;
    return CADA_OK;
}

cada_status cada_tb_scalars(cada_tb_writer *w, long long step, double wall_time, const char *const *tags,
                            const double *values, int n) {
    if (n < 1) return CADA_ERR(CADA_ERR_ARG, "%s: a summary needs at least one scalar (n = %d)", w->path, n);
    for (int i = 0; i < n; i++)
        if (!tags[i] || !tags[i][0]) return CADA_ERR(CADA_ERR_ARG, "%s: scalar %d has an empty tag", w->path, i);
    Tensorflow__Summary__Value *v = CADA_CALLOC((size_t)n, sizeof *v, "summary values");
    Tensorflow__Summary__Value **vp = CADA_CALLOC((size_t)n, sizeof *vp, "summary values");
    if (!v || !vp) {
        free(v);
        free(vp);
        return CADA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        tensorflow__summary__value__init(&v[i]);
        v[i].tag = (char *)tags[i];
        v[i].value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        v[i].simple_value = (float)values[i];
        vp[i] = &v[i];
    }
    Tensorflow__Summary s = TENSORFLOW__SUMMARY__INIT;
    s.n_value = (size_t)n;
    s.value = vp;
    Tensorflow__Event e = TENSORFLOW__EVENT__INIT;
    e.wall_time = wall_time;
    e.step = step;
    e.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    e.summary = &s;
    cada_status st = write_event(w, &e);
    free(v);
    free(vp);
    return st;
}

cada_status cada_tb_close(cada_tb_writer *w) {
    if (!w) return CADA_OK;
    int rc = fclose(w->f);
    cada_status st = rc == 0 ? CADA_OK : CADA_ERR(CADA_ERR_IO, "%s: close failed: %s", w->path, strerror(errno));
    free(w);
    return st;
}

/* ---- reading ----------------------------------------------------------------------- */

void cada_tb_events_free(cada_tb_event *ev, int n) {
    if (!ev) return;
    for (int i = 0; i < n; i++) {
        free(ev[i].file_version);
        for (int k = 0; k < ev[i].n; k++) free(ev[i].tags[k]);
        free(ev[i].tags);
        free(ev[i].values);
    }
    free(ev);
}

/* Copies an unpacked Event into *out (which owns its strings). */
static cada_status take_event(const Tensorflow__Event *e, cada_tb_event *out, const char *path, int index, long offset) {
    memset(out, 0, sizeof *out);
    out->step = e->step;
    out->wall_time = e->wall_time;
    if (e->what_case == TENSORFLOW__EVENT__WHAT_FILE_VERSION) {
        out->file_version = strdup(e->file_version ? e->file_version : "");
        return out->file_version ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "event file version");
    }
    if (e->what_case != TENSORFLOW__EVENT__WHAT_SUMMARY || !e->summary) return CADA_OK; /* other kinds carry no scalars */
    size_t n = e->summary->n_value;
    out->tags = CADA_CALLOC(n ? n : 1, sizeof *out->tags, "event tags");
    out->values = CADA_CALLOC(n ? n : 1, sizeof *out->values, "event values");
    if (!out->tags || !out->values) return CADA_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        const Tensorflow__Summary__Value *v = e->summary->value[k];
        if (v->value_case != TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): summary value '%s' is not a simple_value", path, index,
                            offset, v->tag ? v->tag : "");
        out->tags[k] = strdup(v->tag ? v->tag : "");
        if (!out->tags[k]) return CADA_ERR(CADA_ERR_NOMEM, "event tag");
        out->values[k] = v->simple_value;
        out->n = (int)k + 1;
    }
    return CADA_OK;
}

static cada_status read_records(FILE *f, const char *path, cada_tb_event **events, int *n_events, int *cap) {
    uint8_t head[12], foot[4];
    for (int index = 0;; index++) {
        long offset = ftell(f);
        size_t got = fread(head, 1, sizeof head, f);
        if (got == 0 && feof(f)) return CADA_OK;
        if (got != sizeof head)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): truncated header (%zu of 12 bytes)", path, index, offset,
                            got);
        uint64_t len = get_le(head, 8);
        uint32_t want = (uint32_t)get_le(head + 8, 4), have = cada_crc32c_mask(cada_crc32c(0, head, 8));
        if (want != have)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): length CRC mismatch (stored %08x, computed %08x)", path,
                            index, offset, want, have);
        if (len > ((uint64_t)1 << 30))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): length %llu exceeds 1 GiB", path, index, offset,
                            (unsigned long long)len);
        uint8_t *data = CADA_MALLOC(len ? len : 1, "event record");
        if (!data) return CADA_ERR_NOMEM;
        if (fread(data, 1, len, f) != len || fread(foot, 1, 4, f) != 4) {
            free(data);
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): truncated data (%llu bytes announced)", path, index,
                            offset, (unsigned long long)len);
        }
        want = (uint32_t)get_le(foot, 4);
        have = cada_crc32c_mask(cada_crc32c(0, data, len));
        if (want != have) {
            free(data);
            return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): data CRC mismatch (stored %08x, computed %08x)", path,
                            index, offset, want, have);
        }
        Tensorflow__Event *e = tensorflow__event__unpack(NULL, len, data);
        free(data);
        if (!e) return CADA_ERR(CADA_ERR_FORMAT, "%s: record %d (byte %ld): not a tensorflow.Event", path, index, offset);
        if (*n_events == *cap) {
            int grown_cap = *cap ? 2 * *cap : 16;
            cada_tb_event *grown = realloc(*events, sizeof *grown * (size_t)grown_cap);
            if (!grown) {
                tensorflow__event__free_unpacked(e, NULL);
                return CADA_ERR(CADA_ERR_NOMEM, "%s: events", path);
            }
            *events = grown;
            *cap = grown_cap;
        }
        cada_status st = take_event(e, &(*events)[*n_events], path, index, offset);
        (*n_events)++; /* counted even when partial, so the caller's free releases it */
        tensorflow__event__free_unpacked(e, NULL);
        if (st != CADA_OK) return st;
    }
}

cada_status cada_tb_read(const char *path, cada_tb_event **events, int *n_events) {
    *events = NULL;
    *n_events = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int cap = 0;
    cada_status st = read_records(f, path, events, n_events, &cap);
    fclose(f);
    if (st != CADA_OK) {
        cada_tb_events_free(*events, *n_events);
        *events = NULL;
        *n_events = 0;
    }
    return st;
}
