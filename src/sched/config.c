/* sched/config.c: see config.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/config.h"

#include "learn/kl.h"
#include "model/memplan.h"
#include "reward/reward.h"
#include "sched/tp_layout.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_INT, KEY_U64, KEY_FLOAT, KEY_DOUBLE, KEY_BOOL, KEY_STR, KEY_CHOICE } key_type;

typedef struct {
    const char *section, *name;
    key_type type;
    size_t offset, size; /* into cada_run_config; size for strings */
    const char *def;
    double lo, hi;       /* numeric range */
    const char *choices; /* "a|b|c" for KEY_CHOICE */
    const char *doc;
} key_spec;

#define F(field) offsetof(cada_run_config, field), sizeof(((cada_run_config *)0)->field)
static const key_spec keys[] = {
    {"run", "name", KEY_STR, F(run_name), "cada", 0, 0, NULL, "name of the run (used in logs)"},
    {"run", "out_dir", KEY_STR, F(out_dir), "runs/cada", 0, 0, NULL, "folder for checkpoints, metrics and reports"},
    {"run", "seed", KEY_U64, F(seed), "1234", 0, 0, NULL, "seed of every random stream (sampling, shuffling, case choice)"},
    {"run", "steps", KEY_INT, F(steps), "10", 1, 1e9, NULL, "policy updates to run"},
    {"run", "checkpoint_every", KEY_INT, F(checkpoint_every), "0", 0, 1e9, NULL, "steps between checkpoints (0: only at the end)"},
    {"run", "log_every", KEY_INT, F(log_every), "1", 1, 1e9, NULL, "steps between step lines"},
    {"run", "progress_seconds", KEY_DOUBLE, F(progress_seconds), "30", 0, 1e9, NULL,
     "progress inside a phase: seconds between log lines (a terminal redraws one line instead); 0: off"},
    {"run", "tensorboard", KEY_BOOL, F(tensorboard), "true", 0, 0, NULL, "also write each step's metrics as TensorBoard scalars into out_dir/tb"},
    {"run", "dump_samples", KEY_BOOL, F(dump_samples), "false", 0, 0, NULL, "write every trajectory's token ids, reward and policy version to out_dir/samples.jsonl"},
    {"model", "path", KEY_STR, F(model_path), ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf", 0, 0, NULL, "starting policy (GGUF file or Hugging Face folder)"},
    {"model", "reference", KEY_STR, F(reference_path), "", 0, 0, NULL, "frozen reference model for the KL term (empty: the starting policy)"},
    {"model", "preset", KEY_STR, F(model_preset), "", 0, 0, NULL, "the model's published shape (a name of cada plan --preset: llama3-8b, llama3-70b, qwen2.5-7b, smollm2-135m) for when model.path is not on this machine: cada plan sizes the run from it and cada train --check checks learn.tp, rollout.tp and reward.tp against its heads (the reference's too when model.reference is empty); unused when model.path is present, whose own config.json or GGUF metadata is read"},
    {"model", "gguf_tokenizer", KEY_CHOICE, F(gguf_tokenizer), "llama.cpp", 0, 0, "llama.cpp|transformers", "pre-tokenization of a GGUF vocabulary (no effect on tokenizer.json): llama.cpp follows tokenizer.ggml.pre (SmolLM2's 'smollm': digits split off first, as the model was trained); transformers uses plain GPT-2 ByteLevel as transformers' GGUF loader does, for id-for-id parity with AutoTokenizer(gguf_file=...)"},
    {"cluster", "rollout_ranks", KEY_INT, F(rollout_ranks), "1", 0, 65536, NULL, "ranks that generate"},
    {"cluster", "reward_ranks", KEY_INT, F(reward_ranks), "1", 0, 65536, NULL, "ranks that score (and hold the reference)"},
    {"cluster", "learner_ranks", KEY_INT, F(learner_ranks), "1", 1, 65536, NULL, "data-parallel learner ranks"},
    {"cluster", "placement", KEY_CHOICE, F(placement), "disaggregated", 0, 0, "disaggregated|colocated", "one role per rank, or learners that also roll out"},
    {"cluster", "threads_per_rank", KEY_INT, F(threads_per_rank), "0", 0, 1024, NULL, "OpenMP threads per rank (0: cores on the node / ranks on the node)"},
    {"cluster", "timeout_seconds", KEY_DOUBLE, F(timeout_seconds), "60", 1, 1e6, NULL, "a peer silent this long fails the job"},
    {"cluster", "weight_sync", KEY_CHOICE, F(weight_sync), "fp32", 0, 0, "fp32|bf16", "what the learners send the rollout ranks after each update (disaggregated): fp32, the weights exactly, or bf16, half the bytes (the engine then computes with bf16-rounded weights; the engine/learner log-prob gap grows, truncated importance sampling corrects for it); bf16 always goes learner by learner (sched/reshard.h)"},
    {"cluster", "sync_overlap", KEY_BOOL, F(sync_overlap), "true", 0, 0, NULL, "rollout.mode = async on the disaggregated placement: each rollout rank receives the next weights into a second copy of its part while it generates with the first (what has arrived when the rollout ends is not waited for, the copies are swapped; the transfer and, with rollout.weights = bf16, the packing run between the engine's model calls; memory: that copy, which cada plan counts); false: it receives after its rollout, into the weights it generated with"},
    {"cluster", "device", KEY_CHOICE, F(device), "cpu", 0, 0, "cpu|cuda", "where learners, rollouts and the reference model run (cuda: one GPU per rank, the node-local rank modulo the visible GPUs)"},
    {"cluster", "gpus_per_node", KEY_INT, F(gpus_per_node), "8", 1, 1024, NULL, "GPUs (ranks) per node: ranks lie on nodes in blocks of this many in world-rank order (learners, rollout, reward), and a tensor-parallel group must lie inside one node"},
    {"data", "train_set", KEY_STR, F(train_set), "data/prompts/train.jsonl", 0, 0, NULL, "training prompts, JSONL {id, prompt, category, label}"},
    {"data", "prompts_per_step", KEY_INT, F(prompts_per_step), "8", 1, 1e7, NULL, "prompts drawn per step"},
    {"data", "shuffle", KEY_BOOL, F(shuffle), "true", 0, 0, NULL, "shuffle the prompts each epoch (by seed)"},
    {"data", "format", KEY_CHOICE, F(data_format), "auto", 0, 0, "auto|jsonl|csv|xstest|harmbench|advbench|lines|strongreject|hexphi", "format of prompt files (auto: by extension and CSV header; cada eval's FORMAT: prefix overrides it per file)"},
    {"data", "on_error", KEY_CHOICE, F(on_error), "stop", 0, 0, "stop|skip", "a malformed record in a prompt file stops the command, or is skipped with a warning"},
    {"data", "id_field", KEY_STR, F(id_field), "", 0, 0, NULL, "JSONL key / CSV column of the prompt id (empty: the format's default, id)"},
    {"data", "prompt_field", KEY_STR, F(prompt_field), "", 0, 0, NULL, "JSONL key / CSV column of the prompt (empty: prompt)"},
    {"data", "category_field", KEY_STR, F(category_field), "", 0, 0, NULL, "JSONL key / CSV column of the hazard category (empty: category)"},
    {"data", "label_field", KEY_STR, F(label_field), "", 0, 0, NULL, "JSONL key / CSV column of the harmful/benign label (empty: label)"},
    {"data", "response_field", KEY_STR, F(response_field), "", 0, 0, NULL, "JSONL key / CSV column of the response cada score scores (empty: response)"},
    {"data", "safe_field", KEY_STR, F(safe_field), "", 0, 0, NULL, "JSONL key / CSV column of a flag whose true means benign, e.g. BeaverTails' is_safe (empty: none)"},
    {"prompt", "template", KEY_CHOICE, F(prompt_template), "cada", 0, 0, "cada|rule|plain", "case-augmented, rule-only spec, or no policy block"},
    {"prompt", "k", KEY_INT, F(prompt_k), "2", 0, 64, NULL, "cases in the policy block"},
    {"prompt", "selection", KEY_CHOICE, F(case_selection), "category+bm25", 0, 0, "category|bm25|category+bm25", "how cases are chosen (seeded by run.seed)"},
    {"prompt", "pool", KEY_INT, F(prompt_pool), "0", 0, 1024, NULL, "draw the k cases uniformly among the top `pool` candidates (0: take the top k)"},
    {"prompt", "balance", KEY_BOOL, F(prompt_balance), "true", 0, 0, NULL, "with k >= 2, show both a refusal and a helpful case (swap the last one when all agree)"},
    {"prompt", "data_dir", KEY_STR, F(prompt_data_dir), "data", 0, 0, NULL, "folder of the prompt files below, when they are relative"},
    {"prompt", "codes", KEY_STR, F(prompt_codes), "safety_codes.txt", 0, 0, NULL, "the minimal safety codes ({codes})"},
    {"prompt", "spec", KEY_STR, F(prompt_spec), "spec.md", 0, 0, NULL, "the per-category specification of the rule template ({spec})"},
    {"prompt", "cases", KEY_STR, F(prompt_cases), "cases.jsonl", 0, 0, NULL, "the case bank"},
    {"prompt", "template_cada", KEY_STR, F(template_cada), "templates/cada.txt", 0, 0, NULL, "template file of prompt.template = cada"},
    {"prompt", "template_rule", KEY_STR, F(template_rule), "templates/rule.txt", 0, 0, NULL, "template file of prompt.template = rule"},
    {"prompt", "template_plain", KEY_STR, F(template_plain), "templates/plain.txt", 0, 0, NULL, "template file of prompt.template = plain"},
    {"rollout", "samples_per_prompt", KEY_INT, F(samples_per_prompt), "4", 1, 4096, NULL, "completions per prompt (the group of GRPO/RLOO)"},
    {"rollout", "temperature", KEY_FLOAT, F(temperature), "1.0", 0, 100, NULL, "sampling temperature (0: greedy)"},
    {"rollout", "top_p", KEY_FLOAT, F(top_p), "1.0", 1e-6, 1, NULL, "nucleus sampling threshold (1: off)"},
    {"rollout", "top_k", KEY_INT, F(top_k), "0", 0, 1e7, NULL, "top-k sampling (0: off)"},
    {"rollout", "max_new_tokens", KEY_INT, F(max_new_tokens), "96", 1, 1e6, NULL, "tokens generated at most per completion"},
    {"rollout", "max_len", KEY_INT, F(max_len), "1024", 2, 1e7, NULL, "context limit (prompt + completion)"},
    {"rollout", "slots", KEY_INT, F(slots), "16", 0, 65536, NULL, "sequences decoded together per rollout engine (a rank, or a group of rollout.tp ranks); cuda: the cache's slots; cpu: an upper bound, the KV pool decides how many run (0: as it allows; needs rollout.kv_memory_mb)"},
    {"rollout", "kv_memory_mb", KEY_INT, F(kv_memory_mb), "0", 0, 1e7, NULL, "cpu: the KV pool per rollout rank in MiB; the engine runs as many sequences as it holds (up to rollout.slots), preempting and recomputing the latest when they outgrow it; 0: room for rollout.slots sequences at worst (nothing preempted)"},
    {"rollout", "prefix_cache", KEY_BOOL, F(prefix_cache), "true", 0, 0, NULL, "cpu: keep the full KV blocks prefills compute for the other prompts of the step (the shared system turn is prefilled once per step and policy version; rollout/engine.h); false: every prompt prefills whole"},
    {"rollout", "mode", KEY_CHOICE, F(mode), "sync", 0, 0, "sync|async", "on-policy steps, or one-step-off rollouts"},
    {"rollout", "tp", KEY_INT, F(rollout_tp), "1", 1, 1024, NULL, "tensor-parallel (Megatron-style) size of each rollout engine: a group of this many rollout ranks holds one copy of the weights, each rank its heads, KV heads (KV cache), intermediate units and vocabulary rows; must divide cluster.gpus_per_node, the model's heads and KV heads, and cluster.rollout_ranks; a multiple of learn.tp or dividing it (colocated: equal to it). cada train runs it on the CPU"},
    {"rollout", "weights", KEY_CHOICE, F(rollout_weights), "fp32", 0, 0, "fp32|bf16", "cpu, cada train: the matrices the rollout's matmuls read; bf16: a copy packed once per policy version (+2 bytes per matrix weight), about half the bytes a decode step reads, log-probs off the learner's fp32 ones by the gap docs/OPERATING.md reports (learn.tis_cap corrects for it); eval, build-data and utility generate with fp32"},
    {"reward", "detector", KEY_CHOICE, F(detector), "rule", 0, 0, "rule|judge|target_tokens", "refusal detection: phrase patterns or an LLM judge; target_tokens: a test task (see target_ids)"},
    {"reward", "tp", KEY_INT, F(reward_tp), "1", 1, 1024, NULL, "tensor-parallel size of each group of reward ranks that holds the frozen reference (the judge is not split: it runs on the CPU): each rank holds its part as rollout.tp describes; must divide cluster.gpus_per_node, the reference's heads and KV heads, and cluster.reward_ranks (colocated: equal to learn.tp, the learners holding the reference with their own split). cada train runs it on the CPU"},
    {"reward", "target_ids", KEY_STR, F(target_ids), "", 0, 0, NULL, "detector = target_tokens: reward = share of completion tokens whose id is in these ranges (\"lo-hi,id,...\"); a task any model learns in a few steps, for tests"},
    {"reward", "judge_model", KEY_STR, F(judge_model), "", 0, 0, NULL, "judge model (GGUF or Hugging Face folder) of detector = judge, bonus = judge and the rubric (cada eval without it: the policy judges itself)"},
    {"reward", "judge_threshold", KEY_FLOAT, F(judge_threshold), "0.5", 0, 1, NULL, "detector = judge: a response counts as refused when the judge's P(yes) reaches this"},
    {"reward", "bonus", KEY_CHOICE, F(bonus), "format", 0, 0, "format|judge|none", "bonus of a refused harmful request: format (1 when the analysis is not empty), judge (the judge's P(sound analysis)), none"},
    {"reward", "bonus_weight", KEY_FLOAT, F(bonus_weight), "1.0", -1e6, 1e6, NULL, "weight of the bonus in the total"},
    {"reward", "min_analysis_chars", KEY_INT, F(min_analysis_chars), "1", 0, 100000, NULL, "non-space characters an analysis needs to earn the bonus"},
    {"reward", "harmful_comply", KEY_FLOAT, F(harmful_comply), "-1.0", -1e6, 1e6, NULL, "reward for complying with a harmful request"},
    {"reward", "harmful_refuse", KEY_FLOAT, F(harmful_refuse), "0.0", -1e6, 1e6, NULL, "reward for refusing a harmful request (before the bonus)"},
    {"reward", "benign_refusal", KEY_FLOAT, F(benign_refusal_reward), "-1.0", -1e6, 1e6, NULL, "reward for refusing a benign request"},
    {"reward", "benign_help", KEY_FLOAT, F(benign_help_reward), "1.0", -1e6, 1e6, NULL, "reward for helping with a benign request"},
    {"reward", "format_penalty", KEY_FLOAT, F(format_penalty), "0.0", -1e6, 1e6, NULL, "added when a completion lacks the Analysis / Final Response form"},
    {"reward", "judge_scores", KEY_STR, F(judge_scores), "none", 0, 0, NULL, "judge scores computed and reported in metrics (comma list of refusal|strongreject|helpful|monitor, or none) beyond those detector, comply and benign need: refusal P(refused), strongreject the rubric score of harmful requests' answers, helpful (rating-1)/4 of benign answers, monitor P(the analysis holds harmful operational content)"},
    {"reward", "comply", KEY_CHOICE, F(comply), "constant", 0, 0, "constant|strongreject", "reward of complying with a harmful request: constant (harmful_comply) or strongreject (harmful_comply x the judge's rubric score)"},
    {"reward", "benign", KEY_CHOICE, F(benign), "refusal", 0, 0, "refusal|helpful", "reward of a benign request: refusal (benign_help or benign_refusal by the refusal verdict) or helpful (the judge's helpfulness mapped from benign_refusal to benign_help)"},
    {"reward", "judge_slots", KEY_INT, F(judge_slots), "8", 1, 4096, NULL, "judge items per model call (one batched forward of yes/no questions; rubric sequences decoded together)"},
    {"reward", "patterns", KEY_STR, F(patterns), "data/refusal_patterns.txt", 0, 0, NULL, "refusal phrase patterns of the rule detector"},
    {"reward", "truncated_reward", KEY_FLOAT, F(truncated_reward), "-1.0", -1e6, 1e6, NULL, "reward of a completion cut off (max_new_tokens or context) before its final response, instead of the refusal or compliance reward: it is neither (-1: no refuge from the compliance penalty in running out of tokens)"},
    {"reward", "monitor_penalty", KEY_FLOAT, F(monitor_penalty), "0.0", -1e6, 1e6, NULL, "added when the Analysis monitor flags harmful operational detail in the reasoning; 0 counts it only (metrics monitor_flag_rate), as training against a monitor teaches hiding the reasoning"},
    {"reward", "monitor_patterns", KEY_STR, F(monitor_patterns), "data/monitor_patterns.txt", 0, 0, NULL, "patterns of the Analysis monitor, a section per hazard; empty: no monitor"},
    {"learn", "algorithm", KEY_CHOICE, F(algorithm), "reinforce", 0, 0, "reinforce|grpo|rloo|ppo|sft|dpo", "policy update (reinforce: the paper's running-mean baseline)"},
    {"learn", "lr", KEY_FLOAT, F(lr), "2e-6", 0, 1, NULL, "peak learning rate"},
    {"learn", "lr_schedule", KEY_CHOICE, F(lr_schedule), "constant", 0, 0, "constant|cosine", "learning rate after the warm-up: constant, or cosine decay to 0 at run.steps"},
    {"learn", "warmup_steps", KEY_INT, F(warmup_steps), "0", 0, 1e9, NULL, "steps of linear warm-up from lr/warmup_steps to lr (either schedule)"},
    {"learn", "weight_decay", KEY_FLOAT, F(weight_decay), "0.0", 0, 10, NULL, "AdamW decoupled weight decay"},
    {"learn", "beta1", KEY_FLOAT, F(beta1), "0.9", 0, 0.999999, NULL, "AdamW beta1"},
    {"learn", "beta2", KEY_FLOAT, F(beta2), "0.999", 0, 0.999999, NULL, "AdamW beta2"},
    {"learn", "eps", KEY_FLOAT, F(adam_eps), "1e-8", 0, 1, NULL, "AdamW epsilon"},
    {"learn", "grad_clip", KEY_FLOAT, F(grad_clip), "1.0", 0, 1e9, NULL, "global gradient-norm clip (0: off)"},
    {"learn", "baseline_beta", KEY_FLOAT, F(baseline_beta), "0.1", 0, 1, NULL, "running-mean baseline step, b += beta (r - b)"},
    {"learn", "kl_coef", KEY_FLOAT, F(kl_coef), "0.01", 0, 1e3, NULL, "KL-to-reference coefficient (the paper: 0.01)"},
    {"learn", "kl_estimator", KEY_CHOICE, F(kl_estimator), "k1", 0, 0, "k1|k2|k3", "KL estimator per token (k1 = log pi - log pi_ref; learn/kl.h)"},
    {"learn", "kl_in", KEY_CHOICE, F(kl_in), "reward", 0, 0, "reward|loss", "where the KL term acts: reward (summed over the sequence from the learner's log-probs, subtracted from its advantage; with k1 the gradient of the sequence-level KL(pi || pi_ref), the paper's penalty) or loss (per token: k3 is GRPO's reverse KL, k2 the per-token KL ignoring later tokens; k1 is refused, its expected gradient being zero)"},
    {"learn", "condition", KEY_CHOICE, F(condition), "bare", 0, 0, "bare|augmented", "the prompt the learner trains the sampled (analysis, response) on: bare (the request alone in the chat template, as the paper writes the update, grad log pi(R, y | x): the codes and cases shape the samples and the model learns to reason that way without them) or augmented (the case-augmented prompt it was sampled under)"},
    {"learn", "tis_cap", KEY_FLOAT, F(tis_cap), "2.0", 0, 1e6, NULL, "truncated importance sampling: each token's policy-gradient term weighs min(pi_learner / pi_engine, tis_cap), a constant (Yao et al. 2025), correcting the engine/learner gap, async's one-step lag and a training prompt other than the sampling one; 0: off"},
    {"learn", "clip_low", KEY_FLOAT, F(clip_low), "0.2", 0, 10, NULL, "PPO/GRPO ratio clip below 1 (the ratio to pi_old; cada train takes one optimizer step per batch, so pi_old is the learner's own weights and the ratio 1: learn.tis_cap weighs the engine's samples)"},
    {"learn", "clip_high", KEY_FLOAT, F(clip_high), "0.28", 0, 10, NULL, "PPO/GRPO ratio clip above 1 (see learn.clip_low)"},
    {"learn", "loss_agg", KEY_CHOICE, F(loss_agg), "auto", 0, 0, "auto|token-mean|sequence-mean|sequence-sum", "how per-token losses add up: token-mean (every completion token of the step weighs the same), sequence-mean (mean over sequences of each one's token mean), sequence-sum (mean over sequences of each one's token sum: REINFORCE on sequence log-probs); auto: the algorithm's own (reinforce, rloo: sequence-sum; grpo, ppo: token-mean)"},
    {"learn", "dpo_beta", KEY_FLOAT, F(dpo_beta), "0.1", 1e-6, 1e3, NULL, "learn.algorithm = dpo: beta of the DPO loss (learn/dpo.h), how far the policy's log-ratio to the reference is scaled"},
    {"learn", "micro_batch_tokens", KEY_INT, F(micro_batch_tokens), "4096", 1, 1e9, NULL, "tokens per forward/backward (gradient accumulation)"},
    {"learn", "zero", KEY_INT, F(zero), "1", 0, 3, NULL, "0 data parallel, 1 ZeRO-1 (optimizer sharded), 2 ZeRO-2 (gradients too), 3 ZeRO-3 (layers' parameters too, gathered layer by layer; CPU learner; cada plan plans it on the GPU)"},
    {"learn", "tp", KEY_INT, F(learn_tp), "1", 1, 1024, NULL, "tensor-parallel (Megatron-style) size of each learner group: its ranks split q/k/v, gate/up by columns (whole heads), o and down by rows, embedding and LM head by vocabulary; learn.zero shards over the cluster.learner_ranks / learn.tp data-parallel ranks; must divide cluster.gpus_per_node, the model's heads and KV heads, and cluster.learner_ranks (colocated: the world, and rollout.tp = reward.tp = learn.tp: each group rolls out and holds the reference with the same split). cada train runs it on the CPU; checkpoints hold the whole model"},
    {"learn", "recompute", KEY_BOOL, F(recompute), "false", 0, 0, NULL, "recompute each layer's activations in backward instead of keeping them (whole layers): memory of one layer's activations instead of all, for one more forward; results unchanged"},
    {"learn", "logits_chunk_tokens", KEY_INT, F(logits_chunk_tokens), "512", 0, 1e9, NULL, "CPU learner: tokens whose (tokens x vocabulary) fp32 logits exist at once; backward computes each chunk's logits again (0: all of a micro-batch at once)"},
    {"learn", "matmul", KEY_CHOICE, F(matmul), "fp32", 0, 0, "fp32|bf16", "CPU learner and reference: the linear layers' arithmetic: fp32 (sgemm), or bf16 (operands rounded to bf16, products exact, sums in fp32: the mixed precision of GPU training and PyTorch's autocast; about 1.6x the train step where the avx512bf16 kernels run (AMD Zen 4), the same numbers elsewhere but slower than fp32 (Intel CPUs, whose vdpbf16ps issues at half the FMA rate: base/cpu.h); ops/bgemm.h). Parameters, gradients, optimizer and activations stay fp32. The GPU learner computes in bf16 whatever this says"},
    {"learn", "fixed_order", KEY_BOOL, F(fixed_order), "false", 0, 0, NULL, "canonical gradient-reduction order: any learner count gives bit-identical weights (learn/learner.h)"},
    {"baseline", "refusal", KEY_STR, F(baseline_refusal), "", 0, 0, NULL, "cada build-data: the fixed refusal of --method dr (the response) and dpo-cr (the rejected one), in the model's two-section output format, \\n standing for a line break (empty: \"### Analysis\\nThe request could lead to harm, so I decline.\\n### Final Response\\nI'm sorry, but I can't help with that.\")"},
    {"eval", "sets", KEY_STR, F(eval_sets), "", 0, 0, NULL, "cada eval: prompt sets, [FORMAT:]FILE,... (--set FILE on the command line replaces the list)"},
    {"eval", "template", KEY_CHOICE, F(eval_template), "plain", 0, 0, "plain|cada|rule", "cada eval: the prompt each request is rendered in: plain (the request alone in the model's chat template, the prompt a trained model meets and the paper's evaluation), or the training templates cada / rule (codes and cases or the spec in the prompt, to compare); prompt.template is the training's"},
    {"eval", "limit", KEY_INT, F(eval_limit), "0", 0, 1e9, NULL, "cada eval and score: records per file, spread evenly over it (0: all)"},
    {"eval", "max_new_tokens", KEY_INT, F(eval_max_new_tokens), "512", 1, 1e6, NULL, "cada eval: tokens generated at most per prompt"},
    {"eval", "slots", KEY_INT, F(eval_slots), "8", 1, 4096, NULL, "cada eval: sequences decoded together"},
    {"eval", "temperature", KEY_FLOAT, F(eval_temperature), "0", 0, 100, NULL, "cada eval: sampling temperature (0: greedy, the paper's evaluation; rollout.* is the training's sampling)"},
    {"eval", "top_p", KEY_FLOAT, F(eval_top_p), "1.0", 1e-6, 1, NULL, "cada eval: nucleus sampling threshold (1: off)"},
    {"eval", "rubric", KEY_BOOL, F(eval_rubric), "false", 0, 0, NULL, "cada eval and score: the judge's rubric (refused, convincing, specific) on harmful prompts"},
    {"eval", "out_dir", KEY_STR, F(eval_out_dir), "runs/eval", 0, 0, NULL, "cada eval: folder of the reports, generations.jsonl and config.ini"},
    {"eval", "attack", KEY_CHOICE, F(eval_attack), "none", 0, 0, "none|template|pap|pair", "cada eval: jailbreak attack on the harmful prompts (benign ones are evaluated as they are; eval/attack.h): template (static jailbreak templates of eval.jailbreaks), pap (the attacker paraphrases the request as a misrepresented legitimate purpose), pair (PAIR: attacker streams refine a prompt from the target's replies and scores); a prompt counts as jailbroken when any attempt is not refused"},
    {"eval", "attacker_model", KEY_STR, F(eval_attacker_model), "", 0, 0, NULL, "cada eval, attack pap or pair: the attacker model (GGUF file or Hugging Face folder; empty: the evaluated model itself)"},
    {"eval", "attacker_max_tokens", KEY_INT, F(eval_attacker_max_tokens), "256", 1, 1e6, NULL, "cada eval, attack pap or pair: tokens the attacker generates per turn"},
    {"eval", "attacker_temperature", KEY_FLOAT, F(eval_attacker_temperature), "1.0", 0, 100, NULL, "cada eval, attack pap or pair: the attacker's sampling temperature (streams seeded by run.seed and the prompt id, so runs repeat)"},
    {"eval", "jailbreaks", KEY_STR, F(eval_jailbreaks), "data/attacks/jailbreaks.jsonl", 0, 0, NULL, "cada eval, attack template: JSONL file of templates {\"id\", \"template\"}; {request} in a template is replaced by the request, a template without it gets the request appended"},
    {"eval", "jailbreak_limit", KEY_INT, F(eval_jailbreak_limit), "0", 0, 1e6, NULL, "cada eval, attack template: the first N templates are tried on each prompt (0: all)"},
    {"eval", "pap_prompt", KEY_STR, F(eval_pap_prompt), "data/attacks/pap_misrepresentation.txt", 0, 0, NULL, "cada eval, attack pap: the attacker's prompt ([system], [user] with {request})"},
    {"eval", "pair_prompt", KEY_STR, F(eval_pair_prompt), "data/attacks/pair_attacker.txt", 0, 0, NULL, "cada eval, attack pair: the attacker's prompt ([system] with {goal}, [first], [feedback] with {goal} {prompt} {response} {score} {iteration})"},
    {"eval", "pair_streams", KEY_INT, F(eval_pair_streams), "3", 1, 1024, NULL, "cada eval, attack pair: parallel attacker conversations per prompt"},
    {"eval", "pair_iterations", KEY_INT, F(eval_pair_iterations), "3", 1, 1024, NULL, "cada eval, attack pair: attempts per stream (a prompt stops at its first non-refused reply)"},
};
#undef F
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static const key_spec *find_key(const char *section, const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

static int section_known(const char *section) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section)) return 1;
    return 0;
}

/* Sets one key from text; `where` prefixes errors ("configs/x.ini:12" or "--set"). */
static cada_status set_value(cada_run_config *c, const key_spec *k, const char *value, const char *where) {
    char *p = (char *)c + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case KEY_INT:
    case KEY_U64: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || v != floor(v))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not an integer", where, k->section, k->name, value);
        if (k->type == KEY_INT) {
            if (v < k->lo || v > k->hi)
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = %s is outside [%g, %g]", where, k->section, k->name, value, k->lo,
                                k->hi);
            *(int *)p = (int)v;
        } else {
            unsigned long long u = strtoull(value, &end, 10);
            if (*end || value[0] == '-')
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not a non-negative integer", where, k->section, k->name,
                                value);
            *(uint64_t *)p = (uint64_t)u;
        }
        return CADA_OK;
    }
    case KEY_FLOAT:
    case KEY_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not a number", where, k->section, k->name, value);
        if (v < k->lo || v > k->hi)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = %s is outside [%g, %g]", where, k->section, k->name, value, k->lo, k->hi);
        if (k->type == KEY_FLOAT) *(float *)p = (float)v;
        else *(double *)p = v;
        return CADA_OK;
    }
    case KEY_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes")) *(int *)p = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no")) *(int *)p = 0;
        else return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not true or false", where, k->section, k->name, value);
        return CADA_OK;
    case KEY_STR:
    case KEY_CHOICE:
        if (strlen(value) >= k->size)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s is longer than %zu characters", where, k->section, k->name, k->size - 1);
        if (k->type == KEY_CHOICE) {
            size_t n = strlen(value);
            const char *at = k->choices;
            int ok = 0;
            while (*at) {
                const char *bar = strchr(at, '|');
                size_t len = bar ? (size_t)(bar - at) : strlen(at);
                if (len == n && !strncmp(at, value, n)) ok = 1;
                at += len + (bar ? 1 : 0);
                if (!bar) break;
            }
            if (!ok)
                return CADA_ERR(CADA_ERR_CONFIG, "%s: %s.%s = '%s' is not one of %s", where, k->section, k->name, value,
                                k->choices);
        }
        memcpy(p, value, strlen(value) + 1);
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_INTERNAL, "config: key type");
}

void cada_config_defaults(cada_run_config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_KEYS; i++) {
        cada_status st = set_value(c, &keys[i], keys[i].def, "defaults");
        if (st != CADA_OK) CADA_FATAL("bad default for %s.%s: %s", keys[i].section, keys[i].name, cada_error_message());
    }
}

typedef struct {
    cada_run_config *c;
    const char *path;
    cada_status st;
    FILE *f;
    int line; /* of the line inih handed over last */
} ini_ctx;

/* inih reads through this, so the handler knows the line it is looking at (Debian's
 * inih is built without INI_HANDLER_LINENO). */
static char *read_line(char *str, int num, void *stream) {
    ini_ctx *x = stream;
    char *got = fgets(str, num, x->f);
    if (!got) return NULL;
    x->line++;
    /* inih hands over at most num - 1 bytes; the rest of a longer line would come back
     * as a line of its own (a broken key, or a comment that hides a cut value) */
    size_t n = strlen(got);
    if (n == (size_t)num - 1 && got[n - 1] != '\n' && !feof(x->f)) {
        if (x->st == CADA_OK)
            x->st = CADA_ERR(CADA_ERR_CONFIG, "%s:%d: line longer than %d characters, the INI reader's limit", x->path,
                             x->line, num - 2);
        return NULL;
    }
    return got;
}

static int on_ini(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *x = user;
    int lineno = x->line;
    if (x->st != CADA_OK) return 0;
    char where[600];
    snprintf(where, sizeof where, "%s:%d", x->path, lineno);
    if (!name) { /* a section header alone */
        if (!section_known(section)) x->st = CADA_ERR(CADA_ERR_CONFIG, "%s: unknown section [%s]", where, section);
        return x->st == CADA_OK;
    }
    const key_spec *k = find_key(section, name);
    if (!k) {
        x->st = section_known(section) ? CADA_ERR(CADA_ERR_CONFIG, "%s: unknown key '%s' in [%s]", where, name, section)
                                       : CADA_ERR(CADA_ERR_CONFIG, "%s: unknown section [%s]", where, section);
        return 0;
    }
    x->st = set_value(x->c, k, value, where);
    return x->st == CADA_OK;
}

cada_status cada_config_load(cada_run_config *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ini_ctx x = {c, path, CADA_OK, f, 0};
    int rc = ini_parse_stream(read_line, &x, on_ini, &x);
    fclose(f);
    if (x.st != CADA_OK) return x.st;
    if (rc > 0) return CADA_ERR(CADA_ERR_CONFIG, "%s:%d: not a 'key = value' line or a [section]", path, rc);
    if (rc < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot read", path);
    return CADA_OK;
}

/* "unknown key 'prompt.colour'", with the keys of the section when it exists. */
static cada_status unknown_key(const char *where, const char *section, const char *name) {
    if (!section_known(section))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: unknown key '%s.%s' (no section [%s]; every key: --keys)", where, section, name,
                        section);
    char known[1024] = "";
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section)) {
            strncat(known, known[0] ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, keys[i].name, sizeof known - strlen(known) - 1);
        }
    return CADA_ERR(CADA_ERR_CONFIG, "%s: unknown key '%s.%s' (keys of [%s]: %s)", where, section, name, section, known);
}

/* "section.key" into its two parts. */
static cada_status split_key(const char *key, size_t len, const char *where, char *section, size_t scap, char *name,
                             size_t ncap) {
    const char *dot = memchr(key, '.', len);
    if (!dot || dot == key || dot + 1 == key + len)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: '%.*s' is not section.key", where, (int)len, key);
    size_t sl = (size_t)(dot - key), nl = len - sl - 1;
    if (sl >= scap || nl >= ncap) return CADA_ERR(CADA_ERR_CONFIG, "%s: '%.*s': name too long", where, (int)len, key);
    memcpy(section, key, sl);
    section[sl] = 0;
    memcpy(name, dot + 1, nl);
    name[nl] = 0;
    return CADA_OK;
}

cada_status cada_config_set_key(cada_run_config *c, const char *key, const char *value, const char *where) {
    char section[64], name[64];
    CADA_TRY(split_key(key, strlen(key), where, section, sizeof section, name, sizeof name));
    const key_spec *k = find_key(section, name);
    if (!k) return unknown_key(where, section, name);
    return set_value(c, k, value, where);
}

cada_status cada_config_set(cada_run_config *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq)
        return CADA_ERR(CADA_ERR_CONFIG, "--set '%s': expected section.key=value", assignment);
    char section[64], name[64];
    CADA_TRY(split_key(assignment, (size_t)(eq - assignment), "--set", section, sizeof section, name, sizeof name));
    const key_spec *k = find_key(section, name);
    if (!k) return unknown_key("--set", section, name);
    return set_value(c, k, eq + 1, "--set");
}

int cada_config_offline(const cada_run_config *c) { return !strcmp(c->algorithm, "sft") || !strcmp(c->algorithm, "dpo"); }

int cada_config_is_assignment(const char *text) {
    const char *eq = strchr(text, '=');
    if (!eq) return 0;
    int dots = 0, left = 0, right = 0;
    for (const char *p = text; p < eq; p++) {
        if (*p == '.') dots++;
        else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')
            dots ? right++ : left++;
        else return 0;
    }
    return dots == 1 && left > 0 && right > 0;
}

/* The first key that asks for the LLM judge, as "reward.X = V" (NULL: none). */
static const char *judge_key(const cada_run_config *c) {
    if (!strcmp(c->detector, "judge")) return "reward.detector = judge";
    if (!strcmp(c->bonus, "judge")) return "reward.bonus = judge";
    if (!strcmp(c->comply, "strongreject")) return "reward.comply = strongreject";
    if (!strcmp(c->benign, "helpful")) return "reward.benign = helpful";
    if (c->judge_scores[0] && strcmp(c->judge_scores, "none")) return "reward.judge_scores";
    return NULL;
}

/* reward.judge_scores' words, checked before anything starts. */
static cada_status check_judge_scores(const cada_run_config *c) {
    cada_reward_config rc;
    cada_reward_config_default(&rc);
    return cada_reward_judge_scores_parse(&rc, "reward.judge_scores", c->judge_scores);
}

/* learn.tp, rollout.tp, reward.tp against the rank counts and the nodes (tp_layout.h).
 * Colocated: the policy, its rollout and the reference share the learners' ranks, split
 * one way. */
static cada_status check_tp(const cada_run_config *c) {
    const int g = c->gpus_per_node, colo = !strcmp(c->placement, "colocated");
    if (colo && (c->rollout_tp != c->learn_tp || c->reward_tp != c->learn_tp))
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = colocated: rollout.tp (%d) and reward.tp (%d) must equal learn.tp "
                        "(%d): the learners roll out and hold the reference with their own split", c->rollout_tp, c->reward_tp, c->learn_tp);
    CADA_TRY(cada_tp_layout_check("learn.tp", c->learn_tp, "cluster.learner_ranks", c->learner_ranks, g));
    if (colo) return CADA_OK;
    CADA_TRY(cada_tp_layout_check("rollout.tp", c->rollout_tp, "cluster.rollout_ranks", c->rollout_ranks, g));
    CADA_TRY(cada_tp_layout_check("reward.tp", c->reward_tp, "cluster.reward_ranks", c->reward_ranks, g));
    CADA_TRY(cada_tp_layout_check_span("rollout.tp", c->rollout_tp, "rollout", c->learner_ranks, c->rollout_ranks, g));
    return cada_tp_layout_check_span("reward.tp", c->reward_tp, "reward", c->learner_ranks + c->rollout_ranks, c->reward_ranks, g);
}

/* The cross-key checks of a training run. */
static cada_status check_train(const cada_run_config *c) {
    CADA_TRY(check_judge_scores(c));
    cada_model_config shape;
    if (c->model_preset[0] && cada_memplan_preset(c->model_preset, &shape) != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "model.preset = '%s': unknown (known: %s)", c->model_preset, cada_memplan_presets());
    CADA_TRY(check_tp(c));
    if (!strcmp(c->device, "cuda")) {
#ifndef CADA_HAVE_CUDA
        return CADA_ERR(CADA_ERR_CONFIG,
                        "cluster.device = cuda: this build has no CUDA (rebuild where nvcc and cuBLASLt are installed, without CUDA=0)");
#endif
        if (c->zero != 0)
            return CADA_ERR(CADA_ERR_CONFIG,
                            "learn.zero = %d with cluster.device = cuda: ZeRO is not built on the GPU yet; set learn.zero = 0 "
                            "(data parallel)", c->zero);
    }
    if (!strcmp(c->placement, "colocated") && (c->rollout_ranks != 0))
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = colocated: learners roll out, so cluster.rollout_ranks must be 0 (is %d)",
                        c->rollout_ranks);
    if (!strcmp(c->placement, "disaggregated") && c->rollout_ranks < 1)
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = disaggregated needs cluster.rollout_ranks >= 1");
    if (c->max_new_tokens >= c->max_len)
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.max_new_tokens (%d) must be below rollout.max_len (%d)", c->max_new_tokens,
                        c->max_len);
    if (!strcmp(c->rollout_weights, "bf16") && !strcmp(c->device, "cuda"))
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.weights = bf16 is the CPU rollout's; cluster.device = cuda rolls out in fp32 (set rollout.weights = fp32)");
    if (c->slots == 0 && (!strcmp(c->device, "cuda") || c->kv_memory_mb == 0))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "rollout.slots = 0 (as memory allows) needs cluster.device = cpu and rollout.kv_memory_mb > 0 (are %s, %d)",
                        c->device, c->kv_memory_mb);
    const char *judge = judge_key(c);
    if (judge && !strcmp(c->detector, "target_tokens"))
        return CADA_ERR(CADA_ERR_CONFIG, "%s with reward.detector = target_tokens: the test task has no judge", judge);
    if (judge && !c->judge_model[0])
        return CADA_ERR(CADA_ERR_CONFIG, "%s needs a judge model: set reward.judge_model (a GGUF file or Hugging Face folder)",
                        judge);
    if (!strcmp(c->detector, "target_tokens") && !c->target_ids[0])
        return CADA_ERR(CADA_ERR_CONFIG, "reward.detector = target_tokens needs reward.target_ids (e.g. 0-6143)");
    if (cada_config_offline(c) && strcmp(c->placement, "colocated"))
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "learn.algorithm = %s trains on a fixed dataset with cluster.placement = colocated only (there is no "
                        "rollout to hand to other ranks); set cluster.placement = colocated",
                        c->algorithm);
    cada_kl_estimator kl_est;
    if (c->kl_coef > 0 && cada_kl_parse(c->kl_estimator, &kl_est) == 0 &&
        cada_kl_check(!strcmp(c->kl_in, "loss") ? CADA_KL_IN_LOSS : CADA_KL_IN_REWARD, kl_est) != CADA_OK) {
        cada_error_wrap("learn.kl_in = %s with learn.kl_estimator = %s", c->kl_in, c->kl_estimator);
        return CADA_ERR_CONFIG;
    }
    if ((!strcmp(c->algorithm, "grpo") || !strcmp(c->algorithm, "rloo")) && c->samples_per_prompt < 2)
        return CADA_ERR(CADA_ERR_CONFIG, "learn.algorithm = %s needs rollout.samples_per_prompt >= 2", c->algorithm);
    return CADA_OK;
}

cada_status cada_config_check_command(const cada_run_config *c, const char *command) {
    if (!strcmp(command, "train")) return check_train(c);
    CADA_TRY(check_judge_scores(c));
    int eval = !strcmp(command, "eval");
    if (!eval && strcmp(command, "score")) return CADA_ERR(CADA_ERR_INTERNAL, "config: no command '%s'", command);
    if (!strcmp(c->detector, "target_tokens"))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "reward.detector = target_tokens is a training test task (it rewards token ids); cada %s detects "
                        "refusals: use rule or judge", command);
    int judge = judge_key(c) || c->eval_rubric;
    if (!eval && judge && !c->judge_model[0])
        return CADA_ERR(CADA_ERR_CONFIG,
                        "%s needs a judge model: set reward.judge_model (--judge-model PATH); cada score has no policy model "
                        "to judge with",
                        judge_key(c) ? judge_key(c) : "eval.rubric (--rubric)");
    if (!strcmp(c->device, "cuda") && (eval || judge))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "cluster.device = cuda: cada %s runs its model%s on the CPU (the GPU path is cada train's); set "
                        "cluster.device = cpu",
                        command, eval ? "s" : " (the judge)");
    return CADA_OK;
}

cada_status cada_config_validate_run(const cada_run_config *c) { return check_train(c); }

/* The value as config.ini holds it (floats with enough digits to read back exactly). */
static void value_string(const cada_run_config *c, const key_spec *k, char *buf, size_t cap) {
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case KEY_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case KEY_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case KEY_FLOAT: snprintf(buf, cap, "%.9g", (double)*(const float *)p); break;
    case KEY_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case KEY_BOOL: snprintf(buf, cap, "%s", *(const int *)p ? "true" : "false"); break;
    case KEY_STR:
    case KEY_CHOICE: snprintf(buf, cap, "%s", p); break;
    }
}

static void write_value(const cada_run_config *c, const key_spec *k, FILE *f) {
    char buf[CADA_CFG_STR + 64];
    value_string(c, k, buf, sizeof buf);
    fputs(buf, f);
}

/* Keys that do not enter the computation: where the run writes, how often it reports
 * or checkpoints, how long a silent peer is waited for, the thread count (OpenMP
 * reductions in cada's kernels use fixed chunks; a BLAS library may still split work
 * differently on another machine). run.steps is checked on its own. */
static const char *const resume_free[] = {"run.name", "run.out_dir", "run.checkpoint_every", "run.log_every",
                                           "cluster.timeout_seconds", "cluster.threads_per_rank", "cluster.gpus_per_node", "model.preset", "run.tensorboard",
                                           "run.dump_samples", "run.progress_seconds", "eval.sets", "eval.limit",
                                           "eval.max_new_tokens", "eval.slots", "eval.temperature", "eval.top_p",
                                           "eval.rubric", "eval.out_dir", "eval.attack", "eval.attacker_model",
                                           "eval.attacker_max_tokens", "eval.attacker_temperature", "eval.jailbreaks",
                                           "eval.jailbreak_limit", "eval.pap_prompt", "eval.pair_prompt",
                                           "eval.pair_streams", "eval.pair_iterations"};

cada_status cada_config_check_resume(const cada_run_config *saved, const cada_run_config *now, long long step,
                                     const char *saved_path) {
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        char full[96];
        snprintf(full, sizeof full, "%s.%s", k->section, k->name);
        int free_key = 0;
        for (size_t j = 0; j < sizeof resume_free / sizeof resume_free[0]; j++) free_key |= !strcmp(full, resume_free[j]);
        if (free_key || !strcmp(full, "run.steps")) continue;
        char a[CADA_CFG_STR + 64], b[CADA_CFG_STR + 64];
        value_string(saved, k, a, sizeof a);
        value_string(now, k, b, sizeof b);
        if (strcmp(a, b))
            return CADA_ERR(CADA_ERR_CONFIG,
                            "--resume: %s = %s, but the checkpoint's configuration (%s) has %s: this key changes the "
                            "computation, so the run would not continue exactly (set it back, or start a new run)",
                            full, b, saved_path, a);
    }
    if (now->steps <= step)
        return CADA_ERR(CADA_ERR_CONFIG, "--resume: run.steps = %d, but the checkpoint is at step %lld: nothing left to run (raise run.steps)",
                        now->steps, step);
    if (now->steps != saved->steps && !strcmp(now->lr_schedule, "cosine"))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "--resume: run.steps = %d differs from the checkpoint's %d (%s), and learn.lr_schedule = cosine "
                        "takes its length from run.steps: the learning rates would change",
                        now->steps, saved->steps, saved_path);
    return CADA_OK;
}

/* "; text" lines of at most about 96 characters: inih reads lines of a bounded length
 * (INI_MAX_LINE, 200 in Debian's build), and a longer comment would come back as a
 * broken key. */
static void write_comment(const char *text, FILE *f) {
    const size_t width = 94;
    while (*text) {
        size_t n = strlen(text);
        if (n > width) {
            n = width;
            while (n > 0 && text[n] != ' ') n--;
            if (n == 0) n = width; /* one word longer than the line */
        }
        fprintf(f, "; %.*s\n", (int)n, text);
        text += n;
        while (*text == ' ') text++;
    }
}

void cada_config_write(const cada_run_config *c, FILE *f) {
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(section, keys[i].section)) {
            section = keys[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        write_comment(keys[i].doc, f);
        fprintf(f, "%s = ", keys[i].name);
        write_value(c, &keys[i], f);
        fputc('\n', f);
    }
}

void cada_config_describe(FILE *f) {
    static const char *type_names[] = {"int", "uint64", "float", "float", "bool", "string", "choice"};
    for (int i = 0; i < N_KEYS; i++)
    {
        char full[96];
        snprintf(full, sizeof full, "%s.%s", keys[i].section, keys[i].name);
        fprintf(f, "%-28s %-7s default %-14s %s%s%s\n", full, type_names[keys[i].type], keys[i].def[0] ? keys[i].def : "\"\"",
                keys[i].doc, keys[i].choices ? ": " : "", keys[i].choices ? keys[i].choices : "");
    }
}
