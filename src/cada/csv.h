/* cada/csv.h: an RFC 4180 CSV reader (HarmBench, AdvBench, XSTest files).
 *
 * Records end at LF or CRLF outside quotes. A field in double quotes may hold commas,
 * line breaks and doubled quotes (""); a quote inside an unquoted field is kept as a
 * literal character (files in the wild write 5" screens; RFC 4180 forbids it, readers
 * such as Python's csv accept it). Empty lines are skipped. A UTF-8 byte-order mark at
 * the start is skipped.
 *
 * Malformed records are CADA_ERR_FORMAT naming "path:line" (the line where the record
 * starts): a closing quote followed by anything but a comma or the end of the record,
 * a quoted field never closed, a field over 1 MiB or a record over 4096 fields. After
 * such an error the reader stands at the start of the next line (or at the end of the
 * file, for an unclosed quote), so a caller may skip the record and read on. */
#ifndef CADA_CADA_CSV_H
#define CADA_CADA_CSV_H

#include "cada/text.h"

typedef struct {
    const char *path;
    const char *data;
    size_t len, pos;
    long line; /* line number at pos (1-based) */
} cada_csv;

typedef struct {
    int n;             /* fields */
    const char **field;/* (n) NUL-terminated, valid until the next read */
    long line;         /* line on which the record starts */
    /* storage */
    cada_str buf;
    size_t *off;
    int cap;
} cada_csv_row;

void cada_csv_init(cada_csv *c, const char *path, const char *data, size_t len);
/* Reads the next record into row; *eof = 1 (and row->n = 0) at the end. */
cada_status cada_csv_next(cada_csv *c, cada_csv_row *row, int *eof);
void cada_csv_row_free(cada_csv_row *row);
/* Index of the column named name in a header row (exact match), or -1. */
int cada_csv_column(const cada_csv_row *header, const char *name);

#endif
