/* eval/eval.c: see eval.h. */
#define _POSIX_C_SOURCE 200809L
#include "eval/eval.h"

#include "base/log.h"
#include "eval/report.h"
#include "model/load.h"
#include "base/fs.h"
#include "rollout/engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

void cada_eval_config_default(cada_eval_config *c) {
    memset(c, 0, sizeof *c);
    cada_set_options_default(&c->set_options);
    cada_prompt_config_default(&c->prompt);
    cada_reward_config_default(&c->reward);
    cada_judge_config_default(&c->judge);
    c->max_tokens = 512;
    c->n_slots = 8;
    c->temperature = 0.0f;
    c->top_p = 1.0f;
    c->out_dir = "runs/eval";
    c->progress = 1;
}

/* ---- judge ---------------------------------------------------------------------- */

cada_status cada_eval_judge_open(cada_eval_judge *j, const char *model_path, unsigned tok_flags, const cada_judge_config *cfg) {
    memset(j, 0, sizeof *j);
    cada_status st = cada_model_load(&j->model, model_path);
    if (st != CADA_OK) {
        cada_error_wrap("judge model %s", model_path);
        return st;
    }
    st = cada_tok_load(&j->tok, model_path, tok_flags);
    if (st == CADA_OK) st = cada_judge_open_with(&j->judge, &j->model, j->tok, cfg);
    if (st != CADA_OK) {
        cada_error_wrap("judge model %s", model_path);
        cada_eval_judge_close(j);
    }
    return st;
}

void cada_eval_judge_close(cada_eval_judge *j) {
    cada_judge_close(j->judge);
    cada_tok_free(j->tok);
    cada_model_free(&j->model);
    memset(j, 0, sizeof *j);
}

/* ---- progress --------------------------------------------------------------------- */

typedef struct {
    int enabled, n, max_tokens, n_eos;
    const int *eos;
    int *count; /* tokens per request */
    int done;
    long tokens;
    double t0, last;
} progress;

static void on_token(void *p, int request, int token, float logprob) {
    (void)logprob;
    progress *g = p;
    g->tokens++;
    int c = ++g->count[request];
    int end = c >= g->max_tokens;
    for (int i = 0; i < g->n_eos; i++) end |= token == g->eos[i];
    g->done += end;
    if (!g->enabled) return;
    double now = cada_now();
    if (now - g->last >= 3.0 || g->done == g->n) {
        double dt = now - g->t0;
        CADA_INFO("eval: generating %d/%d done, %ld tokens, %.1f tokens/s", g->done, g->n, g->tokens,
                  dt > 0 ? (double)g->tokens / dt : 0.0);
        g->last = now;
    }
}

/* ---- one prompt --------------------------------------------------------------------- */

typedef struct {
    int set;
    const cada_item *item;
    cada_prompt_choice choice;
    int *tokens;
    int n_tokens;
    char *text; /* decoded completion */
    size_t text_len;
    cada_gen_result res;
} eval_prompt;

static cada_status write_line(cada_str *o, const cada_eval_report *rep, const cada_prompt_builder *b, const eval_prompt *p,
                              const cada_reward *r, const cada_rubric *rub, const cada_str *rub_text) {
    const cada_item *it = p->item;
    cada_parsed parsed;
    cada_parse_completion(p->text, p->text_len, &parsed);
    char flags[96];
    CADA_TRY(cada_str_puts(o, "{\"set\": "));
    CADA_TRY(cada_str_json(o, rep->sets[p->set].name, strlen(rep->sets[p->set].name)));
    CADA_TRY(cada_str_puts(o, ", \"id\": "));
    CADA_TRY(cada_str_json(o, it->id, strlen(it->id)));
    CADA_TRY(cada_str_puts(o, ", \"category\": "));
    CADA_TRY(cada_str_json(o, it->category, strlen(it->category)));
    CADA_TRY(cada_str_printf(o, ", \"hazard\": \"%s\"%s, \"label\": \"%s\", \"prompt\": ", cada_category_id(p->choice.category),
                             p->choice.inferred ? ", \"hazard_inferred\": true" : "", cada_label_name(r->label)));
    CADA_TRY(cada_str_json(o, it->prompt, strlen(it->prompt)));
    CADA_TRY(cada_str_puts(o, ", \"cases\": ["));
    for (int k = 0; k < p->choice.n_cases; k++) {
        const char *id = b->bank.cases[p->choice.cases[k]].id;
        if (k) CADA_TRY(cada_str_puts(o, ", "));
        CADA_TRY(cada_str_json(o, id, strlen(id)));
    }
    CADA_TRY(cada_str_puts(o, "], \"response\": "));
    CADA_TRY(cada_str_json(o, p->text, p->text_len));
    CADA_TRY(cada_str_puts(o, ", \"analysis\": "));
    CADA_TRY(cada_str_json(o, parsed.analysis, parsed.analysis_len));
    CADA_TRY(cada_str_puts(o, ", \"final_response\": "));
    CADA_TRY(cada_str_json(o, parsed.final, parsed.final_len));
    CADA_TRY(cada_str_printf(o,
                             ", \"finish\": \"%s\", \"tokens\": %d, \"refused\": %s, \"p_refused\": %.4f, \"rule_refused\": %d, "
                             "\"format\": \"%s\", \"reward\": {\"total\": %g, \"r_comply\": %g, \"r_refuse\": %g, "
                             "\"r_judge\": %.4f, \"r_help\": %g, \"r_format\": %g}",
                             cada_finish_name(p->res.finish), p->res.n, r->refused ? "true" : "false", (double)r->p_refused,
                             r->rule_refused, cada_parse_flags_text(r->parse_flags, flags, sizeof flags), (double)r->total,
                             (double)r->r_comply, (double)r->r_refuse, (double)r->r_judge, (double)r->r_help,
                             (double)r->r_format));
    if (rub) {
        CADA_TRY(cada_str_printf(o, ", \"rubric\": {\"ok\": %s, \"refused\": %d, \"convincing\": %d, \"specific\": %d, "
                                    "\"score\": %.4f, \"text\": ",
                                 rub->ok ? "true" : "false", rub->refused, rub->convincing, rub->specific, (double)rub->score));
        CADA_TRY(cada_str_json(o, cada_str_c(rub_text), rub_text->len));
        CADA_TRY(cada_str_puts(o, "}"));
    }
    return cada_str_puts(o, "}\n");
}

/* ---- the run ------------------------------------------------------------------------ */

cada_status cada_eval_run(const cada_eval_config *cfg, cada_eval_report *rep) {
    memset(rep, 0, sizeof *rep);
    const double t_start = cada_now();
    if (cfg->n_sets <= 0) return CADA_ERR(CADA_ERR_CONFIG, "eval: no prompt set given");
    if (cfg->max_tokens <= 0 || cfg->n_slots <= 0 || cfg->limit < 0)
        return CADA_ERR(CADA_ERR_CONFIG, "eval: max_tokens %d, slots %d, limit %d out of range", cfg->max_tokens, cfg->n_slots,
                        cfg->limit);
    cada_prompt_set *sets = calloc((size_t)cfg->n_sets, sizeof *sets);
    rep->sets = calloc((size_t)cfg->n_sets, sizeof *rep->sets);
    if (!sets || !rep->sets) {
        free(sets);
        return CADA_ERR(CADA_ERR_NOMEM, "eval sets");
    }
    rep->n_sets = cfg->n_sets;
    cada_model m;
    memset(&m, 0, sizeof m);
    cada_tokenizer *tok = NULL;
    cada_prompt_builder builder;
    memset(&builder, 0, sizeof builder);
    cada_refusal_rules *rules = NULL;
    cada_judge *judge = NULL;
    cada_eval_judge own_judge;
    memset(&own_judge, 0, sizeof own_judge);
    eval_prompt *ps = NULL;
    cada_gen_request *reqs = NULL;
    cada_gen_result *results = NULL;
    cada_reward *rewards = NULL;
    cada_reward_input *rin = NULL;
    cada_rubric *rubrics = NULL;
    cada_str *rubric_texts = NULL;
    progress prog;
    memset(&prog, 0, sizeof prog);
    int n = 0;
    cada_status st = CADA_OK;

    /* sets */
    for (int s = 0; s < cfg->n_sets && st == CADA_OK; s++) {
        cada_set_options o = cfg->set_options;
        o.format = cfg->sets[s].format;
        st = cada_set_load(&sets[s], cfg->sets[s].path, &o);
        if (st != CADA_OK) break;
        cada_eval_set_result *x = &rep->sets[s];
        snprintf(x->name, sizeof x->name, "%s", sets[s].name);
        snprintf(x->path, sizeof x->path, "%s", sets[s].path);
        snprintf(x->format, sizeof x->format, "%s", cada_set_format_name(cfg->sets[s].format));
        x->n_skipped = sets[s].n_skipped;
        x->n_items = cfg->limit && cfg->limit < sets[s].n ? cfg->limit : sets[s].n;
        n += x->n_items;
        if (cfg->progress) CADA_INFO("eval: %s: %d prompts (of %d)", sets[s].path, x->n_items, sets[s].n);
    }
    if (st == CADA_OK) {
        ps = calloc((size_t)n, sizeof *ps);
        reqs = calloc((size_t)n, sizeof *reqs);
        results = calloc((size_t)n, sizeof *results);
        rewards = calloc((size_t)n, sizeof *rewards);
        rin = calloc((size_t)n, sizeof *rin);
        prog.count = calloc((size_t)n, sizeof *prog.count);
        if (!ps || !reqs || !results || !rewards || !rin || !prog.count) st = CADA_ERR(CADA_ERR_NOMEM, "eval: %d prompts", n);
    }
    for (int s = 0, at = 0; s < cfg->n_sets && st == CADA_OK; s++) {
        int keep = rep->sets[s].n_items;
        for (int i = 0; i < keep; i++) {
            ps[at].set = s;
            ps[at].item = &sets[s].items[(long)i * sets[s].n / keep];
            at++;
        }
    }
    /* model, tokenizer, prompts */
    if (st == CADA_OK) {
        if (cfg->progress) CADA_INFO("eval: loading %s", cfg->model_path);
        st = cada_model_load(&m, cfg->model_path);
    }
    if (st == CADA_OK) st = cada_tok_load(&tok, cfg->model_path, cfg->tok_flags);
    if (st == CADA_OK) st = cada_prompt_builder_init(&builder, &cfg->prompt);
    if (st == CADA_OK) st = cada_refusal_rules_load(&rules, cfg->reward.patterns);
    int longest = 0;
    for (int i = 0; i < n && st == CADA_OK; i++) {
        cada_str text = {0};
        cada_tok_ids ids = {0};
        const cada_item *it = ps[i].item;
        st = cada_prompt_render(&builder, tok, it->id, it->prompt, it->cat, &ps[i].choice, &text);
        if (st == CADA_OK) st = cada_tok_encode(tok, cada_str_c(&text), text.len, 0, &ids);
        if (st == CADA_OK && !(ps[i].tokens = malloc(sizeof(int) * (ids.n ? ids.n : 1)))) st = CADA_ERR(CADA_ERR_NOMEM, "prompt");
        if (st == CADA_OK) {
            for (size_t k = 0; k < ids.n; k++) ps[i].tokens[k] = ids.ids[k];
            ps[i].n_tokens = (int)ids.n;
            longest = ps[i].n_tokens > longest ? ps[i].n_tokens : longest;
            rep->prompt_tokens += ps[i].n_tokens;
            /* the sampling stream follows the prompt, not its position in this run */
            char key[512];
            snprintf(key, sizeof key, "%s/%s", sets[ps[i].set].name, it->id);
            reqs[i] = (cada_gen_request){cada_hash64(key), 0, ps[i].tokens, ps[i].n_tokens, cfg->max_tokens};
        }
        cada_str_free(&text);
        cada_tok_ids_free(&ids);
    }
    /* generate */
    int eos[2], n_eos = 0;
    if (st == CADA_OK) {
        n_eos = cada_eos_ids(cada_tok_eos_id(tok), m.cfg.eos_token_id, eos);
        cada_engine_config ec;
        memset(&ec, 0, sizeof ec);
        ec.sampling.temperature = cfg->temperature;
        ec.sampling.top_p = cfg->top_p;
        ec.seed = cfg->seed;
        ec.n_slots = cfg->n_slots < n ? cfg->n_slots : n;
        ec.max_len = longest + cfg->max_tokens + 1;
        if (ec.max_len > m.cfg.max_position_embeddings && m.cfg.max_position_embeddings > 0)
            ec.max_len = m.cfg.max_position_embeddings;
        ec.eos_ids = eos;
        ec.n_eos = n_eos;
        prog = (progress){cfg->progress, n, cfg->max_tokens, n_eos, eos, prog.count, 0, 0, cada_now(), cada_now()};
        ec.on_token = on_token;
        ec.ctx = &prog;
        if (cfg->progress)
            CADA_INFO("eval: generating %d completions (longest prompt %d tokens, up to %d new, %d at a time)", n, longest,
                      cfg->max_tokens, ec.n_slots);
        cada_engine_stats stats;
        double t0 = cada_now();
        st = cada_generate(&m, &ec, reqs, n, results, &stats);
        rep->generate_seconds = cada_now() - t0;
    }
    for (int i = 0; i < n && st == CADA_OK; i++) {
        ps[i].res = results[i];
        results[i] = (cada_gen_result){0};
        rep->generated_tokens += ps[i].res.n;
        cada_tok_bytes raw = {0}, txt = {0};
        st = cada_tok_decode(tok, ps[i].res.tokens, (size_t)ps[i].res.n, CADA_TOK_SKIP_SPECIAL, &raw);
        if (st == CADA_OK) st = cada_tok_utf8_lossy(raw.data ? raw.data : "", raw.len, &txt);
        if (st == CADA_OK) {
            ps[i].text = cada_strndup(txt.data ? txt.data : "", txt.len);
            ps[i].text_len = txt.len;
            if (!ps[i].text) st = CADA_ERR_NOMEM;
        }
        cada_tok_bytes_free(&raw);
        cada_tok_bytes_free(&txt);
        rin[i] = (cada_reward_input){ps[i].item->prompt, ps[i].text, ps[i].text_len, ps[i].item->label, ps[i].choice.category, 0};
    }
    /* judge and rewards */
    double tj = cada_now();
    int need_judge = cada_reward_needs_judge(&cfg->reward) || cfg->rubric;
    if (st == CADA_OK && need_judge) {
        if (cfg->judge_model) {
            if (cfg->progress) CADA_INFO("eval: loading judge %s", cfg->judge_model);
            st = cada_eval_judge_open(&own_judge, cfg->judge_model, cfg->tok_flags, &cfg->judge);
            judge = own_judge.judge;
        } else {
            st = cada_judge_open_with(&judge, &m, tok, &cfg->judge);
        }
    }
    if (st == CADA_OK) {
        if (cfg->progress && need_judge) CADA_INFO("eval: judging %d completions", n);
        cada_reward_ctx ctx = {&cfg->reward, rules, judge, NULL};
        st = cada_reward_compute(&ctx, rin, n, rewards);
    }
    if (st == CADA_OK && cfg->rubric) {
        rubrics = calloc((size_t)n, sizeof *rubrics);
        rubric_texts = calloc((size_t)n, sizeof *rubric_texts);
        cada_judge_item *items = calloc((size_t)n, sizeof *items);
        int *which = calloc((size_t)n, sizeof *which);
        cada_rubric *got = calloc((size_t)n, sizeof *got);
        cada_str *texts = calloc((size_t)n, sizeof *texts);
        char **finals = calloc((size_t)n, sizeof *finals);
        int h = 0;
        if (!rubrics || !rubric_texts || !items || !which || !got || !texts || !finals) st = CADA_ERR(CADA_ERR_NOMEM, "rubric");
        for (int i = 0; i < n && st == CADA_OK; i++) {
            if (rewards[i].label != CADA_LABEL_HARMFUL) continue;
            cada_parsed pp;
            cada_parse_completion(ps[i].text, ps[i].text_len, &pp);
            if (!(finals[h] = cada_strndup(pp.final, pp.final_len))) st = CADA_ERR_NOMEM;
            items[h] = (cada_judge_item){ps[i].item->prompt, finals[h], NULL, ps[i].choice.category};
            which[h++] = i;
        }
        if (st == CADA_OK && cfg->progress) CADA_INFO("eval: rubric on %d harmful completions", h);
        if (st == CADA_OK) st = cada_judge_rubric(judge, items, h, got, texts);
        for (int k = 0; k < h && st == CADA_OK; k++) {
            rubrics[which[k]] = got[k];
            rubric_texts[which[k]] = texts[k];
            texts[k] = (cada_str){0};
        }
        for (int k = 0; k < h; k++) {
            if (finals) free(finals[k]);
            if (texts) cada_str_free(&texts[k]);
        }
        free(items);
        free(which);
        free(got);
        free(texts);
        free(finals);
    }
    rep->judge_seconds = need_judge ? cada_now() - tj : 0;
    /* count and write */
    if (st == CADA_OK) {
        for (int i = 0; i < n; i++) {
            const cada_rubric *rub = rubrics && rewards[i].label == CADA_LABEL_HARMFUL ? &rubrics[i] : NULL;
            cada_eval_set_result *x = &rep->sets[ps[i].set];
            int row = cada_eval_row(ps[i].choice.category >= 0 && !ps[i].choice.inferred ? ps[i].choice.category
                                                                                           : ps[i].item->cat);
            cada_eval_counts_add(&x->total, rewards[i].label, rewards[i].refused, rub, rewards[i].parse_flags);
            cada_eval_counts_add(&x->cat[row], rewards[i].label, rewards[i].refused, rub, rewards[i].parse_flags);
        }
        for (int s = 0; s < rep->n_sets; s++) {
            cada_eval_counts_merge(&rep->overall, &rep->sets[s].total);
            for (int c = 0; c < CADA_EVAL_ROWS; c++) cada_eval_counts_merge(&rep->overall_cat[c], &rep->sets[s].cat[c]);
        }
        snprintf(rep->model, sizeof rep->model, "%s", cfg->model_path);
        snprintf(rep->judge_model, sizeof rep->judge_model, "%s",
                 cfg->judge_model ? cfg->judge_model : need_judge ? cfg->model_path : "");
        snprintf(rep->template_name, sizeof rep->template_name, "%s", cada_template_name(cfg->prompt.template));
        snprintf(rep->select, sizeof rep->select, "%s", cada_select_name(cfg->prompt.select));
        snprintf(rep->detector, sizeof rep->detector, "%s", cada_detector_name(cfg->reward.detector));
        rep->k = cfg->prompt.template == CADA_TEMPLATE_CADA ? cfg->prompt.k : 0;
        rep->rubric = cfg->rubric;
        rep->seed = (unsigned long long)cfg->seed;
        rep->max_tokens = cfg->max_tokens;
        rep->temperature = cfg->temperature;
        rep->top_p = cfg->top_p;
        st = cada_mkdir_p(cfg->out_dir);
    }
    cada_str lines = {0};
    for (int i = 0; i < n && st == CADA_OK; i++)
        st = write_line(&lines, rep, &builder, &ps[i], &rewards[i], rubrics && rewards[i].label == CADA_LABEL_HARMFUL ? &rubrics[i] : NULL,
                        rubric_texts ? &rubric_texts[i] : NULL);
    if (st == CADA_OK) {
        char path[2048];
        snprintf(path, sizeof path, "%s/generations.jsonl", cfg->out_dir);
        st = cada_write_file(path, cada_str_c(&lines), lines.len);
    }
    if (st == CADA_OK && cfg->config_ini) {
        char path[2048];
        snprintf(path, sizeof path, "%s/config.ini", cfg->out_dir);
        st = cada_write_file(path, cfg->config_ini, strlen(cfg->config_ini));
    }
    rep->total_seconds = cada_now() - t_start;
    if (st == CADA_OK) st = cada_eval_report_write(rep, cfg->out_dir);
    cada_str_free(&lines);
    /* clean up */
    for (int i = 0; ps && i < n; i++) {
        free(ps[i].tokens);
        free(ps[i].text);
        cada_gen_result_free(&ps[i].res);
        if (results) cada_gen_result_free(&results[i]);
        if (rubric_texts) cada_str_free(&rubric_texts[i]);
    }
    free(ps);
    free(reqs);
    free(results);
    free(rewards);
    free(rin);
    free(rubrics);
    free(rubric_texts);
    free(prog.count);
    if (judge != own_judge.judge) cada_judge_close(judge); /* the policy as its own judge */
    cada_eval_judge_close(&own_judge);
    cada_refusal_rules_free(rules);
    cada_prompt_builder_free(&builder);
    cada_tok_free(tok);
    cada_model_free(&m);
    for (int s = 0; s < cfg->n_sets; s++) cada_set_free(&sets[s]);
    free(sets);
    return st;
}
