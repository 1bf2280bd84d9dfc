/* sched/checkpoint.c: see checkpoint.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/checkpoint.h"

#include "model/tp_checkpoint.h"

#include "base/fs.h"
#include "base/log.h"
#include "sched/manifest.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cada_status cada_checkpoint_verify(const char *ckpt, int part, int parts, int late) {
    cada_manifest m;
    int found = 0;
    CADA_TRY(cada_manifest_read(ckpt, &m, &found));
    if (!found) {
        if (late && part == 0) CADA_WARN("%s: no manifest.json (a checkpoint written before manifests): its files are not verified", ckpt);
        return CADA_OK;
    }
    cada_status st = late ? cada_manifest_check_hashes(ckpt, &m, CADA_CKPT_HASH_EARLY, UINT64_MAX, part, parts)
                          : cada_manifest_check_files(ckpt, &m);
    if (st == CADA_OK && !late) st = cada_manifest_check_hashes(ckpt, &m, 0, CADA_CKPT_HASH_EARLY, 0, 1);
    cada_manifest_free(&m);
    if (st != CADA_OK) cada_error_wrap("--resume %s", ckpt);
    return st;
}

#ifdef CADA_HAVE_MPI
#include "io/safetensors.h"
#include "sched/trainer.h"
#include "tok/export.h"

/* fclose after writing: a failed write (ENOSPC, EIO) sets the stream's error flag, the
 * buffered rest fails in fclose; either way errno says why. */
static cada_status close_written(FILE *f, const char *path) {
    int bad = ferror(f), err = errno;
    if (fclose(f) != 0 && !bad) bad = 1, err = errno;
    return bad ? CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(err)) : CADA_OK;
}

/* Rank 0's first part: config.json and the shard index of the weights, the tokenizer,
 * config.ini (the learners then write the weights themselves). */
static cada_status checkpoint_prepare(trainer *t, const char *tmp) {
    char path[1400];
    CADA_TRY(cada_rm_rf(tmp)); /* a folder left by a run that died while writing it */
    CADA_TRY(cada_model_save_config(&t->whole_cfg, tmp, CADA_DTYPE_F32));
    CADA_TRY(cada_model_save_index(&t->whole_cfg, tmp, t->roles.learners, CADA_DTYPE_F32));
    cada_source_kind kind;
    if (cada_model_source_kind(t->cfg.model_path, &kind) == CADA_OK && kind == CADA_SOURCE_GGUF) {
        cada_status st = cada_tok_export_gguf(t->cfg.model_path, tmp);
        if (st != CADA_OK && st != CADA_ERR_UNSUPPORTED) return st;
    } else { /* a Hugging Face folder: its tokenizer files travel along */
        char dir[1024];
        cada_model_hf_folder(t->cfg.model_path, dir, sizeof dir);
        const char *names[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};
        for (int i = 0; i < 3; i++) {
            char from[1200];
            snprintf(from, sizeof from, "%s/%s", dir, names[i]);
            snprintf(path, sizeof path, "%s/%s", tmp, names[i]);
            if (access(from, R_OK) == 0) CADA_TRY(cada_copy_file(from, path));
        }
    }
    snprintf(path, sizeof path, "%s/config.ini", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    cada_config_write(&t->cfg, f);
    return close_written(f, path);
}

static void json_double(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, "  \"%s\": %.17g,\n", key, v);
    else fprintf(f, "  \"%s\": null,\n", key);
}

/* manifest.json: the learners' digests (learned) and rank 0's hashes of every other
 * file of the folder (manifest.h). */
static cada_status checkpoint_manifest(const char *tmp, cada_manifest *learned) {
    DIR *d = opendir(tmp);
    if (!d) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", tmp, strerror(errno));
    cada_status st = CADA_OK;
    for (struct dirent *de; st == CADA_OK && (de = readdir(d));)
        if (de->d_name[0] != '.' && strcmp(de->d_name, "manifest.json") && !cada_manifest_has(learned, de->d_name))
            st = cada_manifest_add_file(learned, tmp, de->d_name);
    closedir(d);
    if (st == CADA_OK) st = cada_manifest_write(tmp, learned);
    return st;
}

/* Every file of the folder, then the folder's entries, synced (base/fs.h). The large files
 * were synced as they closed (base/dfile.h), so this syncs the small ones: run_state,
 * manifest, configs, tokenizer. */
static cada_status sync_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    cada_status st = CADA_OK;
    char path[1400];
    for (struct dirent *de; st == CADA_OK && (de = readdir(d));)
        if (de->d_name[0] != '.') {
            st = snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path
                     ? cada_sync_path(path)
                     : CADA_ERR(CADA_ERR_IO, "%s/%s: path too long", dir, de->d_name);
        }
    closedir(d);
    return st == CADA_OK ? cada_sync_path(dir) : st;
}

/* Rank 0's last part: run_state.json, then the rename that makes the folder complete. */
static cada_status checkpoint_finish(trainer *t, const char *tmp, const char *final, long long step, cada_manifest *learned) {
    char path[1400];
    snprintf(path, sizeof path, "%s/run_state.json", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const cada_run_config *c = &t->cfg;
    const cada_baseline *b = cada_learner_baseline(t->learner);
    const cada_adamw *o = cada_learner_optimizer(t->learner);
    long long cursor = step * c->prompts_per_step;
    fprintf(f, "{\n  \"format\": 1,\n  \"step\": %lld,\n  \"policy_version\": %lld,\n  \"placement\": \"%s\",\n  \"learners\": %d,\n  \"zero\": %d,\n",
            step, step, c->placement, t->roles.learners, c->zero);
    fprintf(f, "  \"n_params\": %zu,\n  \"prompts\": %d,\n  \"data_cursor\": %lld,\n  \"epoch\": %lld,\n", t->whole_params,
            t->cursor.data.n, cursor, cursor / t->cursor.data.n);
    fprintf(f, "  \"seed\": %llu,\n  \"rng\": \"stateless: every stream is keyed by (seed, step | epoch | prompt id, sample)\",\n",
            (unsigned long long)c->seed);
    json_double(f, "baseline", b->value);
    fprintf(f, "  \"baseline_updates\": %lld,\n  \"learner_steps\": %lld,\n  \"optimizer_step\": %lld,\n  \"optimizer_skipped\": %lld,\n",
            b->updates, cada_learner_steps(t->learner), o->step, o->skipped);
    cJSON *ref = cJSON_CreateString(c->kl_coef > 0 ? (c->reference_path[0] ? c->reference_path : c->model_path) : "");
    char *ref_json = ref ? cJSON_PrintUnformatted(ref) : NULL; /* a path, quoted and escaped */
    fprintf(f, "  \"kl_coef\": %.9g,\n  \"reference\": %s,\n", (double)c->kl_coef, ref_json ? ref_json : "null");
    cJSON_free(ref_json);
    cJSON_Delete(ref);
    json_double(f, "first_reward", t->first_reward);
    json_double(f, "first_refusal", t->first_refusal);
    fprintf(f, "  \"optimizer_shards\": \"optimizer-rank-R.bin, R = 0..%d\"\n}\n", t->roles.learners - 1);
    CADA_TRY(close_written(f, path));
    CADA_TRY(checkpoint_manifest(tmp, learned));
    CADA_TRY(sync_folder(tmp)); /* every byte and name on the disk before the folder is named complete */
    CADA_TRY(cada_rm_rf(final));   /* the same step written before (a resumed run passing it again) */
    if (rename(tmp, final) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot rename into place: %s", final, strerror(errno));
    return cada_sync_path(t->cfg.out_dir); /* the rename itself */
}

/* A learner's part, written by every learner at the same time: its group of whole
 * tensors in fp32 (the training weights themselves, bit for bit: the CPU learner keeps
 * no other master copy, and GPU learners pulled theirs into t->policy), then its
 * optimizer shard. With learn.tp > 1 each TP group writes its members' files, every
 * tensor made whole over the group as it is written (model/tp_checkpoint.h: the same
 * files, and no rank holds the whole model). */
static cada_status checkpoint_learner_part(trainer *t, const char *tmp, cada_manifest *mine) {
    char name[64], path[1400];
    int r = cada_roles_index(&t->roles, t->rank); /* learner-group rank */
    if (t->learn_tp_comm) { /* the group's files tensor by tensor (TP groups are consecutive learners) */
        CADA_TRY(cada_tp_save_shards(&t->policy, &t->learn_tp, &t->whole_cfg, tmp, r - t->learn_tp.rank, t->roles.learners));
    } else {
        CADA_TRY(cada_model_save_shard(&t->policy, tmp, r, t->roles.learners, CADA_DTYPE_F32));
    }
    snprintf(name, sizeof name, "optimizer-rank-%d.bin", t->rank);
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    CADA_TRY(cada_learner_save_optimizer(t->learner, path));
    /* the digests of what this learner wrote, while the others hash theirs: its
     * weights file is the one numbered r + 1 (none when r >= the file count) */
    CADA_TRY(cada_manifest_add_file(mine, tmp, name));
    DIR *d = opendir(tmp);
    if (!d) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", tmp, strerror(errno));
    cada_status st = CADA_OK;
    for (struct dirent *de; st == CADA_OK && (de = readdir(d));) {
        int k = 0, of = 0, end = 0;
        int one = t->roles.learners == 1 && !strcmp(de->d_name, "model.safetensors");
        if (one || (sscanf(de->d_name, "model-%5d-of-%5d.safetensors%n", &k, &of, &end) == 2 && end > 0 &&
                    de->d_name[end] == 0 && k == r + 1))
            st = cada_manifest_add_file(mine, tmp, de->d_name);
    }
    closedir(d);
    return st;
}

/* Every rank's digests to every rank (rank 0 needs them): each rank's at most two
 * entries, byte for byte in doubles, summed over ranks by the timed all-reduce. */
static cada_status checkpoint_gather(trainer *t, const cada_manifest *mine, cada_manifest *all) {
    enum { PER = 2 };
    size_t rec = PER * sizeof(cada_manifest_entry), n = (size_t)t->world * rec;
    if (mine->n > PER) return CADA_ERR(CADA_ERR_INTERNAL, "checkpoint: %d files of one learner", mine->n);
    double *buf = calloc(n, sizeof *buf);
    unsigned char *bytes = calloc(n, 1);
    cada_status st = buf && bytes ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "checkpoint: %zu digests", n);
    if (st == CADA_OK) {
        memcpy(bytes + (size_t)t->rank * rec, mine->files, (size_t)mine->n * sizeof *mine->files);
        for (size_t i = 0; i < rec; i++) buf[(size_t)t->rank * rec + i] = bytes[(size_t)t->rank * rec + i];
        st = cada_comm_allreduce_f64(t->comm, buf, (int)n, CADA_RED_SUM);
    }
    for (size_t i = 0; st == CADA_OK && i < n; i++) bytes[i] = (unsigned char)buf[i];
    for (int i = 0; st == CADA_OK && i < t->world * PER; i++) {
        cada_manifest_entry e;
        memcpy(&e, bytes + (size_t)i * sizeof e, sizeof e);
        e.name[sizeof e.name - 1] = 0;
        e.sha256[64] = 0;
        if (e.name[0]) st = cada_manifest_add(all, &e);
    }
    free(buf);
    free(bytes);
    return st;
}

cada_status cada_checkpoint_write(trainer *t, long long step) {
    char tmp[1300], final[1200];
    snprintf(final, sizeof final, "%s/checkpoint-%lld", t->cfg.out_dir, step);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", final) >= (int)sizeof tmp) return CADA_ERR(CADA_ERR_CONFIG, "run.out_dir is too long");
    const char *was = t->watch.phase;
    t->watch.phase = "checkpoint";
    double t0 = cada_now();
    /* GPU learners: the fp32 master weights come back to the host first */
    CADA_TRY(trainer_agree(t, t->learner ? cada_learner_pull_params(t->learner) : CADA_OK, final));
    CADA_TRY(trainer_agree(t, t->rank == 0 ? checkpoint_prepare(t, tmp) : CADA_OK, final));
    cada_manifest mine = {0}, all = {0};
    cada_status st = trainer_agree(t, t->learner ? checkpoint_learner_part(t, tmp, &mine) : CADA_OK, final);
    if (st == CADA_OK)
        st = trainer_agree(t, t->rank == 0 && !strcmp(t->cfg.mode, "async") ? cada_pipeline_save(&t->ahead, step, tmp) : CADA_OK,
                           final);
    if (st == CADA_OK) st = trainer_agree(t, checkpoint_gather(t, &mine, &all), final);
    if (st == CADA_OK) st = trainer_agree(t, t->rank == 0 ? checkpoint_finish(t, tmp, final, step, &all) : CADA_OK, final);
    cada_manifest_free(&mine);
    cada_manifest_free(&all);
    if (st != CADA_OK) return st;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", final);
    t->watch.phase = was;
    if (t->rank == 0) CADA_INFO("checkpoint %s (%.2f s)", final, cada_now() - t0);
    return CADA_OK;
}

cada_status cada_checkpoint_restore(trainer *t) {
    const char *ck = t->resume;
    const cada_run_state *rs = &t->rs;
    t->start_step = rs->step;
    t->first_reward = rs->first_reward;
    t->first_refusal = rs->first_refusal;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", ck);
    /* the weights files' and optimizer shards' digests, split over every rank, before any is loaded */
    CADA_TRY(trainer_agree(t, cada_checkpoint_verify(ck, t->rank, t->world, 1), ck));
    if (!t->learner) return CADA_OK; /* rollout ranks get the weights from learner 0's broadcast */
    if (rs->n_params != (long long)t->whole_params)
        return CADA_ERR(CADA_ERR_CONFIG, "%s/run_state.json: n_params = %lld, but model.path %s has %zu parameters", ck, rs->n_params,
                        t->cfg.model_path, t->whole_params);
    if (rs->prompts != t->cursor.data.n)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "%s/run_state.json: prompts = %lld, but data.train_set now holds %d prompts: the data cursor would not continue",
                        ck, rs->prompts, t->cursor.data.n);
    cada_safetensors sf;
    CADA_TRY(cada_safetensors_open(&sf, ck));
    cada_status st = CADA_OK;
    for (int i = 0; i < sf.n_tensors && st == CADA_OK; i++)
        if (sf.tensors[i].dtype != CADA_DTYPE_F32)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor %s is %s; --resume needs the fp32 weights (cada checkpoints write F32)", ck,
                          sf.tensors[i].name, cada_dtype_name(sf.tensors[i].dtype));
    cada_safetensors_close(&sf);
    if (st != CADA_OK) return st;
    /* straight into the policy, shard by shard: no second copy of the model (learn.tp > 1:
     * only this rank's slices of each tensor are read) */
    if (t->learn_tp_comm)
        CADA_TRY(cada_model_load_weights_part(&t->policy, ck, &t->whole_cfg, t->learn_tp.rank, t->learn_tp.size));
    else
        CADA_TRY(cada_model_load_weights(&t->policy, ck));
    if (t->learner) CADA_TRY(cada_learner_push_params(t->learner)); /* GPU learners: onto the device */
    char path[1300];
    snprintf(path, sizeof path, "%s/optimizer-rank-%d.bin", ck, t->rank);
    CADA_TRY(cada_learner_load_optimizer(t->learner, path));
    if (cada_learner_steps(t->learner) != rs->step)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: field learner steps = %lld, but %s/run_state.json has step %lld", path,
                        cada_learner_steps(t->learner), ck, rs->step);
    cada_baseline *b = cada_learner_baseline(t->learner);
    b->value = rs->baseline;
    b->updates = rs->baseline_updates;
    return CADA_OK;
}

#endif
