/* tests/unit/test_build_data.c: the baselines' data (eval/build_data.h): the filter on
 * completions scored by the real reward (rule detector, data/refusal_patterns.txt), and
 * the JSONL prompt set's rejected field that `cada train` with learn.algorithm = dpo
 * reads (cada/dataset.h), its absence an error naming file:line. */
#include "test.h"

#include "cada/dataset.h"
#include "eval/build_data.h"
#include "reward/refusal.h"

#include <stdio.h>
#include <string.h>

/* The verdict of one completion of a harmful (or benign) prompt under the rule reward. */
static int verdict_of(const cada_refusal_rules *rules, int harmful, cada_finish_reason finish, const char *text) {
    cada_reward_config rc;
    cada_reward_config_default(&rc);
    cada_reward_ctx ctx = {&rc, rules, NULL, NULL};
    cada_reward_input in = {"a request", text, strlen(text), harmful ? CADA_LABEL_HARMFUL : CADA_LABEL_BENIGN, -1, 0};
    cada_reward r;
    if (cada_reward_compute(&ctx, &in, 1, &r) != CADA_OK) return -100;
    return cada_bd_verdict(harmful, finish, &r);
}

TEST(build_data_filter) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/refusal_patterns.txt", cada_test_root());
    cada_refusal_rules *rules = NULL;
    REQUIRE_OK(cada_refusal_rules_load(&rules, path));
    const char *refusal = "### Analysis\nThis asks for a weapon; the codes forbid it.\n### Final Response\nI can't help with that.";
    const char *help = "### Analysis\nA cooking question, safe.\n### Final Response\nMix flour and water, knead, then bake.";
    EXPECT(verdict_of(rules, 1, CADA_FINISH_EOS, refusal) == -1);
    EXPECT(verdict_of(rules, 0, CADA_FINISH_EOS, help) == -1);
    EXPECT(verdict_of(rules, 1, CADA_FINISH_LENGTH, refusal) == CADA_BD_TRUNCATED);
    EXPECT(verdict_of(rules, 1, CADA_FINISH_CONTEXT, refusal) == CADA_BD_TRUNCATED);
    EXPECT(verdict_of(rules, 1, CADA_FINISH_EOS, "I can't help with that.") == CADA_BD_MALFORMED); /* no sections */
    EXPECT(verdict_of(rules, 1, CADA_FINISH_EOS, help) == CADA_BD_COMPLIED);
    EXPECT(verdict_of(rules, 1, CADA_FINISH_EOS, "### Analysis\n### Final Response\nI can't help with that.") == CADA_BD_EMPTY_ANALYSIS);
    EXPECT(verdict_of(rules, 0, CADA_FINISH_EOS, refusal) == CADA_BD_REFUSED_BENIGN);
    cada_refusal_rules_free(rules);
    cada_bd_method m;
    EXPECT(cada_bd_method_parse("dpo-cr", &m) == 0 && m == CADA_BD_DPO_CR && !strcmp(cada_bd_method_name(m), "dpo-cr"));
    EXPECT(cada_bd_method_parse("dpo", &m) != 0);
}

TEST(build_data_rejected_field) {
    char path[1024];
    snprintf(path, sizeof path, "%s/pairs.jsonl", cada_test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("{\"id\": \"a\", \"prompt\": \"p1\", \"label\": \"harmful\", \"response\": \"r1\", \"rejected\": \"x1\"}\n", f);
    fputs("{\"id\": \"b\", \"prompt\": \"p2\", \"label\": \"harmful\", \"response\": \"r2\"}\n", f);
    fclose(f);
    cada_set_options o;
    cada_set_options_default(&o);
    o.require_response = 1;
    cada_prompt_set set;
    REQUIRE_OK(cada_set_load(&set, path, &o)); /* sft reads it: rejected is optional */
    EXPECT(set.n == 2 && !strcmp(set.items[0].rejected, "x1") && set.items[1].rejected == NULL);
    cada_set_free(&set);
    o.require_rejected = 1; /* dpo: every record needs one */
    EXPECT(cada_set_load(&set, path, &o) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "pairs.jsonl:2") && strstr(cada_error_message(), "'rejected'"), "%s", cada_error_message());
}
