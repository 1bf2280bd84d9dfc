/* cada/prompt.h: the prompt builder: a request becomes chat text for the policy model.
 *
 * Templates (prompt.template; files in data/templates/, format in cada/template.h):
 *   cada   the case-augmented prompt: the minimal safety codes ({codes}) and k cases
 *          ({cases}, each formatted by the template's [case] section), with the
 *          instruction to answer as "### Analysis" then "### Final Response";
 *   rule   the rule-only baseline (deliberative alignment with a detailed spec): the
 *          specification of the request's category ({spec}, from data/spec.md);
 *   plain  the request alone (no policy).
 * The template's [system] and [user] sections become the chat messages, rendered with
 * the model's chat template (cada_tok_chat_render, generation prompt added). No
 * [system] section (or an empty one) leaves the model's default system turn. A cada
 * template with [case_user] and [case_assistant] sections shows each chosen case as
 * an earlier exchange of the conversation instead (a user turn, then the assistant's
 * answer in the two-section format), between the system turn and the request: small
 * models copy a demonstrated answer far more readily than one described in the system
 * text (data/templates/cada_turns.txt; measured in docs/ARCHITECTURE.md).
 *
 * Case selection (prompt.selection), over the case bank (cada/casebank.h):
 *   category       cases of the hinted category, in a seeded random order;
 *   bm25           all cases ranked by BM25 similarity of the request to each case's
 *                  request + analysis (cada/bm25.h);
 *   category+bm25  cases of the hinted category ranked by BM25, then the others.
 * When a list runs short (a category with fewer than k cases), the remaining cases
 * follow in the same order. Without a hint, the category is the nearest case's
 * (highest BM25 score; "inferred" in the choice), and none when no word is shared.
 * Ties are broken by a seeded random key per case. prompt.pool > k draws the k cases
 * uniformly from the top `pool` candidates instead of taking the top k. With
 * prompt.balance = 1 and k >= 2, a choice holding only refusals (or only help) swaps
 * its last case for the best-ranked case of the other decision, so that every prompt
 * shows both a refusal and a helpful precedent (against over-refusal). Chosen cases
 * appear in rank order.
 * Every random draw comes from the Philox stream keyed by (prompt.seed,
 * FNV-1a(prompt id), "case"), so a prompt's cases depend on nothing else: not on the
 * batch, the rank, or the other prompts. The choice is logged at debug level
 * (CADA_LOG=debug) and returned, so callers can record the case ids.
 *
 * Configuration: the commands build cada_prompt_config from the [prompt] section of
 * the run configuration (sched/config_modules.h: cada_config_prompt; the seed there is
 * run.seed, the one seed of a run). cada_prompt_config_set sets it field by field from
 * "key=value" text with the same key names, plus seed ("select" is accepted for
 * "selection"). */
#ifndef CADA_CADA_PROMPT_H
#define CADA_CADA_PROMPT_H

#include "cada/casebank.h"
#include "cada/policy.h"
#include "cada/template.h"
#include "tok/tokenizer.h"

#include <stdint.h>
#include <stdio.h>

#define CADA_PROMPT_MAX_K 64

typedef enum { CADA_TEMPLATE_CADA = 0, CADA_TEMPLATE_RULE, CADA_TEMPLATE_PLAIN } cada_template_kind;
typedef enum { CADA_SELECT_CATEGORY = 0, CADA_SELECT_BM25, CADA_SELECT_CATEGORY_BM25 } cada_select_rule;

typedef struct {
    cada_template_kind template; /* prompt.template = cada | rule | plain (default cada) */
    int k;                       /* prompt.k: cases per prompt, 0..64 (default 2) */
    cada_select_rule select;     /* prompt.selection = category | bm25 | category+bm25 (default) */
    int pool;                    /* prompt.pool: draw k among the top `pool`; 0 = take the top k */
    int balance;                 /* prompt.balance = 0 | 1 (default 1) */
    uint64_t seed;               /* prompt.seed (default 0) */
    /* files; relative names are under data_dir */
    char data_dir[512];          /* prompt.data_dir (default "data") */
    char codes[256];             /* prompt.codes (default safety_codes.txt) */
    char spec[256];              /* prompt.spec (default spec.md) */
    char cases[256];             /* prompt.cases (default cases.jsonl) */
    char template_cada[256];     /* prompt.template_cada (default templates/cada.txt) */
    char template_rule[256];     /* prompt.template_rule (default templates/rule.txt) */
    char template_plain[256];    /* prompt.template_plain (default templates/plain.txt) */
} cada_prompt_config;

void cada_prompt_config_default(cada_prompt_config *c);
/* Sets one field from "key=value"; the key may carry the "prompt." prefix. Unknown
 * keys and bad values are CADA_ERR_CONFIG naming the key and what is accepted. */
cada_status cada_prompt_config_set(cada_prompt_config *c, const char *key_value);
/* Appends "prompt.key = value" lines (the resolved configuration). */
cada_status cada_prompt_config_print(const cada_prompt_config *c, cada_str *out);
const char *cada_template_name(cada_template_kind t);
const char *cada_select_name(cada_select_rule s);

typedef struct {
    cada_prompt_config cfg;
    cada_policy policy;
    cada_case_bank bank;
    cada_tpl tpl; /* the configured template */
    cada_str codes_text;
} cada_prompt_builder;

/* Loads the codes, spec, case bank and the configured template. */
cada_status cada_prompt_builder_init(cada_prompt_builder *b, const cada_prompt_config *cfg);
void cada_prompt_builder_free(cada_prompt_builder *b);

typedef struct {
    int n_cases;
    int cases[CADA_PROMPT_MAX_K]; /* indices into the bank, in prompt order */
    int category;                 /* the category used: the hint, the inferred one, or CADA_CAT_NONE */
    int inferred;                 /* 1 when category came from the nearest case */
} cada_prompt_choice;

/* Chooses the cases (none for the plain template; none but the category for rule). */
cada_status cada_prompt_choose(const cada_prompt_builder *b, const char *prompt_id, const char *request, int hint,
                               cada_prompt_choice *out);
/* The system and user messages of a choice (system empty: the model's default). */
cada_status cada_prompt_messages(const cada_prompt_builder *b, const char *request, const cada_prompt_choice *ch,
                                 cada_str *system, cada_str *user);
/* 1 when the template shows the cases as conversation turns ([case_user] and
 * [case_assistant]; cada template only). */
int cada_prompt_has_case_turns(const cada_prompt_builder *b);
/* choose + messages (+ the case turns) + the chat template with the generation
 * prompt; appends to out. */
cada_status cada_prompt_render(const cada_prompt_builder *b, const cada_tokenizer *tok, const char *prompt_id,
                               const char *request, int hint, cada_prompt_choice *choice, cada_str *out);
/* Appends the chosen case ids, comma-separated. */
cada_status cada_prompt_choice_ids(const cada_prompt_builder *b, const cada_prompt_choice *ch, cada_str *out);

/* Renders messages with a tokenizer's chat template (generation prompt added); shared
 * by the judge. system may be NULL or empty. */
cada_status cada_chat_text(const cada_tokenizer *tok, const char *system, const char *user, cada_str *out);

#endif
