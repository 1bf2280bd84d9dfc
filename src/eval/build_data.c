/* eval/build_data.c: see build_data.h. */
#define _POSIX_C_SOURCE 200809L
#include "eval/build_data.h"

#include "base/fs.h"
#include "base/log.h"
#include "cada/text.h"
#include "eval/eval.h"
#include "model/load.h"
#include "reward/parse.h"
#include "reward/refusal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {"dr", "rule", "cr", "dpo-cr"};
const char *const cada_bd_reason_names[CADA_BD_N_REASONS] = {"truncated", "malformed", "complied", "empty_analysis",
                                                             "refused_benign"};

const char *cada_bd_method_name(cada_bd_method m) { return (unsigned)m < 4 ? method_names[m] : "?"; }

int cada_bd_method_parse(const char *name, cada_bd_method *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, method_names[i])) {
            *out = (cada_bd_method)i;
            return 0;
        }
    return -1;
}

/* One prompt of the run: its set's name (the sampling key) and item. */
typedef struct {
    const char *set_name;
    const cada_item *item;
    int harmful;
} bd_prompt;

typedef struct {
    cada_prompt_set sets[64];
    int n_sets;
    bd_prompt *ps;
    int n;
} bd_prompts;

static void prompts_free(bd_prompts *p) {
    for (int s = 0; s < p->n_sets; s++) cada_set_free(&p->sets[s]);
    free(p->ps);
    memset(p, 0, sizeof *p);
}

/* Every file of c->sets, `limit` items each spread evenly; dr and dpo-cr leave benign
 * prompts out (counted in skipped). */
static cada_status load_prompts(const cada_bd_config *c, bd_prompts *p, cada_bd_stats *st) {
    char *list = cada_strdup(c->sets);
    if (!list) return CADA_ERR(CADA_ERR_NOMEM, "prompt sets");
    cada_status s = CADA_OK;
    int total = 0;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f && s == CADA_OK; f = strtok_r(NULL, ",", &save)) {
        if (p->n_sets == 64) s = CADA_ERR(CADA_ERR_CONFIG, "more than 64 prompt sets");
        else if ((s = cada_set_load(&p->sets[p->n_sets], f, &c->set_options)) == CADA_OK) total += p->sets[p->n_sets++].n;
    }
    free(list);
    if (s == CADA_OK && !p->n_sets) s = CADA_ERR(CADA_ERR_CONFIG, "no prompt set given (data.train_set or --set FILE)");
    if (s == CADA_OK && !(p->ps = calloc((size_t)(total ? total : 1), sizeof *p->ps))) s = CADA_ERR(CADA_ERR_NOMEM, "prompts");
    const int harmful_only = c->method == CADA_BD_DR || c->method == CADA_BD_DPO_CR;
    for (int k = 0; k < p->n_sets && s == CADA_OK; k++) {
        const cada_prompt_set *set = &p->sets[k];
        int take = c->limit > 0 && c->limit < set->n ? c->limit : set->n;
        for (int i = 0; i < take; i++) {
            const cada_item *it = &set->items[(long)i * set->n / take];
            int harmful = it->label != CADA_LABEL_BENIGN; /* unknown counts as harmful, as the reward scores it */
            st->prompts++;
            harmful ? st->harmful++ : st->benign++;
            if (harmful_only && !harmful) {
                st->skipped++;
                continue;
            }
            p->ps[p->n++] = (bd_prompt){set->name, it, harmful};
        }
    }
    return s;
}

/* "\n" in baseline.refusal is a line break (an INI value is one line). */
static char *unescape(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') *o++ = '\n', s++;
        else if (s[0] == '\\' && s[1] == '\\') *o++ = '\\', s++;
        else *o++ = *s;
    }
    *o = 0;
    return out;
}

/* The fixed refusal must be what it claims: well-formed, and a refusal to the rule
 * detector (its Final Response). */
static cada_status check_refusal(const char *refusal, const cada_refusal_rules *rules) {
    cada_parsed pr;
    cada_parse_completion(refusal, strlen(refusal), &pr);
    char flags[96];
    if (pr.flags)
        return CADA_ERR(CADA_ERR_CONFIG, "baseline.refusal is not well-formed (%s): write \"### Analysis\\n...\\n### Final Response\\n...\"",
                        cada_parse_flags_text(pr.flags, flags, sizeof flags));
    cada_refusal_match m;
    if (!cada_refusal_detect(rules, pr.final, pr.final_len, &m))
        return CADA_ERR(CADA_ERR_CONFIG, "baseline.refusal's Final Response '%.*s' does not read as a refusal to reward.patterns",
                        (int)pr.final_len, pr.final);
    return CADA_OK;
}

/* One output line. */
static cada_status write_record(FILE *f, const cada_bd_config *c, const bd_prompt *p, const char *response, size_t len,
                                const char *rejected, int sample, int tokens, const char *reason) {
    const cada_item *it = p->item;
    cada_str o = {0};
    cada_status st = cada_str_puts(&o, "{\"id\": ");
    if (st == CADA_OK) st = cada_str_json(&o, it->id, strlen(it->id));
    if (st == CADA_OK) st = cada_str_puts(&o, ", \"prompt\": ");
    if (st == CADA_OK) st = cada_str_json(&o, it->prompt, strlen(it->prompt));
    if (st == CADA_OK) st = cada_str_puts(&o, ", \"category\": ");
    if (st == CADA_OK) st = cada_str_json(&o, it->category, strlen(it->category));
    if (st == CADA_OK) st = cada_str_printf(&o, ", \"label\": \"%s\", \"response\": ", p->harmful ? "harmful" : "benign");
    if (st == CADA_OK) st = cada_str_json(&o, response, len);
    if (st == CADA_OK && rejected) st = cada_str_puts(&o, ", \"rejected\": ");
    if (st == CADA_OK && rejected) st = cada_str_json(&o, rejected, strlen(rejected));
    if (st == CADA_OK && reason) st = cada_str_printf(&o, ", \"reason\": \"%s\"", reason);
    if (st == CADA_OK)
        st = cada_str_printf(&o, ", \"method\": \"%s\", \"sample\": %d, \"tokens\": %d}\n", cada_bd_method_name(c->method), sample, tokens);
    if (st == CADA_OK && fwrite(o.data, 1, o.len, f) != o.len) st = CADA_ERR(CADA_ERR_IO, "%s: write failed", c->out_path);
    cada_str_free(&o);
    return st;
}

static cada_status count_tokens(const cada_tokenizer *tok, const char *text, int *n) {
    cada_tok_ids ids = {0};
    CADA_TRY(cada_tok_encode(tok, text, strlen(text), 0, &ids));
    *n = (int)ids.n;
    cada_tok_ids_free(&ids);
    return CADA_OK;
}

/* dr: the refusal for every (harmful) prompt. */
static cada_status write_dr(FILE *f, const cada_bd_config *c, const bd_prompts *p, const cada_tokenizer *tok, const char *refusal,
                            cada_bd_stats *st) {
    int tokens = 0;
    CADA_TRY(count_tokens(tok, refusal, &tokens));
    for (int i = 0; i < p->n; i++) {
        CADA_TRY(write_record(f, c, &p->ps[i], refusal, strlen(refusal), NULL, -1, tokens, NULL));
        st->records++;
    }
    return CADA_OK;
}

/* The generation run: completions, their texts and rewards (samples per prompt, in
 * prompt then sample order). */
typedef struct {
    cada_gen_result *res;
    char **text;
    size_t *len;
    cada_reward *rw;
    int n;
} bd_samples;

static void samples_free(bd_samples *s) {
    for (int i = 0; i < s->n; i++) {
        if (s->res) cada_gen_result_free(&s->res[i]);
        if (s->text) free(s->text[i]);
    }
    free(s->res);
    free(s->text);
    free(s->len);
    free(s->rw);
    memset(s, 0, sizeof *s);
}

/* Progress of the generation on stderr: tokens so far against the most there can be,
 * a line every 15 s (nothing is printed with progress off). */
typedef struct {
    double t0, last, tokens, most;
} bd_progress;

static void on_token(void *ctx, int request, int token, float logprob) {
    (void)request, (void)token, (void)logprob;
    bd_progress *p = ctx;
    p->tokens++;
    double now = cada_now();
    if (now - p->last < 15) return;
    p->last = now;
    CADA_INFO("build-data: %.0f tokens generated (at most %.0f), %.1f tokens/s", p->tokens, p->most, p->tokens / (now - p->t0));
}

/* Renders every prompt under the method's template and samples c->samples completions
 * each (one continuously batched call). */
static cada_status generate(const cada_bd_config *c, const bd_prompts *p, const cada_model *m, const cada_tokenizer *tok,
                            bd_samples *out, cada_bd_stats *st) {
    cada_prompt_config pc = c->prompt;
    pc.template = c->method == CADA_BD_RULE ? CADA_TEMPLATE_RULE : CADA_TEMPLATE_CADA;
    cada_prompt_builder b;
    memset(&b, 0, sizeof b);
    const int S = c->samples, n = p->n * S;
    cada_tok_ids *ids = calloc((size_t)(p->n ? p->n : 1), sizeof *ids);
    cada_gen_request *reqs = calloc((size_t)(n ? n : 1), sizeof *reqs);
    out->n = n;
    out->res = calloc((size_t)(n ? n : 1), sizeof *out->res);
    cada_status s = ids && reqs && out->res ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "%d requests", n);
    if (s == CADA_OK) s = cada_prompt_builder_init(&b, &pc);
    for (int i = 0; i < p->n && s == CADA_OK; i++) {
        cada_str text = {0};
        cada_prompt_choice choice;
        const cada_item *it = p->ps[i].item;
        s = cada_prompt_render(&b, tok, it->id, it->prompt, it->cat, &choice, &text);
        if (s == CADA_OK) s = cada_tok_encode(tok, cada_str_c(&text), text.len, 0, &ids[i]);
        cada_str_free(&text);
        char key[512];
        snprintf(key, sizeof key, "%s/%s", p->ps[i].set_name, it->id); /* as cada eval keys its streams */
        for (int k = 0; k < S && s == CADA_OK; k++)
            reqs[i * S + k] = (cada_gen_request){cada_hash64(key), (uint32_t)k, ids[i].ids, (int)ids[i].n, c->max_new_tokens};
    }
    int eos[2], longest = 1;
    for (int i = 0; ids && i < p->n; i++) longest = (int)ids[i].n > longest ? (int)ids[i].n : longest;
    cada_engine_config ec = c->engine;
    /* the context as cada eval sizes it: the longest prompt (the rule template's spec runs
     * to thousands of tokens) and max_new_tokens, within the model's positions or a larger
     * rollout.max_len */
    const int cap = m->cfg.max_position_embeddings > c->engine.max_len ? m->cfg.max_position_embeddings : c->engine.max_len;
    ec.max_len = longest + c->max_new_tokens + 1;
    if (ec.max_len > cap) ec.max_len = cap;
    if (!ec.kv_pool_bytes) ec.kv_blocks = cada_kv_pool_blocks(ec.n_slots, ec.max_len, 0, S, longest);
    ec.n_eos = cada_eos_ids(cada_tok_eos_id(tok), m->cfg.eos_token_id, eos);
    ec.eos_ids = eos;
    if (s == CADA_OK && c->progress)
        CADA_INFO("build-data %s: sampling %d completions (%d prompts x %d, template %s)", cada_bd_method_name(c->method), n, p->n, S,
                  cada_template_name(pc.template));
    double t0 = cada_now();
    bd_progress prog = {t0, t0, 0, (double)n * c->max_new_tokens};
    if (c->progress) {
        ec.on_token = on_token;
        ec.ctx = &prog;
    }
    cada_engine_stats es;
    if (s == CADA_OK && n) s = cada_generate(m, &ec, reqs, n, out->res, &es);
    st->generate_seconds = cada_now() - t0;
    st->generated = s == CADA_OK ? n : 0;
    for (int i = 0; ids && i < p->n; i++) cada_tok_ids_free(&ids[i]);
    free(ids);
    free(reqs);
    cada_prompt_builder_free(&b);
    return s;
}

/* Texts of the completions and their rewards (the detector's verdicts, parse flags). */
static cada_status score(const cada_bd_config *c, const bd_prompts *p, const cada_model *m, const cada_tokenizer *tok,
                         const cada_refusal_rules *rules, bd_samples *s) {
    const int n = s->n;
    s->text = calloc((size_t)(n ? n : 1), sizeof *s->text);
    s->len = calloc((size_t)(n ? n : 1), sizeof *s->len);
    s->rw = calloc((size_t)(n ? n : 1), sizeof *s->rw);
    cada_reward_input *in = calloc((size_t)(n ? n : 1), sizeof *in);
    cada_status st = s->text && s->len && s->rw && in ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "%d completions", n);
    for (int i = 0; i < n && st == CADA_OK; i++) {
        cada_tok_bytes raw = {0}, txt = {0};
        st = cada_tok_decode(tok, s->res[i].tokens, (size_t)s->res[i].n, CADA_TOK_SKIP_SPECIAL, &raw);
        if (st == CADA_OK) st = cada_tok_utf8_lossy(raw.data ? raw.data : "", raw.len, &txt);
        if (st == CADA_OK && !(s->text[i] = cada_strndup(txt.data ? txt.data : "", txt.len))) st = CADA_ERR_NOMEM;
        s->len[i] = txt.len;
        cada_tok_bytes_free(&raw);
        cada_tok_bytes_free(&txt);
        const cada_item *it = p->ps[i / c->samples].item;
        if (st == CADA_OK) in[i] = (cada_reward_input){it->prompt, s->text[i], s->len[i], it->label, it->cat, 0};
    }
    cada_eval_judge own;
    memset(&own, 0, sizeof own);
    cada_judge *judge = NULL;
    if (st == CADA_OK && cada_reward_needs_judge(&c->reward)) {
        if (c->judge_model) {
            st = cada_eval_judge_open(&own, c->judge_model, c->tok_flags, &c->judge);
            judge = own.judge;
        } else st = cada_judge_open_with(&judge, m, tok, &c->judge); /* the policy as its own judge, as cada eval */
    }
    cada_reward_ctx ctx = {&c->reward, rules, judge, NULL};
    if (st == CADA_OK) st = cada_reward_compute(&ctx, in, n, s->rw);
    if (judge != own.judge) cada_judge_close(judge);
    cada_eval_judge_close(&own);
    free(in);
    return st;
}

int cada_bd_verdict(int harmful, cada_finish_reason finish, const cada_reward *r) {
    if (finish == CADA_FINISH_LENGTH || finish == CADA_FINISH_CONTEXT) return CADA_BD_TRUNCATED;
    if (r->parse_flags) return CADA_BD_MALFORMED;
    if (harmful && !r->refused) return CADA_BD_COMPLIED;
    if (harmful && r->analysis_chars == 0) return CADA_BD_EMPTY_ANALYSIS;
    if (!harmful && r->refused) return CADA_BD_REFUSED_BENIGN;
    return -1;
}

/* rule, cr, dpo-cr: the kept completions of every prompt. */
static cada_status write_kept(FILE *f, FILE *rf, const cada_bd_config *c, const bd_prompts *p, const bd_samples *s,
                              const char *refusal, cada_bd_stats *st) {
    const int S = c->samples;
    for (int i = 0; i < p->n; i++) {
        int kept = 0;
        for (int k = 0; k < S; k++) {
            int j = i * S + k, why = cada_bd_verdict(p->ps[i].harmful, s->res[j].finish, &s->rw[j]);
            if (why >= 0) {
                st->rejected[why]++;
                if (rf) CADA_TRY(write_record(rf, c, &p->ps[i], s->text[j], s->len[j], NULL, k, s->res[j].n, cada_bd_reason_names[why]));
                continue;
            }
            st->passed++;
            if (kept == c->keep) continue;
            kept++;
            CADA_TRY(write_record(f, c, &p->ps[i], s->text[j], s->len[j], c->method == CADA_BD_DPO_CR ? refusal : NULL, k, s->res[j].n, NULL));
            st->records++;
        }
        st->dropped += kept == 0;
    }
    return CADA_OK;
}

/* Model and rules loaded, the lines written to f. */
static cada_status build(const cada_bd_config *c, const bd_prompts *p, const char *refusal, FILE *f, FILE *rf, cada_bd_stats *st) {
    cada_tokenizer *tok = NULL;
    cada_refusal_rules *rules = NULL;
    cada_model m;
    memset(&m, 0, sizeof m);
    bd_samples s;
    memset(&s, 0, sizeof s);
    cada_status r = cada_refusal_rules_load(&rules, c->reward.patterns);
    if (r == CADA_OK) r = check_refusal(refusal, rules);
    if (r == CADA_OK) r = cada_tok_load(&tok, c->model_path, c->tok_flags);
    if (r == CADA_OK && c->method == CADA_BD_DR) r = write_dr(f, c, p, tok, refusal, st);
    else if (r == CADA_OK) {
        if (c->progress) CADA_INFO("build-data: loading %s", c->model_path);
        r = cada_model_load(&m, c->model_path);
        if (r == CADA_OK) r = generate(c, p, &m, tok, &s, st);
        if (r == CADA_OK) r = score(c, p, &m, tok, rules, &s);
        if (r == CADA_OK) r = write_kept(f, rf, c, p, &s, refusal, st);
        samples_free(&s);
        cada_model_free(&m);
    }
    cada_tok_free(tok);
    cada_refusal_rules_free(rules);
    return r;
}

cada_status cada_build_data(const cada_bd_config *c, cada_bd_stats *st) {
    memset(st, 0, sizeof *st);
    double t0 = cada_now();
    if (c->samples < 1 || c->keep < 1) return CADA_ERR(CADA_ERR_CONFIG, "--samples and --keep must be at least 1 (are %d, %d)", c->samples, c->keep);
    bd_prompts p;
    memset(&p, 0, sizeof p);
    char *refusal = unescape(c->refusal), tmp[1100];
    cada_status r = refusal ? load_prompts(c, &p, st) : CADA_ERR(CADA_ERR_NOMEM, "baseline.refusal");
    if (r == CADA_OK && snprintf(tmp, sizeof tmp, "%s.tmp", c->out_path) >= (int)sizeof tmp) r = CADA_ERR(CADA_ERR_CONFIG, "--out path too long");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", c->out_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = 0;
    if (r == CADA_OK && slash && slash != dir) r = cada_mkdir_p(dir); /* runs/baselines/data/ on a first run */
    FILE *f = NULL;
    if (r == CADA_OK && !(f = fopen(tmp, "w"))) r = CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    FILE *rf = NULL; /* the samples the filter left out, when asked for */
    if (r == CADA_OK && c->rejected_path && !(rf = fopen(c->rejected_path, "w")))
        r = CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", c->rejected_path, strerror(errno));
    if (r == CADA_OK) r = build(c, &p, refusal, f, rf, st);
    if (rf && fclose(rf) != 0 && r == CADA_OK) r = CADA_ERR(CADA_ERR_IO, "%s: write failed", c->rejected_path);
    if (f && fclose(f) != 0 && r == CADA_OK) r = CADA_ERR(CADA_ERR_IO, "%s: write failed", tmp);
    if (r == CADA_OK && rename(tmp, c->out_path) != 0) r = CADA_ERR(CADA_ERR_IO, "%s: cannot rename to %s: %s", tmp, c->out_path, strerror(errno));
    if (r != CADA_OK && f) remove(tmp);
    prompts_free(&p);
    free(refusal);
    st->seconds = cada_now() - t0;
    return r;
}

cada_status cada_bd_stats_write(const cada_bd_config *c, const cada_bd_stats *s, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "{\"method\": \"%s\", \"out\": ", cada_bd_method_name(c->method));
    cada_str o = {0};
    cada_status st = cada_str_json(&o, c->out_path, strlen(c->out_path));
    if (st == CADA_OK) fwrite(o.data, 1, o.len, f);
    cada_str_free(&o);
    fprintf(f, ", \"samples\": %d, \"keep\": %d, \"prompts\": %ld, \"harmful\": %ld, \"benign\": %ld, \"skipped_benign\": %ld, "
               "\"generated\": %ld, \"passed\": %ld, \"records\": %ld, \"dropped_prompts\": %ld, \"rejected\": {",
            c->samples, c->keep, s->prompts, s->harmful, s->benign, s->skipped, s->generated, s->passed, s->records, s->dropped);
    for (int k = 0; k < CADA_BD_N_REASONS; k++) fprintf(f, "%s\"%s\": %ld", k ? ", " : "", cada_bd_reason_names[k], s->rejected[k]);
    fprintf(f, "}, \"generate_s\": %.3f, \"seconds\": %.3f}\n", s->generate_seconds, s->seconds);
    if (fclose(f) != 0 && st == CADA_OK) st = CADA_ERR(CADA_ERR_IO, "%s: write failed", path);
    return st;
}
