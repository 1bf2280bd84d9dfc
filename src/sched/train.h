/* sched/train.h: `cada train`, the CADA training job.
 *
 * This first version runs the COLOCATED placement (cluster.placement = colocated): every
 * rank is a learner that also rolls out with the very weights it trains, so no weight
 * transfer is needed. Rank 0 is also the scheduler: it owns the data cursor, the
 * metrics file, the progress lines and the checkpoint. One step:
 *   1. every rank takes the prompts of the step whose position p has p % W == rank,
 *      renders them (case-augmented prompt through the chat template), generates
 *      rollout.samples_per_prompt completions (engine, seeded per prompt and sample),
 *      scores them (reward/) and, when learn.kl_coef > 0, computes the reference
 *      model's log-probs;
 *   2. the ranks exchange their trajectories as protobuf TrainBatch frames
 *      (sched/wire.h), so every learner holds the same global batch in the same order;
 *   3. cada_learner_step (learn/learner.h): advantages, losses, gradients reduced over
 *      the learners, AdamW;
 *   4. rank 0 writes a metrics line (out_dir/metrics.jsonl) and a progress line.
 * At the end (and every run.checkpoint_every steps) rank 0 writes
 * out_dir/checkpoint-<step>/ (model.safetensors + config.json in Hugging Face layout,
 * the tokenizer, run_state.json, config.ini) under a temporary name, then renames it.
 * The disaggregated placement (separate rollout and reward ranks, weight broadcast),
 * --resume and failure handling are not built yet: asking for them is an error. */
#ifndef CADA_SCHED_TRAIN_H
#define CADA_SCHED_TRAIN_H

int cada_cmd_train(int argc, char **argv);

#endif
