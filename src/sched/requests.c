/* sched/requests.c: see requests.h. */
#include "sched/requests.h"

#include <string.h>

cada_status cada_request_render(const cada_prompt_builder *builder, cada_tokenizer *tok, const cada_item *it,
                                cada_tok_ids *ids) {
    cada_str rendered = {0};
    cada_prompt_choice choice;
    cada_status st = cada_prompt_render(builder, tok, it->id, it->prompt, it->cat, &choice, &rendered);
    if (st == CADA_OK) st = cada_tok_encode(tok, rendered.data, rendered.len, 0, ids);
    cada_str_free(&rendered);
    return st;
}

cada_status cada_request_render_bare(const cada_tokenizer *tok, const cada_item *it, cada_tok_ids *ids) {
    cada_str rendered = {0};
    cada_status st = cada_chat_text(tok, NULL, it->prompt, &rendered);
    if (st == CADA_OK) st = cada_tok_encode(tok, rendered.data, rendered.len, 0, ids);
    cada_str_free(&rendered);
    return st;
}

int cada_request_condition_bare(const cada_run_config *c) { return !strcmp(c->condition, "bare"); }

void cada_request_samples(cada_gen_request *out, int item, const int *prompt, int prompt_len, int samples, int max_new_tokens) {
    for (int s = 0; s < samples; s++) out[s] = (cada_gen_request){(uint64_t)item, (uint32_t)s, prompt, prompt_len, max_new_tokens};
}

cada_engine_config cada_request_engine(const cada_run_config *c, long long step, const int *eos, int n_eos) {
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling = (cada_sampling){c->temperature, c->top_k, c->top_p};
    ec.seed = c->seed ^ ((uint64_t)step * 0x9E3779B97F4A7C15ull);
    ec.n_slots = c->slots;
    ec.max_len = c->max_len;
    ec.eos_ids = eos;
    ec.n_eos = n_eos;
    /* CPU: the memory budget, else a pool with the prompt blocks of each group of samples
     * counted once (the plan's); the GPU model has its own cache */
    if (c->kv_memory_mb > 0) ec.kv_pool_bytes = (size_t)c->kv_memory_mb << 20;
    else ec.kv_blocks = cada_kv_pool_blocks(c->slots, c->max_len, 0, c->samples_per_prompt, c->max_len - c->max_new_tokens);
    ec.no_prefix_cache = !c->prefix_cache; /* CPU: the shared system turn prefilled once per call */
    return ec;
}
