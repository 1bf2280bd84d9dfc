/* sched/train.h: `cada train`, the CADA training job.
 *
 * The command (train.c) reads the configuration, checks it and a checkpoint to resume
 * before any rank starts, starts MPI and runs the trainer: set-up (trainer.h), begin
 * (lifecycle.h: resume, metrics), then a placement's step loop (placement.h) over the
 * stages of a step (trainer.h lists them: cursor, requests, rollout, score, exchange,
 * learn, weight sync, checkpoint, metrics, progress), then the end.
 *
 * Two placements (roles.h). DISAGGREGATED (the default for configurations that do not
 * name one: one role per rank, weights broadcast after each update, synchronous or
 * one-step-off; disagg.h describes its step) and COLOCATED (every rank is a learner that
 * also rolls out with the very weights it trains, so no weight transfer is needed; rank
 * 0 is also the scheduler: it owns the data cursor's bookkeeping, the metrics file, the
 * step lines and the checkpoint). A colocated step:
 *   1. every rank takes the prompts of the step whose position p has p % W == rank,
 *      renders them (case-augmented prompt through the chat template), generates
 *      rollout.samples_per_prompt completions (engine, seeded per prompt and sample),
 *      scores them (reward/) and, when learn.kl_coef > 0, computes the reference
 *      model's log-probs;
 *   2. the ranks exchange their trajectories as protobuf TrainBatch frames
 *      (exchange.h), so every learner holds the same global batch in the same order;
 *   3. cada_learner_step (learn/learner.h): advantages, losses, gradients reduced over
 *      the learners, AdamW;
 *   4. rank 0 writes a metrics line (out_dir/metrics.jsonl), the same numbers as
 *      TensorBoard scalars (out_dir/tb/, tb_events.h; run.tensorboard) and a step line.
 * At the end (and every run.checkpoint_every steps) the ranks write
 * out_dir/checkpoint-<step>/ together under a temporary name, then rank 0 renames it:
 * model.safetensors (fp32: the training weights bit for bit) + config.json in Hugging
 * Face layout, the tokenizer, config.ini, one optimizer-rank-R.bin per learner (its
 * AdamW shard, learn/learner.h) and run_state.json (step, data cursor and epoch,
 * baseline, counters; every random stream is keyed by seed and step, epoch or prompt,
 * so nothing else is needed). out_dir must be shared by the ranks.
 *
 * --resume CKPT | latest continues such a checkpoint exactly (the same weights,
 * optimizer states and metrics as a run that never stopped): the learner count must
 * equal the checkpoint's, every configuration key that changes the computation must be
 * equal (sched/config.h: cada_config_check_resume; run.steps may be raised), the
 * metrics file keeps the lines up to the checkpoint's step and the run appends.
 *
 * Signals: SIGTERM and SIGINT only set a flag; after each step the ranks take the max
 * of it (one small all-reduce, also a per-step sign of life) and, when set, write
 * checkpoint-<step> and exit 0 ("SIGTERM: checkpoint-N written, exiting").
 *
 * Failures: every wait for another rank is timed (cluster.timeout_seconds, default 60:
 * the collectives of comm/comm.h, the trajectory frames of sched/wire.h, the
 * communicator set-up and the final barrier). The rank that times out aborts the job
 * with a message naming itself, the rank(s) that stopped answering and their role, the
 * phase and step, and the last complete checkpoint. A rank that dies is noticed by the
 * MPI launcher, which ends the job. out_dir/ranks/rank-R.pid holds each rank's pid.
 * The test hook CADA_TEST_STALL_AT=PHASE:RANK[:STEP] (rollout | reward | learn) makes a rank go
 * silent, for tests/cli/train_rankdeath.sh.
 *
 * run_state.json records the placement; resuming across placements is an error naming
 * both. run.dump_samples writes every sequence's token ids, reward and policy version to
 * out_dir/samples.jsonl (to compare runs sample by sample). */
#ifndef CADA_SCHED_TRAIN_H
#define CADA_SCHED_TRAIN_H

int cada_cmd_train(int argc, char **argv);

#endif
