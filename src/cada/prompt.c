/* cada/prompt.c: see prompt.h. */
#include "cada/prompt.h"

#include "base/kv.h"

#include "base/log.h"
#include "base/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const template_names[] = {"cada", "rule", "plain"};
static const char *const select_names[] = {"category", "bm25", "category+bm25"};

const char *cada_template_name(cada_template_kind t) { return (unsigned)t < 3 ? template_names[t] : "?"; }
const char *cada_select_name(cada_select_rule s) { return (unsigned)s < 3 ? select_names[s] : "?"; }

void cada_prompt_config_default(cada_prompt_config *c) {
    memset(c, 0, sizeof *c);
    c->template = CADA_TEMPLATE_CADA;
    c->k = 2;
    c->select = CADA_SELECT_CATEGORY_BM25;
    c->pool = 0;
    c->balance = 1;
    c->seed = 0;
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    snprintf(c->codes, sizeof c->codes, "safety_codes.txt");
    snprintf(c->spec, sizeof c->spec, "spec.md");
    snprintf(c->cases, sizeof c->cases, "cases.jsonl");
    snprintf(c->template_cada, sizeof c->template_cada, "templates/cada.txt");
    snprintf(c->template_rule, sizeof c->template_rule, "templates/rule.txt");
    snprintf(c->template_plain, sizeof c->template_plain, "templates/plain.txt");
}

static cada_status parse_int(const char *key, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: '%s' is not an integer in [%ld, %ld]", key, v, lo, hi);
    *out = x;
    return CADA_OK;
}

static cada_status parse_enum(const char *key, const char *v, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return CADA_OK;
        }
    char known[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, names[i], sizeof known - strlen(known) - 1);
    }
    return CADA_ERR(CADA_ERR_CONFIG, "%s: '%s' is not one of %s", key, v, known);
}

static cada_status set_path(const char *key, const char *v, char *dst, size_t cap) {
    if (!*v || strlen(v) >= cap) return CADA_ERR(CADA_ERR_CONFIG, "%s: path empty or longer than %zu bytes", key, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return CADA_OK;
}

#define PROMPT_KEYS                                                                                                  \
    "template, k, selection, pool, balance, seed, data_dir, codes, spec, cases, template_cada, template_rule, "         \
    "template_plain"

cada_status cada_prompt_config_set(cada_prompt_config *c, const char *kv) {
    char key[64];
    const char *k, *v;
    CADA_TRY(cada_kv_split(kv, "prompt", key, sizeof key, &k, &v));
    long x = 0;
    int e = 0;
    if (!strcmp(k, "template")) {
        CADA_TRY(parse_enum(key, v, template_names, 3, &e));
        c->template = (cada_template_kind)e;
    } else if (!strcmp(k, "k")) {
        CADA_TRY(parse_int(key, v, 0, CADA_PROMPT_MAX_K, &x));
        c->k = (int)x;
    } else if (!strcmp(k, "selection") || !strcmp(k, "select")) {
        CADA_TRY(parse_enum(key, v, select_names, 3, &e));
        c->select = (cada_select_rule)e;
    } else if (!strcmp(k, "pool")) {
        CADA_TRY(parse_int(key, v, 0, 1024, &x));
        c->pool = (int)x;
    } else if (!strcmp(k, "balance")) {
        CADA_TRY(parse_int(key, v, 0, 1, &x));
        c->balance = (int)x;
    } else if (!strcmp(k, "seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-')
            return CADA_ERR(CADA_ERR_CONFIG, "%s: '%s' is not an unsigned integer", key, v);
        c->seed = s;
    } else if (!strcmp(k, "data_dir")) {
        return set_path(key, v, c->data_dir, sizeof c->data_dir);
    } else if (!strcmp(k, "codes")) {
        return set_path(key, v, c->codes, sizeof c->codes);
    } else if (!strcmp(k, "spec")) {
        return set_path(key, v, c->spec, sizeof c->spec);
    } else if (!strcmp(k, "cases")) {
        return set_path(key, v, c->cases, sizeof c->cases);
    } else if (!strcmp(k, "template_cada")) {
        return set_path(key, v, c->template_cada, sizeof c->template_cada);
    } else if (!strcmp(k, "template_rule")) {
        return set_path(key, v, c->template_rule, sizeof c->template_rule);
    } else if (!strcmp(k, "template_plain")) {
        return set_path(key, v, c->template_plain, sizeof c->template_plain);
    } else {
        return CADA_ERR(CADA_ERR_CONFIG, "unknown key '%s' (prompt keys: " PROMPT_KEYS ")", key);
    }
    return CADA_OK;
}

cada_status cada_prompt_config_print(const cada_prompt_config *c, cada_str *out) {
    return cada_str_printf(out,
                           "prompt.template = %s\nprompt.k = %d\nprompt.selection = %s\nprompt.pool = %d\n"
                           "prompt.balance = %d\nprompt.seed = %llu\nprompt.data_dir = %s\nprompt.codes = %s\n"
                           "prompt.spec = %s\nprompt.cases = %s\nprompt.template_cada = %s\n"
                           "prompt.template_rule = %s\nprompt.template_plain = %s\n",
                           cada_template_name(c->template), c->k, cada_select_name(c->select), c->pool, c->balance,
                           (unsigned long long)c->seed, c->data_dir, c->codes, c->spec, c->cases, c->template_cada,
                           c->template_rule, c->template_plain);
}

/* ---- builder ------------------------------------------------------------------------- */

void cada_prompt_builder_free(cada_prompt_builder *b) {
    cada_policy_free(&b->policy);
    cada_case_bank_free(&b->bank);
    cada_tpl_free(&b->tpl);
    cada_str_free(&b->codes_text);
}

cada_status cada_prompt_builder_init(cada_prompt_builder *b, const cada_prompt_config *cfg) {
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    char codes[1024], spec[1024], cases[1024], tpl[1024];
    cada_path_join(codes, sizeof codes, cfg->data_dir, cfg->codes);
    cada_path_join(spec, sizeof spec, cfg->data_dir, cfg->spec);
    cada_path_join(cases, sizeof cases, cfg->data_dir, cfg->cases);
    const char *t = cfg->template == CADA_TEMPLATE_CADA   ? cfg->template_cada
                    : cfg->template == CADA_TEMPLATE_RULE ? cfg->template_rule
                                                          : cfg->template_plain;
    cada_path_join(tpl, sizeof tpl, cfg->data_dir, t);
    cada_status st = cada_policy_load(&b->policy, codes, spec);
    if (st == CADA_OK) st = cada_case_bank_load(&b->bank, cases);
    if (st == CADA_OK) st = cada_tpl_load(&b->tpl, tpl);
    if (st == CADA_OK && !cada_tpl_section_text(&b->tpl, "user"))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: no [user] section", tpl);
    int turns = cada_tpl_section_text(&b->tpl, "case_user") != NULL, answers = cada_tpl_section_text(&b->tpl, "case_assistant") != NULL;
    if (st == CADA_OK && turns != answers)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: [case_user] and [case_assistant] come together (one is missing)", tpl);
    if (st == CADA_OK && cfg->template == CADA_TEMPLATE_CADA && cfg->k > 0 && !turns && !cada_tpl_section_text(&b->tpl, "case"))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: no [case] section, nor [case_user] and [case_assistant] (needed with prompt.k > 0)", tpl);
    if (st == CADA_OK) st = cada_policy_codes_text(&b->policy, &b->codes_text);
    if (st != CADA_OK) {
        cada_error_wrap("prompt builder (template %s)", cada_template_name(cfg->template));
        cada_prompt_builder_free(b);
    }
    return st;
}

typedef struct {
    int idx;
    int group;      /* 0: in the category (or no category filter), 1: outside */
    double score;   /* BM25 (0 when unused) */
    uint32_t key;   /* seeded tie-break */
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->group != b->group) return a->group - b->group;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->idx - b->idx;
}

cada_status cada_prompt_choose(const cada_prompt_builder *b, const char *prompt_id, const char *request, int hint,
                               cada_prompt_choice *out) {
    memset(out, 0, sizeof *out);
    out->category = hint;
    const cada_prompt_config *c = &b->cfg;
    const int n = b->bank.n;
    if (c->template == CADA_TEMPLATE_PLAIN) return CADA_OK;
    int need_cases = c->template == CADA_TEMPLATE_CADA && c->k > 0;
    int use_bm25 = c->select != CADA_SELECT_CATEGORY;
    int need_category = c->template == CADA_TEMPLATE_RULE || c->select != CADA_SELECT_BM25;
    if (!need_cases && !(need_category && hint < 0)) return CADA_OK;
    ranked *r = malloc(sizeof *r * (size_t)n);
    double *scores = calloc((size_t)n, sizeof *scores);
    if (!r || !scores) {
        free(r);
        free(scores);
        return CADA_ERR(CADA_ERR_NOMEM, "case ranking");
    }
    cada_rng rng;
    cada_rng_init(&rng, c->seed, cada_hash64(prompt_id), 0x63617365u /* "case" */, 0);
    for (int i = 0; i < n; i++) r[i] = (ranked){i, 0, 0.0, cada_rng_u32(&rng)};
    if (use_bm25 || (need_category && hint < 0)) cada_bm25_score(&b->bank.index, request, scores);
    if (need_category && hint < 0) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (scores[i] > 0 && (best < 0 || scores[i] > scores[best] || (scores[i] == scores[best] && r[i].key < r[best].key)))
                best = i;
        if (best >= 0) {
            out->category = b->bank.cases[best].cat;
            out->inferred = 1;
        }
    }
    if (need_cases) {
        for (int i = 0; i < n; i++) {
            if (use_bm25) r[i].score = scores[i];
            if (c->select != CADA_SELECT_BM25 && out->category >= 0) r[i].group = b->bank.cases[i].cat != out->category;
        }
        qsort(r, (size_t)n, sizeof *r, cmp_ranked);
        int k = c->k < n ? c->k : n;
        int pool = c->pool > k ? (c->pool < n ? c->pool : n) : k;
        int rank_of[CADA_PROMPT_MAX_K]; /* positions in r of the chosen */
        int chosen = 0;
        if (pool == k) {
            for (int i = 0; i < k; i++) rank_of[chosen++] = i;
        } else {
            /* partial Fisher-Yates over positions 0..pool-1 */
            int *pos = malloc(sizeof *pos * (size_t)pool);
            if (!pos) {
                free(r);
                free(scores);
                return CADA_ERR(CADA_ERR_NOMEM, "case pool");
            }
            for (int i = 0; i < pool; i++) pos[i] = i;
            for (int i = 0; i < k; i++) {
                int j = i + (int)(cada_rng_u32(&rng) % (uint32_t)(pool - i));
                int t = pos[i];
                pos[i] = pos[j];
                pos[j] = t;
                rank_of[chosen++] = pos[i];
            }
            free(pos);
        }
        if (c->balance && k >= 2) {
            int n_refuse = 0;
            for (int i = 0; i < chosen; i++) n_refuse += b->bank.cases[r[rank_of[i]].idx].refuse;
            if (n_refuse == 0 || n_refuse == chosen) {
                int want_refuse = n_refuse == 0;
                int worst = 0; /* the lowest-ranked chosen */
                for (int i = 1; i < chosen; i++)
                    if (rank_of[i] > rank_of[worst]) worst = i;
                for (int p = 0; p < n; p++)
                    if (b->bank.cases[r[p].idx].refuse == want_refuse) {
                        rank_of[worst] = p;
                        break;
                    }
            }
        }
        /* rank order */
        for (int i = 1; i < chosen; i++)
            for (int j = i; j > 0 && rank_of[j] < rank_of[j - 1]; j--) {
                int t = rank_of[j];
                rank_of[j] = rank_of[j - 1];
                rank_of[j - 1] = t;
            }
        for (int i = 0; i < chosen; i++) out->cases[i] = r[rank_of[i]].idx;
        out->n_cases = chosen;
    }
    free(r);
    free(scores);
    {
        cada_str ids = {0};
        cada_prompt_choice_ids(b, out, &ids);
        CADA_DEBUG("prompt %s: template %s, category %s%s, cases [%s]", prompt_id, cada_template_name(c->template),
                   cada_category_id(out->category), out->inferred ? " (inferred)" : "", cada_str_c(&ids));
        cada_str_free(&ids);
    }
    return CADA_OK;
}

cada_status cada_prompt_choice_ids(const cada_prompt_builder *b, const cada_prompt_choice *ch, cada_str *out) {
    for (int i = 0; i < ch->n_cases; i++)
        CADA_TRY(cada_str_printf(out, "%s%s", i ? "," : "", b->bank.cases[ch->cases[i]].id));
    return cada_str_append(out, "", 0);
}

/* Section `section` of the template for the i-th chosen case (its placeholders). */
static cada_status render_case(const cada_prompt_builder *b, const cada_prompt_choice *ch, int i, const char *section, int required,
                               cada_str *out) {
    const cada_case *k = &b->bank.cases[ch->cases[i]];
    char index[16];
    snprintf(index, sizeof index, "%d", i + 1);
    const cada_tpl_var cv[] = {
        {"case_index", index},
        {"case_id", k->id},
        {"case_category", cada_category_id(k->cat)},
        {"case_request", k->request},
        {"case_analysis", k->analysis},
        {"case_decision", k->refuse ? "refuse" : "help"},
        {"case_response", k->response},
    };
    return cada_tpl_render(&b->tpl, section, required, cv, (int)(sizeof cv / sizeof *cv), out);
}

int cada_prompt_has_case_turns(const cada_prompt_builder *b) {
    return b->cfg.template == CADA_TEMPLATE_CADA && cada_tpl_section_text(&b->tpl, "case_user") &&
           cada_tpl_section_text(&b->tpl, "case_assistant");
}

cada_status cada_prompt_messages(const cada_prompt_builder *b, const char *request, const cada_prompt_choice *ch,
                                 cada_str *system, cada_str *user) {
    cada_str cases = {0}, spec = {0};
    cada_status st = CADA_OK;
    /* with case turns the [case] section is optional: {cases} may still list them */
    int case_required = !cada_prompt_has_case_turns(b);
    for (int i = 0; i < ch->n_cases && st == CADA_OK; i++) {
        if (i && cases.len) st = cada_str_puts(&cases, "\n\n");
        if (st == CADA_OK) st = render_case(b, ch, i, "case", case_required, &cases);
    }
    if (ch->category >= 0) st = st == CADA_OK ? cada_str_puts(&spec, b->policy.spec[ch->category]) : st;
    else /* no category at all: the whole specification */
        for (int c = 0; c < CADA_N_CATEGORIES && st == CADA_OK; c++)
            st = cada_str_printf(&spec, "%s%s:\n%s", c ? "\n\n" : "", cada_category_title(c), b->policy.spec[c]);
    const cada_tpl_var v[] = {
        {"request", request},
        {"codes", cada_str_c(&b->codes_text)},
        {"cases", cada_str_c(&cases)},
        {"spec", cada_str_c(&spec)},
        {"category", cada_category_id(ch->category)},
        {"category_title", cada_category_title(ch->category)},
    };
    const int nv = (int)(sizeof v / sizeof *v);
    if (st == CADA_OK) st = cada_tpl_render(&b->tpl, "system", 0, v, nv, system);
    if (st == CADA_OK) st = cada_tpl_render(&b->tpl, "user", 1, v, nv, user);
    cada_str_free(&cases);
    cada_str_free(&spec);
    return st;
}

cada_status cada_chat_text(const cada_tokenizer *tok, const char *system, const char *user, cada_str *out) {
    cada_chat_msg msgs[2];
    size_t n = 0;
    if (system && system[0]) msgs[n++] = (cada_chat_msg){"system", system};
    msgs[n++] = (cada_chat_msg){"user", user};
    cada_tok_bytes text = {0};
    cada_status st = cada_tok_chat_render(tok, msgs, n, CADA_CHAT_ADD_GENERATION_PROMPT, &text);
    if (st == CADA_OK) st = cada_str_append(out, text.data ? text.data : "", text.len);
    cada_tok_bytes_free(&text);
    return st;
}

/* The conversation of a template with case turns: [system], then per chosen case a user
 * turn ([case_user]) and the assistant's answer ([case_assistant]), then [user]. */
static cada_status chat_with_case_turns(const cada_prompt_builder *b, const cada_tokenizer *tok, const cada_prompt_choice *ch,
                                        const cada_str *system, const cada_str *user, cada_str *out) {
    cada_str turns[2 * CADA_PROMPT_MAX_K];
    cada_chat_msg msgs[2 * CADA_PROMPT_MAX_K + 2];
    memset(turns, 0, sizeof turns);
    size_t n = 0;
    cada_status st = CADA_OK;
    if (system->len) msgs[n++] = (cada_chat_msg){"system", cada_str_c(system)};
    for (int i = 0; i < ch->n_cases && st == CADA_OK; i++) {
        st = render_case(b, ch, i, "case_user", 1, &turns[2 * i]);
        if (st == CADA_OK) st = render_case(b, ch, i, "case_assistant", 1, &turns[2 * i + 1]);
    }
    for (int i = 0; i < ch->n_cases && st == CADA_OK; i++) {
        msgs[n++] = (cada_chat_msg){"user", cada_str_c(&turns[2 * i])};
        msgs[n++] = (cada_chat_msg){"assistant", cada_str_c(&turns[2 * i + 1])};
    }
    msgs[n++] = (cada_chat_msg){"user", cada_str_c(user)};
    cada_tok_bytes text = {0};
    if (st == CADA_OK) st = cada_tok_chat_render(tok, msgs, n, CADA_CHAT_ADD_GENERATION_PROMPT, &text);
    if (st == CADA_OK) st = cada_str_append(out, text.data ? text.data : "", text.len);
    cada_tok_bytes_free(&text);
    for (int i = 0; i < 2 * ch->n_cases; i++) cada_str_free(&turns[i]);
    return st;
}

cada_status cada_prompt_render(const cada_prompt_builder *b, const cada_tokenizer *tok, const char *prompt_id,
                               const char *request, int hint, cada_prompt_choice *choice, cada_str *out) {
    cada_prompt_choice local;
    if (!choice) choice = &local;
    CADA_TRY(cada_prompt_choose(b, prompt_id, request, hint, choice));
    cada_str system = {0}, user = {0};
    cada_status st = cada_prompt_messages(b, request, choice, &system, &user);
    if (st == CADA_OK && cada_prompt_has_case_turns(b)) st = chat_with_case_turns(b, tok, choice, &system, &user, out);
    else if (st == CADA_OK) st = cada_chat_text(tok, cada_str_c(&system), cada_str_c(&user), out);
    cada_str_free(&system);
    cada_str_free(&user);
    if (st != CADA_OK) cada_error_wrap("prompt %s", prompt_id);
    return st;
}
