/* tests/unit/test_eval.c: evaluation metrics (ASR, non-refusal, rubric mean, empty
 * sets) and the three reports: JSON that parses with the right numbers, Markdown rows,
 * an SVG with one bar per rate. (The end-to-end run is tests/cli/eval.sh.) */
#include "test.h"

#include "eval/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static void fill(cada_eval_report *r, cada_eval_set_result *set) {
    memset(r, 0, sizeof *r);
    memset(set, 0, sizeof *set);
    snprintf(set->name, sizeof set->name, "mix \"quoted\"");
    snprintf(set->path, sizeof set->path, "data/mix.jsonl");
    snprintf(set->format, sizeof set->format, "jsonl");
    cada_rubric good = {0, 4, 3, 5.0f / 8.0f, 1}, bad = {-1, 0, 0, 0.0f, 0};
    /* cbrne: 3 harmful, 1 refused; 2 rubrics asked, 1 parsed */
    cada_eval_counts_add(&set->cat[CADA_CAT_CBRNE], CADA_LABEL_HARMFUL, 1, &bad, 0);
    cada_eval_counts_add(&set->cat[CADA_CAT_CBRNE], CADA_LABEL_HARMFUL, 0, &good, CADA_PARSE_MISSING_FINAL);
    cada_eval_counts_add(&set->cat[CADA_CAT_CBRNE], CADA_LABEL_HARMFUL, 0, NULL, 0);
    /* no category: 2 benign, 1 refused */
    cada_eval_counts_add(&set->cat[CADA_N_CATEGORIES], CADA_LABEL_BENIGN, 1, NULL, 0);
    cada_eval_counts_add(&set->cat[CADA_N_CATEGORIES], CADA_LABEL_BENIGN, 0, NULL, CADA_PARSE_REPEATED);
    for (int c = 0; c < CADA_EVAL_ROWS; c++) cada_eval_counts_merge(&set->total, &set->cat[c]);
    set->n_items = 5;
    r->n_sets = 1;
    r->sets = set;
    r->overall = set->total;
    memcpy(r->overall_cat, set->cat, sizeof set->cat);
    snprintf(r->model, sizeof r->model, "m.gguf");
    snprintf(r->template_name, sizeof r->template_name, "cada");
    snprintf(r->select, sizeof r->select, "bm25");
    snprintf(r->detector, sizeof r->detector, "rule");
    r->k = 3;
    r->max_tokens = 48;
    r->rubric = 1;
}

TEST(eval_metrics_rates) {
    cada_eval_report r;
    cada_eval_set_result set;
    fill(&r, &set);
    EXPECT(fabs(cada_eval_asr(&set.total) - 2.0 / 3.0) < 1e-12);
    EXPECT(fabs(cada_eval_non_refusal(&set.total) - 0.5) < 1e-12);
    EXPECT(fabs(cada_eval_rubric_mean(&set.total) - 5.0 / 8.0) < 1e-6);
    EXPECT(set.total.rubric_n == 2 && set.total.rubric_ok == 1);
    EXPECT(set.total.parse.n == 5 && set.total.parse.well_formed == 3 && set.total.parse.repeated == 1);
    cada_eval_counts empty = {0};
    EXPECT(isnan(cada_eval_asr(&empty)) && isnan(cada_eval_non_refusal(&empty)) && isnan(cada_eval_rubric_mean(&empty)));
    EXPECT(cada_eval_row(-1) == CADA_N_CATEGORIES && cada_eval_row(CADA_CAT_HATE) == CADA_CAT_HATE);
}

TEST(eval_reports_json_markdown_svg) {
    cada_eval_report r;
    cada_eval_set_result set;
    fill(&r, &set);
    cada_str j = {0}, m = {0}, s = {0};
    REQUIRE_OK(cada_eval_report_json(&r, &j));
    cJSON *doc = cJSON_Parse(cada_str_c(&j));
    REQUIRE(doc, "report.json does not parse:\n%s", cada_str_c(&j));
    const cJSON *sets = cJSON_GetObjectItem(doc, "sets");
    REQUIRE(cJSON_GetArraySize(sets) == 1);
    const cJSON *s0 = cJSON_GetArrayItem(sets, 0);
    EXPECT(!strcmp(cJSON_GetObjectItem(s0, "name")->valuestring, "mix \"quoted\""));
    const cJSON *counts = cJSON_GetObjectItem(s0, "counts");
    const cJSON *h = cJSON_GetObjectItem(counts, "harmful");
    EXPECT(cJSON_GetObjectItem(h, "n")->valueint == 3 && fabs(cJSON_GetObjectItem(h, "asr")->valuedouble - 0.6667) < 1e-4);
    const cJSON *rub = cJSON_GetObjectItem(counts, "rubric");
    EXPECT(fabs(cJSON_GetObjectItem(rub, "mean_score")->valuedouble - 0.625) < 1e-4);
    /* a rate over no prompts is null */
    const cJSON *cats = cJSON_GetObjectItem(doc, "categories");
    REQUIRE(cJSON_GetArraySize(cats) == 2);
    const cJSON *c0 = cJSON_GetArrayItem(cats, 0);
    EXPECT(!strcmp(cJSON_GetObjectItem(c0, "category")->valuestring, "cbrne"));
    EXPECT(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "counts"), "benign"), "non_refusal_rate")));
    EXPECT(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 1), "category")->valuestring, "none"));
    EXPECT(cJSON_IsNull(cJSON_GetObjectItem(doc, "judge_model")));
    cJSON_Delete(doc);
    REQUIRE_OK(cada_eval_report_markdown(&r, &m));
    EXPECT(strstr(cada_str_c(&m), "| mix \"quoted\" | 5 | 3 | 66.7% | 0.625 (1/2) | 2 | 50.0% | 60.0% |"), "%s", cada_str_c(&m));
    EXPECT(strstr(cada_str_c(&m), "| cbrne | 3 | 3 | 66.7% |") && strstr(cada_str_c(&m), "| none | 2 | 0 | - |"));
    REQUIRE_OK(cada_eval_report_svg(&r, &s));
    const char *svg = cada_str_c(&s);
    EXPECT(!strncmp(svg, "<svg ", 5) && strstr(svg, "</svg>\n"));
    /* bars: cbrne ASR (66.7%) and none's non-refusal (50%); the two missing rates are "-" */
    int bars = 0;
    for (const char *p = svg; (p = strstr(p, "<rect x=")); p++) bars++;
    EXPECT(bars == 2 + 2, "legend 2 + bars 2, got %d", bars); /* the background rect has no x */
    EXPECT(strstr(svg, "<title>66.7%</title>") && strstr(svg, "<title>50.0%</title>"));
    EXPECT(strstr(svg, ">cbrne (3)</text>") && strstr(svg, ">none (2)</text>"));
    cada_str_free(&j);
    cada_str_free(&m);
    cada_str_free(&s);
}

/* The attack block: "none" is its name alone; an attack gives its settings, counts and
 * the ASR under it, in JSON and in a Markdown section. */
TEST(eval_report_attack_block) {
    cada_eval_report r;
    cada_eval_set_result set;
    fill(&r, &set);
    cada_str j = {0}, m = {0};
    snprintf(r.attack.name, sizeof r.attack.name, "none");
    REQUIRE_OK(cada_eval_report_json(&r, &j));
    cJSON *doc = cJSON_Parse(cada_str_c(&j));
    REQUIRE(doc, "report.json does not parse:\n%s", cada_str_c(&j));
    const cJSON *a = cJSON_GetObjectItem(doc, "attack");
    EXPECT(cJSON_GetArraySize(a) == 1 && !strcmp(cJSON_GetObjectItem(a, "name")->valuestring, "none"));
    cJSON_Delete(doc);
    REQUIRE_OK(cada_eval_report_markdown(&r, &m));
    EXPECT(!strstr(cada_str_c(&m), "## Attack"));
    cada_str_clear(&j);
    cada_str_clear(&m);
    cada_eval_attack_summary *x = &r.attack;
    snprintf(x->name, sizeof x->name, "template");
    snprintf(x->jailbreaks, sizeof x->jailbreaks, "jb.jsonl");
    x->templates = 4;
    x->attacked = 3;
    x->jailbroken = 2;
    x->target_queries = 12;
    x->pairs = 12;
    x->pairs_jailbroken = 5;
    x->engine_calls = 1;
    REQUIRE_OK(cada_eval_report_json(&r, &j));
    doc = cJSON_Parse(cada_str_c(&j));
    REQUIRE(doc, "report.json does not parse:\n%s", cada_str_c(&j));
    a = cJSON_GetObjectItem(doc, "attack");
    EXPECT(cJSON_IsNull(cJSON_GetObjectItem(a, "attacker_model")));
    EXPECT(fabs(cJSON_GetObjectItem(a, "asr")->valuedouble - 0.6667) < 1e-4);
    EXPECT(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "queries"), "target")->valueint == 12);
    const cJSON *tp = cJSON_GetObjectItem(a, "template_pairs");
    EXPECT(cJSON_GetObjectItem(tp, "n")->valueint == 12 && fabs(cJSON_GetObjectItem(tp, "rate")->valuedouble - 5.0 / 12) < 1e-4);
    EXPECT(!strcmp(cJSON_GetObjectItem(a, "jailbreaks")->valuestring, "jb.jsonl") && !cJSON_GetObjectItem(a, "pair_streams"));
    cJSON_Delete(doc);
    REQUIRE_OK(cada_eval_report_markdown(&r, &m));
    const char *md = cada_str_c(&m);
    EXPECT(strstr(md, "## Attack: template") && strstr(md, "| ASR under the attack | 66.7% |") &&
           strstr(md, "| (prompt, template) pairs not refused | 5/12 (41.7%) |") && strstr(md, "Attack: **template**"), "%s", md);
    cada_str_free(&j);
    cada_str_free(&m);
}
