/* cada/casebank.c: see casebank.h. */
#include "cada/casebank.h"

#include "cada/category.h"
#include "cada/text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cada_case_bank_free(cada_case_bank *b) {
    for (int i = 0; i < b->n; i++) {
        free(b->cases[i].id);
        free(b->cases[i].request);
        free(b->cases[i].analysis);
        free(b->cases[i].response);
    }
    free(b->cases);
    cada_bm25_free(&b->index);
    b->cases = NULL;
    b->n = 0;
}

int cada_case_bank_find(const cada_case_bank *b, const char *id) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->cases[i].id, id)) return i;
    return -1;
}

static cada_status field(const cJSON *j, const char *name, const char *path, long line, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field '%s' is missing, empty or not a string", path, line, name);
    *out = v->valuestring;
    return CADA_OK;
}

static cada_status parse_case(cada_case_bank *b, const char *text, size_t len, long line) {
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: not a JSON object", b->path, line);
    }
    const char *id = NULL, *cat = NULL, *dec = NULL, *req = NULL, *ana = NULL, *resp = NULL;
    cada_status st = field(j, "id", b->path, line, &id);
    if (st == CADA_OK) st = field(j, "category", b->path, line, &cat);
    if (st == CADA_OK) st = field(j, "decision", b->path, line, &dec);
    if (st == CADA_OK) st = field(j, "request", b->path, line, &req);
    if (st == CADA_OK) st = field(j, "analysis", b->path, line, &ana);
    if (st == CADA_OK) st = field(j, "response", b->path, line, &resp);
    int c = st == CADA_OK ? cada_category_parse(cat) : CADA_CAT_NONE;
    if (st == CADA_OK && c == CADA_CAT_NONE)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'category': unknown category '%s'", b->path, line, cat);
    if (st == CADA_OK && strcmp(dec, "refuse") && strcmp(dec, "help"))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'decision' is '%s', not 'refuse' or 'help'", b->path, line, dec);
    if (st == CADA_OK && cada_case_bank_find(b, id) >= 0)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: case id '%s' appears twice", b->path, line, id);
    if (st == CADA_OK) {
        cada_case *p = realloc(b->cases, sizeof *p * (size_t)(b->n + 1));
        if (!p) st = CADA_ERR(CADA_ERR_NOMEM, "%s: cases", b->path);
        else {
            b->cases = p;
            cada_case *k = &b->cases[b->n];
            k->id = cada_strdup(id);
            k->cat = c;
            k->refuse = !strcmp(dec, "refuse");
            k->request = cada_strdup(req);
            k->analysis = cada_strdup(ana);
            k->response = cada_strdup(resp);
            b->n++;
            if (!k->id || !k->request || !k->analysis || !k->response) st = CADA_ERR_NOMEM;
        }
    }
    cJSON_Delete(j);
    return st;
}

cada_status cada_case_bank_load(cada_case_bank *b, const char *path) {
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", path);
    char *data;
    size_t len;
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_status st = CADA_OK;
    long no = 0;
    size_t at = 0, n;
    const char *t;
    while (st == CADA_OK && cada_next_line(data, len, &at, &no, &t, &n)) {
        if (n) st = parse_case(b, t, n, no);
    }
    free(data);
    if (st == CADA_OK && !b->n) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no cases", path);
    char **docs = NULL;
    if (st == CADA_OK) {
        docs = calloc((size_t)b->n, sizeof *docs);
        if (!docs) st = CADA_ERR(CADA_ERR_NOMEM, "%s: index", path);
        for (int i = 0; st == CADA_OK && i < b->n; i++) {
            cada_str s = {0};
            cada_str_puts(&s, b->cases[i].request);
            cada_str_puts(&s, " ");
            if ((st = cada_str_puts(&s, b->cases[i].analysis)) == CADA_OK) docs[i] = s.data;
            else cada_str_free(&s);
        }
        if (st == CADA_OK) st = cada_bm25_build(&b->index, (const char *const *)docs, b->n);
        for (int i = 0; docs && i < b->n; i++) free(docs[i]);
        free(docs);
    }
    if (st != CADA_OK) cada_case_bank_free(b);
    return st;
}
