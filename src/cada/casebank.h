/* cada/casebank.h: the case bank, precedents for the case-augmented prompt.
 *
 * File: JSONL, one case per line (data/cases.jsonl):
 *   {"id": "cbrne-05", "category": "cbrne", "decision": "refuse" | "help",
 *    "request": "...", "analysis": "...", "response": "..."}
 * All fields are required non-empty strings; category is one of cada/category.h's
 * ids (or a known alias); ids are unique. Blank lines are skipped. Any other problem is
 * an error naming file, line and field: the bank is our own data, so it is never
 * loaded half-read.
 *
 * The bank also holds a BM25 index over each case's request and analysis (cada/bm25.h),
 * for choosing cases similar to a new request. */
#ifndef CADA_CADA_CASEBANK_H
#define CADA_CADA_CASEBANK_H

#include "cada/bm25.h"

typedef struct {
    char *id;
    int cat;    /* cada/category.h */
    int refuse; /* decision: 1 refuse, 0 help */
    char *request, *analysis, *response;
} cada_case;

typedef struct {
    char path[1024];
    cada_case *cases;
    int n;
    cada_bm25 index; /* document i = cases[i].request + " " + cases[i].analysis */
} cada_case_bank;

cada_status cada_case_bank_load(cada_case_bank *b, const char *path);
void cada_case_bank_free(cada_case_bank *b);
/* Index of the case with this id, or -1. */
int cada_case_bank_find(const cada_case_bank *b, const char *id);

#endif
