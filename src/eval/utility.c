/* eval/utility.c: `cada utility`'s run (utility.h): prompts, greedy generation for
 * GSM8K and BBH through the rollout engine, next-token log-probs for MMLU through
 * model/infer.h, counting and the report. */
#define _POSIX_C_SOURCE 200809L
#include "eval/utility.h"

#include "base/fs.h"
#include "base/log.h"
#include "cada/text.h"
#include "model/infer.h"
#include "model/load.h"
#include "rollout/engine.h"
#include "tok/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cada_utility_config_default(cada_utility_config *c) {
    memset(c, 0, sizeof *c);
    c->shots = 5;
    c->max_tokens = 256;
    c->n_slots = 8;
    c->out_dir = "runs/utility";
    c->progress = 1;
}

typedef struct {
    int set;
    const cada_utility_item *item;
    int *tokens, n_tokens;
    char *output;       /* generated text (GSM8K, BBH) */
    float lp[4];        /* MMLU: log-probs of the four letters */
    char prediction[128];
    int correct;
} job;

typedef struct {
    const cada_utility_config *c;
    cada_utility_set sets[CADA_UTILITY_MAX_SETS], dev;
    cada_model m;
    cada_tokenizer *tok;
    job *jobs;
    int n;
} run_state;

/* ---- prompts ------------------------------------------------------------------------ */

/* One MMLU question in MMLU's layout; with its answer letter for a solved example. */
static cada_status mmlu_block(cada_str *s, const cada_utility_item *it, int solved) {
    CADA_TRY(cada_str_printf(s, "%s\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer:", it->question, it->choices[0], it->choices[1],
                             it->choices[2], it->choices[3]));
    return solved ? cada_str_printf(s, " %s\n\n", it->reference) : CADA_OK;
}

/* The prompt ids of a job: MMLU's raw text, else the chat template's user turn (raw
 * text with the tokenizer's special tokens for a model without a template). */
static cada_status encode_job(run_state *S, job *j, int shots) {
    const cada_utility_set *set = &S->sets[j->set];
    cada_str text = {0};
    cada_tok_ids ids = {0};
    cada_tok_bytes chat = {0};
    cada_status st = CADA_OK;
    int raw = set->kind == CADA_UTILITY_MMLU || cada_tok_chat_family(S->tok) == CADA_CHAT_NONE;
    if (set->kind == CADA_UTILITY_MMLU) {
        st = cada_str_printf(&text, "The following are multiple choice questions (with answers) about %s.\n\n", set->subject);
        for (int k = 0; k < shots && st == CADA_OK; k++) st = mmlu_block(&text, &S->dev.items[k], 1);
        if (st == CADA_OK) st = mmlu_block(&text, j->item, 0);
    } else {
        st = cada_str_printf(&text, "%s\n\n%s", j->item->question,
                             set->kind == CADA_UTILITY_GSM8K ? CADA_GSM8K_INSTRUCTION : CADA_BBH_INSTRUCTION);
    }
    if (st == CADA_OK && raw) {
        st = cada_tok_encode(S->tok, cada_str_c(&text), text.len, CADA_TOK_ADD_SPECIAL | cada_tok_config_flags(S->tok), &ids);
    } else if (st == CADA_OK) {
        cada_chat_msg msg = {"user", cada_str_c(&text)};
        st = cada_tok_chat_render(S->tok, &msg, 1, CADA_CHAT_ADD_GENERATION_PROMPT, &chat);
        /* the template is trusted text: its special tokens are read as such */
        if (st == CADA_OK) st = cada_tok_encode(S->tok, chat.data, chat.len, 0, &ids);
    }
    if (st == CADA_OK && !(j->tokens = malloc(sizeof(int) * (ids.n ? ids.n : 1)))) st = CADA_ERR(CADA_ERR_NOMEM, "prompt ids");
    for (size_t k = 0; st == CADA_OK && k < ids.n; k++) j->tokens[k] = ids.ids[k];
    j->n_tokens = (int)ids.n;
    cada_str_free(&text);
    cada_tok_ids_free(&ids);
    cada_tok_bytes_free(&chat);
    return st;
}

/* ---- GSM8K and BBH: greedy generation ----------------------------------------------- */

static cada_status decode(const cada_tokenizer *tok, const cada_gen_result *r, char **out) {
    cada_tok_bytes raw = {0}, txt = {0};
    cada_status st = cada_tok_decode(tok, r->tokens, (size_t)r->n, CADA_TOK_SKIP_SPECIAL, &raw);
    if (st == CADA_OK) st = cada_tok_utf8_lossy(raw.data ? raw.data : "", raw.len, &txt);
    if (st == CADA_OK && !(*out = cada_strndup(txt.data ? txt.data : "", txt.len))) st = CADA_ERR_NOMEM;
    cada_tok_bytes_free(&raw);
    cada_tok_bytes_free(&txt);
    return st;
}

static cada_status generate(run_state *S) {
    const cada_utility_config *c = S->c;
    int n = 0, longest = 0;
    for (int i = 0; i < S->n; i++)
        if (S->sets[S->jobs[i].set].kind != CADA_UTILITY_MMLU)
            n++, longest = S->jobs[i].n_tokens > longest ? S->jobs[i].n_tokens : longest;
    if (!n) return CADA_OK;
    cada_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    cada_gen_result *res = calloc((size_t)n, sizeof *res);
    int *which = calloc((size_t)n, sizeof *which);
    cada_status st = reqs && res && which ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "%d requests", n);
    for (int i = 0, k = 0; st == CADA_OK && i < S->n; i++) {
        job *j = &S->jobs[i];
        if (S->sets[j->set].kind == CADA_UTILITY_MMLU) continue;
        which[k] = i;
        reqs[k++] = (cada_gen_request){(uint64_t)i, 0, j->tokens, j->n_tokens, c->max_tokens};
    }
    int eos[2];
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling = (cada_sampling){0.0f, 0, 1.0f}; /* greedy */
    ec.n_slots = c->n_slots < n ? c->n_slots : n;
    ec.max_len = longest + c->max_tokens + 1;
    if (S->m.cfg.max_position_embeddings > 0 && ec.max_len > S->m.cfg.max_position_embeddings)
        ec.max_len = S->m.cfg.max_position_embeddings;
    ec.eos_ids = eos;
    ec.n_eos = cada_eos_ids(cada_tok_eos_id(S->tok), S->m.cfg.eos_token_id, eos);
    if (st == CADA_OK && longest >= ec.max_len)
        st = CADA_ERR(CADA_ERR_CONFIG, "a prompt of %d tokens leaves no room under the model's context of %d", longest,
                      ec.max_len);
    if (st == CADA_OK && c->progress)
        CADA_INFO("utility: generating %d answers (greedy, up to %d tokens, longest prompt %d)", n, c->max_tokens, longest);
    cada_engine_stats stats;
    if (st == CADA_OK) st = cada_generate(&S->m, &ec, reqs, n, res, &stats);
    for (int k = 0; st == CADA_OK && k < n; k++) {
        job *j = &S->jobs[which[k]];
        st = decode(S->tok, &res[k], &j->output);
        if (st != CADA_OK) break;
        if (S->sets[j->set].kind == CADA_UTILITY_GSM8K) {
            cada_gsm8k_last_number(j->output, j->prediction, sizeof j->prediction);
            j->correct = j->prediction[0] && !strcmp(j->prediction, j->item->reference);
        } else {
            char ref[128];
            cada_bbh_answer(j->output, j->prediction, sizeof j->prediction);
            cada_bbh_normalise(j->item->reference, strlen(j->item->reference), ref, sizeof ref);
            j->correct = j->prediction[0] && !strcmp(j->prediction, ref);
        }
    }
    for (int k = 0; res && k < n; k++) cada_gen_result_free(&res[k]);
    free(reqs);
    free(res);
    free(which);
    return st;
}

/* ---- MMLU: the letter with the highest next-token log-prob --------------------------- */

/* The id that ends " A" .. " D" as the tokenizer encodes them (the letter after
 * "Answer:" is written with its space in MMLU's solved examples). */
static cada_status letter_ids(const cada_tokenizer *tok, int V, int out[4]) {
    for (int k = 0; k < 4; k++) {
        char s[3] = {' ', (char)('A' + k), 0};
        cada_tok_ids ids = {0};
        CADA_TRY(cada_tok_encode(tok, s, 2, 0, &ids));
        out[k] = ids.n ? ids.ids[ids.n - 1] : -1;
        cada_tok_ids_free(&ids);
        if (out[k] < 0 || out[k] >= V)
            return CADA_ERR(CADA_ERR_CONFIG, "\"%s\" has no token id inside the model's vocabulary %d", s, V);
    }
    return CADA_OK;
}

static void score_row(job *j, const float *row, int V, const int letters[4]) {
    float mx = row[0];
    for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)(row[v] - mx));
    double lse = mx + log(sum);
    int best = 0;
    for (int k = 0; k < 4; k++) {
        j->lp[k] = (float)(row[letters[k]] - lse);
        if (j->lp[k] > j->lp[best]) best = k;
    }
    snprintf(j->prediction, sizeof j->prediction, "%c", 'A' + best);
    j->correct = j->prediction[0] == j->item->reference[0];
}

static cada_status score_mmlu(run_state *S) {
    int n = 0, longest = 0;
    for (int i = 0; i < S->n; i++)
        if (S->sets[S->jobs[i].set].kind == CADA_UTILITY_MMLU)
            n++, longest = S->jobs[i].n_tokens > longest ? S->jobs[i].n_tokens : longest;
    if (!n) return CADA_OK;
    const int V = S->m.cfg.vocab_size, slots = S->c->n_slots;
    int letters[4];
    CADA_TRY(letter_ids(S->tok, V, letters));
    if (S->m.cfg.max_position_embeddings > 0 && longest > S->m.cfg.max_position_embeddings)
        return CADA_ERR(CADA_ERR_CONFIG, "an MMLU prompt of %d tokens is over the model's context of %d (fewer --shots)",
                        longest, S->m.cfg.max_position_embeddings);
    int budget = longest > 2048 ? longest : 2048; /* tokens per model call */
    float *logits = malloc(sizeof *logits * (size_t)slots * (size_t)V);
    cada_infer_seq *seqs = calloc((size_t)slots, sizeof *seqs);
    int *which = calloc((size_t)slots, sizeof *which);
    cada_kv_cache kv;
    memset(&kv, 0, sizeof kv);
    cada_status st = logits && seqs && which ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "MMLU buffers");
    if (st == CADA_OK) st = cada_kv_cache_init(&kv, &S->m.cfg, slots, longest + 1, budget, 0, 0);
    if (st == CADA_OK && S->c->progress) CADA_INFO("utility: scoring %d MMLU questions (longest prompt %d)", n, longest);
    for (int i = 0; i < S->n && st == CADA_OK;) { /* groups of up to `slots` questions within the budget */
        int g = 0, total = 0;
        for (; i < S->n && g < slots; i++) {
            job *j = &S->jobs[i];
            if (S->sets[j->set].kind != CADA_UTILITY_MMLU) continue;
            if (g && total + j->n_tokens > budget) break;
            cada_kv_cache_clear_slot(&kv, g);
            seqs[g] = (cada_infer_seq){g, j->n_tokens, j->tokens};
            which[g++] = i;
            total += j->n_tokens;
        }
        if (g) st = cada_model_infer(&S->m, &kv, seqs, g, logits);
        for (int s = 0; s < g && st == CADA_OK; s++) score_row(&S->jobs[which[s]], logits + (size_t)s * V, V, letters);
    }
    cada_kv_cache_free(&kv);
    free(logits);
    free(seqs);
    free(which);
    return st;
}

/* ---- report ------------------------------------------------------------------------- */

static cada_status write_outputs(run_state *S, cada_utility_report *r) {
    const cada_utility_config *c = S->c;
    cada_str lines = {0}, rep = {0};
    cada_status st = cada_mkdir_p(c->out_dir);
    for (int i = 0; i < S->n && st == CADA_OK; i++) {
        const job *j = &S->jobs[i];
        cada_utility_result *x = &r->sets[j->set];
        x->n++;
        x->correct += j->correct;
        x->no_answer += !j->prediction[0];
        st = cada_str_puts(&lines, "{\"set\": ");
        if (st == CADA_OK) st = cada_str_json(&lines, x->name, strlen(x->name));
        if (st == CADA_OK) st = cada_str_printf(&lines, ", \"line\": %ld, \"reference\": ", j->item->line);
        if (st == CADA_OK) st = cada_str_json(&lines, j->item->reference, strlen(j->item->reference));
        if (st == CADA_OK) st = cada_str_puts(&lines, ", \"prediction\": ");
        if (st == CADA_OK) st = cada_str_json(&lines, j->prediction, strlen(j->prediction));
        if (st == CADA_OK) st = cada_str_printf(&lines, ", \"correct\": %s, \"output\": ", j->correct ? "true" : "false");
        if (st == CADA_OK && j->output) st = cada_str_json(&lines, j->output, strlen(j->output));
        else if (st == CADA_OK)
            st = cada_str_printf(&lines, "{\"A\": %.4f, \"B\": %.4f, \"C\": %.4f, \"D\": %.4f}", (double)j->lp[0], (double)j->lp[1],
                                 (double)j->lp[2], (double)j->lp[3]);
        if (st == CADA_OK) st = cada_str_puts(&lines, "}\n");
    }
    if (st == CADA_OK) st = cada_str_puts(&rep, "{\"model\": ");
    if (st == CADA_OK) st = cada_str_json(&rep, c->model_path, strlen(c->model_path));
    if (st == CADA_OK) st = cada_str_puts(&rep, ", \"sets\": [");
    for (int s = 0; s < r->n_sets && st == CADA_OK; s++) {
        cada_utility_result *x = &r->sets[s];
        x->accuracy = x->n ? (double)x->correct / x->n : 0;
        st = cada_str_printf(&rep, "%s\n  {\"name\": ", s ? "," : "");
        if (st == CADA_OK) st = cada_str_json(&rep, x->name, strlen(x->name));
        if (st == CADA_OK) st = cada_str_printf(&rep, ", \"kind\": \"%s\", \"path\": ", cada_utility_kind_name(x->kind));
        if (st == CADA_OK) st = cada_str_json(&rep, x->path, strlen(x->path));
        if (st == CADA_OK)
            st = cada_str_printf(&rep, ", \"n\": %d, \"correct\": %d, \"accuracy\": %.4f, \"no_answer\": %d, \"shots\": %d}", x->n,
                                 x->correct, x->accuracy, x->no_answer, x->shots);
    }
    r->seconds = cada_now() - r->seconds;
    if (st == CADA_OK) st = cada_str_printf(&rep, "\n], \"max_tokens\": %d, \"seconds\": %.1f}\n", c->max_tokens, r->seconds);
    char path[2048];
    if (st == CADA_OK) {
        cada_path_join(path, sizeof path, c->out_dir, "utility.jsonl");
        st = cada_write_file(path, cada_str_c(&lines), lines.len);
    }
    if (st == CADA_OK) {
        cada_path_join(path, sizeof path, c->out_dir, "report.json");
        st = cada_write_file(path, cada_str_c(&rep), rep.len);
    }
    cada_str_free(&lines);
    cada_str_free(&rep);
    return st;
}

/* ---- the run ------------------------------------------------------------------------ */

/* Loads the sets (and the MMLU dev file) and makes one job per kept item. */
static cada_status load_jobs(run_state *S, cada_utility_report *r) {
    const cada_utility_config *c = S->c;
    int total = 0, any_mmlu = 0;
    for (int s = 0; s < c->n_sets; s++) {
        CADA_TRY(cada_utility_load(&S->sets[s], c->sets[s].kind, c->sets[s].path));
        int keep = c->limit && c->limit < S->sets[s].n ? c->limit : S->sets[s].n;
        total += keep;
        any_mmlu |= c->sets[s].kind == CADA_UTILITY_MMLU;
        cada_utility_result *x = &r->sets[s];
        snprintf(x->name, sizeof x->name, "%s", S->sets[s].name);
        snprintf(x->path, sizeof x->path, "%s", S->sets[s].path);
        x->kind = c->sets[s].kind;
        if (c->progress) CADA_INFO("utility: %s: %d of %d items (%s)", x->path, keep, S->sets[s].n, cada_utility_kind_name(x->kind));
    }
    r->n_sets = c->n_sets;
    if (any_mmlu && c->mmlu_dev) CADA_TRY(cada_utility_load(&S->dev, CADA_UTILITY_MMLU, c->mmlu_dev));
    int shots = any_mmlu && c->mmlu_dev ? (c->shots < S->dev.n ? c->shots : S->dev.n) : 0;
    for (int s = 0; s < c->n_sets; s++) r->sets[s].shots = c->sets[s].kind == CADA_UTILITY_MMLU ? shots : 0;
    if (!(S->jobs = calloc((size_t)total, sizeof *S->jobs))) return CADA_ERR(CADA_ERR_NOMEM, "%d items", total);
    for (int s = 0; s < c->n_sets; s++) {
        int keep = c->limit && c->limit < S->sets[s].n ? c->limit : S->sets[s].n;
        for (int i = 0; i < keep; i++) /* spread evenly over the file, as cada eval's limit */
            S->jobs[S->n++] = (job){.set = s, .item = &S->sets[s].items[(long)i * S->sets[s].n / keep]};
    }
    return CADA_OK;
}

static cada_status run(run_state *S, cada_utility_report *r) {
    const cada_utility_config *c = S->c;
    if (c->n_sets <= 0 || c->n_sets > CADA_UTILITY_MAX_SETS)
        return CADA_ERR(CADA_ERR_CONFIG, "%d sets (give 1 to %d)", c->n_sets, CADA_UTILITY_MAX_SETS);
    if (c->max_tokens <= 0 || c->n_slots <= 0 || c->limit < 0 || c->shots < 0)
        return CADA_ERR(CADA_ERR_CONFIG, "max_tokens %d, slots %d, limit %d, shots %d out of range", c->max_tokens,
                        c->n_slots, c->limit, c->shots);
    CADA_TRY(load_jobs(S, r));
    if (c->progress) CADA_INFO("utility: loading %s", c->model_path);
    CADA_TRY(cada_model_load(&S->m, c->model_path));
    CADA_TRY(cada_tok_load(&S->tok, c->model_path, c->tok_flags));
    for (int i = 0; i < S->n; i++) CADA_TRY(encode_job(S, &S->jobs[i], r->sets[S->jobs[i].set].shots));
    CADA_TRY(generate(S));
    CADA_TRY(score_mmlu(S));
    return write_outputs(S, r);
}

cada_status cada_utility_run(const cada_utility_config *c, cada_utility_report *r) {
    memset(r, 0, sizeof *r);
    r->seconds = cada_now(); /* the start; write_outputs makes it the duration */
    run_state *S = calloc(1, sizeof *S);
    if (!S) return CADA_ERR(CADA_ERR_NOMEM, "utility state");
    S->c = c;
    cada_status st = run(S, r);
    for (int i = 0; i < S->n; i++) {
        free(S->jobs[i].tokens);
        free(S->jobs[i].output);
    }
    free(S->jobs);
    for (int s = 0; s < CADA_UTILITY_MAX_SETS; s++) cada_utility_set_free(&S->sets[s]);
    cada_utility_set_free(&S->dev);
    cada_tok_free(S->tok);
    cada_model_free(&S->m);
    free(S);
    return st;
}
