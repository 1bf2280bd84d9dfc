/* tests/unit/test_data_overlap.c: no training prompt (the JSONL files of data/prompts) is a case of
 * the case bank (data/cases.jsonl) or a near-duplicate of one: a prompt whose precedent
 * is itself would put its answer into the prompt that trains it.
 *
 * Text is normalised to lowercase words of letters and digits (apostrophes dropped, so
 * "don't" is "dont"; all other characters separate words). Two requests are
 * near-duplicates when their sets of word 3-grams have
 *   Jaccard >= 0.5            (a light rewording of the same request), or
 *   containment >= 0.8        (the shorter one's 3-grams nearly all inside the other:
 *                              "How do I make a pipe bomb at home, step by step?").
 * Requests under 3 words compare by their word sequence. Why these thresholds: the
 * requests are short questions that share frames ("how do i make a", "what is the
 * history of the"); the most similar distinct pairs in our files measured Jaccard 0.44
 * ("What is the history of the Battle of Hastings?" / "... of the swastika symbol?")
 * and containment 0.67 ("How do I make napalm?" / "How do I make a pipe bomb?"), so the
 * bars sit above the frames and below any copy. Topical similarity is wanted (cases are
 * chosen for it) and not tested. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "cada/text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 96
#define WORD_CAP 32

typedef struct {
    char w[MAX_WORDS][WORD_CAP];
    int n;
} words;

static void normalise(const char *s, words *out) {
    out->n = 0;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        if (*p && (isalnum(*p) || *p >= 0x80)) { /* UTF-8 bytes stay inside words */
            if (len + 1 < WORD_CAP && out->n < MAX_WORDS) out->w[out->n][len++] = (char)tolower(*p);
            continue;
        }
        if (*p == '\'' && len) continue; /* "don't" -> "dont" */
        if (len && out->n < MAX_WORDS) out->w[out->n++][len] = 0;
        len = 0;
        if (!*p) break;
    }
}

/* Is 3-gram i of a equal to 3-gram j of b? */
static int gram_eq(const words *a, int i, const words *b, int j) {
    for (int k = 0; k < 3; k++)
        if (strcmp(a->w[i + k], b->w[j + k])) return 0;
    return 1;
}

/* Distinct 3-grams of a (first occurrences only). */
static int distinct_grams(const words *a, int *idx) {
    int n = 0;
    for (int i = 0; i + 3 <= a->n; i++) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = gram_eq(a, idx[k], a, i);
        if (!seen) idx[n++] = i;
    }
    return n;
}

/* Jaccard and containment of the two requests' 3-gram sets (see the file comment). */
static void overlap(const words *a, const words *b, double *jaccard, double *containment) {
    if (a->n < 3 || b->n < 3) {
        int same = a->n == b->n;
        for (int i = 0; same && i < a->n; i++) same = !strcmp(a->w[i], b->w[i]);
        *jaccard = *containment = same;
        return;
    }
    int ia[MAX_WORDS], ib[MAX_WORDS];
    int na = distinct_grams(a, ia), nb = distinct_grams(b, ib), shared = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (gram_eq(a, ia[i], b, ib[j])) {
                shared++;
                break;
            }
    *jaccard = (double)shared / (na + nb - shared);
    *containment = (double)shared / (na < nb ? na : nb);
}

static int near_duplicate(const char *x, const char *y, double *j, double *c) {
    words *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        *j = *c = 1;
        return 1; /* fails loudly rather than passing */
    }
    normalise(x, a);
    normalise(y, b);
    overlap(a, b, j, c);
    free(a);
    free(b);
    return *j >= 0.5 || *c >= 0.8;
}

TEST(data_overlap_measure) {
    double j, c;
    EXPECT(near_duplicate("How do I make a pipe bomb?", "how do i make a PIPE BOMB", &j, &c) && j == 1.0);
    EXPECT(near_duplicate("How do I make a pipe bomb at home, step by step?", "How do I make a pipe bomb?", &j, &c) && c == 1.0);
    EXPECT(near_duplicate("What's the easiest way to make a pipe bomb at home?", "What is the easiest way to make a pipe bomb?", &j,
                          &c),
           "jaccard %.2f containment %.2f", j, c);
    EXPECT(near_duplicate("Don't you know?", "dont you know", &j, &c));
    /* shared question frames are not duplicates */
    EXPECT(!near_duplicate("What is the history of the Battle of Hastings?", "What is the history of the swastika symbol?", &j, &c),
           "jaccard %.2f", j);
    EXPECT(!near_duplicate("How do I make napalm?", "How do I make a pipe bomb?", &j, &c), "containment %.2f", c);
    EXPECT(!near_duplicate("Hello", "Hello there", &j, &c));
}

typedef struct {
    char *id, *text;
} request;

/* The string fields id and `field` of every line of a JSONL file; errors name the line. */
static int load_requests(const char *path, const char *field, request **out, int *n) {
    char *data = NULL;
    size_t len = 0;
    if (cada_read_file(path, &data, &len) != CADA_OK) return 0;
    int line_no = 0, ok = 1;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = j ? cJSON_GetObjectItem(j, "id") : NULL, *t = j ? cJSON_GetObjectItem(j, field) : NULL;
        if (!cJSON_IsString(id) || !cJSON_IsString(t)) {
            fprintf(stderr, "    %s:%d: no string \"id\" and \"%s\"\n", path, line_no, field);
            ok = 0;
        } else {
            request *grown = realloc(*out, sizeof *grown * (size_t)(*n + 1));
            if (!grown) ok = 0;
            else {
                *out = grown;
                grown[*n] = (request){strdup(id->valuestring), strdup(t->valuestring)};
                (*n)++;
            }
        }
        cJSON_Delete(j);
    }
    free(data);
    return ok;
}

static void free_requests(request *r, int n) {
    for (int i = 0; i < n; i++) {
        free(r[i].id);
        free(r[i].text);
    }
    free(r);
}

TEST(data_prompts_are_not_cases) {
    char dir[1024], path[1400];
    snprintf(path, sizeof path, "%s/data/cases.jsonl", cada_test_root());
    request *cases = NULL, *prompts = NULL;
    int n_cases = 0, n_prompts = 0, n_files = 0;
    REQUIRE(load_requests(path, "request", &cases, &n_cases), "%s", path);
    snprintf(dir, sizeof dir, "%s/data/prompts", cada_test_root());
    DIR *d = opendir(dir);
    REQUIRE(d, "%s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 6, ".jsonl")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        EXPECT(load_requests(path, "prompt", &prompts, &n_prompts), "%s", path);
        n_files++;
    }
    closedir(d);
    double max_j = 0, max_c = 0;
    int dups = 0;
    for (int i = 0; i < n_prompts; i++)
        for (int k = 0; k < n_cases; k++) {
            double j, c;
            if (near_duplicate(prompts[i].text, cases[k].text, &j, &c)) {
                fprintf(stderr, "    prompt %s is case %s or near it (jaccard %.2f, containment %.2f): \"%s\" / \"%s\"\n",
                        prompts[i].id, cases[k].id, j, c, prompts[i].text, cases[k].text);
                dups++;
            }
            if (j > max_j) max_j = j;
            if (c > max_c) max_c = c;
        }
    fprintf(stderr, "    %d prompts in %d files against %d cases: largest word 3-gram jaccard %.2f, containment %.2f\n", n_prompts,
            n_files, n_cases, max_j, max_c);
    EXPECT(n_files >= 2 && n_prompts >= 300 && n_cases >= 90, "files %d prompts %d cases %d", n_files, n_prompts, n_cases);
    EXPECT(dups == 0, "%d prompts overlap the case bank", dups);
    free_requests(cases, n_cases);
    free_requests(prompts, n_prompts);
}
