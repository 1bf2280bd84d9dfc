/* sched/run_state.c: see run_state.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/run_state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

cada_status cada_run_state_read(const char *ckpt, cada_run_state *rs) {
    char path[1300];
    snprintf(path, sizeof path, "%s/run_state.json", ckpt);
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s (not a complete checkpoint)", path, strerror(errno));
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    buf[n] = 0;
    if (more) return CADA_ERR(CADA_ERR_FORMAT, "%s: larger than %zu bytes: not a run state", path, sizeof buf - 1);
    cJSON *j = cJSON_Parse(buf);
    if (!j) return CADA_ERR(CADA_ERR_FORMAT, "%s: not valid JSON", path);
    struct {
        const char *key;
        int nullable;
        double *out;
    } want[] = {{"format", 0, NULL}, {"step", 0, NULL}, {"learners", 0, NULL}, {"zero", 0, NULL}, {"n_params", 0, NULL},
                {"prompts", 0, NULL}, {"baseline", 0, &rs->baseline}, {"baseline_updates", 0, NULL},
                {"first_reward", 1, &rs->first_reward}, {"first_refusal", 1, &rs->first_refusal}};
    double v[10];
    cada_status st = CADA_OK;
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "placement");
    snprintf(rs->placement, sizeof rs->placement, "%s", cJSON_IsString(pl) ? pl->valuestring : "colocated");
    for (int i = 0; i < 10 && st == CADA_OK; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, want[i].key);
        if (want[i].nullable && cJSON_IsNull(x)) v[i] = NAN;
        else if (cJSON_IsNumber(x)) v[i] = x->valuedouble;
        else st = CADA_ERR(CADA_ERR_FORMAT, "%s: field %s is missing or not a number", path, want[i].key);
        /* the counters: whole numbers a long long (learners, zero: an int) holds exactly */
        if (st == CADA_OK && !want[i].out && !(v[i] >= 0 && v[i] <= (i == 2 || i == 3 ? 2147483647.0 : 9007199254740992.0) &&
                                               v[i] == floor(v[i])))
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: field %s = %g is not a count", path, want[i].key, v[i]);
        if (st == CADA_OK && want[i].out) *want[i].out = v[i];
    }
    cJSON_Delete(j);
    if (st != CADA_OK) return st;
    if (v[0] != 1) return CADA_ERR(CADA_ERR_FORMAT, "%s: field format = %g, this build reads 1", path, v[0]);
    rs->step = (long long)v[1];
    rs->learners = (int)v[2];
    rs->zero = (int)v[3];
    rs->n_params = (long long)v[4];
    rs->prompts = (long long)v[5];
    rs->baseline_updates = (long long)v[7];
    if (rs->step < 1 || rs->learners < 1 || rs->prompts < 1)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: fields step = %lld, learners = %d, prompts = %lld out of range", path, rs->step,
                        rs->learners, rs->prompts);
    return CADA_OK;
}

cada_status cada_checkpoint_latest(const char *out_dir, char *path, size_t cap) {
    DIR *d = opendir(out_dir);
    if (!d) return CADA_ERR(CADA_ERR_IO, "--resume latest: %s (run.out_dir): cannot open: %s", out_dir, strerror(errno));
    long long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long n = -1;
        int used = 0;
        if (sscanf(e->d_name, "checkpoint-%lld%n", &n, &used) != 1 || e->d_name[used] || n <= best) continue;
        char rs[1300];
        snprintf(rs, sizeof rs, "%s/%s/run_state.json", out_dir, e->d_name);
        if (access(rs, R_OK) == 0) best = n;
    }
    closedir(d);
    if (best < 0) return CADA_ERR(CADA_ERR_IO, "--resume latest: no complete checkpoint-N folder in %s (run.out_dir)", out_dir);
    snprintf(path, cap, "%s/checkpoint-%lld", out_dir, best);
    return CADA_OK;
}

