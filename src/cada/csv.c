/* cada/csv.c: see csv.h. */
#include "cada/csv.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FIELD_BYTES ((size_t)1 << 20)
#define MAX_FIELDS 4096

void cada_csv_init(cada_csv *c, const char *path, const char *data, size_t len) {
    c->path = path;
    c->data = data;
    c->len = len;
    c->pos = 0;
    c->line = 1;
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) c->pos = 3;
}

void cada_csv_row_free(cada_csv_row *row) {
    cada_str_free(&row->buf);
    free(row->off);
    free(row->field);
    memset(row, 0, sizeof *row);
}

int cada_csv_column(const cada_csv_row *header, const char *name) {
    for (int i = 0; i < header->n; i++)
        if (!strcmp(header->field[i], name)) return i;
    return -1;
}

/* Moves to the start of the next line (after a malformed record). */
static void skip_line(cada_csv *c) {
    while (c->pos < c->len && c->data[c->pos] != '\n') c->pos++;
    if (c->pos < c->len) {
        c->pos++;
        c->line++;
    }
}

static cada_status start_field(cada_csv_row *row, long line, const char *path) {
    if (row->n == MAX_FIELDS) return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: more than %d fields", path, line, MAX_FIELDS);
    if (row->n == row->cap) {
        int cap = row->cap ? 2 * row->cap : 16;
        size_t *off = realloc(row->off, sizeof *off * (size_t)cap);
        if (!off) return CADA_ERR(CADA_ERR_NOMEM, "csv row of %d fields", cap);
        row->off = off;
        row->cap = cap;
    }
    row->off[row->n++] = row->buf.len;
    return CADA_OK;
}

static cada_status end_field(cada_csv_row *row, size_t start, long line, const char *path) {
    if (row->buf.len - start > MAX_FIELD_BYTES)
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field %d longer than %zu bytes", path, line, row->n, MAX_FIELD_BYTES);
    return cada_str_append(&row->buf, "", 1); /* the field's NUL */
}

static cada_status parse_record(cada_csv *c, cada_csv_row *row) {
    const char *d = c->data;
    const long first = row->line;
    for (;;) {
        CADA_TRY(start_field(row, first, c->path));
        size_t start = row->buf.len;
        if (c->pos < c->len && d[c->pos] == '"') {
            long open_line = c->line;
            c->pos++;
            for (;;) {
                if (c->pos >= c->len) {
                    return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: quoted field opened on line %ld is never closed", c->path,
                                    first, open_line);
                }
                char ch = d[c->pos];
                if (ch == '"') {
                    if (c->pos + 1 < c->len && d[c->pos + 1] == '"') {
                        CADA_TRY(cada_str_append(&row->buf, "\"", 1));
                        c->pos += 2;
                        continue;
                    }
                    c->pos++;
                    break;
                }
                if (ch == '\n') c->line++;
                /* copy the run up to the next quote or newline at once */
                size_t run = c->pos + 1;
                while (run < c->len && d[run] != '"' && d[run] != '\n') run++;
                CADA_TRY(cada_str_append(&row->buf, d + c->pos, run - c->pos));
                c->pos = run;
                if (row->buf.len - start > MAX_FIELD_BYTES)
                    return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field %d longer than %zu bytes", c->path, first, row->n,
                                    MAX_FIELD_BYTES);
            }
            size_t p = c->pos;
            if (p < c->len && d[p] != ',' && d[p] != '\n' && !(d[p] == '\r' && p + 1 < c->len && d[p + 1] == '\n') &&
                !(d[p] == '\r' && p + 1 == c->len)) {
                return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: unexpected character '%c' after the closing quote of field %d",
                                c->path, c->line, d[p], row->n);
            }
        } else {
            size_t run = c->pos;
            while (run < c->len && d[run] != ',' && d[run] != '\n') run++;
            size_t end = run;
            if (end > c->pos && d[end - 1] == '\r' && (end == c->len || d[end] == '\n')) end--;
            CADA_TRY(cada_str_append(&row->buf, d + c->pos, end - c->pos));
            c->pos = end;
        }
        CADA_TRY(end_field(row, start, first, c->path));
        if (c->pos >= c->len) return CADA_OK;
        if (d[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (d[c->pos] == '\r') c->pos++;
        if (c->pos < c->len && d[c->pos] == '\n') {
            c->pos++;
            c->line++;
        }
        return CADA_OK;
    }
}

cada_status cada_csv_next(cada_csv *c, cada_csv_row *row, int *eof) {
    row->n = 0;
    cada_str_clear(&row->buf);
    *eof = 0;
    /* skip empty lines */
    while (c->pos < c->len && (c->data[c->pos] == '\n' || c->data[c->pos] == '\r')) {
        if (c->data[c->pos] == '\n') c->line++;
        c->pos++;
    }
    if (c->pos >= c->len) {
        *eof = 1;
        return CADA_OK;
    }
    row->line = c->line;
    cada_status st = parse_record(c, row);
    if (st != CADA_OK) {
        row->n = 0;
        if (c->pos < c->len) {
            /* resynchronise: an error inside a record leaves us mid-line */
            if (c->pos > 0 && c->data[c->pos - 1] == '\n') { /* already at a line start */
            } else {
                skip_line(c);
            }
        }
        return st;
    }
    free(row->field);
    row->field = malloc(sizeof *row->field * (size_t)(row->n ? row->n : 1));
    if (!row->field) return CADA_ERR(CADA_ERR_NOMEM, "csv row");
    for (int i = 0; i < row->n; i++) row->field[i] = row->buf.data + row->off[i];
    return CADA_OK;
}
