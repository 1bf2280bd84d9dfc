/* tests/unit/test_data_overlap.c: no training prompt (the JSONL files of data/prompts) is a case of
 * the case bank (data/cases.jsonl) or a near-duplicate of one: a prompt whose precedent
 * is itself would put its answer into the prompt that trains it.
 *
 * The measure (word 3-gram Jaccard >= 0.5 or containment >= 0.8, and why those bars)
 * is cada/overlap.h's, the one `cada split` uses to keep held-out sets apart from
 * training sets. Topical similarity is wanted (cases are chosen for it) and not tested. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "cada/overlap.h"
#include "cada/text.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int near_duplicate(const char *x, const char *y, double *j, double *c) {
    cada_grams a, b;
    cada_status sa = cada_grams_of(x, &a), sb = cada_grams_of(y, &b);
    int dup = 1; /* out of memory fails loudly rather than passing */
    *j = *c = 1;
    if (sa == CADA_OK && sb == CADA_OK)
        dup = cada_near_duplicate(&a, &b, CADA_OVERLAP_JACCARD, CADA_OVERLAP_CONTAINMENT, j, c);
    cada_grams_free(&a);
    cada_grams_free(&b);
    return dup;
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
    EXPECT(near_duplicate("Hello!", "hello", &j, &c) && j == 1.0);
    EXPECT(!near_duplicate("", "", &j, &c) && j == 0.0, "no words: nothing to share");
    /* 3-grams count once each: "a b c a b c" has the grams {a b c, b c a, c a b} */
    EXPECT(near_duplicate("a b c a b c", "a b c a", &j, &c) && fabs(j - 2.0 / 3) < 1e-12, "jaccard %.3f", j);
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
