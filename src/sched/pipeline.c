/* sched/pipeline.c: see pipeline.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/pipeline.h"

#include "sched/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cada_ahead_clear(cada_ahead *a) {
    seqs_free(a->seqs, a->n);
    memset(a, 0, sizeof *a);
}

static Cada__Metric *metric(Cada__Metric *m, const char *name, double v) {
    cada__metric__init(m);
    m->name = (char *)name;
    m->value = v;
    return m;
}

cada_status cada_pipeline_save(const cada_ahead *a, long long step, const char *dir) {
    char path[1400];
    snprintf(path, sizeof path, "%s/pipeline.bin", dir);
    if (a->seqs && a->step != step)
        return CADA_ERR(CADA_ERR_INTERNAL, "%s: the batch held is for step %lld, the checkpoint is at step %lld", path, a->step + 1, step);
    seq_reward_msg rm;
    CADA_TRY(seq_reward_msg_init(&rm, a->seqs, a->seqs ? a->n : 0, step));
    Cada__Metric m[4], *mp[4] = {metric(&m[0], "generate_s", a->generate_s), metric(&m[1], "reward_s", a->reward_s),
                                 metric(&m[2], "reference_s", a->reference_s), metric(&m[3], "collect_s", a->collect_s)};
    rm.batch.n_metrics = 4;
    rm.batch.metrics = mp;
    Cada__Envelope env = CADA__ENVELOPE__INIT;
    env.body_case = CADA__ENVELOPE__BODY_REWARDS;
    env.rewards = &rm.batch;
    cada_wire_options o = cada_wire_defaults();
    uint8_t *frame = NULL;
    size_t len = 0;
    cada_status st = cada_wire_encode(&env, &o, &frame, &len);
    seq_reward_msg_free(&rm);
    if (st != CADA_OK) return st;
    FILE *f = fopen(path, "wb");
    if (!f) st = CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    else if (fwrite(frame, 1, len, f) != len) st = CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && st == CADA_OK) st = CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    free(frame);
    return st;
}

static double metric_of(const Cada__RewardBatch *b, const char *name) {
    for (size_t i = 0; i < b->n_metrics; i++)
        if (b->metrics[i]->name && !strcmp(b->metrics[i]->name, name)) return b->metrics[i]->value;
    return 0;
}

/* The whole file (at most cap bytes: a pipeline.bin is one step's samples). */
static cada_status read_all(const char *path, size_t cap, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s (an async run's checkpoint holds its batch ahead there)", path, strerror(errno));
    cada_status st = CADA_OK;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || (size_t)size > cap) st = CADA_ERR(CADA_ERR_FORMAT, "%s: size %ld out of range", path, size);
    *buf = st == CADA_OK ? malloc((size_t)size + 1) : NULL;
    if (st == CADA_OK && !*buf) st = CADA_ERR(CADA_ERR_NOMEM, "%s", path);
    if (st == CADA_OK && (fseek(f, 0, SEEK_SET) != 0 || fread(*buf, 1, (size_t)size, f) != (size_t)size))
        st = CADA_ERR(CADA_ERR_IO, "%s: read failed", path);
    fclose(f);
    if (st != CADA_OK) {
        free(*buf);
        *buf = NULL;
        return st;
    }
    *len = (size_t)size;
    return CADA_OK;
}

cada_status cada_pipeline_load(const char *dir, long long step, const seq_limits *lim, int samples_per_prompt, cada_ahead *a) {
    char path[1400];
    snprintf(path, sizeof path, "%s/pipeline.bin", dir);
    memset(a, 0, sizeof *a);
    cada_wire_options o = cada_wire_defaults();
    uint8_t *buf = NULL;
    size_t len = 0;
    CADA_TRY(read_all(path, o.max_message + CADA_WIRE_HEADER_BYTES, &buf, &len));
    Cada__Envelope *env = NULL;
    cada_status st = cada_wire_decode(buf, len, &o, path, &env);
    free(buf);
    if (st != CADA_OK) return st;
    const Cada__RewardBatch *b = env->body_case == CADA__ENVELOPE__BODY_REWARDS ? env->rewards : NULL;
    int want = lim->prompts_per_step * samples_per_prompt, n = b ? (int)b->n_trajectories : 0;
    if (!b) st = CADA_ERR(CADA_ERR_FORMAT, "%s: the frame holds no RewardBatch", path);
    else if (b->step != (uint64_t)step)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: field step = %llu, the checkpoint is at step %lld", path, (unsigned long long)b->step, step);
    else if (b->n_results != b->n_trajectories || (n != 0 && n != want))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: %zu results for %zu trajectories, expected 0 or %d", path, b->n_results, b->n_trajectories, want);
    seq_rec *s = st == CADA_OK && n ? calloc((size_t)n, sizeof *s) : NULL;
    char *got = st == CADA_OK && n ? calloc((size_t)n, 1) : NULL;
    if (n && st == CADA_OK && (!s || !got)) st = CADA_ERR(CADA_ERR_NOMEM, "%s", path);
    int parsed = 0;
    for (int i = 0; i < n && st == CADA_OK; i++, parsed++) {
        seq_rec *q = &s[i];
        st = seq_from_msg(b->trajectories[i], lim, q, 0, i);
        if (st != CADA_OK) {
            cada_error_wrap("%s", path);
            parsed++;
            break;
        }
        seq_apply_reward(q, b->results[i]);
        int slot = q->order * samples_per_prompt + q->sample;
        if (q->sample < 0 || q->sample >= samples_per_prompt || got[slot] || q->version != step - 1 ||
            b->results[i]->prompt_id != (uint64_t)q->item || b->results[i]->sample_index != (uint32_t)q->sample)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: trajectory %d (position %d, sample %d, policy version %lld): out of range, twice, "
                                           "not of version %lld or not matching its result", path, i, q->order, q->sample, q->version, step - 1);
        else got[slot] = 1;
    }
    free(got);
    if (st == CADA_OK && n) {
        seqs_sort(s, n);
        *a = (cada_ahead){s, n, step, metric_of(b, "generate_s"), metric_of(b, "reward_s"), metric_of(b, "reference_s"), metric_of(b, "collect_s")};
    } else seqs_free(s, parsed);
    cada_wire_free(env);
    return st;
}
