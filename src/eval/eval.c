/* eval/eval.c: see eval.h. */
#define _POSIX_C_SOURCE 200809L
#include "eval/eval.h"

#include "base/log.h"
#include "eval/report.h"
#include "model/load.h"
#include "base/fs.h"
#include "eval/generate.h"
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
    cada_attack_config_default(&c->attack);
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

/* ---- one prompt --------------------------------------------------------------------- */

typedef struct {
    int set;
    const cada_item *item;
    cada_prompt_choice choice;
    cada_eval_gen gen;          /* the completion scored: the direct one, or the attack's kept reply */
    int attacked;               /* a harmful prompt under eval.attack */
    cada_attack_result attack;  /* its attack (gen moved out into gen above) */
} eval_prompt;

/* The attack fields of a harmful prompt's line. */
static cada_status attack_json(cada_str *o, cada_attack_kind kind, const cada_attack_result *a) {
    CADA_TRY(cada_str_printf(o, ", \"attack\": \"%s\", \"adversarial_prompt\": ", cada_attack_name(kind)));
    CADA_TRY(cada_str_json(o, a->prompt ? a->prompt : "", a->prompt ? strlen(a->prompt) : 0));
    CADA_TRY(cada_str_printf(o, ", \"jailbroken\": %s, \"queries\": {\"attacker\": %d, \"target\": %d}, \"empty_proposals\": %d",
                             a->jailbroken ? "true" : "false", a->attacker_queries, a->target_queries, a->empty_proposals));
    /* the attempt scored: "winner" when it jailbroke the target, else "kept" */
    const char *kept = a->jailbroken ? "winner" : "kept";
    if (kind == CADA_ATTACK_PAIR)
        return cada_str_printf(o, ", \"%s\": {\"stream\": %d, \"iteration\": %d, \"score\": %d}", kept, a->stream,
                               a->iteration, a->score);
    if (kind == CADA_ATTACK_TEMPLATE) {
        CADA_TRY(cada_str_printf(o, ", \"templates_tried\": %d, \"templates_jailbroken\": %d, \"%s\": {\"template\": ",
                                 a->templates_tried, a->templates_jailbroken, kept));
        CADA_TRY(cada_str_json(o, a->template_id, strlen(a->template_id)));
        return cada_str_printf(o, ", \"index\": %d}", a->template_index);
    }
    return CADA_OK;
}

static cada_status write_line(cada_str *o, const cada_eval_report *rep, const cada_prompt_builder *b, const eval_prompt *p,
                              const cada_reward *r, const cada_rubric *rub, const cada_str *rub_text,
                              cada_attack_kind attack) {
    const cada_item *it = p->item;
    cada_parsed parsed;
    cada_parse_completion(p->gen.text, p->gen.text_len, &parsed);
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
    CADA_TRY(cada_str_json(o, p->gen.text, p->gen.text_len));
    CADA_TRY(cada_str_puts(o, ", \"analysis\": "));
    CADA_TRY(cada_str_json(o, parsed.analysis, parsed.analysis_len));
    CADA_TRY(cada_str_puts(o, ", \"final_response\": "));
    CADA_TRY(cada_str_json(o, parsed.final, parsed.final_len));
    CADA_TRY(cada_str_printf(o,
                             ", \"finish\": \"%s\", \"tokens\": %d, \"refused\": %s, \"p_refused\": %.4f, \"rule_refused\": %d, "
                             "\"format\": \"%s\", \"reward\": {\"total\": %g, \"r_comply\": %g, \"r_refuse\": %g, "
                             "\"r_judge\": %.4f, \"r_help\": %g, \"r_format\": %g}",
                             cada_finish_name(p->gen.res.finish), p->gen.res.n, r->refused ? "true" : "false", (double)r->p_refused,
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
    if (p->attacked) CADA_TRY(attack_json(o, attack, &p->attack));
    return cada_str_puts(o, "}\n");
}

/* ---- the run ------------------------------------------------------------------------ */

/* Loads the sets and picks each one's prompts; n = how many in all. */
static cada_status load_prompts(const cada_eval_config *cfg, cada_prompt_set *sets, cada_eval_report *rep,
                                eval_prompt **out, int *n_out) {
    int n = 0;
    cada_status st = CADA_OK;
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
    eval_prompt *ps = NULL;
    if (st == CADA_OK && !(ps = calloc((size_t)(n ? n : 1), sizeof *ps))) st = CADA_ERR(CADA_ERR_NOMEM, "eval: %d prompts", n);
    for (int s = 0, at = 0; s < cfg->n_sets && st == CADA_OK; s++) {
        int keep = rep->sets[s].n_items;
        for (int i = 0; i < keep; i++) {
            ps[at].set = s;
            ps[at].item = &sets[s].items[(long)i * sets[s].n / keep];
            /* attacks apply to harmful prompts (an unknown label counts as harmful, as in metrics.h) */
            ps[at].attacked = cfg->attack.kind != CADA_ATTACK_NONE && ps[at].item->label != CADA_LABEL_BENIGN;
            at++;
        }
    }
    *out = ps;
    *n_out = n;
    return st;
}

/* The "<set>/<id>" key of a prompt's sampling streams (the prompt, not its position). */
static void prompt_key(const cada_prompt_set *sets, const eval_prompt *p, char *key, size_t cap) {
    snprintf(key, cap, "%s/%s", sets[p->set].name, p->item->id);
}

/* The prompts not attacked, rendered and generated in one engine call. */
static cada_status generate_direct(const cada_eval_config *cfg, const cada_eval_lm *lm, const cada_prompt_builder *b,
                                   const cada_prompt_set *sets, eval_prompt *ps, int n, cada_eval_report *rep) {
    int m = 0;
    for (int i = 0; i < n; i++) m += !ps[i].attacked;
    if (!m) return CADA_OK;
    char **texts = calloc((size_t)m, sizeof *texts);
    uint64_t *ids = calloc((size_t)m, sizeof *ids);
    int *which = calloc((size_t)m, sizeof *which);
    cada_eval_gen *gens = calloc((size_t)m, sizeof *gens);
    cada_status st = texts && ids && which && gens ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "eval: %d prompts", m);
    for (int i = 0, k = 0; i < n && st == CADA_OK; i++) {
        if (ps[i].attacked) continue;
        const cada_item *it = ps[i].item;
        cada_str text = {0};
        st = cada_prompt_render(b, lm->tok, it->id, it->prompt, it->cat, &ps[i].choice, &text);
        texts[k] = text.data;
        char key[512];
        prompt_key(sets, &ps[i], key, sizeof key);
        ids[k] = cada_hash64(key);
        which[k++] = i;
    }
    cada_eval_gen_config gc = {cfg->max_tokens, cfg->n_slots, cfg->temperature, cfg->top_p, cfg->seed, cfg->progress,
                               "generating"};
    if (st == CADA_OK) st = cada_eval_generate(lm, &gc, (const char *const *)texts, ids, NULL, m, gens, &rep->generate_seconds);
    for (int k = 0; k < m && st == CADA_OK; k++) {
        rep->prompt_tokens += gens[k].prompt_len;
        rep->generated_tokens += gens[k].res.n;
        ps[which[k]].gen = gens[k];
        memset(&gens[k], 0, sizeof gens[k]);
    }
    for (int k = 0; k < m; k++) {
        if (texts) free(texts[k]);
        if (gens) cada_eval_gen_free(&gens[k]);
    }
    free(texts);
    free(ids);
    free(which);
    free(gens);
    return st;
}

/* The harmful prompts under eval.attack (eval/attack.h); each keeps the reply the attack
 * kept, scored below like a direct one. */
static cada_status run_attack(const cada_eval_config *cfg, const cada_eval_lm *target, const cada_prompt_builder *b,
                              const cada_reward_ctx *rctx, cada_judge *pair_judge, const cada_prompt_set *sets,
                              eval_prompt *ps, int n, cada_eval_report *rep) {
    const cada_attack_config *ac = &cfg->attack;
    cada_eval_attack_summary *sum = &rep->attack;
    snprintf(sum->name, sizeof sum->name, "%s", cada_attack_name(ac->kind));
    if (ac->kind == CADA_ATTACK_NONE) return CADA_OK;
    int m = 0;
    for (int i = 0; i < n; i++) m += ps[i].attacked;
    const int own = ac->kind != CADA_ATTACK_TEMPLATE && ac->attacker_model && ac->attacker_model[0];
    cada_model am;
    memset(&am, 0, sizeof am);
    cada_tokenizer *atok = NULL;
    cada_eval_lm alm = *target;
    cada_attack_goal *goals = calloc((size_t)(m ? m : 1), sizeof *goals);
    cada_attack_result *res = calloc((size_t)(m ? m : 1), sizeof *res);
    char (*keys)[512] = calloc((size_t)(m ? m : 1), sizeof *keys);
    int *which = calloc((size_t)(m ? m : 1), sizeof *which);
    cada_status st = goals && res && keys && which ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "eval: attack on %d prompts", m);
    if (st == CADA_OK && own && m) {
        if (cfg->progress) CADA_INFO("eval: loading attacker %s", ac->attacker_model);
        st = cada_model_load(&am, ac->attacker_model);
        if (st == CADA_OK) st = cada_tok_load(&atok, ac->attacker_model, cfg->tok_flags);
        if (st == CADA_OK) cada_eval_lm_init(&alm, &am, atok);
        else cada_error_wrap("eval.attacker_model %s", ac->attacker_model);
    }
    for (int i = 0, k = 0; i < n && st == CADA_OK; i++) {
        if (!ps[i].attacked) continue;
        prompt_key(sets, &ps[i], keys[k], sizeof keys[k]);
        goals[k] = (cada_attack_goal){keys[k], ps[i].item->id, ps[i].item->prompt, ps[i].item->cat};
        which[k++] = i;
    }
    cada_attack_ctx ctx = {ac, target, &alm,
                           {cfg->max_tokens, cfg->n_slots, cfg->temperature, cfg->top_p, cfg->seed, cfg->progress, "target"},
                           cfg->n_slots, cfg->seed, b, rctx, pair_judge, cfg->progress};
    cada_attack_totals tot;
    memset(&tot, 0, sizeof tot);
    if (st == CADA_OK && m) st = cada_attack_run(&ctx, goals, m, res, &tot);
    for (int k = 0; k < m && st == CADA_OK; k++) {
        eval_prompt *p = &ps[which[k]];
        p->attack = res[k];
        p->gen = res[k].gen;
        p->choice = res[k].choice;
        memset(&p->attack.gen, 0, sizeof p->attack.gen);
        memset(&res[k], 0, sizeof res[k]);
        sum->attacked++;
        sum->jailbroken += p->attack.jailbroken;
    }
    snprintf(sum->attacker_model, sizeof sum->attacker_model, "%s",
             ac->kind == CADA_ATTACK_TEMPLATE ? "" : own ? ac->attacker_model : cfg->model_path);
    snprintf(sum->jailbreaks, sizeof sum->jailbreaks, "%s", ac->kind == CADA_ATTACK_TEMPLATE ? ac->jailbreaks : "");
    snprintf(sum->pair_scorer, sizeof sum->pair_scorer, "%s",
             ac->kind != CADA_ATTACK_PAIR ? "" : pair_judge ? "judge" : "detector");
    sum->attacker_max_tokens = ac->kind == CADA_ATTACK_TEMPLATE ? 0 : ac->attacker_max_tokens;
    sum->attacker_temperature = ac->kind == CADA_ATTACK_TEMPLATE ? 0 : ac->attacker_temperature;
    sum->templates = tot.templates;
    sum->pair_streams = ac->kind == CADA_ATTACK_PAIR ? ac->pair_streams : 0;
    sum->pair_iterations = ac->kind == CADA_ATTACK_PAIR ? ac->pair_iterations : 0;
    sum->attacker_queries = tot.attacker_queries;
    sum->target_queries = tot.target_queries;
    sum->empty_proposals = tot.empty_proposals;
    sum->attacker_tokens = tot.attacker_tokens;
    sum->target_tokens = tot.target_tokens;
    sum->pairs = tot.pairs;
    sum->pairs_jailbroken = tot.pairs_jailbroken;
    sum->engine_calls = tot.engine_calls;
    sum->seconds = tot.seconds;
    for (int k = 0; res && k < m; k++) cada_attack_result_free(&res[k]);
    free(res);
    free(goals);
    free(keys);
    free(which);
    cada_tok_free(atok);
    cada_model_free(&am);
    return st;
}

/* The rubric on harmful prompts' final responses (one judge batch). */
static cada_status run_rubric(cada_judge *judge, const eval_prompt *ps, const cada_reward *rewards, int n, int progress,
                              cada_rubric *rubrics, cada_str *rubric_texts) {
    cada_judge_item *items = calloc((size_t)n, sizeof *items);
    int *which = calloc((size_t)n, sizeof *which);
    cada_rubric *got = calloc((size_t)n, sizeof *got);
    cada_str *texts = calloc((size_t)n, sizeof *texts);
    char **finals = calloc((size_t)n, sizeof *finals);
    int h = 0;
    cada_status st = items && which && got && texts && finals ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rubric");
    for (int i = 0; i < n && st == CADA_OK; i++) {
        if (rewards[i].label != CADA_LABEL_HARMFUL) continue;
        cada_parsed pp;
        cada_parse_completion(ps[i].gen.text, ps[i].gen.text_len, &pp);
        if (!(finals[h] = cada_strndup(pp.final, pp.final_len))) st = CADA_ERR_NOMEM;
        items[h] = (cada_judge_item){ps[i].item->prompt, finals[h], NULL, ps[i].choice.category};
        which[h++] = i;
    }
    if (st == CADA_OK && progress) CADA_INFO("eval: rubric on %d harmful completions", h);
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
    return st;
}

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
    cada_reward *rewards = NULL;
    cada_reward_input *rin = NULL;
    cada_rubric *rubrics = NULL;
    cada_str *rubric_texts = NULL;
    cada_eval_lm lm;
    int n = 0;

    cada_status st = load_prompts(cfg, sets, rep, &ps, &n);
    if (st == CADA_OK) {
        rewards = calloc((size_t)(n ? n : 1), sizeof *rewards);
        rin = calloc((size_t)(n ? n : 1), sizeof *rin);
        if (!rewards || !rin) st = CADA_ERR(CADA_ERR_NOMEM, "eval: %d prompts", n);
    }
    /* model, tokenizer, prompts */
    if (st == CADA_OK) {
        if (cfg->progress) CADA_INFO("eval: loading %s", cfg->model_path);
        st = cada_model_load(&m, cfg->model_path);
    }
    if (st == CADA_OK) st = cada_tok_load(&tok, cfg->model_path, cfg->tok_flags);
    if (st == CADA_OK) st = cada_prompt_builder_init(&builder, &cfg->prompt);
    if (st == CADA_OK) st = cada_refusal_rules_load(&rules, cfg->reward.patterns);
    if (st == CADA_OK) cada_eval_lm_init(&lm, &m, tok);
    /* the judge: before any generation, since an attack's verdicts may need it (the
     * judge detector), and PAIR scores with it when reward.judge_model is set */
    int need_judge = cada_reward_needs_judge(&cfg->reward) || cfg->rubric;
    int pair_judge = cfg->attack.kind == CADA_ATTACK_PAIR && cfg->judge_model;
    if (st == CADA_OK && (need_judge || pair_judge)) {
        if (cfg->judge_model) {
            if (cfg->progress) CADA_INFO("eval: loading judge %s", cfg->judge_model);
            st = cada_eval_judge_open(&own_judge, cfg->judge_model, cfg->tok_flags, &cfg->judge);
            judge = own_judge.judge;
        } else {
            st = cada_judge_open_with(&judge, &m, tok, &cfg->judge);
        }
    }
    cada_reward_ctx rctx = {&cfg->reward, rules, judge, NULL};
    /* generate: the direct prompts, then the attacks */
    if (st == CADA_OK) st = generate_direct(cfg, &lm, &builder, sets, ps, n, rep);
    if (st == CADA_OK) st = run_attack(cfg, &lm, &builder, &rctx, pair_judge ? judge : NULL, sets, ps, n, rep);
    /* judge and rewards */
    double tj = cada_now();
    for (int i = 0; i < n && st == CADA_OK; i++)
        rin[i] = (cada_reward_input){ps[i].item->prompt, ps[i].gen.text, ps[i].gen.text_len, ps[i].item->label,
                                     ps[i].choice.category, 0};
    if (st == CADA_OK) {
        if (cfg->progress && need_judge) CADA_INFO("eval: judging %d completions", n);
        st = cada_reward_compute(&rctx, rin, n, rewards);
    }
    if (st == CADA_OK && cfg->rubric) {
        rubrics = calloc((size_t)(n ? n : 1), sizeof *rubrics);
        rubric_texts = calloc((size_t)(n ? n : 1), sizeof *rubric_texts);
        st = rubrics && rubric_texts ? run_rubric(judge, ps, rewards, n, cfg->progress, rubrics, rubric_texts)
                                     : CADA_ERR(CADA_ERR_NOMEM, "rubric");
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
                        rubric_texts ? &rubric_texts[i] : NULL, cfg->attack.kind);
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
        cada_eval_gen_free(&ps[i].gen);
        cada_attack_result_free(&ps[i].attack);
        if (rubric_texts) cada_str_free(&rubric_texts[i]);
    }
    free(ps);
    free(rewards);
    free(rin);
    free(rubrics);
    free(rubric_texts);
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
