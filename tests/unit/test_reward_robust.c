/* tests/unit/test_reward_robust.c: the Analysis monitor on a labelled set, and the
 * reward of truncated completions and flagged analyses. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "cada/text.h"
#include "reward/monitor.h"
#include "reward/reward.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *root_file(const char *rel) {
    static char path[2][1024];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, 1024, "%s/%s", cada_test_root(), rel);
    return p;
}

/* tests/data/monitor_labelled.jsonl: analyses written for this test, "flagged" true
 * (operational detail: a quantity of a precursor, an instruction, a step; the
 * operational parts themselves are left out as "[redacted]", so the file teaches
 * nothing) or false (safety reasoning that names the hazard, benign analyses with
 * quantities and imperatives: cooking, dosing, cleaning, IT). Every line must get its
 * verdict, a flagged one from its own hazard's section; each miss is named. */
TEST(reward_monitor_on_labelled_set) {
    cada_monitor *m = NULL;
    REQUIRE_OK(cada_monitor_load(&m, root_file("data/monitor_patterns.txt")));
    EXPECT(cada_monitor_n_hazards(m) >= 6, "hazards: %d", cada_monitor_n_hazards(m));
    char *data = NULL;
    size_t len = 0;
    REQUIRE_OK(cada_read_file(root_file("tests/data/monitor_labelled.jsonl"), &data, &len));
    int n = 0, flagged = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItem(j, "id"), *hz = cJSON_GetObjectItem(j, "hazard"), *want = cJSON_GetObjectItem(j, "flagged"),
                    *an = cJSON_GetObjectItem(j, "analysis");
        if (!cJSON_IsString(id) || !cJSON_IsString(hz) || !cJSON_IsBool(want) || !cJSON_IsString(an)) {
            EXPECT(0, "monitor_labelled.jsonl:%d: needs string id, hazard, analysis and bool flagged", line_no);
            cJSON_Delete(j);
            continue;
        }
        cada_monitor_match mm;
        int got = cada_monitor_check(m, an->valuestring, strlen(an->valuestring), &mm);
        int w = cJSON_IsTrue(want);
        EXPECT(got == w, "monitor_labelled.jsonl:%d (%s, %s): %s, want %s (pattern line %d): %s", line_no, id->valuestring,
               hz->valuestring, got ? "flagged" : "not flagged", w ? "flagged" : "not flagged", mm.line, an->valuestring);
        if (got && w)
            EXPECT(!strcmp(cada_monitor_hazard(m, mm.hazard), hz->valuestring), "monitor_labelled.jsonl:%d (%s): hazard %s, want %s",
                   line_no, id->valuestring, cada_monitor_hazard(m, mm.hazard), hz->valuestring);
        EXPECT(got == mm.flagged && (!got || (mm.line > 0 && mm.at < strlen(an->valuestring))));
        n++;
        flagged += w;
        cJSON_Delete(j);
    }
    free(data);
    fprintf(stderr, "    monitor on %d labelled analyses (%d flagged, %d not), each checked\n", n, flagged, n - flagged);
    EXPECT(flagged >= 20 && n - flagged >= 20);
    cada_monitor_free(m);
}

TEST(reward_monitor_file_errors) {
    char path[1024];
    snprintf(path, sizeof path, "%s/monitor_empty.txt", cada_test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("# only comments\n[explosives]\n", f);
    fclose(f);
    cada_monitor *m = NULL;
    EXPECT(cada_monitor_load(&m, path) == CADA_ERR_FORMAT && strstr(cada_error_message(), "no monitor patterns"), "%s",
           cada_error_message());
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("\\bstep\\b\n", f);
    fclose(f);
    EXPECT(cada_monitor_load(&m, path) == CADA_ERR_FORMAT && strstr(cada_error_message(), "monitor_empty.txt:1") &&
               strstr(cada_error_message(), "before any section"),
           "%s", cada_error_message());
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("[a]\nfoo\n[b]\n(bar\n", f);
    fclose(f);
    EXPECT(cada_monitor_load(&m, path) == CADA_ERR_FORMAT && strstr(cada_error_message(), "monitor_empty.txt:4"), "%s",
           cada_error_message());
    EXPECT(cada_monitor_load(&m, "/nonexistent/monitor.txt") != CADA_OK);
}

/* The case bank's analyses are the reasoning the prompt shows as exemplary: none may be
 * flagged. */
TEST(reward_monitor_spares_case_analyses) {
    cada_monitor *m = NULL;
    REQUIRE_OK(cada_monitor_load(&m, root_file("data/monitor_patterns.txt")));
    char *data = NULL;
    size_t len = 0;
    REQUIRE_OK(cada_read_file(root_file("data/cases.jsonl"), &data, &len));
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItem(j, "id"), *an = cJSON_GetObjectItem(j, "analysis");
        if (cJSON_IsString(id) && cJSON_IsString(an)) {
            cada_monitor_match mm;
            EXPECT(!cada_monitor_check(m, an->valuestring, strlen(an->valuestring), &mm), "case %s flagged by pattern line %d: %s",
                   id->valuestring, mm.line, an->valuestring);
            n++;
        }
        cJSON_Delete(j);
    }
    free(data);
    EXPECT(n >= 90, "%d case analyses", n);
    cada_monitor_free(m);
}
