/* cada/text.h: small text helpers shared by the CADA layer (prompt builder, data
 * loaders, rewards, evaluation): a growable string, whole-file reading, line reading
 * with line numbers, hashing of ids, JSON string escaping.
 *
 * Every failure is a recorded error (base/error.h); a cada_str is always
 * NUL-terminated after a successful append, so it can be printed directly. */
#ifndef CADA_CADA_TEXT_H
#define CADA_CADA_TEXT_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *data;
    size_t len, cap;
} cada_str;

cada_status cada_str_append(cada_str *s, const char *p, size_t n);
cada_status cada_str_puts(cada_str *s, const char *p);
cada_status cada_str_printf(cada_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends p as a JSON string literal (quotes included; control bytes as \uXXXX). */
cada_status cada_str_json(cada_str *s, const char *p, size_t n);
void cada_str_clear(cada_str *s); /* len = 0, keeps the buffer */
void cada_str_free(cada_str *s);
/* The text ("" while empty). */
static inline const char *cada_str_c(const cada_str *s) { return s->data ? s->data : ""; }

/* Reads a whole file, NUL-terminated; the caller frees *data. Caps at 1 GiB. */
cada_status cada_read_file(const char *path, char **data, size_t *len);

/* Reads the next line of f into line (without '\n' or "\r\n"); *eof = 1 at end. A line
 * longer than max_bytes is an error naming path and line number. */
cada_status cada_read_line(FILE *f, const char *path, long line_no, size_t max_bytes, cada_str *line, int *eof);

/* malloc'd copy (NULL + recorded error when out of memory). */
char *cada_strdup(const char *s);
char *cada_strndup(const char *s, size_t n);

/* 64-bit FNV-1a of a string: turns string ids (prompt ids) into rng stream ids. */
uint64_t cada_hash64(const char *s);

/* Trims ASCII whitespace at both ends of [*p, *p + *n). */
void cada_trim(const char **p, size_t *n);

/* The next line of data[0, len) from *at: [*line, *line + *n) without its '\n',
 * trimmed (cada_trim); *at moves past it and *no (the line's 1-based number, start it
 * at 0) counts it. Returns 0 at the end of data. */
int cada_next_line(const char *data, size_t len, size_t *at, long *no, const char **line, size_t *n);

/* Writes data to path through a temporary name and a rename. */
cada_status cada_write_file(const char *path, const char *data, size_t len);

/* Joins dir and name ("dir/name"; name itself when absolute or dir is empty). */
void cada_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
