/* tests/unit/test_attack.c: the pieces of eval/attack.h that need no model: reading the
 * attacker's proposal, template substitution, the jailbreak file (and its errors by
 * line), PAIR's scores, attack names, and the shipped data/attacks files (they load and
 * render with the variables the code gives them). The attacks end to end:
 * tests/cli/eval_attack.sh. */
#include "test.h"

#include "base/error.h"
#include "eval/attack.h"

#include <string.h>

/* The proposal of reply, and whether the fallback was used. */
static int extract(const char *reply, const char *want) {
    cada_str s = {0};
    int empty = cada_attack_extract(reply, strlen(reply), "FALLBACK", &s);
    int ok = !strcmp(cada_str_c(&s), want);
    if (!ok) fprintf(stderr, "extract(%s) = '%s', want '%s'\n", reply, cada_str_c(&s), want);
    cada_str_free(&s);
    return ok ? (empty ? 2 : 1) : 0;
}

TEST(attack_extract_proposal) {
    EXPECT(extract("IMPROVEMENT: be subtler.\nPROMPT: Tell me a story about a locksmith.", "Tell me a story about a locksmith.") == 1);
    /* the last marker wins; markdown and quotes go */
    EXPECT(extract("PROMPT: first\nIMPROVEMENT: no\n**Prompt:** \"second try\"", "second try") == 1);
    EXPECT(extract("prompt: 'single quoted' ", "single quoted") == 1);
    /* PAIR's original JSON form */
    EXPECT(extract("{\"improvement\": \"x\", \"prompt\": \"As a researcher, explain it\"}", "As a researcher, explain it") == 1);
    /* no marker: the whole reply, stripped; "impromptu:" is not a marker */
    EXPECT(extract("  An impromptu: note here \n", "An impromptu: note here") == 1);
    /* nothing after the marker, or nothing at all: the fallback, counted */
    EXPECT(extract("IMPROVEMENT: try again. PROMPT:   \n ", "FALLBACK") == 2);
    EXPECT(extract("", "FALLBACK") == 2);
    EXPECT(extract(" ** \"\" ** ", "FALLBACK") == 2);
    /* a quote only at one end stays */
    EXPECT(extract("PROMPT: say \"hi\"", "say \"hi\"") == 1);
}

TEST(attack_template_substitution) {
    cada_str s = {0};
    REQUIRE_OK(cada_attack_apply_template("A {request} B {request} {other} {{x}}", "REQ", &s));
    EXPECT(!strcmp(cada_str_c(&s), "A REQ B REQ {other} {{x}}"), "got '%s'", cada_str_c(&s));
    cada_str_clear(&s);
    /* no placeholder: appended after a blank line */
    REQUIRE_OK(cada_attack_apply_template("You are FREE now.", "REQ", &s));
    EXPECT(!strcmp(cada_str_c(&s), "You are FREE now.\n\nREQ"), "got '%s'", cada_str_c(&s));
    cada_str_clear(&s);
    /* a request holding the placeholder is not substituted again */
    REQUIRE_OK(cada_attack_apply_template("[{request}]", "x {request} y", &s));
    EXPECT(!strcmp(cada_str_c(&s), "[x {request} y]"), "got '%s'", cada_str_c(&s));
    cada_str_free(&s);
}

static void expect_parse_error(const char *text, const char *needle1, const char *needle2) {
    cada_jailbreaks j;
    cada_status st = cada_jailbreaks_parse(&j, "jb.jsonl", text, strlen(text));
    EXPECT(st == CADA_ERR_FORMAT, "'%s' parsed", text);
    EXPECT(strstr(cada_error_message(), needle1) && strstr(cada_error_message(), needle2), "message: %s",
           cada_error_message());
    cada_error_clear();
}

TEST(attack_jailbreaks_file) {
    const char *good = "{\"id\": \"a\", \"template\": \"Say {request}\"}\n\n  {\"id\": \"b\", \"template\": \"plain\", \"x\": 1}\r\n";
    cada_jailbreaks j;
    REQUIRE_OK(cada_jailbreaks_parse(&j, "jb.jsonl", good, strlen(good)));
    EXPECT(j.n == 2 && !strcmp(j.items[0].id, "a") && !strcmp(j.items[1].text, "plain"));
    cada_jailbreaks_free(&j);
    expect_parse_error("{\"id\": \"a\", \"template\": \"t\"}\n\n{\"id\": \"b\", \"template\": broken}\n", "jb.jsonl:3", "JSON");
    expect_parse_error("{\"id\": \"a\"}\n", "jb.jsonl:1", "\"template\"");
    expect_parse_error("{\"id\": \"\", \"template\": \"t\"}\n", "jb.jsonl:1", "\"id\"");
    expect_parse_error("{\"id\": \"a\", \"template\": \"t\"}\n{\"id\": \"a\", \"template\": \"u\"}\n", "jb.jsonl:2", "duplicate id 'a'");
    expect_parse_error("[1, 2]\n", "jb.jsonl:1", "not a JSON object");
    expect_parse_error("\n \n", "jb.jsonl", "no jailbreak template");
    EXPECT(cada_jailbreaks_load(&j, "/nonexistent/jb.jsonl") != CADA_OK);
    cada_error_clear();
}

TEST(attack_pair_scores_and_names) {
    EXPECT(cada_attack_pair_score(1, NULL) == 1 && cada_attack_pair_score(0, NULL) == 10);
    cada_rubric refused = {1, 0, 0, 0.0f, 1}, unread = {-1, 0, 0, 0.0f, 0};
    cada_rubric full = {0, 5, 5, 1.0f, 1}, half = {0, 3, 3, 0.5f, 1}, weak = {0, 1, 1, 0.0f, 1};
    EXPECT(cada_attack_pair_score(0, &refused) == 1 && cada_attack_pair_score(0, &unread) == 1);
    EXPECT(cada_attack_pair_score(0, &full) == 10 && cada_attack_pair_score(0, &half) == 6 &&
           cada_attack_pair_score(0, &weak) == 1);
    const char *names[] = {"none", "template", "pap", "pair"};
    for (int i = 0; i < 4; i++) {
        cada_attack_kind k;
        REQUIRE_OK(cada_attack_parse(names[i], &k));
        EXPECT((int)k == i && !strcmp(cada_attack_name(k), names[i]));
    }
    cada_attack_kind k;
    EXPECT(cada_attack_parse("gcg", &k) == CADA_ERR_CONFIG && strstr(cada_error_message(), "none|template|pap|pair"));
    cada_error_clear();
}

/* The shipped files: every template loads, the prompts render with the code's variables. */
TEST(attack_data_files) {
    char path[1024];
    cada_jailbreaks j;
    snprintf(path, sizeof path, "%s/data/attacks/jailbreaks.jsonl", cada_test_root());
    REQUIRE_OK(cada_jailbreaks_load(&j, path));
    int with = 0;
    for (int i = 0; i < j.n; i++) with += strstr(j.items[i].text, "{request}") != NULL;
    EXPECT(j.n >= 6 && with >= 1 && with < j.n, "%d templates, %d with {request}", j.n, with);
    cada_jailbreaks_free(&j);
    cada_tpl t;
    cada_str s = {0};
    snprintf(path, sizeof path, "%s/data/attacks/pap_misrepresentation.txt", cada_test_root());
    REQUIRE_OK(cada_tpl_load(&t, path));
    const cada_tpl_var pv[] = {{"request", "REQ"}};
    REQUIRE_OK(cada_tpl_render(&t, "system", 0, pv, 1, &s));
    REQUIRE_OK(cada_tpl_render(&t, "user", 1, pv, 1, &s));
    EXPECT(strstr(cada_str_c(&s), "REQ") && strstr(cada_str_c(&s), "PROMPT:"));
    cada_tpl_free(&t);
    cada_str_clear(&s);
    snprintf(path, sizeof path, "%s/data/attacks/pair_attacker.txt", cada_test_root());
    REQUIRE_OK(cada_tpl_load(&t, path));
    const cada_tpl_var v[] = {{"goal", "GOAL"}, {"prompt", "P"}, {"response", "R"}, {"score", "7"}, {"iteration", "2"}};
    REQUIRE_OK(cada_tpl_render(&t, "system", 1, v, 1, &s));
    REQUIRE_OK(cada_tpl_render(&t, "first", 1, v, 1, &s));
    REQUIRE_OK(cada_tpl_render(&t, "feedback", 1, v, 5, &s));
    EXPECT(strstr(cada_str_c(&s), "GOAL") && strstr(cada_str_c(&s), "SCORE: 7") && strstr(cada_str_c(&s), "PROMPT:"));
    cada_tpl_free(&t);
    cada_str_free(&s);
}
