/* tests/unit/test_utility.c: the utility benchmarks' files and answers (eval/utility.h):
 * GSM8K's last number and its "#### N" reference, BBH's answer and normalisation, the
 * three loaders on small inline files, and malformed records named by path:line. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "eval/utility.h"

#include <string.h>

TEST(utility_gsm8k_last_number) {
    char out[64];
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"She pays 3 + 4 = 7 dollars.\nThe answer is 7.", "7"},
        {"Total: $1,234.50 in all", "1234.5"},
        {"It falls to -12 degrees", "-12"},
        {"x = 3.0", "3"},
        {"about 72.", "72"},          /* a full stop is not a decimal point */
        {"2, 3, 4", "4"},             /* a list is not a thousands number */
        {"3,000,000 grains", "3000000"},
        {"Answer: +5", "5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        EXPECT(cada_gsm8k_last_number(cases[i].text, out, sizeof out) == 1, "%s", cases[i].text);
        EXPECT(!strcmp(out, cases[i].want), "'%s' -> '%s', want '%s'", cases[i].text, out, cases[i].want);
    }
    EXPECT(cada_gsm8k_last_number("no digits here", out, sizeof out) == 0 && out[0] == 0);
}

TEST(utility_bbh_answer_and_normalise) {
    char out[128];
    EXPECT(cada_bbh_answer("Let's think. A is true.\nSo the answer is (B).", out, sizeof out) && !strcmp(out, "b"), "%s", out);
    EXPECT(cada_bbh_answer("The Answer is: **False**.\n", out, sizeof out) && !strcmp(out, "false"), "%s", out);
    EXPECT(cada_bbh_answer("step one\nstep two\n  Valid  \n\n", out, sizeof out) && !strcmp(out, "valid"), "%s", out);
    EXPECT(!cada_bbh_answer("   \n", out, sizeof out));
    cada_bbh_normalise("  (A) ", 6, out, sizeof out);
    EXPECT(!strcmp(out, "a"), "%s", out);
    cada_bbh_normalise("dyck  [ ]  ", 11, out, sizeof out);
    EXPECT(!strcmp(out, "dyck [ ]"), "%s", out);
    cada_bbh_normalise("\"24\"", 4, out, sizeof out);
    EXPECT(!strcmp(out, "24"), "%s", out);
}

TEST(utility_loaders) {
    cada_utility_set s;
    const char *g = cada_test_write("gsm8k_test.jsonl", "{\"question\": \"Q1?\", \"answer\": \"2 + 2 = <<2+2=4>>4\\n#### 4\"}\n\n"
                                                  "{\"question\": \"Q2?\", \"answer\": \"so\\n#### 1,000\"}\n");
    REQUIRE(cada_utility_load(&s, CADA_UTILITY_GSM8K, g) == CADA_OK, "%s", cada_error_message());
    EXPECT(s.n == 2 && !strcmp(s.items[0].reference, "4") && !strcmp(s.items[1].reference, "1000") && s.items[1].line == 3);
    cada_utility_set_free(&s);
    const char *m = cada_test_write("college_physics_test.csv", "\"What is g, roughly?\",9.8,3.1,1.0,0,A\nSecond,a,b,c,d,D\n");
    REQUIRE(cada_utility_load(&s, CADA_UTILITY_MMLU, m) == CADA_OK, "%s", cada_error_message());
    EXPECT(s.n == 2 && !strcmp(s.items[0].question, "What is g, roughly?") && !strcmp(s.items[1].choices[3], "d"));
    EXPECT(!strcmp(s.subject, "college physics"), "subject %s", s.subject);
    cada_utility_set_free(&s);
    const char *b = cada_test_write("navigate.json", "{\"canary\": \"c\", \"examples\": [{\"input\": \"Take 1 step.\", \"target\": "
                                               "\"No\"}, {\"input\": \"Turn.\", \"target\": \"Yes\"}]}");
    REQUIRE(cada_utility_load(&s, CADA_UTILITY_BBH, b) == CADA_OK, "%s", cada_error_message());
    EXPECT(s.n == 2 && !strcmp(s.items[1].reference, "Yes") && !strcmp(s.name, "navigate"));
    cada_utility_set_free(&s);
}

TEST(utility_malformed_records_name_the_line) {
    cada_utility_set s;
    static const struct {
        cada_utility_kind kind;
        const char *name, *content, *message;
    } bad[] = {
        {CADA_UTILITY_GSM8K, "g1.jsonl", "{\"question\": \"ok\", \"answer\": \"#### 1\"}\n{\"question\": \"x\", \"answer\": \"no "
                                         "number\"}\n",
         "g1.jsonl:2: field 'answer' does not end with \"#### <number>\""},
        {CADA_UTILITY_GSM8K, "g2.jsonl", "{\"answer\": \"#### 1\"}\n", "g2.jsonl:1: field 'question' is missing"},
        {CADA_UTILITY_GSM8K, "g3.jsonl", "\n\n[1]\n", "g3.jsonl:3: not a JSON object"},
        {CADA_UTILITY_MMLU, "m1.csv", "q,a,b,c,d,A\nq,a,b,c,d,E\n", "m1.csv:2: answer 'E' is not one of A, B, C, D"},
        {CADA_UTILITY_MMLU, "m2.csv", "question,A,B,C,D,answer,extra\n", "m2.csv:1: 7 fields"},
        {CADA_UTILITY_BBH, "b1.json", "{\"examples\": [{\"input\": \"x\", \"target\": \"y\"}, {\"input\": \"x\"}]}",
         "b1.json: examples[1]: no string \"input\" and \"target\""},
        {CADA_UTILITY_BBH, "b2.json", "[]", "b2.json: not a JSON object with an \"examples\" array"},
        {CADA_UTILITY_BBH, "b3.json", "{\"examples\": []}", "b3.json: no items"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *p = cada_test_write(bad[i].name, bad[i].content);
        EXPECT(cada_utility_load(&s, bad[i].kind, p) == CADA_ERR_FORMAT, "%s loaded", bad[i].name);
        EXPECT(strstr(cada_error_message(), bad[i].message), "%s: message '%s'", bad[i].name, cada_error_message());
        EXPECT(s.n == 0 && !s.items);
    }
    EXPECT(cada_utility_load(&s, CADA_UTILITY_BBH, "/nonexistent/x.json") == CADA_ERR_IO);
    EXPECT(strstr(cada_error_message(), "/nonexistent/x.json"), "%s", cada_error_message());
}
