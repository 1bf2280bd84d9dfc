/* sched/manifest.c: see manifest.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/manifest.h"

#include "base/sha256.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cada_manifest_free(cada_manifest *m) {
    free(m->files);
    memset(m, 0, sizeof *m);
}

static int name_ok(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n < CADA_MANIFEST_NAME_MAX && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

cada_status cada_manifest_add(cada_manifest *m, const cada_manifest_entry *e) {
    if (!name_ok(e->name)) return CADA_ERR(CADA_ERR_FORMAT, "manifest: file name \"%.40s\" is not a plain file name", e->name);
    if (m->n >= CADA_MANIFEST_MAX_FILES) return CADA_ERR(CADA_ERR_FORMAT, "manifest: more than %d files", CADA_MANIFEST_MAX_FILES);
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        cada_manifest_entry *f = realloc(m->files, (size_t)cap * sizeof *f);
        if (!f) return CADA_ERR(CADA_ERR_NOMEM, "manifest: %d entries", cap);
        m->files = f;
        m->cap = cap;
    }
    m->files[m->n++] = *e;
    return CADA_OK;
}

cada_status cada_manifest_add_file(cada_manifest *m, const char *dir, const char *name) {
    cada_manifest_entry e = {0};
    char path[1400];
    if (snprintf(e.name, sizeof e.name, "%s", name) >= (int)sizeof e.name)
        return CADA_ERR(CADA_ERR_ARG, "%s/%s: file name too long for the manifest", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CADA_TRY(cada_sha256_file(path, e.sha256, &e.size));
    return cada_manifest_add(m, &e);
}

int cada_manifest_has(const cada_manifest *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->files[i].name, name)) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const cada_manifest_entry *)a)->name, ((const cada_manifest_entry *)b)->name);
}

cada_status cada_manifest_write(const char *dir, cada_manifest *m) {
    char path[1400];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (m->n > 1) qsort(m->files, (size_t)m->n, sizeof *m->files, by_name);
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "{\n  \"format\": 1,\n  \"algorithm\": \"sha256\",\n  \"files\": [\n");
    for (int i = 0; i < m->n; i++) /* names are plain file names cada chose: nothing to escape */
        fprintf(f, "    {\"name\": \"%s\", \"size\": %llu, \"sha256\": \"%s\"}%s\n", m->files[i].name,
                (unsigned long long)m->files[i].size, m->files[i].sha256, i + 1 < m->n ? "," : "");
    fprintf(f, "  ]\n}\n");
    int bad = ferror(f), err = errno;
    if (fclose(f) != 0 && !bad) bad = 1, err = errno;
    if (bad) return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    return CADA_OK;
}

static int is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == 0;
}

cada_status cada_manifest_parse(const char *text, size_t len, const char *path, cada_manifest *m) {
    memset(m, 0, sizeof *m);
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) return CADA_ERR(CADA_ERR_FORMAT, "%s: not valid JSON", path);
    cada_status st = CADA_OK;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j, "algorithm");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
    if (!cJSON_IsNumber(fmt) || fmt->valuedouble != 1)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: field format is missing or not 1 (this build reads 1)", path);
    else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "sha256"))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: field algorithm is missing or not \"sha256\"", path);
    else if (!cJSON_IsArray(files)) st = CADA_ERR(CADA_ERR_FORMAT, "%s: field files is missing or not an array", path);
    int i = 0;
    const cJSON *x, *list = st == CADA_OK ? files : NULL;
    cJSON_ArrayForEach(x, list) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(x, "name");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(x, "size");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(x, "sha256");
        cada_manifest_entry e = {0};
        /* sizes up to 2^53 are exact in a double; no checkpoint file comes near */
        if (!cJSON_IsString(name) || !name_ok(name->valuestring) || !cJSON_IsNumber(size) || !(size->valuedouble >= 0) ||
            size->valuedouble > 9007199254740992.0 || !cJSON_IsString(sha) || strlen(sha->valuestring) != 64 ||
            !is_hex64(sha->valuestring)) {
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: files[%d]: needs a plain file name, a size and a 64-digit lowercase sha256", path, i);
            break;
        }
        snprintf(e.name, sizeof e.name, "%s", name->valuestring);
        e.size = (uint64_t)size->valuedouble;
        memcpy(e.sha256, sha->valuestring, 65);
        if (cada_manifest_has(m, e.name)) {
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: files[%d]: %s is listed twice", path, i, e.name);
            break;
        }
        if ((st = cada_manifest_add(m, &e)) != CADA_OK) {
            cada_error_wrap("%s", path);
            break;
        }
        i++;
    }
    cJSON_Delete(j);
    if (st != CADA_OK) cada_manifest_free(m);
    return st;
}

cada_status cada_manifest_read(const char *dir, cada_manifest *m, int *found) {
    char path[1400];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    memset(m, 0, sizeof *m);
    *found = 0;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT) return CADA_OK;
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CADA_MANIFEST_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return CADA_ERR(CADA_ERR_NOMEM, "%s: read buffer", path);
    }
    size_t n = fread(buf, 1, CADA_MANIFEST_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    cada_status st = CADA_OK;
    if (bad) st = CADA_ERR(CADA_ERR_IO, "%s: read failed", path);
    else if (n > CADA_MANIFEST_MAX_BYTES) st = CADA_ERR(CADA_ERR_FORMAT, "%s: larger than %u bytes", path, CADA_MANIFEST_MAX_BYTES);
    else st = cada_manifest_parse(buf, n, path, m);
    free(buf);
    if (st == CADA_OK) *found = 1;
    return st;
}

/* A file a loader would read: weights, optimizer shards, JSON, the configuration. */
static int critical(const char *name) {
    static const char *ends[] = {".safetensors", ".bin", ".json", ".ini"};
    size_t n = strlen(name);
    for (int i = 0; i < 4; i++) {
        size_t k = strlen(ends[i]);
        if (n >= k && !strcmp(name + n - k, ends[i])) return 1;
    }
    return 0;
}

cada_status cada_manifest_check_files(const char *dir, const cada_manifest *m) {
    char path[1400];
    for (int i = 0; i < m->n; i++) {
        const cada_manifest_entry *e = &m->files[i];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->name);
        if (stat(path, &sb) != 0)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: listed in manifest.json but cannot be read: %s", path, strerror(errno));
        if ((uint64_t)sb.st_size != e->size)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %lld bytes, manifest.json says %llu (truncated or changed)", path,
                            (long long)sb.st_size, (unsigned long long)e->size);
    }
    DIR *d = opendir(dir);
    if (!d) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    cada_status st = CADA_OK;
    for (struct dirent *de; st == CADA_OK && (de = readdir(d));)
        if (de->d_name[0] != '.' && strcmp(de->d_name, "manifest.json") && critical(de->d_name) && !cada_manifest_has(m, de->d_name))
            st = CADA_ERR(CADA_ERR_FORMAT, "%s/%s: not listed in manifest.json (a file added after the checkpoint was written)", dir,
                          de->d_name);
    closedir(d);
    return st;
}

cada_status cada_manifest_check_hashes(const char *dir, const cada_manifest *m, uint64_t lo, uint64_t hi, int part, int parts) {
    char path[1400], hex[65];
    for (int i = 0; i < m->n; i++) {
        const cada_manifest_entry *e = &m->files[i];
        if (e->size < lo || e->size >= hi || i % parts != part) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->name);
        uint64_t size = 0;
        CADA_TRY(cada_sha256_file(path, hex, &size));
        if (size != e->size || strcmp(hex, e->sha256))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: SHA-256 differs from manifest.json (the file changed after the checkpoint was written)",
                            path);
    }
    return CADA_OK;
}
