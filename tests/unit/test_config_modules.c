/* tests/unit/test_config_modules.c: the run configuration as the one source of the
 * modules' configurations (sched/config.h): every key listed by --keys parses with its
 * default; the prompt, reward, dataset and learner configurations built from it (with
 * the module defaults where the table has its defaults, and every key reaching its
 * field); learn.loss_agg's values, checked on the loss's per-token weights; the refusals
 * per command; the GGUF tokenizer switch. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "learn/policy_loss.h"
#include "sched/config.h"
#include "sched/config_modules.h"

#include <stdlib.h>
#include <string.h>

static void expect_error(cada_status st, const char *n1, const char *n2) {
    EXPECT(st != CADA_OK, "accepted (wanted an error with '%s')", n1);
    EXPECT(strstr(cada_error_message(), n1) && (!n2 || strstr(cada_error_message(), n2)), "message '%s' lacks '%s' / '%s'",
           cada_error_message(), n1, n2 ? n2 : "");
}

static void set(cada_run_config *c, const char *kv) {
    if (cada_config_set(c, kv) != CADA_OK) cada_test_fail(__FILE__, __LINE__, "--set %s: %s", kv, cada_error_message());
}

/* Every key `--keys` lists takes its listed default back, leaving the defaults as they
 * were; and the resolved configuration (cada_config_write) holds every listed key. */
TEST(config_every_listed_key_parses_with_its_default) {
    char *list = NULL, *ini = NULL;
    size_t list_len = 0, ini_len = 0;
    FILE *f = open_memstream(&list, &list_len);
    REQUIRE(f);
    cada_config_describe(f);
    fclose(f);
    cada_run_config def, c;
    cada_config_defaults(&def);
    f = open_memstream(&ini, &ini_len);
    REQUIRE(f);
    cada_config_write(&def, f);
    fclose(f);
    c = def;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128], type[16], word[16], value[600];
        REQUIRE(sscanf(line, "%127s %15s %15s %599s", key, type, word, value) == 4 && !strcmp(word, "default"),
                "--keys line '%s'", line);
        if (!strcmp(value, "\"\"")) value[0] = 0;
        char kv[800];
        snprintf(kv, sizeof kv, "%s=%s", key, value);
        EXPECT(cada_config_set(&c, kv) == CADA_OK, "%s: %s", kv, cada_error_message());
        /* the key's name in its section of the INI text */
        const char *dot = strchr(key, '.');
        char section[64], name_line[96];
        snprintf(section, sizeof section, "[%.*s]", (int)(dot - key), key);
        snprintf(name_line, sizeof name_line, "\n%s = ", dot + 1);
        const char *in = strstr(ini, section);
        EXPECT(in && strstr(in, name_line), "%s is not in the written configuration", key);
        n++;
    }
    EXPECT(n > 80, "only %d keys listed", n);
    EXPECT(!memcmp(&c, &def, sizeof c), "setting every key to its listed default changed the configuration");
    free(list);
    free(ini);
}

TEST(config_prompt_and_reward_defaults_are_the_modules) {
    cada_run_config c;
    cada_config_defaults(&c);
    cada_prompt_config got, want;
    REQUIRE_OK(cada_config_prompt(&c, &got));
    cada_prompt_config_default(&want);
    want.seed = c.seed; /* case choice follows run.seed */
    EXPECT(!memcmp(&got, &want, sizeof got), "prompt defaults differ from cada_prompt_config_default");
    cada_reward_config rgot, rwant;
    REQUIRE_OK(cada_config_reward(&c, &rgot));
    cada_reward_config_default(&rwant);
    EXPECT(!memcmp(&rgot, &rwant, sizeof rgot), "reward defaults differ from cada_reward_config_default");
    cada_set_options sgot, swant;
    REQUIRE_OK(cada_config_dataset(&c, &sgot));
    cada_set_options_default(&swant);
    EXPECT(!memcmp(&sgot, &swant, sizeof sgot), "dataset defaults differ from cada_set_options_default");
}

TEST(config_prompt_reward_dataset_keys_reach_their_fields) {
    cada_run_config c;
    cada_config_defaults(&c);
    const char *const prompt_keys[] = {"prompt.template=rule", "prompt.k=5", "prompt.selection=bm25", "prompt.pool=9",
                                       "prompt.balance=false", "prompt.data_dir=/d", "prompt.codes=c.txt", "prompt.spec=s.md",
                                       "prompt.cases=k.jsonl", "prompt.template_cada=tc", "prompt.template_rule=tr",
                                       "prompt.template_plain=tp", "run.seed=77"};
    for (size_t i = 0; i < sizeof prompt_keys / sizeof *prompt_keys; i++) set(&c, prompt_keys[i]);
    cada_prompt_config p;
    REQUIRE_OK(cada_config_prompt(&c, &p));
    EXPECT(p.template == CADA_TEMPLATE_RULE && p.k == 5 && p.select == CADA_SELECT_BM25 && p.pool == 9 && p.balance == 0 &&
           p.seed == 77);
    EXPECT(!strcmp(p.data_dir, "/d") && !strcmp(p.codes, "c.txt") && !strcmp(p.spec, "s.md") && !strcmp(p.cases, "k.jsonl") &&
           !strcmp(p.template_cada, "tc") && !strcmp(p.template_rule, "tr") && !strcmp(p.template_plain, "tp"));
    set(&c, "prompt.template=plain");
    set(&c, "prompt.selection=category");
    REQUIRE_OK(cada_config_prompt(&c, &p));
    EXPECT(p.template == CADA_TEMPLATE_PLAIN && p.select == CADA_SELECT_CATEGORY);
    set(&c, "prompt.codes=");
    expect_error(cada_config_prompt(&c, &p), "prompt.codes", "empty");

    const char *const reward_keys[] = {"reward.detector=judge", "reward.judge_model=/j.gguf", "reward.judge_threshold=0.7",
                                       "reward.bonus=none", "reward.bonus_weight=2.5", "reward.min_analysis_chars=12",
                                       "reward.harmful_comply=-3", "reward.harmful_refuse=0.25", "reward.benign_help=0.5",
                                       "reward.benign_refusal=-0.75", "reward.format_penalty=-0.125", "reward.patterns=/p.txt"};
    for (size_t i = 0; i < sizeof reward_keys / sizeof *reward_keys; i++) set(&c, reward_keys[i]);
    cada_reward_config r;
    REQUIRE_OK(cada_config_reward(&c, &r));
    EXPECT(r.detector == CADA_DETECT_JUDGE && !strcmp(r.judge_model, "/j.gguf") && r.judge_threshold == 0.7f &&
           r.bonus == CADA_BONUS_NONE && r.bonus_weight == 2.5f && r.min_analysis_chars == 12 && r.harmful_comply == -3.0f &&
           r.harmful_refuse == 0.25f && r.benign_help == 0.5f && r.benign_refuse == -0.75f && r.format_penalty == -0.125f &&
           !strcmp(r.patterns, "/p.txt"));
    set(&c, "reward.bonus=judge");
    set(&c, "reward.detector=target_tokens"); /* the trainer's own; rule here, unused */
    REQUIRE_OK(cada_config_reward(&c, &r));
    EXPECT(r.bonus == CADA_BONUS_JUDGE && r.detector == CADA_DETECT_RULE);
    EXPECT(r.judge_scores == 0 && r.comply == CADA_COMPLY_CONSTANT && r.benign == CADA_BENIGN_REFUSAL); /* the defaults */
    set(&c, "reward.judge_scores=monitor, strongreject");
    set(&c, "reward.comply=strongreject");
    set(&c, "reward.benign=helpful");
    REQUIRE_OK(cada_config_reward(&c, &r));
    EXPECT(r.judge_scores == (1u << CADA_JS_MONITOR | 1u << CADA_JS_STRONGREJECT) && r.comply == CADA_COMPLY_STRONGREJECT &&
           r.benign == CADA_BENIGN_HELPFUL);
    set(&c, "reward.judge_scores=monitor,harm");
    expect_error(cada_config_reward(&c, &r), "reward.judge_scores", "'harm' is not one of");
    set(&c, "reward.judge_scores=none");
    set(&c, "reward.judge_slots=3");
    cada_judge_config jc;
    REQUIRE_OK(cada_config_judge(&c, &jc));
    EXPECT(jc.n_slots == 3 && !strcmp(jc.monitor_prompt, "data/judge/monitor.txt") && !strcmp(jc.helpful_prompt, "data/judge/helpful.txt"));
    /* truncation and the Analysis monitor; an empty monitor_patterns turns it off */
    set(&c, "reward.truncated_reward=-0.375");
    set(&c, "reward.monitor_penalty=-1.5");
    set(&c, "reward.monitor_patterns=/m.txt");
    REQUIRE_OK(cada_config_reward(&c, &r));
    EXPECT(r.truncated_reward == -0.375f && r.monitor_penalty == -1.5f && !strcmp(r.monitor_patterns, "/m.txt"));
    set(&c, "reward.monitor_patterns=");
    REQUIRE_OK(cada_config_reward(&c, &r));
    EXPECT(r.monitor_patterns[0] == 0);

    const char *const data_keys[] = {"data.format=csv", "data.on_error=skip", "data.id_field=uid", "data.prompt_field=q",
                                     "data.category_field=cat", "data.label_field=lab", "data.response_field=ans",
                                     "data.safe_field=is_safe"};
    for (size_t i = 0; i < sizeof data_keys / sizeof *data_keys; i++) set(&c, data_keys[i]);
    cada_set_options o;
    REQUIRE_OK(cada_config_dataset(&c, &o));
    EXPECT(o.format == CADA_SET_CSV && o.on_error == CADA_ON_ERROR_SKIP && !strcmp(o.id_field, "uid") &&
           !strcmp(o.prompt_field, "q") && !strcmp(o.category_field, "cat") && !strcmp(o.label_field, "lab") &&
           !strcmp(o.response_field, "ans") && !strcmp(o.safe_field, "is_safe"));
}

/* The per-token derivative weights the loss gives two sequences of 1 and 3 completion
 * tokens (advantage 1, log-probs 0: ratio 1, so PPO's clip does not act). */
static void loss_weights(const cada_learner_config *lc, float w[4]) {
    const int tok0[2] = {5, 6}, tok1[4] = {5, 7, 8, 9};
    const float zeros[3] = {0, 0, 0};
    cada_traj t[2] = {{.tokens = tok0, .prompt_len = 1, .completion_len = 1, .rollout_logprob = zeros},
                      {.tokens = tok1, .prompt_len = 1, .completion_len = 3, .rollout_logprob = zeros}};
    const int lp_index[2] = {0, 1};
    const float adv[2] = {1, 1}, logprob[4] = {0, 0, 0, 0};
    cada_loss_norm norm = {4, 2, 0};
    float d[4] = {0};
    if (cada_pg_loss(&lc->algo.pg, t, 2, lp_index, adv, logprob, 4, &norm, d, NULL) != CADA_OK)
        cada_test_fail(__FILE__, __LINE__, "cada_pg_loss: %s", cada_error_message());
    for (int i = 0; i < 4; i++) w[i] = -d[i];
}

static int near4(const float w[4], float a, float b) {
    return fabsf(w[0] - a) < 1e-6f && fabsf(w[1] - b) < 1e-6f && fabsf(w[2] - b) < 1e-6f && fabsf(w[3] - b) < 1e-6f;
}

/* learn.loss_agg: auto keeps each algorithm's own aggregation (what cada train did
 * before the key acted); the three names choose it for every RL algorithm. */
TEST(config_learner_loss_agg_maps_onto_the_loss) {
    static const char *const algos[] = {"reinforce", "grpo", "rloo", "ppo"};
    for (int a = 0; a < 4; a++) {
        cada_run_config c;
        cada_config_defaults(&c);
        char kv[64];
        snprintf(kv, sizeof kv, "learn.algorithm=%s", algos[a]);
        set(&c, kv);
        set(&c, "learn.kl_coef=0");
        cada_learner_config lc;
        float w[4];
        REQUIRE_OK(cada_config_learner(&c, &lc));
        cada_algo id;
        REQUIRE(cada_algo_parse(algos[a], &id) == 0);
        cada_algo_config own;
        cada_algo_config_default(&own, id);
        int seq_sum = a == 0 || a == 2; /* reinforce, rloo */
        EXPECT(lc.algo.algo == id && lc.algo.pg.agg == own.pg.agg &&
                   lc.algo.pg.agg == (seq_sum ? CADA_AGG_SEQ_MEAN_TOKEN_SUM : CADA_AGG_TOKEN_MEAN),
               "%s: auto", algos[a]);
        set(&c, "learn.loss_agg=token-mean");
        REQUIRE_OK(cada_config_learner(&c, &lc));
        EXPECT(lc.algo.pg.agg == CADA_AGG_TOKEN_MEAN, "%s", algos[a]);
        loss_weights(&lc, w);
        EXPECT(near4(w, 0.25f, 0.25f), "%s token-mean: %g %g", algos[a], (double)w[0], (double)w[1]);
        set(&c, "learn.loss_agg=sequence-mean");
        REQUIRE_OK(cada_config_learner(&c, &lc));
        EXPECT(lc.algo.pg.agg == CADA_AGG_SEQ_MEAN_TOKEN_MEAN, "%s", algos[a]);
        loss_weights(&lc, w);
        EXPECT(near4(w, 0.5f, 1.0f / 6), "%s sequence-mean: %g %g", algos[a], (double)w[0], (double)w[1]);
        set(&c, "learn.loss_agg=sequence-sum");
        REQUIRE_OK(cada_config_learner(&c, &lc));
        EXPECT(lc.algo.pg.agg == CADA_AGG_SEQ_MEAN_TOKEN_SUM, "%s", algos[a]);
        loss_weights(&lc, w);
        EXPECT(near4(w, 0.5f, 0.5f), "%s sequence-sum: %g %g", algos[a], (double)w[0], (double)w[1]);
    }
    cada_run_config c;
    cada_config_defaults(&c);
    expect_error(cada_config_set(&c, "learn.loss_agg=token"), "learn.loss_agg", "token-mean");
    cada_learner_config lc;
    set(&c, "learn.loss_agg=auto");
    set(&c, "learn.algorithm=sft"); /* cada train learns from a fixed dataset (sched/offline_stage.h) */
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.algo == CADA_ALGO_SFT && lc.algo.pg.kl_place == CADA_KL_OFF); /* no KL term without rollouts */
    set(&c, "learn.algorithm=dpo");
    set(&c, "learn.dpo_beta=0.25");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.algo == CADA_ALGO_DPO && lc.algo.dpo_beta == 0.25f);
}

TEST(config_learner_takes_every_learn_key) {
    cada_run_config c;
    cada_config_defaults(&c);
    const char *const kv[] = {"learn.algorithm=grpo", "rollout.samples_per_prompt=4", "learn.lr=3e-5", "learn.beta1=0.8",
                              "learn.beta2=0.95", "learn.eps=1e-6", "learn.weight_decay=0.05", "learn.grad_clip=0.5",
                              "learn.warmup_steps=3", "run.steps=40", "learn.lr_schedule=cosine", "learn.zero=2",
                              "rollout.max_len=300", "learn.micro_batch_tokens=200", "learn.fixed_order=true",
                              "learn.baseline_beta=0.3", "learn.kl_coef=0.02", "learn.kl_estimator=k2", "learn.kl_in=reward",
                              "learn.clip_low=0.1", "learn.clip_high=0.4"};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) set(&c, kv[i]);
    cada_learner_config lc;
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.algo == CADA_ALGO_GRPO && fabs(lc.opt.lr - 3e-5) < 1e-12 && fabs(lc.opt.beta1 - 0.8) < 1e-7 &&
           fabs(lc.opt.beta2 - 0.95) < 1e-7 && fabs(lc.opt.eps - 1e-6) < 1e-12 && fabs(lc.opt.weight_decay - 0.05) < 1e-7 &&
           fabs(lc.opt.max_grad_norm - 0.5) < 1e-7);
    EXPECT(lc.opt.warmup_steps == 3 && lc.opt.total_steps == 40 && lc.opt.schedule == CADA_LR_COSINE);
    EXPECT(lc.zero == CADA_ZERO2 && lc.row_tokens == 300 && lc.micro_tokens == 300 && lc.pad_id == 0 && lc.fixed_order == 1);
    EXPECT(fabs(lc.algo.adv.baseline_beta - 0.3) < 1e-7 && lc.algo.pg.kl_place == CADA_KL_IN_REWARD &&
           lc.algo.pg.kl_est == CADA_KL_K2 && fabs(lc.algo.pg.kl_coef - 0.02) < 1e-7);
    EXPECT(fabs(lc.algo.pg.clip_low - 0.1) < 1e-7 && fabs(lc.algo.pg.clip_high - 0.4) < 1e-7);
    /* the micro-batch takes the larger of its budget and one whole row */
    set(&c, "learn.micro_batch_tokens=4096");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.micro_tokens == 4096);
    /* constant: warm-up, then the peak (learn/adamw.h's CONSTANT would skip the warm-up) */
    set(&c, "learn.lr_schedule=constant");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.opt.schedule == CADA_LR_LINEAR_WARMUP && lc.opt.warmup_steps == 3);
    set(&c, "learn.warmup_steps=0");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.opt.schedule == CADA_LR_CONSTANT);
    /* no KL coefficient: no KL term, wherever kl_in points */
    set(&c, "learn.kl_coef=0");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.pg.kl_place == CADA_KL_OFF);
    set(&c, "learn.kl_coef=0.01");
    set(&c, "learn.kl_in=loss");
    set(&c, "learn.kl_estimator=k3");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.pg.kl_place == CADA_KL_IN_LOSS && lc.algo.pg.kl_est == CADA_KL_K3);
    /* k1 in the loss has expected gradient zero: refused, by cada train's validation too */
    set(&c, "learn.kl_estimator=k1");
    expect_error(cada_config_learner(&c, &lc), "learn.kl_in = loss with learn.kl_estimator = k1", "expected gradient is zero");
    expect_error(cada_config_validate_run(&c), "learn.kl_in = loss with learn.kl_estimator = k1", "expected gradient is zero");
    set(&c, "learn.kl_coef=0"); /* no KL term: nothing to refuse */
    REQUIRE_OK(cada_config_learner(&c, &lc));
    REQUIRE_OK(cada_config_validate_run(&c));
    /* learn.tis_cap: 2 by default (Yao et al. 2025), 0 turns it off */
    EXPECT(fabs(lc.algo.pg.tis_cap - 2.0) < 1e-7, "tis_cap %g", lc.algo.pg.tis_cap);
    set(&c, "learn.tis_cap=0");
    REQUIRE_OK(cada_config_learner(&c, &lc));
    EXPECT(lc.algo.pg.tis_cap == 0.0);
}

TEST(config_commands_refuse_what_they_cannot_honour) {
    cada_run_config c;
    cada_config_defaults(&c);
    REQUIRE_OK(cada_config_check_command(&c, "train"));
    REQUIRE_OK(cada_config_check_command(&c, "eval"));
    REQUIRE_OK(cada_config_check_command(&c, "score"));
    expect_error(cada_config_check_command(&c, "bake"), "bake", NULL);
    /* the judge in training needs its model: refused in validation, not after the ranks start */
    set(&c, "reward.detector=judge");
    expect_error(cada_config_validate_run(&c), "reward.detector = judge", "reward.judge_model");
    set(&c, "reward.judge_model=/j.gguf");
    REQUIRE_OK(cada_config_check_command(&c, "train"));
    REQUIRE_OK(cada_config_check_command(&c, "eval"));
    REQUIRE_OK(cada_config_check_command(&c, "score"));
    set(&c, "reward.judge_model=");
    REQUIRE_OK(cada_config_check_command(&c, "eval")); /* the policy judges itself */
    expect_error(cada_config_check_command(&c, "score"), "reward.judge_model", "--judge-model");
    set(&c, "reward.detector=rule");
    set(&c, "eval.rubric=true");
    expect_error(cada_config_check_command(&c, "score"), "eval.rubric", "reward.judge_model");
    set(&c, "eval.rubric=false");
    set(&c, "reward.bonus=judge");
    expect_error(cada_config_check_command(&c, "train"), "reward.bonus = judge", "reward.judge_model");
    expect_error(cada_config_check_command(&c, "score"), "reward.bonus = judge", NULL);
    set(&c, "reward.bonus=format");
    const char *const judge_keys[][3] = {{"reward.comply=strongreject", "reward.comply = strongreject", "reward.comply=constant"},
                                         {"reward.benign=helpful", "reward.benign = helpful", "reward.benign=refusal"},
                                         {"reward.judge_scores=monitor", "reward.judge_scores", "reward.judge_scores=none"}};
    for (int i = 0; i < 3; i++) {
        set(&c, judge_keys[i][0]);
        expect_error(cada_config_check_command(&c, "train"), judge_keys[i][1], "reward.judge_model");
        expect_error(cada_config_check_command(&c, "score"), judge_keys[i][1], "--judge-model");
        set(&c, "reward.judge_model=/j.gguf");
        REQUIRE_OK(cada_config_check_command(&c, "train"));
        set(&c, "reward.detector=target_tokens");
        set(&c, "reward.target_ids=0-100");
        expect_error(cada_config_check_command(&c, "train"), judge_keys[i][1], "target_tokens");
        set(&c, "reward.detector=rule");
        set(&c, "reward.judge_model=");
        set(&c, judge_keys[i][2]);
    }
    set(&c, "reward.target_ids=");
    set(&c, "learn.algorithm=dpo");
    expect_error(cada_config_check_command(&c, "train"), "learn.algorithm = dpo", "cluster.placement = colocated");
    REQUIRE_OK(cada_config_check_command(&c, "score")); /* learn.* has no part in scoring */
    set(&c, "cluster.placement=colocated");
    set(&c, "cluster.rollout_ranks=0");
    REQUIRE_OK(cada_config_check_command(&c, "train"));
    set(&c, "cluster.placement=disaggregated");
    set(&c, "cluster.rollout_ranks=1");
    set(&c, "learn.algorithm=reinforce");
    set(&c, "reward.detector=target_tokens");
    expect_error(cada_config_check_command(&c, "train"), "reward.target_ids", NULL);
    set(&c, "reward.target_ids=0-100");
    REQUIRE_OK(cada_config_check_command(&c, "train"));
    expect_error(cada_config_check_command(&c, "eval"), "reward.detector = target_tokens", "training");
    expect_error(cada_config_check_command(&c, "score"), "reward.detector = target_tokens", NULL);
    set(&c, "reward.detector=rule");
    set(&c, "cluster.device=cuda");
    expect_error(cada_config_check_command(&c, "eval"), "cluster.device = cuda", "CPU");
    REQUIRE_OK(cada_config_check_command(&c, "score")); /* no model runs there without a judge */
}

TEST(config_overrides_name_unknown_keys_and_tell_files_apart) {
    cada_run_config c;
    cada_config_defaults(&c);
    expect_error(cada_config_set(&c, "prompt.colour=red"), "unknown key 'prompt.colour'", "template, k, selection, pool");
    expect_error(cada_config_set(&c, "colour.red=1"), "unknown key 'colour.red'", "no section");
    expect_error(cada_config_set_key(&c, "prompt.k", "99", "--k"), "--k", "prompt.k");
    expect_error(cada_config_set(&c, "rollout.max_staleness=1"), "rollout.max_staleness", NULL);
    EXPECT(cada_config_is_assignment("prompt.k=3") && cada_config_is_assignment("reward.judge_model=/a/b.gguf"));
    EXPECT(!cada_config_is_assignment("data/prompts/harmful.jsonl") && !cada_config_is_assignment("jsonl:x.jsonl") &&
           !cada_config_is_assignment("dir/a.b=c") && !cada_config_is_assignment("k=3") && !cada_config_is_assignment(".k=3"));
}

/* model.gguf_tokenizer: transformers turns on the loader's flag, and on SmolLM2's GGUF
 * (tokenizer.ggml.pre = smollm) the two tokenize " ½" differently. */
TEST(config_gguf_tokenizer_switch) {
    cada_run_config c;
    cada_config_defaults(&c);
    EXPECT(cada_config_tok_flags(&c) == 0);
    set(&c, "model.gguf_tokenizer=transformers");
    EXPECT(cada_config_tok_flags(&c) == CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS);
    expect_error(cada_config_set(&c, "model.gguf_tokenizer=sentencepiece"), "model.gguf_tokenizer", "llama.cpp|transformers");
    unsigned flags = 7;
    REQUIRE_OK(cada_tok_gguf_mode_parse("transformers", &flags));
    EXPECT(flags == CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS);
    REQUIRE_OK(cada_tok_gguf_mode_parse("llama.cpp", &flags));
    EXPECT(flags == 0);
    expect_error(cada_tok_gguf_mode_parse("hf", &flags), "'hf'", "transformers");
    cada_tokenizer *a = NULL, *b = NULL;
    REQUIRE_OK(cada_tok_load(&a, cada_test_smollm2_path(), cada_config_tok_flags(&c)));
    set(&c, "model.gguf_tokenizer=llama.cpp");
    cada_status st = cada_tok_load(&b, cada_test_smollm2_path(), cada_config_tok_flags(&c));
    if (st != CADA_OK) cada_tok_free(a);
    REQUIRE_OK(st);
    cada_tok_ids ia = {0}, ib = {0};
    const char *text = "x \xc2\xbd";
    if (cada_tok_encode(a, text, strlen(text), 0, &ia) == CADA_OK && cada_tok_encode(b, text, strlen(text), 0, &ib) == CADA_OK)
        EXPECT(ia.n != ib.n || memcmp(ia.ids, ib.ids, sizeof *ia.ids * ia.n), "the two pre-tokenizations agree on ' 1/2'");
    else cada_test_fail(__FILE__, __LINE__, "encode: %s", cada_error_message());
    cada_tok_ids_free(&ia);
    cada_tok_ids_free(&ib);
    cada_tok_free(a);
    cada_tok_free(b);
}
