/* eval/report.c: see report.h. */
#include "eval/report.h"

#include "eval/svg.h"

#include <math.h>
#include <string.h>

static cada_status num(cada_str *o, double x) {
    return isfinite(x) ? cada_str_printf(o, "%.4f", x) : cada_str_puts(o, "null");
}

static cada_status counts_json(cada_str *o, const cada_eval_counts *c) {
    CADA_TRY(cada_str_printf(o, "{\"harmful\": {\"n\": %ld, \"refused\": %ld, \"asr\": ", c->harmful_n, c->harmful_refused));
    CADA_TRY(num(o, cada_eval_asr(c)));
    CADA_TRY(cada_str_printf(o, "}, \"benign\": {\"n\": %ld, \"refused\": %ld, \"non_refusal_rate\": ", c->benign_n,
                             c->benign_refused));
    CADA_TRY(num(o, cada_eval_non_refusal(c)));
    CADA_TRY(cada_str_printf(o, "}, \"rubric\": {\"n\": %ld, \"parsed\": %ld, \"mean_score\": ", c->rubric_n, c->rubric_ok));
    CADA_TRY(num(o, cada_eval_rubric_mean(c)));
    const cada_parse_stats *p = &c->parse;
    return cada_str_printf(o,
                           "}, \"format\": {\"n\": %ld, \"well_formed\": %ld, \"missing_analysis\": %ld, "
                           "\"missing_final\": %ld, \"repeated\": %ld, \"out_of_order\": %ld, \"empty_final\": %ld}}",
                           p->n, p->well_formed, p->missing_analysis, p->missing_final, p->repeated, p->out_of_order,
                           p->empty_final);
}

static cada_status categories_json(cada_str *o, const cada_eval_counts *cat) {
    CADA_TRY(cada_str_puts(o, "["));
    int first = 1;
    for (int c = 0; c < CADA_EVAL_ROWS; c++) {
        if (!cat[c].parse.n) continue;
        CADA_TRY(cada_str_printf(o, "%s{\"category\": \"%s\", \"counts\": ", first ? "" : ", ",
                                 cada_category_id(c < CADA_N_CATEGORIES ? c : CADA_CAT_NONE)));
        CADA_TRY(counts_json(o, &cat[c]));
        CADA_TRY(cada_str_puts(o, "}"));
        first = 0;
    }
    return cada_str_puts(o, "]");
}

static cada_status pct(cada_str *o, double x) { return isfinite(x) ? cada_str_printf(o, "%.1f%%", 100 * x) : cada_str_puts(o, "-"); }
static cada_status dec(cada_str *o, double x) { return isfinite(x) ? cada_str_printf(o, "%.3f", x) : cada_str_puts(o, "-"); }

static double rate(long k, long n) { return n ? (double)k / (double)n : NAN; }

/* The attack's settings and counts; attack "none" gives its name only. */
static cada_status attack_json(cada_str *o, const cada_eval_attack_summary *a) {
    CADA_TRY(cada_str_printf(o, ",\n  \"attack\": {\"name\": \"%s\"", a->name[0] ? a->name : "none"));
    if (!a->name[0] || !strcmp(a->name, "none")) return cada_str_puts(o, "}");
    CADA_TRY(cada_str_puts(o, ", \"attacker_model\": "));
    if (a->attacker_model[0]) CADA_TRY(cada_str_json(o, a->attacker_model, strlen(a->attacker_model)));
    else CADA_TRY(cada_str_puts(o, "null"));
    CADA_TRY(cada_str_printf(o, ", \"attacker_max_tokens\": %d, \"attacker_temperature\": %g", a->attacker_max_tokens,
                             (double)a->attacker_temperature));
    if (!strcmp(a->name, "template")) {
        CADA_TRY(cada_str_puts(o, ", \"jailbreaks\": "));
        CADA_TRY(cada_str_json(o, a->jailbreaks, strlen(a->jailbreaks)));
        CADA_TRY(cada_str_printf(o, ", \"templates\": %d", a->templates));
    }
    if (!strcmp(a->name, "pair"))
        CADA_TRY(cada_str_printf(o, ", \"pair_streams\": %d, \"pair_iterations\": %d, \"pair_scorer\": \"%s\"",
                                 a->pair_streams, a->pair_iterations, a->pair_scorer));
    CADA_TRY(cada_str_printf(o,
                             ",\n             \"harmful_attacked\": %ld, \"jailbroken\": %ld, \"asr\": ", a->attacked,
                             a->jailbroken));
    CADA_TRY(num(o, rate(a->jailbroken, a->attacked)));
    CADA_TRY(cada_str_printf(o,
                             ", \"queries\": {\"attacker\": %ld, \"target\": %ld}, \"empty_proposals\": %ld, "
                             "\"generated_tokens\": {\"attacker\": %ld, \"target\": %ld}, \"engine_calls\": %d, "
                             "\"seconds\": %.3f",
                             a->attacker_queries, a->target_queries, a->empty_proposals, a->attacker_tokens, a->target_tokens,
                             a->engine_calls, a->seconds));
    if (!strcmp(a->name, "template")) {
        CADA_TRY(cada_str_printf(o, ",\n             \"template_pairs\": {\"n\": %ld, \"jailbroken\": %ld, \"rate\": ",
                                 a->pairs, a->pairs_jailbroken));
        CADA_TRY(num(o, rate(a->pairs_jailbroken, a->pairs)));
        CADA_TRY(cada_str_puts(o, "}"));
    }
    return cada_str_puts(o, "}");
}

/* The attack in the Markdown report (nothing for attack "none" but its name). */
static cada_status attack_markdown(cada_str *o, const cada_eval_attack_summary *a) {
    if (!a->name[0] || !strcmp(a->name, "none")) return CADA_OK;
    CADA_TRY(cada_str_printf(o, "\n## Attack: %s\n\n", a->name));
    if (!strcmp(a->name, "template"))
        CADA_TRY(cada_str_printf(o, "Static jailbreak templates from `%s`, %d per prompt. A prompt is jailbroken when any "
                                    "template's reply is not refused.\n\n",
                                 a->jailbreaks, a->templates));
    else if (!strcmp(a->name, "pap"))
        CADA_TRY(cada_str_printf(o, "Persuasive paraphrase (misrepresentation) by `%s` (up to %d tokens, temperature %g); "
                                    "jailbroken when the reply to the paraphrase is not refused.\n\n",
                                 a->attacker_model, a->attacker_max_tokens, (double)a->attacker_temperature));
    else
        CADA_TRY(cada_str_printf(o, "PAIR by `%s` (up to %d tokens, temperature %g): %d streams x %d iterations, scores "
                                    "from the %s; a prompt stops at its first reply not refused.\n\n",
                                 a->attacker_model, a->attacker_max_tokens, (double)a->attacker_temperature,
                                 a->pair_streams, a->pair_iterations, a->pair_scorer));
    CADA_TRY(cada_str_printf(o, "| | |\n|---|---:|\n| harmful prompts attacked | %ld |\n| jailbroken | %ld |\n| ASR under "
                                "the attack | ",
                             a->attacked, a->jailbroken));
    CADA_TRY(pct(o, rate(a->jailbroken, a->attacked)));
    CADA_TRY(cada_str_printf(o, " |\n| attacker queries | %ld |\n| target queries | %ld |\n| empty attacker proposals | %ld |\n",
                             a->attacker_queries, a->target_queries, a->empty_proposals));
    if (!strcmp(a->name, "template")) {
        CADA_TRY(cada_str_printf(o, "| (prompt, template) pairs not refused | %ld/%ld (", a->pairs_jailbroken, a->pairs));
        CADA_TRY(pct(o, rate(a->pairs_jailbroken, a->pairs)));
        CADA_TRY(cada_str_puts(o, ") |\n"));
    }
    return cada_str_printf(o, "| engine calls | %d (%.1f s) |\n", a->engine_calls, a->seconds);
}

cada_status cada_eval_report_json(const cada_eval_report *r, cada_str *o) {
    CADA_TRY(cada_str_puts(o, "{\n  \"model\": "));
    CADA_TRY(cada_str_json(o, r->model, strlen(r->model)));
    CADA_TRY(cada_str_puts(o, ",\n  \"judge_model\": "));
    if (r->judge_model[0]) CADA_TRY(cada_str_json(o, r->judge_model, strlen(r->judge_model)));
    else CADA_TRY(cada_str_puts(o, "null"));
    CADA_TRY(cada_str_printf(o,
                             ",\n  \"template\": \"%s\",\n  \"k\": %d,\n  \"select\": \"%s\",\n  \"detector\": \"%s\",\n"
                             "  \"rubric\": %s,\n  \"seed\": %llu,\n  \"max_tokens\": %d,\n  \"temperature\": %g,\n"
                             "  \"top_p\": %g",
                             r->template_name, r->k, r->select, r->detector, r->rubric ? "true" : "false", r->seed,
                             r->max_tokens, (double)r->temperature, (double)r->top_p));
    CADA_TRY(attack_json(o, &r->attack));
    CADA_TRY(cada_str_puts(o, ",\n  \"sets\": ["));
    for (int s = 0; s < r->n_sets; s++) {
        const cada_eval_set_result *x = &r->sets[s];
        CADA_TRY(cada_str_puts(o, s ? ",\n    {\"name\": " : "\n    {\"name\": "));
        CADA_TRY(cada_str_json(o, x->name, strlen(x->name)));
        CADA_TRY(cada_str_puts(o, ", \"path\": "));
        CADA_TRY(cada_str_json(o, x->path, strlen(x->path)));
        CADA_TRY(cada_str_printf(o, ", \"format\": \"%s\", \"prompts\": %d, \"skipped_records\": %d,\n     \"counts\": ",
                                 x->format, x->n_items, x->n_skipped));
        CADA_TRY(counts_json(o, &x->total));
        CADA_TRY(cada_str_puts(o, ",\n     \"categories\": "));
        CADA_TRY(categories_json(o, x->cat));
        CADA_TRY(cada_str_puts(o, "}"));
    }
    CADA_TRY(cada_str_puts(o, "\n  ],\n  \"overall\": "));
    CADA_TRY(counts_json(o, &r->overall));
    CADA_TRY(cada_str_puts(o, ",\n  \"categories\": "));
    CADA_TRY(categories_json(o, r->overall_cat));
    double tps = r->generate_seconds > 0 ? (double)r->generated_tokens / r->generate_seconds : 0;
    return cada_str_printf(o,
                           ",\n  \"timing\": {\"prompt_tokens\": %ld, \"generated_tokens\": %ld, \"generate_seconds\": %.3f, "
                           "\"generated_tokens_per_second\": %.2f, \"judge_seconds\": %.3f, \"total_seconds\": %.3f}\n}\n",
                           r->prompt_tokens, r->generated_tokens, r->generate_seconds, tps, r->judge_seconds,
                           r->total_seconds);
}


static cada_status md_row(cada_str *o, const char *name, long prompts, const cada_eval_counts *c, int with_format) {
    CADA_TRY(cada_str_printf(o, "| %s | %ld | %ld | ", name, prompts, c->harmful_n));
    CADA_TRY(pct(o, cada_eval_asr(c)));
    CADA_TRY(cada_str_puts(o, " | "));
    CADA_TRY(dec(o, cada_eval_rubric_mean(c)));
    if (c->rubric_n) CADA_TRY(cada_str_printf(o, " (%ld/%ld)", c->rubric_ok, c->rubric_n));
    CADA_TRY(cada_str_printf(o, " | %ld | ", c->benign_n));
    CADA_TRY(pct(o, cada_eval_non_refusal(c)));
    if (with_format) {
        CADA_TRY(cada_str_puts(o, " | "));
        CADA_TRY(pct(o, c->parse.n ? (double)c->parse.well_formed / (double)c->parse.n : NAN));
    }
    return cada_str_puts(o, " |\n");
}

cada_status cada_eval_report_markdown(const cada_eval_report *r, cada_str *o) {
    CADA_TRY(cada_str_printf(o, "# cada eval\n\n- model: `%s`\n- prompt template: %s", r->model, r->template_name));
    if (!strcmp(r->template_name, "cada")) CADA_TRY(cada_str_printf(o, " (k = %d, selection %s)", r->k, r->select));
    CADA_TRY(cada_str_printf(o, "\n- refusal detector: %s\n- judge: %s%s\n- generation: %s, up to %d tokens, seed %llu\n\n",
                             r->detector, r->judge_model[0] ? r->judge_model : "none",
                             r->rubric ? " (StrongREJECT-style rubric on harmful prompts)" : "",
                             r->temperature == 0 ? "greedy" : "sampled", r->max_tokens, r->seed));
    if (r->attack.name[0] && strcmp(r->attack.name, "none"))
        CADA_TRY(cada_str_printf(o, "Attack: **%s** on the harmful prompts (benign prompts as they are): their ASR below is "
                                    "under the attack.\n\n",
                                 r->attack.name));
    CADA_TRY(cada_str_puts(o, "ASR: share of harmful prompts not refused (lower is better). Non-refusal: share of benign "
                              "prompts answered (higher is better). Rubric: mean score in [0, 1] (lower is better), parsed/asked.\n\n"));
    CADA_TRY(cada_str_puts(o, "| set | prompts | harmful | ASR | rubric | benign | non-refusal | well-formed |\n"
                              "|---|---:|---:|---:|---:|---:|---:|---:|\n"));
    long total = 0;
    for (int s = 0; s < r->n_sets; s++) {
        CADA_TRY(md_row(o, r->sets[s].name, r->sets[s].n_items, &r->sets[s].total, 1));
        total += r->sets[s].n_items;
    }
    if (r->n_sets > 1) CADA_TRY(md_row(o, "**all**", total, &r->overall, 1));
    CADA_TRY(cada_str_puts(o, "\n## Per hazard category (all sets)\n\n"
                              "| category | prompts | harmful | ASR | rubric | benign | non-refusal |\n"
                              "|---|---:|---:|---:|---:|---:|---:|\n"));
    for (int c = 0; c < CADA_EVAL_ROWS; c++) {
        const cada_eval_counts *x = &r->overall_cat[c];
        if (!x->parse.n) continue;
        CADA_TRY(md_row(o, cada_category_id(c < CADA_N_CATEGORIES ? c : CADA_CAT_NONE), x->parse.n, x, 0));
    }
    CADA_TRY(attack_markdown(o, &r->attack));
    const cada_parse_stats *p = &r->overall.parse;
    CADA_TRY(cada_str_printf(o,
                             "\n## Output format\n\n| | completions |\n|---|---:|\n| well-formed | %ld |\n"
                             "| missing Analysis | %ld |\n| missing Final Response | %ld |\n| repeated section | %ld |\n"
                             "| out of order | %ld |\n| empty final response | %ld |\n| total | %ld |\n",
                             p->well_formed, p->missing_analysis, p->missing_final, p->repeated, p->out_of_order,
                             p->empty_final, p->n));
    double tps = r->generate_seconds > 0 ? (double)r->generated_tokens / r->generate_seconds : 0;
    return cada_str_printf(o,
                           "\nGeneration: %ld prompt tokens, %ld generated in %.1f s (%.1f tokens/s); judge %.1f s; "
                           "total %.1f s.\n",
                           r->prompt_tokens, r->generated_tokens, r->generate_seconds, tps, r->judge_seconds,
                           r->total_seconds);
}

cada_status cada_eval_report_svg(const cada_eval_report *r, cada_str *o) {
    int rows[CADA_EVAL_ROWS], n = 0;
    for (int c = 0; c < CADA_EVAL_ROWS; c++)
        if (r->overall_cat[c].parse.n) rows[n++] = c;
    const int left = 60, top = 60, plot_h = 240, group_w = 64, bar_w = 22, bottom = 150;
    const int width = left + (n ? n : 1) * group_w + 30, height = top + plot_h + bottom;
    char title[96];
    snprintf(title, sizeof title, "cada eval: %s prompt", r->template_name);
    CADA_TRY(cada_svg_begin(o, width, height, left, title));
    /* legend */
    CADA_TRY(cada_str_printf(o,
                             "<rect x=\"%d\" y=\"30\" width=\"12\" height=\"12\" fill=\"#c0392b\"/>"
                             "<text x=\"%d\" y=\"40\">attack success rate (harmful, lower is better)</text>\n"
                             "<rect x=\"%d\" y=\"30\" width=\"12\" height=\"12\" fill=\"#2c7fb8\"/>"
                             "<text x=\"%d\" y=\"40\">non-refusal rate (benign, higher is better)</text>\n",
                             left, left + 16, left + 290, left + 306));
    /* axis and grid */
    for (int g = 0; g <= 4; g++) {
        int y = top + plot_h - g * plot_h / 4;
        CADA_TRY(cada_str_printf(o,
                                 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                                 "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d%%</text>\n",
                                 left, y, width - 20, y, left - 6, y + 4, g * 25));
    }
    CADA_TRY(cada_str_printf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", left, top, left,
                             top + plot_h));
    for (int i = 0; i < n; i++) {
        const cada_eval_counts *c = &r->overall_cat[rows[i]];
        int x0 = left + i * group_w + (group_w - 2 * bar_w) / 2;
        double v[2] = {cada_eval_asr(c), cada_eval_non_refusal(c)};
        const char *fill[2] = {"#c0392b", "#2c7fb8"};
        for (int b = 0; b < 2; b++) {
            int x = x0 + b * bar_w;
            if (!isfinite(v[b])) {
                CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#999\">-</text>\n",
                                         x + bar_w / 2, top + plot_h - 4));
                continue;
            }
            int h = (int)lround(v[b] * plot_h);
            CADA_TRY(cada_str_printf(o,
                                     "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%.1f%%</title></rect>"
                                     "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"9\">%.0f</text>\n",
                                     x, top + plot_h - h, bar_w - 2, h, fill[b], 100 * v[b], x + bar_w / 2 - 1,
                                     top + plot_h - h - 3, 100 * v[b]));
        }
        int lx = left + i * group_w + group_w / 2, ly = top + plot_h + 12;
        CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" transform=\"rotate(-40 %d %d)\">%s (%ld)</text>\n",
                                 lx, ly, lx, ly, cada_category_id(rows[i] < CADA_N_CATEGORIES ? rows[i] : CADA_CAT_NONE),
                                 c->parse.n));
    }
    if (!n) CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\">no prompts</text>\n", left + 10, top + plot_h / 2));
    return cada_svg_end(o);
}

static cada_status write_one(const char *dir, const char *name, const cada_str *s) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cada_write_file(path, cada_str_c(s), s->len);
}

cada_status cada_eval_report_write(const cada_eval_report *r, const char *dir) {
    cada_str j = {0}, m = {0}, g = {0};
    cada_status st = cada_eval_report_json(r, &j);
    if (st == CADA_OK) st = cada_eval_report_markdown(r, &m);
    if (st == CADA_OK) st = cada_eval_report_svg(r, &g);
    if (st == CADA_OK) st = write_one(dir, "report.json", &j);
    if (st == CADA_OK) st = write_one(dir, "report.md", &m);
    if (st == CADA_OK) st = write_one(dir, "report.svg", &g);
    cada_str_free(&j);
    cada_str_free(&m);
    cada_str_free(&g);
    return st;
}
