/* sched/rollout_stage.h: the rollout stage: a rank's prompts of a step -> sequences.
 *
 * For each prompt, rollout.samples_per_prompt requests (requests.h) are generated with
 * this rank's policy: the CPU model, or the GPU model of the colocated learner. The
 * engine's streams are keyed by (seed, step, prompt id, sample), so a sequence is the
 * same whichever rank draws it and however the prompts are spread. */
#ifndef CADA_SCHED_ROLLOUT_STAGE_H
#define CADA_SCHED_ROLLOUT_STAGE_H

#include "base/error.h"
#include "model/model.h"
#include "rollout/engine.h"
#include "sched/config.h"
#include "sched/progress.h"
#include "sched/seqs.h"

/* The weights that generate: gpu when set (cluster.device = cuda), else cpu. */
typedef struct {
    const cada_model *cpu;
    cada_gpu_model *gpu;
    const int *eos;
    int n_eos;
    /* may be NULL: work interleaved with the generation, after every model call (an
     * async rollout rank's weight sync of the next version, sched/reshard.h) */
    void (*between_calls)(void *ctx);
    void *between_ctx;
} cada_rollout_policy;

/* One prompt of the step as the rollout stage needs it (tokens borrowed). */
typedef struct {
    int item;      /* dataset index: the sampling stream's prompt id */
    int position;  /* position in the step */
    int harmful;
    const int *ids;       /* the prompt the samples are drawn under */
    int n_ids;
    const int *train_ids; /* the prompt the sequences carry to the learner (learn.condition
                             = bare: requests.h's bare render); NULL: ids */
    int n_train_ids;
} cada_rollout_prompt;

/* Generates the samples of p[0..n_prompts) for step `step` (0-based) with policy version
 * `version`; *out (n_prompts x samples_per_prompt records, prompt-major, malloc'd) holds
 * tokens (the train prompt, then the completion), rollout log-probs (under the sampling
 * prompt), order, sample, item, harmful, finish and version.
 * *generate_s: the generation's wall time. A CPU model holding bf16 weights
 * (rollout.weights = bf16, model/infer_weights.h) must hold those packed from `version`:
 * another version is an error (stale weights would sample from an older policy while the
 * samples claim this one). progress (may be NULL) shows the phase under
 * `label`. */
cada_status cada_rollout_stage_run(const cada_rollout_policy *pol, const cada_run_config *c, long long step,
                                   long long version, const cada_rollout_prompt *p, int n_prompts, cada_progress *progress,
                                   const char *label, seq_rec **out, int *n_out, double *generate_s);

#endif
