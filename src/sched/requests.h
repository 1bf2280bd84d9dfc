/* sched/requests.h: from a training prompt to generation requests: the one place where
 * a prompt is rendered (case-augmented prompt through the chat template, tokenized) and
 * where its samples' requests and the step's engine configuration are built. The
 * colocated ranks, the scheduler and the rollout ranks all go through here, so a prompt
 * becomes the same tokens and the same sampling streams wherever it is handled. */
#ifndef CADA_SCHED_REQUESTS_H
#define CADA_SCHED_REQUESTS_H

#include "base/error.h"
#include "cada/dataset.h"
#include "cada/prompt.h"
#include "rollout/engine.h"
#include "sched/config.h"
#include "tok/tokenizer.h"

/* item rendered with builder and tokenized (ids owned by the caller). */
cada_status cada_request_render(const cada_prompt_builder *builder, cada_tokenizer *tok, const cada_item *item,
                                cada_tok_ids *ids);

/* The prompt the learner trains on under learn.condition = bare: the request alone as
 * the user turn of the model's chat template (its default system turn, generation prompt
 * added), tokenized (ids owned by the caller). The samples are drawn under the
 * case-augmented prompt (cada_request_render); the learner and the reference score the
 * same completion tokens after this prompt instead: the update is grad log pi(R, y | x)
 * on the bare request, as the paper writes it (shared/CADA.md, "Update"). */
cada_status cada_request_render_bare(const cada_tokenizer *tok, const cada_item *item, cada_tok_ids *ids);
/* 1 when the run trains on the bare request (learn.condition = bare). */
int cada_request_condition_bare(const cada_run_config *c);

/* The `samples` requests of one prompt into out[0..samples): sampling stream (item,
 * sample s), the prompt tokens (borrowed, not copied), max_new_tokens. */
void cada_request_samples(cada_gen_request *out, int item, const int *prompt, int prompt_len, int samples, int max_new_tokens);

/* The engine configuration of training step `step` (0-based): the configured sampling,
 * slots and context, the CPU KV pool (rollout.kv_memory_mb, else room for the slots at
 * worst), eos ids borrowed, and a seed that is new each step (the same prompt
 * drawn again in another epoch samples afresh) and the same on every rank. */
cada_engine_config cada_request_engine(const cada_run_config *c, long long step, const int *eos, int n_eos);

#endif
