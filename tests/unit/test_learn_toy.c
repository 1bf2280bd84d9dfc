/* tests/unit/test_learn_toy.c: a learnable toy problem for each RL algorithm.
 *
 * Policy: a tiny random Llama (vocabulary 16, width 32, 2 layers; learn/synth.h).
 * Rollouts: the generation engine (rollout/engine.h) samples 8 tokens at temperature 1
 * after a two-token prompt [1, p], 4 samples per prompt, 8 prompts per step, and
 * reports the rollout log-probs the learner's ratios and TIS weights use.
 * Reward: the fraction of generated tokens equal to token 5. A random policy scores
 * about 1/16; the test requires the first batch below 0.3 and a batch mean above 0.8
 * within MAX_STEPS steps, for REINFORCE (running-mean baseline, the paper's), GRPO,
 * RLOO and PPO, each on one learner with a fixed seed (deterministic). It also reports
 * how far the engine's log-probs are from the learner's for the same tokens (the
 * mismatch TIS corrects; both are the same fp32 model, so ~1e-6). */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/log.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/synth.h"
#include "rollout/engine.h"

#include <stdlib.h>
#include <string.h>

enum { PROMPTS = 8, SAMPLES = 4, NEW = 8, TARGET = 5, MAX_STEPS = 60 };

typedef struct {
    int steps_to_08;
    double first_reward, best_reward, lp_diff_max, seconds;
} toy_result;

static int toy_run(cada_algo algo, toy_result *res) {
    memset(res, 0, sizeof *res);
    res->steps_to_08 = -1;
    cada_model_config mc;
    cada_synth_config(&mc, 16, 32, 2, 0);
    cada_model m;
    if (cada_synth_model(&m, &mc, 77, 0.02f) != CADA_OK) return 0;
    cada_comm *c = NULL;
    cada_learner *L = NULL;
    int ok = 0;
    if (cada_comm_init_self(&c, NULL) != CADA_OK) goto done;
    cada_learner_config lc;
    cada_learner_config_default(&lc, algo);
    lc.row_tokens = 16;
    lc.micro_tokens = 256;
    lc.opt.lr = 2e-2;
    lc.opt.weight_decay = 0.0;
    lc.opt.max_grad_norm = 1.0;
    lc.algo.adv.baseline_beta = 0.2;
    if (cada_learner_init(&L, &m, c, &lc) != CADA_OK) goto done;
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling.temperature = 1.0f;
    ec.sampling.top_p = 1.0f;
    ec.seed = 4242;
    ec.n_slots = PROMPTS * SAMPLES;
    ec.max_len = 2 + NEW;
    const double t0 = cada_now();
    int prompts[PROMPTS][2];
    int tokens[PROMPTS * SAMPLES][2 + NEW];
    cada_gen_request req[PROMPTS * SAMPLES];
    cada_gen_result out[PROMPTS * SAMPLES];
    cada_traj t[PROMPTS * SAMPLES];
    for (int step = 0; step < MAX_STEPS; step++) {
        for (int p = 0; p < PROMPTS; p++) {
            prompts[p][0] = 1;
            prompts[p][1] = (p * 3 + step) % 16;
        }
        for (int i = 0; i < PROMPTS * SAMPLES; i++)
            req[i] = (cada_gen_request){(uint64_t)(step * PROMPTS + i / SAMPLES), (uint32_t)(i % SAMPLES), prompts[i / SAMPLES], 2, NEW};
        if (cada_generate(&m, &ec, req, PROMPTS * SAMPLES, out, NULL) != CADA_OK) goto done;
        for (int i = 0; i < PROMPTS * SAMPLES; i++) {
            int hits = 0;
            memcpy(tokens[i], prompts[i / SAMPLES], sizeof(int) * 2);
            memcpy(tokens[i] + 2, out[i].tokens, sizeof(int) * (size_t)out[i].n);
            for (int k = 0; k < out[i].n; k++) hits += out[i].tokens[k] == TARGET;
            t[i] = (cada_traj){.tokens = tokens[i], .prompt_len = 2, .completion_len = out[i].n,
                               .rollout_logprob = out[i].logprobs, .reward = (float)hits / NEW, .group = i / SAMPLES};
        }
        cada_step_metrics sm;
        cada_status s = cada_learner_step(L, t, PROMPTS * SAMPLES, &sm);
        for (int i = 0; i < PROMPTS * SAMPLES; i++) cada_gen_result_free(&out[i]);
        if (s != CADA_OK) goto done;
        if (step == 0) res->first_reward = sm.adv.reward_mean;
        if (sm.adv.reward_mean > res->best_reward) res->best_reward = sm.adv.reward_mean;
        if (sm.lp_diff_max > res->lp_diff_max) res->lp_diff_max = sm.lp_diff_max;
        if (sm.adv.reward_mean > 0.8) {
            res->steps_to_08 = step;
            break;
        }
    }
    res->seconds = cada_now() - t0;
    ok = 1;
done:
    if (!ok) cada_test_fail(__FILE__, __LINE__, "%s: %s", cada_algo_name(algo), cada_error_message());
    cada_learner_free(L);
    cada_comm_free(c);
    cada_model_free(&m);
    return ok;
}

static void check_toy(cada_algo algo) {
    toy_result r;
    if (!toy_run(algo, &r)) return;
    fprintf(stderr, "    %s: mean reward %.3f at step 0, > 0.8 at step %d (best %.3f), %.2f s; rollout vs learner log-probs max |diff| %.2g\n",
            cada_algo_name(algo), r.first_reward, r.steps_to_08, r.best_reward, r.seconds, r.lp_diff_max);
    EXPECT(r.first_reward < 0.3, "the random policy already scores %g", r.first_reward);
    EXPECT(r.steps_to_08 >= 0, "%s did not reach 0.8 in %d steps (best %g)", cada_algo_name(algo), MAX_STEPS, r.best_reward);
    EXPECT(r.lp_diff_max < 1e-4, "rollout and learner log-probs differ by %g", r.lp_diff_max);
}

TEST(learn_toy_reinforce_running_mean) { check_toy(CADA_ALGO_REINFORCE); }
TEST(learn_toy_grpo) { check_toy(CADA_ALGO_GRPO); }
TEST(learn_toy_rloo) { check_toy(CADA_ALGO_RLOO); }
TEST(learn_toy_ppo) { check_toy(CADA_ALGO_PPO); }
