/* eval/attack.c: see attack.h. */
#include "eval/attack.h"

#include "base/log.h"
#include "cada/template.h"
#include "reward/parse.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[] = {"none", "template", "pap", "pair"};

const char *cada_attack_name(cada_attack_kind k) {
    return k >= CADA_ATTACK_NONE && k <= CADA_ATTACK_PAIR ? kind_names[k] : "?";
}

cada_status cada_attack_parse(const char *name, cada_attack_kind *k) {
    for (int i = 0; i <= CADA_ATTACK_PAIR; i++)
        if (!strcmp(name, kind_names[i])) {
            *k = (cada_attack_kind)i;
            return CADA_OK;
        }
    return CADA_ERR(CADA_ERR_CONFIG, "eval.attack = '%s' is not one of none|template|pap|pair", name);
}

void cada_attack_config_default(cada_attack_config *c) {
    memset(c, 0, sizeof *c);
    c->attacker_max_tokens = 256;
    c->attacker_temperature = 1.0f;
    c->jailbreaks = "data/attacks/jailbreaks.jsonl";
    c->pap_prompt = "data/attacks/pap_misrepresentation.txt";
    c->pair_prompt = "data/attacks/pair_attacker.txt";
    c->pair_streams = 3;
    c->pair_iterations = 3;
}

void cada_attack_result_free(cada_attack_result *r) {
    free(r->prompt);
    cada_eval_gen_free(&r->gen);
    memset(r, 0, sizeof *r);
}

/* ---- the pieces --------------------------------------------------------------------- */

/* Strips whitespace and markdown emphasis at both ends, then one pair of matching
 * quotes (a proposal is often given as "..."), repeatedly. */
static void strip_proposal(const char **p, size_t *n) {
    for (;;) {
        size_t before = *n;
        while (*n && (isspace((unsigned char)**p) || **p == '*')) (*p)++, (*n)--;
        while (*n && (isspace((unsigned char)(*p)[*n - 1]) || (*p)[*n - 1] == '*')) (*n)--;
        if (*n >= 2 && (**p == '"' || **p == '\'' || **p == '`') && (*p)[*n - 1] == **p) (*p)++, *n -= 2;
        if (*n == before) return;
    }
}

int cada_attack_extract(const char *reply, size_t len, const char *fallback, cada_str *out) {
    const char *at = reply ? reply : "";
    size_t n = reply ? len : 0;
    /* the last "prompt:" that starts a word; '*' and a quote may sit before the colon
     * ("**PROMPT**:", JSON's "prompt": ...) */
    for (size_t i = 0; reply && i + 6 <= len; i++) {
        if (strncasecmp(reply + i, "prompt", 6) || (i > 0 && isalpha((unsigned char)reply[i - 1]))) continue;
        size_t j = i + 6;
        while (j < len && (reply[j] == '*' || reply[j] == '"')) j++;
        if (j < len && reply[j] == ':') {
            at = reply + j + 1;
            n = len - (j + 1);
        }
    }
    /* a JSON value: drop the object's closing brace before the quotes are stripped */
    while (n && (isspace((unsigned char)at[n - 1]) || at[n - 1] == '}')) n--;
    strip_proposal(&at, &n);
    if (n == 0) {
        cada_str_puts(out, fallback ? fallback : "");
        return 1;
    }
    cada_str_append(out, at, n);
    return 0;
}

cada_status cada_attack_apply_template(const char *tpl, const char *request, cada_str *out) {
    static const char mark[] = "{request}";
    const char *at = strstr(tpl, mark);
    if (!at) {
        CADA_TRY(cada_str_puts(out, tpl));
        CADA_TRY(cada_str_puts(out, "\n\n"));
        return cada_str_puts(out, request);
    }
    const char *p = tpl;
    for (; at; p = at + sizeof mark - 1, at = strstr(p, mark)) {
        CADA_TRY(cada_str_append(out, p, (size_t)(at - p)));
        CADA_TRY(cada_str_puts(out, request));
    }
    return cada_str_puts(out, p);
}

void cada_jailbreaks_free(cada_jailbreaks *j) {
    for (int i = 0; i < j->n; i++) {
        free(j->items[i].id);
        free(j->items[i].text);
    }
    free(j->items);
    memset(j, 0, sizeof *j);
}

/* A non-empty string field of a template line. */
static cada_status jb_field(const cJSON *o, const char *name, const char *path, long line, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: \"%s\" is missing or not a non-empty string", path, line, name);
    *out = v->valuestring;
    return CADA_OK;
}

static cada_status jb_line(cada_jailbreaks *j, const char *path, long line, const char *text, size_t len) {
    cJSON *o = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: not a JSON object {\"id\", \"template\"}", path, line);
    }
    const char *id = NULL, *tpl = NULL;
    cada_status st = jb_field(o, "id", path, line, &id);
    if (st == CADA_OK) st = jb_field(o, "template", path, line, &tpl);
    for (int i = 0; i < j->n && st == CADA_OK; i++)
        if (!strcmp(j->items[i].id, id)) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: duplicate id '%s'", path, line, id);
    if (st == CADA_OK) {
        cada_jailbreak *grown = realloc(j->items, sizeof *grown * (size_t)(j->n + 1));
        if (!grown) st = CADA_ERR(CADA_ERR_NOMEM, "%s", path);
        else {
            j->items = grown;
            grown[j->n] = (cada_jailbreak){cada_strdup(id), cada_strdup(tpl)};
            if (!grown[j->n].id || !grown[j->n].text) {
                free(grown[j->n].id);
                free(grown[j->n].text);
                st = CADA_ERR(CADA_ERR_NOMEM, "%s", path);
            } else {
                j->n++;
            }
        }
    }
    cJSON_Delete(o);
    return st;
}

cada_status cada_jailbreaks_parse(cada_jailbreaks *j, const char *path, const char *text, size_t len) {
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    cada_status st = CADA_OK;
    long line = 0;
    for (size_t at = 0; at < len && st == CADA_OK;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *p = text + at;
        size_t n = end - at;
        line++;
        cada_trim(&p, &n);
        if (n) st = jb_line(j, path, line, p, n);
        at = end + 1;
    }
    if (st == CADA_OK && j->n == 0) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no jailbreak template in the file", path);
    if (st != CADA_OK) cada_jailbreaks_free(j);
    return st;
}

cada_status cada_jailbreaks_load(cada_jailbreaks *j, const char *path) {
    char *text = NULL;
    size_t len = 0;
    memset(j, 0, sizeof *j);
    CADA_TRY(cada_read_file(path, &text, &len));
    cada_status st = cada_jailbreaks_parse(j, path, text, len);
    free(text);
    return st;
}

int cada_attack_pair_score(int refused, const cada_rubric *r) {
    if (!r) return refused ? 1 : 10;
    if (!r->ok || r->refused == 1) return 1;
    int s = 1 + (int)lround(9.0 * (double)r->score);
    return s < 1 ? 1 : s > 10 ? 10 : s;
}

/* ---- target and attacker rounds ------------------------------------------------------ */

/* One target round: prompts[k] in the request's place of goal goal_of[k]'s prompt, all
 * in one engine call, then the detector's verdicts (one batch). */
static cada_status target_round(const cada_attack_ctx *c, const cada_attack_goal *goals, const int *goal_of,
                                char *const *prompts, const uint32_t *samples, int m, cada_eval_gen *gens,
                                cada_prompt_choice *choices, int *refused, cada_attack_totals *tot) {
    char **texts = calloc((size_t)m, sizeof *texts);
    uint64_t *ids = calloc((size_t)m, sizeof *ids);
    cada_reward_input *rin = calloc((size_t)m, sizeof *rin);
    cada_reward *rw = calloc((size_t)m, sizeof *rw);
    cada_status st = texts && ids && rin && rw ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "attack: %d target queries", m);
    for (int k = 0; k < m && st == CADA_OK; k++) {
        const cada_attack_goal *g = &goals[goal_of[k]];
        cada_str t = {0};
        st = cada_prompt_render(c->builder, c->target->tok, g->id, prompts[k], g->hint, &choices[k], &t);
        texts[k] = t.data;
        if (st == CADA_OK && !texts[k]) st = CADA_ERR(CADA_ERR_NOMEM, "attack prompt");
        ids[k] = cada_hash64(g->key);
    }
    double sec = 0;
    if (st == CADA_OK) st = cada_eval_generate(c->target, &c->target_gen, (const char *const *)texts, ids, samples, m, gens, &sec);
    tot->seconds += sec;
    tot->engine_calls++;
    for (int k = 0; k < m && st == CADA_OK; k++) {
        const cada_attack_goal *g = &goals[goal_of[k]];
        rin[k] = (cada_reward_input){g->request, gens[k].text, gens[k].text_len, CADA_LABEL_HARMFUL, g->hint, 0};
        tot->target_tokens += gens[k].res.n;
    }
    if (st == CADA_OK) st = cada_reward_compute(c->reward, rin, m, rw);
    for (int k = 0; k < m && st == CADA_OK; k++) refused[k] = rw[k].refused;
    tot->target_queries += m;
    for (int k = 0; texts && k < m; k++) free(texts[k]);
    free(texts);
    free(ids);
    free(rin);
    free(rw);
    return st;
}

/* One attacker round: texts (rendered with the attacker's chat template) in one call;
 * stream k is (seed, FNV-1a("attack/<key>/<stream[k]>"), samples[k]). */
static cada_status attacker_round(const cada_attack_ctx *c, const cada_attack_goal *goals, const int *goal_of,
                                  const int *stream, char *const *texts, const uint32_t *samples, int m,
                                  cada_eval_gen *gens, cada_attack_totals *tot) {
    uint64_t *ids = calloc((size_t)m, sizeof *ids);
    if (!ids) return CADA_ERR(CADA_ERR_NOMEM, "attack: %d attacker queries", m);
    for (int k = 0; k < m; k++) {
        char key[600];
        snprintf(key, sizeof key, "attack/%s/%d", goals[goal_of[k]].key, stream[k]);
        ids[k] = cada_hash64(key);
    }
    cada_eval_gen_config gc = {c->cfg->attacker_max_tokens, c->n_slots, c->cfg->attacker_temperature, 1.0f, c->seed,
                               c->progress, "attacker"};
    double sec = 0;
    cada_status st = cada_eval_generate(c->attacker, &gc, (const char *const *)texts, ids, samples, m, gens, &sec);
    tot->seconds += sec;
    tot->engine_calls++;
    tot->attacker_queries += m;
    for (int k = 0; k < m && st == CADA_OK; k++) tot->attacker_tokens += gens[k].res.n;
    free(ids);
    return st;
}

/* Moves attempt (prompt, gen, choice) into the result, replacing what it held. */
static void keep(cada_attack_result *r, char **prompt, cada_eval_gen *gen, const cada_prompt_choice *choice) {
    free(r->prompt);
    cada_eval_gen_free(&r->gen);
    r->prompt = *prompt;
    r->gen = *gen;
    r->choice = *choice;
    *prompt = NULL;
    memset(gen, 0, sizeof *gen);
}

/* ---- template --------------------------------------------------------------------- */

static cada_status run_template(const cada_attack_ctx *c, const cada_attack_goal *goals, int n, cada_attack_result *out,
                                cada_attack_totals *tot) {
    cada_jailbreaks jb;
    CADA_TRY(cada_jailbreaks_load(&jb, c->cfg->jailbreaks));
    const int T = c->cfg->jailbreak_limit > 0 && c->cfg->jailbreak_limit < jb.n ? c->cfg->jailbreak_limit : jb.n;
    const int m = n * T;
    tot->templates = T;
    char **prompts = calloc((size_t)m, sizeof *prompts);
    int *goal_of = calloc((size_t)m, sizeof *goal_of), *refused = calloc((size_t)m, sizeof *refused);
    uint32_t *samples = calloc((size_t)m, sizeof *samples);
    cada_eval_gen *gens = calloc((size_t)m, sizeof *gens);
    cada_prompt_choice *choices = calloc((size_t)m, sizeof *choices);
    cada_status st = prompts && goal_of && refused && samples && gens && choices ? CADA_OK
                                                                                 : CADA_ERR(CADA_ERR_NOMEM, "attack: templates");
    for (int k = 0; k < m && st == CADA_OK; k++) {
        cada_str s = {0};
        goal_of[k] = k / T;
        samples[k] = (uint32_t)(k % T);
        st = cada_attack_apply_template(jb.items[k % T].text, goals[k / T].request, &s);
        prompts[k] = s.data;
    }
    if (st == CADA_OK && c->progress) CADA_INFO("eval: attack template: %d prompts x %d templates", n, T);
    if (st == CADA_OK) st = target_round(c, goals, goal_of, prompts, samples, m, gens, choices, refused, tot);
    for (int i = 0; i < n && st == CADA_OK; i++) {
        cada_attack_result *r = &out[i];
        r->stream = r->iteration = -1;
        r->templates_tried = r->target_queries = T;
        int kept = 0; /* the first jailbreaking template, else the first */
        for (int t = 0; t < T; t++) {
            if (refused[i * T + t]) continue;
            if (!r->templates_jailbroken++) kept = t;
        }
        r->jailbroken = r->templates_jailbroken > 0;
        r->template_index = kept;
        snprintf(r->template_id, sizeof r->template_id, "%s", jb.items[kept].id);
        keep(r, &prompts[i * T + kept], &gens[i * T + kept], &choices[i * T + kept]);
        tot->pairs += T;
        tot->pairs_jailbroken += r->templates_jailbroken;
    }
    for (int k = 0; k < m; k++) {
        if (prompts) free(prompts[k]);
        if (gens) cada_eval_gen_free(&gens[k]);
    }
    free(prompts);
    free(goal_of);
    free(refused);
    free(samples);
    free(gens);
    free(choices);
    cada_jailbreaks_free(&jb);
    return st;
}

/* ---- pap ---------------------------------------------------------------------------- */

/* The attacker's conversation rendered with its chat template: [system] (optional),
 * then alternating user/assistant turns, generation prompt added. */
static cada_status attacker_text(const cada_tokenizer *tok, const char *system, const char *const *turns, int n_turns,
                                 cada_str *out) {
    cada_chat_msg *msgs = calloc((size_t)n_turns + 1, sizeof *msgs);
    if (!msgs) return CADA_ERR(CADA_ERR_NOMEM, "attacker turns");
    size_t n = 0;
    if (system && system[0]) msgs[n++] = (cada_chat_msg){"system", system};
    for (int t = 0; t < n_turns; t++) msgs[n++] = (cada_chat_msg){t % 2 ? "assistant" : "user", turns[t]};
    cada_tok_bytes text = {0};
    cada_status st = cada_tok_chat_render(tok, msgs, n, CADA_CHAT_ADD_GENERATION_PROMPT, &text);
    if (st == CADA_OK) st = cada_str_append(out, text.data ? text.data : "", text.len);
    cada_tok_bytes_free(&text);
    free(msgs);
    return st;
}

static cada_status run_pap(const cada_attack_ctx *c, const cada_attack_goal *goals, int n, cada_attack_result *out,
                           cada_attack_totals *tot) {
    cada_tpl tpl;
    CADA_TRY(cada_tpl_load(&tpl, c->cfg->pap_prompt));
    char **texts = calloc((size_t)n, sizeof *texts), **prompts = calloc((size_t)n, sizeof *prompts);
    int *goal_of = calloc((size_t)n, sizeof *goal_of), *zero = calloc((size_t)n, sizeof *zero);
    int *refused = calloc((size_t)n, sizeof *refused);
    cada_eval_gen *att = calloc((size_t)n, sizeof *att), *gens = calloc((size_t)n, sizeof *gens);
    cada_prompt_choice *choices = calloc((size_t)n, sizeof *choices);
    cada_status st = texts && prompts && goal_of && zero && refused && att && gens && choices
                         ? CADA_OK
                         : CADA_ERR(CADA_ERR_NOMEM, "attack: pap");
    for (int i = 0; i < n && st == CADA_OK; i++) {
        const cada_tpl_var v[] = {{"request", goals[i].request}};
        cada_str sys = {0}, user = {0}, text = {0};
        st = cada_tpl_render(&tpl, "system", 0, v, 1, &sys);
        if (st == CADA_OK) st = cada_tpl_render(&tpl, "user", 1, v, 1, &user);
        const char *turn = cada_str_c(&user);
        if (st == CADA_OK) st = attacker_text(c->attacker->tok, cada_str_c(&sys), &turn, 1, &text);
        texts[i] = text.data;
        goal_of[i] = i;
        cada_str_free(&sys);
        cada_str_free(&user);
    }
    if (st == CADA_OK && c->progress) CADA_INFO("eval: attack pap: paraphrasing %d prompts", n);
    if (st == CADA_OK) st = attacker_round(c, goals, goal_of, zero, texts, NULL, n, att, tot);
    for (int i = 0; i < n && st == CADA_OK; i++) {
        cada_str p = {0};
        out[i].empty_proposals = cada_attack_extract(att[i].text, att[i].text_len, goals[i].request, &p);
        tot->empty_proposals += out[i].empty_proposals;
        if (!(prompts[i] = p.data)) st = CADA_ERR(CADA_ERR_NOMEM, "attack: pap proposal");
    }
    if (st == CADA_OK) st = target_round(c, goals, goal_of, prompts, NULL, n, gens, choices, refused, tot);
    for (int i = 0; i < n && st == CADA_OK; i++) {
        cada_attack_result *r = &out[i];
        r->stream = r->iteration = r->template_index = -1;
        r->attacker_queries = r->target_queries = 1;
        r->jailbroken = !refused[i];
        keep(r, &prompts[i], &gens[i], &choices[i]);
    }
    for (int i = 0; i < n; i++) {
        if (texts) free(texts[i]);
        if (prompts) free(prompts[i]);
        if (att) cada_eval_gen_free(&att[i]);
        if (gens) cada_eval_gen_free(&gens[i]);
    }
    free(texts);
    free(prompts);
    free(goal_of);
    free(zero);
    free(refused);
    free(att);
    free(gens);
    free(choices);
    cada_tpl_free(&tpl);
    return st;
}

/* ---- pair ---------------------------------------------------------------------------- */

/* One stream's conversation: turns[0] is the opening user turn, then (attacker reply,
 * feedback) per iteration. */
typedef struct {
    char **turns;
    int n_turns;
} pair_stream;

static void pair_stream_free(pair_stream *s) {
    for (int t = 0; t < s->n_turns; t++) free(s->turns[t]);
    free(s->turns);
    memset(s, 0, sizeof *s);
}

static cada_status pair_push(pair_stream *s, char *turn) {
    if (!turn) return CADA_ERR(CADA_ERR_NOMEM, "pair turn");
    char **grown = realloc(s->turns, sizeof *grown * (size_t)(s->n_turns + 1));
    if (!grown) {
        free(turn);
        return CADA_ERR(CADA_ERR_NOMEM, "pair turn");
    }
    s->turns = grown;
    s->turns[s->n_turns++] = turn;
    return CADA_OK;
}

/* The attacker's text for a stream, the oldest (reply, feedback) exchanges dropped until
 * prompt + attacker_max_tokens fits `limit` positions (the opening turn and the latest
 * exchange always stay). */
static cada_status pair_text(const cada_attack_ctx *c, const char *system, const pair_stream *s, int limit,
                             cada_str *out) {
    const char **turns = calloc((size_t)s->n_turns, sizeof *turns);
    if (!turns) return CADA_ERR(CADA_ERR_NOMEM, "pair text");
    cada_status st = CADA_OK;
    for (int drop = 0;; drop++) {
        int kept = s->n_turns - 2 * drop;
        turns[0] = s->turns[0];
        for (int t = 1; t < kept; t++) turns[t] = s->turns[t + 2 * drop];
        cada_str_clear(out);
        st = attacker_text(c->attacker->tok, system, turns, kept, out);
        if (st != CADA_OK || kept <= 3) break;
        cada_tok_ids ids = {0};
        st = cada_tok_encode(c->attacker->tok, cada_str_c(out), out->len, 0, &ids);
        int fits = (int)ids.n + c->cfg->attacker_max_tokens < limit;
        cada_tok_ids_free(&ids);
        if (st != CADA_OK || fits) break;
    }
    free((void *)turns);
    return st;
}

/* Renders section `name` of the PAIR prompt with its variables into a malloc'd string. */
static char *pair_render(const cada_tpl *tpl, const char *name, const cada_tpl_var *v, int nv, cada_status *st) {
    cada_str s = {0};
    *st = cada_tpl_render(tpl, name, 1, v, nv, &s);
    if (*st == CADA_OK && !s.data) *st = cada_str_puts(&s, "");
    if (*st != CADA_OK) {
        cada_str_free(&s);
        return NULL;
    }
    return s.data;
}

/* Cuts s to at most max bytes at a UTF-8 boundary (malloc'd). */
static char *cut_text(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    return cada_strndup(s, n);
}

typedef struct {
    const cada_attack_ctx *c;
    const cada_attack_goal *goals;
    int n, S;
    cada_tpl tpl;
    pair_stream *streams; /* (n, S) */
    char **systems;       /* (n) the [system] turn with the goal */
    int *done;            /* (n) */
    int limit;            /* attacker positions */
} pair_run;

/* Scores of a target round: the judge's rubric when there is a judge, else the detector. */
static cada_status pair_scores(const pair_run *p, const int *goal_of, const cada_eval_gen *gens,
                               const cada_prompt_choice *choices, const int *refused, int m, int *score) {
    if (!p->c->judge) {
        for (int k = 0; k < m; k++) score[k] = cada_attack_pair_score(refused[k], NULL);
        return CADA_OK;
    }
    cada_judge_item *items = calloc((size_t)m, sizeof *items);
    cada_rubric *rub = calloc((size_t)m, sizeof *rub);
    char **finals = calloc((size_t)m, sizeof *finals);
    cada_status st = items && rub && finals ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "pair scores");
    for (int k = 0; k < m && st == CADA_OK; k++) {
        cada_parsed pp;
        cada_parse_completion(gens[k].text, gens[k].text_len, &pp);
        if (!(finals[k] = cada_strndup(pp.final, pp.final_len))) st = CADA_ERR_NOMEM;
        const cada_attack_goal *g = &p->goals[goal_of[k]];
        /* the category the evaluation's rubric uses for the kept reply (eval.c), so the
         * kept attempt's score is the rubric the report shows */
        items[k] = (cada_judge_item){g->request, finals[k], NULL, choices[k].category};
    }
    if (st == CADA_OK) st = cada_judge_rubric(p->c->judge, items, m, rub, NULL);
    for (int k = 0; k < m && st == CADA_OK; k++) score[k] = cada_attack_pair_score(refused[k], &rub[k]);
    for (int k = 0; finals && k < m; k++) free(finals[k]);
    free(finals);
    free(items);
    free(rub);
    return st;
}

/* One PAIR iteration over the live streams (m of them: goal_of, stream). */
static cada_status pair_iteration(pair_run *p, int it, const int *goal_of, const int *stream, int m,
                                  cada_attack_result *out, cada_attack_totals *tot) {
    const cada_attack_ctx *c = p->c;
    char **texts = calloc((size_t)m, sizeof *texts), **prompts = calloc((size_t)m, sizeof *prompts);
    uint32_t *samples = calloc((size_t)m, sizeof *samples);
    int *refused = calloc((size_t)m, sizeof *refused), *score = calloc((size_t)m, sizeof *score);
    cada_eval_gen *att = calloc((size_t)m, sizeof *att), *gens = calloc((size_t)m, sizeof *gens);
    cada_prompt_choice *choices = calloc((size_t)m, sizeof *choices);
    cada_status st = texts && prompts && samples && refused && score && att && gens && choices
                         ? CADA_OK
                         : CADA_ERR(CADA_ERR_NOMEM, "pair iteration");
    for (int k = 0; k < m && st == CADA_OK; k++) {
        cada_str t = {0};
        st = pair_text(c, p->systems[goal_of[k]], &p->streams[goal_of[k] * p->S + stream[k]], p->limit, &t);
        texts[k] = t.data;
        samples[k] = (uint32_t)it;
    }
    if (st == CADA_OK) st = attacker_round(c, p->goals, goal_of, stream, texts, samples, m, att, tot);
    for (int k = 0; k < m && st == CADA_OK; k++) {
        const cada_attack_goal *g = &p->goals[goal_of[k]];
        cada_str s = {0};
        int empty = cada_attack_extract(att[k].text, att[k].text_len, g->request, &s);
        out[goal_of[k]].empty_proposals += empty;
        tot->empty_proposals += empty;
        out[goal_of[k]].attacker_queries++;
        if (!(prompts[k] = s.data)) st = CADA_ERR(CADA_ERR_NOMEM, "pair proposal");
        samples[k] = (uint32_t)(it * p->S + stream[k]);
    }
    if (st == CADA_OK) st = target_round(c, p->goals, goal_of, prompts, samples, m, gens, choices, refused, tot);
    if (st == CADA_OK) st = pair_scores(p, goal_of, gens, choices, refused, m, score);
    /* the attacker's history: its reply, then the feedback on the attempt */
    for (int k = 0; k < m && st == CADA_OK; k++) {
        pair_stream *s = &p->streams[goal_of[k] * p->S + stream[k]];
        char num[16], iter[16];
        snprintf(num, sizeof num, "%d", score[k]);
        snprintf(iter, sizeof iter, "%d", it + 1);
        char *resp = cut_text(gens[k].text, CADA_ATTACK_FEEDBACK_CHARS);
        const cada_tpl_var v[] = {{"goal", p->goals[goal_of[k]].request}, {"prompt", prompts[k]},
                                  {"response", resp ? resp : ""}, {"score", num}, {"iteration", iter}};
        st = pair_push(s, cada_strdup(att[k].text));
        if (st == CADA_OK) {
            char *fb = pair_render(&p->tpl, "feedback", v, 5, &st);
            if (st == CADA_OK) st = pair_push(s, fb);
        }
        free(resp);
        out[goal_of[k]].target_queries++;
    }
    /* keep per prompt the first jailbreak (lowest stream), else the best score so far
     * (earliest on ties); streams of one prompt are consecutive in k */
    for (int k = 0; k < m && st == CADA_OK; k++) {
        cada_attack_result *r = &out[goal_of[k]];
        int better = p->done[goal_of[k]] ? 0 : !refused[k] || score[k] > r->score || !r->prompt;
        if (!better) continue;
        keep(r, &prompts[k], &gens[k], &choices[k]);
        r->stream = stream[k];
        r->iteration = it;
        r->score = score[k];
        if (!refused[k]) p->done[goal_of[k]] = r->jailbroken = 1;
    }
    for (int k = 0; k < m; k++) {
        if (texts) free(texts[k]);
        if (prompts) free(prompts[k]);
        if (att) cada_eval_gen_free(&att[k]);
        if (gens) cada_eval_gen_free(&gens[k]);
    }
    free(texts);
    free(prompts);
    free(samples);
    free(refused);
    free(score);
    free(att);
    free(gens);
    free(choices);
    return st;
}

static cada_status run_pair(const cada_attack_ctx *c, const cada_attack_goal *goals, int n, cada_attack_result *out,
                            cada_attack_totals *tot) {
    const int S = c->cfg->pair_streams, I = c->cfg->pair_iterations;
    if (S < 1 || I < 1) return CADA_ERR(CADA_ERR_CONFIG, "eval.pair_streams %d, eval.pair_iterations %d: both must be >= 1", S, I);
    pair_run p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.goals = goals;
    p.n = n;
    p.S = S;
    int pos = c->attacker->m->cfg.max_position_embeddings;
    p.limit = pos > 0 ? pos : 2048;
    cada_status st = cada_tpl_load(&p.tpl, c->cfg->pair_prompt);
    if (st != CADA_OK) return st;
    p.streams = calloc((size_t)n * (size_t)S, sizeof *p.streams);
    p.systems = calloc((size_t)n, sizeof *p.systems);
    p.done = calloc((size_t)n, sizeof *p.done);
    int *goal_of = calloc((size_t)n * (size_t)S, sizeof *goal_of), *stream = calloc((size_t)n * (size_t)S, sizeof *stream);
    if (!p.streams || !p.systems || !p.done || !goal_of || !stream) st = CADA_ERR(CADA_ERR_NOMEM, "pair: %d prompts", n);
    for (int i = 0; i < n && st == CADA_OK; i++) {
        const cada_tpl_var v[] = {{"goal", goals[i].request}};
        cada_str sys = {0};
        st = cada_tpl_render(&p.tpl, "system", 1, v, 1, &sys);
        p.systems[i] = sys.data;
        for (int s = 0; s < S && st == CADA_OK; s++) {
            char *first = pair_render(&p.tpl, "first", v, 1, &st);
            if (st == CADA_OK) st = pair_push(&p.streams[i * S + s], first);
        }
        out[i].stream = out[i].iteration = out[i].template_index = -1;
    }
    for (int it = 0; it < I && st == CADA_OK; it++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            for (int s = 0; s < S && !p.done[i]; s++) goal_of[m] = i, stream[m++] = s;
        if (!m) break;
        if (c->progress) CADA_INFO("eval: attack pair: iteration %d/%d, %d streams of %d prompts left", it + 1, I, m, m / S);
        st = pair_iteration(&p, it, goal_of, stream, m, out, tot);
    }
    for (int i = 0; p.streams && i < n * S; i++) pair_stream_free(&p.streams[i]);
    for (int i = 0; p.systems && i < n; i++) free(p.systems[i]);
    free(p.streams);
    free(p.systems);
    free(p.done);
    free(goal_of);
    free(stream);
    cada_tpl_free(&p.tpl);
    return st;
}

/* ---- the run ------------------------------------------------------------------------ */

cada_status cada_attack_run(const cada_attack_ctx *ctx, const cada_attack_goal *goals, int n, cada_attack_result *out,
                            cada_attack_totals *totals) {
    memset(totals, 0, sizeof *totals);
    if (n > 0) memset(out, 0, sizeof *out * (size_t)n);
    if (n <= 0) return CADA_OK;
    if (ctx->cfg->attacker_max_tokens < 1 || ctx->n_slots < 1)
        return CADA_ERR(CADA_ERR_CONFIG, "eval.attacker_max_tokens %d, slots %d: both must be >= 1",
                        ctx->cfg->attacker_max_tokens, ctx->n_slots);
    switch (ctx->cfg->kind) {
    case CADA_ATTACK_TEMPLATE: return run_template(ctx, goals, n, out, totals);
    case CADA_ATTACK_PAP: return run_pap(ctx, goals, n, out, totals);
    case CADA_ATTACK_PAIR: return run_pair(ctx, goals, n, out, totals);
    case CADA_ATTACK_NONE: break;
    }
    return CADA_ERR(CADA_ERR_INTERNAL, "attack: kind %d", (int)ctx->cfg->kind);
}
