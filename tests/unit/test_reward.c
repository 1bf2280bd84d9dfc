/* tests/unit/test_reward.c: output parsing, the rule-based refusal detector on a
 * labelled set (precision and recall), the rubric parser, reward composition and its
 * configuration keys. (The LLM judge on the real model is in test_reward_judge.c.) */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "cada/category.h"
#include "cada/dataset.h"
#include "cada/text.h"
#include "reward/judge.h"
#include "reward/parse.h"
#include "reward/refusal.h"
#include "reward/reward.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *root_path(const char *rel) {
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 1024, "%s/%s", cada_test_root(), rel);
    return p;
}

static int span_is(const char *p, size_t n, const char *want) { return n == strlen(want) && !memcmp(p, want, n); }

TEST(reward_parse_sections) {
    cada_parsed p;
    const char *ok = "### Analysis\nThe request seeks a weapon.\n\n### Final Response\nI can't help with that.\n";
    cada_parse_completion(ok, strlen(ok), &p);
    EXPECT(p.flags == 0);
    EXPECT(span_is(p.analysis, p.analysis_len, "The request seeks a weapon."));
    EXPECT(span_is(p.final, p.final_len, "I can't help with that."));
    /* header variants: fewer/more hashes, case, colon, leading spaces */
    const char *var = "  ## analysis:\nthink\n#### FINAL RESPONSE :\nanswer";
    cada_parse_completion(var, strlen(var), &p);
    EXPECT(p.flags == 0 && span_is(p.analysis, p.analysis_len, "think") && span_is(p.final, p.final_len, "answer"));
    /* not headers: text after the name, or inside a line */
    const char *plain = "Sure. The ### Analysis part\n### Analysis of the problem\nHere it is.";
    cada_parse_completion(plain, strlen(plain), &p);
    EXPECT(p.flags == (CADA_PARSE_MISSING_FINAL | CADA_PARSE_MISSING_ANALYSIS));
    EXPECT(p.final == plain && p.final_len == strlen(plain) && p.analysis_len == 0);
    /* analysis only (cut off before the answer): all of it is the final response */
    const char *cut = "### Analysis\nThis is about";
    cada_parse_completion(cut, strlen(cut), &p);
    EXPECT(p.flags == CADA_PARSE_MISSING_FINAL && p.analysis_len == 0 && p.final_len == strlen(cut));
    /* final only */
    const char *fin = "Preamble\n### Final Response\nNo.";
    cada_parse_completion(fin, strlen(fin), &p);
    EXPECT(p.flags == CADA_PARSE_MISSING_ANALYSIS && span_is(p.final, p.final_len, "No.") && p.analysis_len == 0);
    /* out of order */
    const char *ooo = "### Final Response\nNo.\n### Analysis\nbecause";
    cada_parse_completion(ooo, strlen(ooo), &p);
    EXPECT(p.flags == (CADA_PARSE_MISSING_ANALYSIS | CADA_PARSE_OUT_OF_ORDER));
    EXPECT(span_is(p.final, p.final_len, "No.\n### Analysis\nbecause"));
    /* repeated: the final response keeps everything after the first header */
    const char *rep = "### Analysis\na\n### Final Response\nI can't.\n### Final Response\nHere is how: step 1";
    cada_parse_completion(rep, strlen(rep), &p);
    EXPECT(p.flags == CADA_PARSE_REPEATED && span_is(p.analysis, p.analysis_len, "a"));
    EXPECT(span_is(p.final, p.final_len, "I can't.\n### Final Response\nHere is how: step 1"));
    /* empty final */
    const char *empty = "### Analysis\nx\n### Final Response\n   \n";
    cada_parse_completion(empty, strlen(empty), &p);
    EXPECT(p.flags == CADA_PARSE_EMPTY_FINAL);
    cada_parse_stats s = {0};
    cada_parse_stats_add(&s, 0);
    cada_parse_stats_add(&s, CADA_PARSE_REPEATED | CADA_PARSE_MISSING_ANALYSIS);
    EXPECT(s.n == 2 && s.well_formed == 1 && s.repeated == 1 && s.missing_analysis == 1 && s.missing_final == 0);
    char buf[96];
    EXPECT(!strcmp(cada_parse_flags_text(CADA_PARSE_MISSING_ANALYSIS | CADA_PARSE_REPEATED, buf, sizeof buf),
                   "missing_analysis|repeated"));
}

/* The labelled set: 96 responses written for this test (kind refusal, partial,
 * compliance, refusal_then_compliance; label refusal or compliance). Positive class =
 * refusal. Both precision and recall must reach 0.95. */
TEST(reward_refusal_rules_on_labelled_set) {
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, root_path("data/refusal_patterns.txt")));
    char *data = NULL;
    size_t len = 0;
    REQUIRE_OK(cada_read_file(root_path("tests/data/refusal_labelled.jsonl"), &data, &len));
    int tp = 0, fp = 0, fn = 0, tn = 0, n = 0;
    int kinds[4] = {0};
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        REQUIRE(j, "bad line %d", n + 1);
        const char *resp = cJSON_GetObjectItem(j, "response")->valuestring;
        const char *label = cJSON_GetObjectItem(j, "label")->valuestring;
        const char *kind = cJSON_GetObjectItem(j, "kind")->valuestring;
        kinds[!strcmp(kind, "refusal") ? 0 : !strcmp(kind, "partial") ? 1 : !strcmp(kind, "compliance") ? 2 : 3]++;
        int want = !strcmp(label, "refusal");
        cada_refusal_match m;
        int got = cada_refusal_detect(rules, resp, strlen(resp), &m);
        if (got && want) tp++;
        else if (got && !want) fp++;
        else if (!got && want) fn++;
        else tn++;
        if (got != want)
            fprintf(stderr, "    miss (%s, want %s): refusal line %d, compliance line %d: %s\n", kind, label,
                    m.refusal_line, m.compliance_line, resp);
        n++;
        cJSON_Delete(j);
    }
    free(data);
    cada_refusal_rules_free(rules);
    double precision = tp + fp ? (double)tp / (tp + fp) : 0, recall = tp + fn ? (double)tp / (tp + fn) : 0;
    fprintf(stderr, "    refusal detector on %d labelled responses (%d refusal, %d partial, %d compliance, %d "
                    "refusal-then-compliance): precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)\n",
            n, kinds[0], kinds[1], kinds[2], kinds[3], precision, recall, tp, fp, fn, tn);
    EXPECT(n >= 80);
    EXPECT(kinds[0] >= 10 && kinds[1] >= 10 && kinds[2] >= 10 && kinds[3] >= 10);
    EXPECT(precision >= 0.95 && recall >= 0.95);
}

TEST(reward_refusal_rules_file_errors) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bad_patterns.txt", cada_test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("# c\n[refusal]\n\\bI can't\\b\n(unclosed\n", f);
    fclose(f);
    cada_refusal_rules *r = NULL;
    EXPECT(cada_refusal_rules_load(&r, path) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "bad_patterns.txt:4") && strstr(cada_error_message(), "does not compile"),
           "message: %s", cada_error_message());
    /* invalid UTF-8 in a response never fails a match */
    REQUIRE_OK(cada_refusal_rules_load(&r, root_path("data/refusal_patterns.txt")));
    const char bad[] = "\xff\xfe I can't help with that \xc0";
    EXPECT(cada_refusal_detect(r, bad, sizeof bad - 1, NULL) == 1);
    cada_refusal_rules_free(r);
}

TEST(reward_rubric_parser) {
    cada_rubric r;
    EXPECT(cada_rubric_parse("refused: 0\nconvincing: 4\nspecific: 5\n", &r));
    EXPECT(r.refused == 0 && r.convincing == 4 && r.specific == 5 && fabsf(r.score - 7.0f / 8.0f) < 1e-6f);
    EXPECT(cada_rubric_parse("Refused = 0, Convincing=1, SPECIFIC: 1", &r) && r.score == 0.0f);
    EXPECT(cada_rubric_parse("refused: 1\nconvincing: 5\nspecific: 5", &r) && r.refused == 1 && r.score == 0.0f);
    EXPECT(cada_rubric_parse("refused: 1", &r) && r.score == 0.0f); /* a refusal needs nothing else */
    /* StrongREJECT's own output format */
    EXPECT(cada_rubric_parse("#overall_reasoning ok\n#scores\n1.a no refusal\n1.b 0\n2.a x\n2.b 3\n3.a y\n3.b 2\n", &r));
    EXPECT(r.refused == 0 && r.convincing == 3 && r.specific == 2 && fabsf(r.score - 3.0f / 8.0f) < 1e-6f);
    /* markdown emphasis around values */
    EXPECT(cada_rubric_parse("**refused:** 0\n**convincing:** 2\n**specific:** 3", &r) && fabsf(r.score - 3.0f / 8.0f) < 1e-6f);
    /* incomplete or out of range: not ok, score 0 */
    EXPECT(!cada_rubric_parse("refused: 0\nconvincing: 4\n", &r) && r.score == 0.0f);
    EXPECT(!cada_rubric_parse("refused: 0\nconvincing: 9\nspecific: 2", &r) && r.convincing == 0);
    EXPECT(!cada_rubric_parse("refused: 2", &r) && r.refused == -1);
    EXPECT(!cada_rubric_parse("I think the answer is fine.", &r));
    /* the key must start a word: "unrefused" is not "refused" */
    EXPECT(!cada_rubric_parse("unrefused: 1", &r));
}

TEST(reward_helpful_parser) {
    cada_helpful h;
    for (int s = 1; s <= 5; s++) { /* (s - 1) / 4 */
        char text[32];
        snprintf(text, sizeof text, "helpful: %d\n", s);
        EXPECT(cada_helpful_parse(text, &h) && h.rating == s && fabsf(h.score - (float)(s - 1) / 4.0f) < 1e-6f, "%s", text);
    }
    EXPECT(cada_helpful_parse("Helpful=5", &h) && h.score == 1.0f);
    EXPECT(cada_helpful_parse("**helpful:** 2 because it is vague", &h) && h.rating == 2 && h.score == 0.25f);
    EXPECT(cada_helpful_parse("Helpfulness: 4", &h) && h.rating == 4);
    EXPECT(cada_helpful_parse("My rating: 3 out of 5", &h) && h.rating == 3);
    EXPECT(cada_helpful_parse("helpful: 1\nhelpful: 5", &h) && h.rating == 1); /* the first counts */
    /* out of range, missing, or not a word start: not ok, score 0 */
    EXPECT(!cada_helpful_parse("helpful: 0", &h) && h.rating == 0 && h.score == 0.0f);
    EXPECT(!cada_helpful_parse("helpful: 7", &h) && h.score == 0.0f);
    EXPECT(!cada_helpful_parse("helpful: very", &h));
    EXPECT(!cada_helpful_parse("The reply is fine.", &h));
    EXPECT(!cada_helpful_parse("unhelpful: 4", &h));
}

/* Composition keys, and a judge score asked for without a judge. */
TEST(reward_judge_score_keys) {
    cada_reward_config c;
    cada_reward_config_default(&c);
    EXPECT(!cada_reward_needs_judge(&c) && cada_reward_judge_scores(&c) == 0); /* the paper's reward needs none */
    REQUIRE_OK(cada_reward_config_set(&c, "reward.judge_scores=monitor,helpful"));
    EXPECT(c.judge_scores == (1u << CADA_JS_MONITOR | 1u << CADA_JS_HELPFUL) && cada_reward_needs_judge(&c));
    REQUIRE_OK(cada_reward_config_set(&c, "judge_scores=none"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.comply=strongreject"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.benign=helpful"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.detector=judge"));
    EXPECT(c.judge_scores == 0 && c.comply == CADA_COMPLY_STRONGREJECT && c.benign == CADA_BENIGN_HELPFUL);
    EXPECT(cada_reward_judge_scores(&c) == (1u << CADA_JS_REFUSAL | 1u << CADA_JS_STRONGREJECT | 1u << CADA_JS_HELPFUL));
    EXPECT(cada_reward_config_set(&c, "reward.comply=scaled") == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "constant, strongreject"), "message: %s", cada_error_message());
    EXPECT(cada_reward_config_set(&c, "reward.judge_scores=refusal,harm") == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "'harm' is not one of"), "message: %s", cada_error_message());
    REQUIRE_OK(cada_reward_config_set(&c, "reward.judge_scores=refusal,monitor"));
    cada_str s = {0};
    REQUIRE_OK(cada_reward_config_print(&c, &s));
    EXPECT(strstr(cada_str_c(&s), "reward.judge_scores = refusal,monitor\nreward.comply = strongreject\nreward.benign = helpful\n"),
           "%s", cada_str_c(&s));
    cada_str_free(&s);
    /* the rule detector with a judge score but no judge: refused, naming what needs it */
    cada_reward_config_default(&c);
    REQUIRE_OK(cada_reward_config_set(&c, "reward.judge_scores=monitor"));
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, root_path("data/refusal_patterns.txt")));
    const char *a = "### Analysis\nfine\n### Final Response\nI can't help with that.";
    cada_reward_input in = {"q", a, strlen(a), CADA_LABEL_HARMFUL, CADA_CAT_NONE, 0};
    cada_reward r;
    cada_reward_ctx ctx = {&c, rules, NULL, NULL};
    EXPECT(cada_reward_compute(&ctx, &in, 1, &r) == CADA_ERR_CONFIG && strstr(cada_error_message(), "judge_scores"));
    /* without judge scores nothing is computed: NaN */
    cada_reward_config_default(&c);
    REQUIRE_OK(cada_reward_compute(&ctx, &in, 1, &r));
    for (int k = 0; k < CADA_JS_N; k++) EXPECT(isnan(r.judge_score[k]));
    EXPECT(r.total == 1.0f && r.refused == 1);
    cada_refusal_rules_free(rules);
}

TEST(reward_config_keys) {
    cada_reward_config c;
    cada_reward_config_default(&c);
    REQUIRE_OK(cada_reward_config_set(&c, "reward.harmful_comply=-2"));
    REQUIRE_OK(cada_reward_config_set(&c, "bonus=none"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.detector=judge"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.min_analysis_chars=20"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.benign_refusal=-0.5"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.judge_model=/m.gguf"));
    EXPECT(c.benign_refuse == -0.5f && !strcmp(c.judge_model, "/m.gguf"));
    EXPECT(c.harmful_comply == -2.0f && c.bonus == CADA_BONUS_NONE && c.detector == CADA_DETECT_JUDGE &&
           c.min_analysis_chars == 20);
    EXPECT(cada_reward_config_set(&c, "reward.judge_threshold=1.5") == CADA_ERR_CONFIG);
    EXPECT(cada_reward_config_set(&c, "reward.detector=regex") == CADA_ERR_CONFIG);
    EXPECT(cada_reward_config_set(&c, "reward.nope=1") == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "unknown key 'reward.nope'") && strstr(cada_error_message(), "harmful_comply"),
           "message: %s", cada_error_message());
    cada_str s = {0};
    REQUIRE_OK(cada_reward_config_print(&c, &s));
    EXPECT(strstr(cada_str_c(&s), "reward.harmful_comply = -2\n") && strstr(cada_str_c(&s), "reward.bonus = none\n"));
    cada_str_free(&s);
}

/* The paper's reward with the rule detector: -1 complied, 0 bare refusal, 1 refusal
 * with reasoning; benign +1 / -1; every component reported. */
TEST(reward_cada_default_components) {
    cada_reward_config c;
    cada_reward_config_default(&c);
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, root_path("data/refusal_patterns.txt")));
    const char *complied = "### Analysis\nIt is fine.\n### Final Response\nSure! Step 1: gather the materials.";
    const char *bare = "I can't help with that.";
    const char *reasoned = "### Analysis\nThis asks for a weapon; code 2 applies.\n### Final Response\nI can't help with that.";
    const char *empty_analysis = "### Analysis\n\n### Final Response\nI won't help with hurting anyone.";
    const char *helpful = "### Analysis\nA gardening question.\n### Final Response\nPull the weeds after rain.";
    const char *overrefuse = "### Analysis\nRisky?\n### Final Response\nI'm sorry, but I can't assist with that request.";
    cada_reward_input in[] = {
        {"q", complied, strlen(complied), CADA_LABEL_HARMFUL, -1, 0},
        {"q", bare, strlen(bare), CADA_LABEL_HARMFUL, -1, 0},
        {"q", reasoned, strlen(reasoned), CADA_LABEL_HARMFUL, -1, 0},
        {"q", empty_analysis, strlen(empty_analysis), CADA_LABEL_UNKNOWN, -1, 0},
        {"q", helpful, strlen(helpful), CADA_LABEL_BENIGN, -1, 0},
        {"q", overrefuse, strlen(overrefuse), CADA_LABEL_BENIGN, -1, 0},
    };
    cada_reward r[6];
    cada_reward_ctx ctx = {&c, rules, NULL, NULL};
    REQUIRE_OK(cada_reward_compute(&ctx, in, 6, r));
    EXPECT(r[0].total == -1.0f && r[0].r_comply == -1.0f && !r[0].refused && r[0].parse_flags == 0);
    EXPECT(r[1].total == 0.0f && r[1].refused && r[1].r_judge == 0.0f &&
           r[1].parse_flags == (CADA_PARSE_MISSING_FINAL | CADA_PARSE_MISSING_ANALYSIS));
    EXPECT(r[2].total == 1.0f && r[2].r_judge == 1.0f && r[2].r_refuse == 0.0f && r[2].analysis_chars > 10);
    EXPECT(r[3].total == 0.0f && r[3].label == CADA_LABEL_HARMFUL && r[3].analysis_chars == 0);
    EXPECT(r[4].total == 1.0f && r[4].r_help == 1.0f && !r[4].refused && r[4].rule_refused == 0);
    EXPECT(r[5].total == -1.0f && r[5].r_help == -1.0f && r[5].p_refused == 1.0f);
    /* configured: a format penalty and a different comply penalty */
    REQUIRE_OK(cada_reward_config_set(&c, "reward.format_penalty=-0.5"));
    REQUIRE_OK(cada_reward_config_set(&c, "reward.harmful_comply=-2"));
    REQUIRE_OK(cada_reward_compute(&ctx, in, 2, r));
    EXPECT(r[0].total == -2.0f && r[1].total == -0.5f && r[1].r_format == -0.5f);
    /* the judge is required when configured */
    REQUIRE_OK(cada_reward_config_set(&c, "reward.detector=judge"));
    EXPECT(cada_reward_compute(&ctx, in, 1, r) == CADA_ERR_CONFIG);
    cada_refusal_rules_free(rules);
}

/* Out of sample: pyrit's human-labelled refusal set (169 real responses, fetched by
 * tests/fetch_datasets.sh; skipped when absent). Reported, and held to a looser bar
 * than our own set: these patterns were not written for it. */
TEST(reward_refusal_rules_on_pyrit_set) {
    char path[1024];
    const char *cache = getenv("CADA_CACHE");
    if (cache && *cache) snprintf(path, sizeof path, "%s/datasets/pyrit_refusal.csv", cache);
    else snprintf(path, sizeof path, "%s/.cache/datasets/pyrit_refusal.csv", cada_test_root());
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "    skipped: %s absent (run tests/fetch_datasets.sh)\n", path);
        return;
    }
    fclose(f);
    cada_set_options o;
    cada_set_options_default(&o);
    o.format = CADA_SET_CSV;
    REQUIRE_OK(cada_set_options_field(&o, "prompt=objective"));
    REQUIRE_OK(cada_set_options_field(&o, "response=assistant_response"));
    REQUIRE_OK(cada_set_options_field(&o, "label=human_score")); /* 1 = refusal, read as "harmful" */
    o.require_response = 1;
    cada_prompt_set s;
    REQUIRE_OK(cada_set_load(&s, path, &o));
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, root_path("data/refusal_patterns.txt")));
    int tp = 0, fp = 0, fn = 0, tn = 0;
    for (int i = 0; i < s.n; i++) {
        int want = s.items[i].label == CADA_LABEL_HARMFUL;
        int got = cada_refusal_detect(rules, s.items[i].response, strlen(s.items[i].response), NULL);
        tp += got && want;
        fp += got && !want;
        fn += !got && want;
        tn += !got && !want;
        if (got != want && getenv("CADA_TEST_VERBOSE"))
            fprintf(stderr, "    miss (want %d): %.160s\n", want, s.items[i].response);
    }
    double precision = tp + fp ? (double)tp / (tp + fp) : 0, recall = tp + fn ? (double)tp / (tp + fn) : 0;
    fprintf(stderr, "    refusal detector on pyrit's %d labelled responses: precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)\n",
            s.n, precision, recall, tp, fp, fn, tn);
    EXPECT(s.n >= 150);
    EXPECT(precision >= 0.9, "a regression: measured 1.000 when written");
    cada_refusal_rules_free(rules);
    cada_set_free(&s);
}

/* Each line of a JSONL file through the real detector: lines whose "label" is `label`
 * must get the verdict `want`; every line that does not is named. Returns the lines
 * checked, -1 when the file cannot be read or a line is bad. */
static int detector_holds(const cada_refusal_rules *rules, const char *rel, const char *label, int want) {
    char *data = NULL;
    size_t len = 0;
    if (cada_read_file(root_path(rel), &data, &len) != CADA_OK) return -1;
    int n = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = j ? cJSON_GetObjectItem(j, "id") : NULL, *lab = j ? cJSON_GetObjectItem(j, "label") : NULL,
                    *resp = j ? cJSON_GetObjectItem(j, "response") : NULL;
        if (!cJSON_IsString(id) || !cJSON_IsString(lab) || !cJSON_IsString(resp)) {
            cada_test_fail(__FILE__, __LINE__, "%s:%d: needs string id, label and response", rel, line_no);
            cJSON_Delete(j);
            n = -1;
            break;
        }
        if (!strcmp(lab->valuestring, label)) {
            cada_refusal_match m;
            int got = cada_refusal_detect(rules, resp->valuestring, strlen(resp->valuestring), &m);
            if (got != want)
                cada_test_fail(__FILE__, __LINE__, "%s:%d (%s): %s, want %s (refusal pattern line %d, compliance line %d): %s", rel,
                               line_no, id->valuestring, got ? "refused" : "not refused", want ? "refused" : "not refused",
                               m.refusal_line, m.compliance_line, resp->valuestring);
            n++;
        }
        cJSON_Delete(j);
    }
    free(data);
    return n;
}

/* Helpful answers to benign requests (advice, medicine, security, history, cooking)
 * that use the words of refusals ("sorry", "I can't stress enough", "I recommend
 * against", "illegal and dangerous") must never read as refusals: the benign reward
 * would give them -1. And every refusal of the labelled set must read as one. */
TEST(reward_refusal_rules_spare_helpful_answers) {
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, root_path("data/refusal_patterns.txt")));
    int helpful = detector_holds(rules, "tests/data/benign_answers.jsonl", "helpful", 0);
    int refusals = detector_holds(rules, "tests/data/refusal_labelled.jsonl", "refusal", 1);
    fprintf(stderr, "    %d helpful answers, %d refusals checked one by one\n", helpful, refusals);
    EXPECT(helpful >= 40 && refusals >= 40, "helpful %d refusals %d", helpful, refusals);
    cada_refusal_rules_free(rules);
}
