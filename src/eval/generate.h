/* eval/generate.h: chat texts in, decoded completions out, in one continuously batched
 * engine call (rollout/engine.h). What cada eval's direct run and every attack
 * (eval/attack.h) generate with, so each phase is one engine call over all of its
 * prompts, never one prompt at a time.
 *
 * Request i is texts[i] (already rendered with a chat template) encoded with the
 * model's tokenizer (flags 0); its sampling stream is (cfg->seed, ids[i], samples[i]),
 * so a completion depends on neither its position nor the batch. The engine's context
 * limit is the longest prompt + max_tokens + 1, capped by the model's
 * max_position_embeddings (a prompt that does not fit is the engine's error naming it).
 * Completions are decoded without special tokens, invalid UTF-8 replaced (U+FFFD). */
#ifndef CADA_EVAL_GENERATE_H
#define CADA_EVAL_GENERATE_H

#include "model/model.h"
#include "rollout/engine.h"
#include "tok/tokenizer.h"

#include <stdint.h>

/* A model with its tokenizer and end-of-sequence ids (held, not owned). */
typedef struct {
    const cada_model *m;
    const cada_tokenizer *tok;
    int eos[2], n_eos;
} cada_eval_lm;

void cada_eval_lm_init(cada_eval_lm *lm, const cada_model *m, const cada_tokenizer *tok);

typedef struct {
    int max_tokens;            /* new tokens per completion (> 0) */
    int n_slots;               /* sequences decoded together (> 0; capped by n) */
    float temperature, top_p;  /* 0: greedy */
    uint64_t seed;
    int progress;              /* a stderr line every few seconds */
    const char *what;          /* progress label ("generating", "attacker", ...) */
} cada_eval_gen_config;

typedef struct {
    int *prompt;               /* (prompt_len) the ids fed, malloc'd */
    int prompt_len;
    cada_gen_result res;       /* the engine's tokens, log-probs, finish */
    char *text;                /* the decoded completion, NUL-terminated, malloc'd */
    size_t text_len;
} cada_eval_gen;

/* Generates one completion for each of texts[0..n) into out[0..n) (zeroed first; free
 * each with cada_eval_gen_free, also after an error). stats and seconds may be NULL. */
cada_status cada_eval_generate(const cada_eval_lm *lm, const cada_eval_gen_config *cfg, const char *const *texts,
                               const uint64_t *ids, const uint32_t *samples, int n, cada_eval_gen *out,
                               double *seconds);
void cada_eval_gen_free(cada_eval_gen *g);

#endif
