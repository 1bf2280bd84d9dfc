/* learn/synth.h: random policies and synthetic batches, for tests and benchmarks that
 * need a learner without a checkpoint or a rollout engine.
 *
 * A synthetic model is a Llama-family configuration (model/config.h) with weights
 * N(0, std) and RMSNorm weights 1, from the counter-based RNG (base/rng.h), so every
 * rank builds the same parameters from the same seed. A synthetic batch is n
 * sequences in groups of `group` (a group shares its prompt), random tokens, random
 * rewards in {0, 0.25, 0.5, 0.75, 1}, rollout log-probs near log(1/V), and optionally
 * reference log-probs: the shape of a real RL batch with none of its meaning. */
#ifndef CADA_LEARN_SYNTH_H
#define CADA_LEARN_SYNTH_H

#include "learn/traj.h"

#include <stdint.h>

/* A small Llama: heads of 8 dims, 2 key/value heads when heads >= 2, SwiGLU width
 * 2 x hidden. tie: tied embeddings. */
void cada_synth_config(cada_model_config *cfg, int vocab, int hidden, int layers, int tie);
/* A model that tensor-parallel sizes 1, 2 and 4 all divide (model/tp.h): 96 tokens,
 * hidden 64 (8 heads of 8 dims), 4 KV heads, I = 128, 2 layers; qwen: a Qwen2 with QKV
 * biases and an untied LM head, else a Llama with tied embeddings. */
void cada_synth_config_tp(cada_model_config *cfg, int qwen);
/* cada_model_init plus random weights. */
cada_status cada_synth_model(cada_model *m, const cada_model_config *cfg, uint64_t seed, float std);

typedef struct {
    cada_traj *t;
    int n;
    int *tokens; /* storage behind t[i].tokens */
    float *lp;   /* storage behind the log-prob arrays */
} cada_synth_batch;

/* n sequences, prompts of prompt_len tokens, completions of 1..max_completion tokens
 * (all exactly max_completion when fixed_len), with reference log-probs when with_ref. */
cada_status cada_synth_batch_make(cada_synth_batch *b, int n, int group, int vocab, int prompt_len, int max_completion,
                                  int fixed_len, int with_ref, uint64_t seed);
void cada_synth_batch_free(cada_synth_batch *b);

#endif
