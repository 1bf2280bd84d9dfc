/* tests/unit/test_config.c: the run configuration: defaults, INI files, --set
 * overrides, the written configuration reading back identically, and every kind of
 * wrong input named by file, line and key. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "sched/config.h"
#include "sched/config_modules.h"

#ifdef CADA_HAVE_CUDA
#include "device.h"
#endif

#include <stdlib.h>
#include <string.h>

static const char *write_tmp(const char *name, const char *text) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", cada_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

TEST(config_defaults_ini_and_overrides) {
    cada_run_config c;
    cada_config_defaults(&c);
    REQUIRE_OK(cada_config_validate_run(&c));
    EXPECT(!strcmp(c.algorithm, "reinforce") && fabsf(c.kl_coef - 0.01f) < 1e-9f && c.learner_ranks == 1);
    /* the paper's KL: k1 summed over the sequence, in the reward; truncated IS at 2 */
    EXPECT(!strcmp(c.kl_in, "reward") && !strcmp(c.kl_estimator, "k1") && c.tis_cap == 2.0f);
    const char *p = write_tmp("a.ini", "; comment\n[run]\nsteps = 42\nseed = 18446744073709551615\n\n[learn]\nalgorithm = grpo\nlr = 5e-6\n"
                                       "[rollout]\nsamples_per_prompt = 8\n[data]\nshuffle = false\n");
    REQUIRE_OK(cada_config_load(&c, p));
    EXPECT(c.steps == 42 && c.seed == UINT64_MAX && !strcmp(c.algorithm, "grpo") && fabsf(c.lr - 5e-6f) < 1e-12f &&
           c.samples_per_prompt == 8 && c.shuffle == 0);
    REQUIRE_OK(cada_config_set(&c, "learn.kl_coef=0.05"));
    REQUIRE_OK(cada_config_set(&c, "cluster.rollout_ranks=2"));
    EXPECT(fabsf(c.kl_coef - 0.05f) < 1e-9f && c.rollout_ranks == 2);
}

TEST(config_written_file_reads_back_identically) {
    cada_run_config a, b;
    cada_config_defaults(&a);
    REQUIRE_OK(cada_config_set(&a, "learn.lr=3.3e-7"));
    REQUIRE_OK(cada_config_set(&a, "run.out_dir=runs/x y"));
    char path[600];
    snprintf(path, sizeof path, "%s/resolved.ini", cada_test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    cada_config_write(&a, f);
    fclose(f);
    cada_config_defaults(&b);
    REQUIRE_OK(cada_config_load(&b, path));
    EXPECT(!memcmp(&a, &b, sizeof a), "the resolved configuration must read back to the same values");
}

static void expect_config_error(cada_status st, const char *n1, const char *n2) {
    EXPECT(st != CADA_OK, "accepted");
    EXPECT(strstr(cada_error_message(), n1) && (!n2 || strstr(cada_error_message(), n2)), "message '%s' lacks '%s' / '%s'",
           cada_error_message(), n1, n2 ? n2 : "");
}

TEST(config_rejects_wrong_input) {
    cada_run_config c;
    cada_config_defaults(&c);
    expect_config_error(cada_config_load(&c, write_tmp("b.ini", "[run]\nsteps = 3\nstepz = 4\n")), "b.ini:3", "stepz");
    expect_config_error(cada_config_load(&c, write_tmp("c.ini", "[runn]\nsteps = 3\n")), "c.ini:2", "[runn]");
    expect_config_error(cada_config_load(&c, write_tmp("d.ini", "[learn]\nlr = fast\n")), "d.ini:2", "learn.lr");
    expect_config_error(cada_config_load(&c, write_tmp("e.ini", "[learn]\nalgorithm = a2c\n")), "e.ini:2", "reinforce|grpo");
    expect_config_error(cada_config_load(&c, write_tmp("f.ini", "[run]\nsteps = -5\n")), "f.ini:2", "run.steps");
    expect_config_error(cada_config_load(&c, write_tmp("g.ini", "[run]\nthis line has no equals sign\n")), "g.ini:2", NULL);
    expect_config_error(cada_config_load(&c, "/nonexistent/x.ini"), "/nonexistent/x.ini", NULL);
    expect_config_error(cada_config_set(&c, "learn.nope=1"), "learn.nope", NULL);
    expect_config_error(cada_config_set(&c, "steps=1"), "section.key=value", NULL);
    expect_config_error(cada_config_set(&c, "run.steps=1.5"), "run.steps", "integer");
    cada_config_defaults(&c);
    REQUIRE_OK(cada_config_set(&c, "learn.algorithm=grpo"));
    REQUIRE_OK(cada_config_set(&c, "rollout.samples_per_prompt=1"));
    expect_config_error(cada_config_validate_run(&c), "samples_per_prompt", NULL);
    /* rollout.slots = 0 (as memory allows) needs the CPU engine and a KV pool budget */
    cada_config_defaults(&c);
    REQUIRE_OK(cada_config_set(&c, "rollout.slots=0"));
    expect_config_error(cada_config_validate_run(&c), "rollout.slots = 0", "rollout.kv_memory_mb");
    REQUIRE_OK(cada_config_set(&c, "rollout.kv_memory_mb=256"));
    REQUIRE_OK(cada_config_validate_run(&c));
    /* rollout.weights: fp32 by default, bf16 on the CPU, nothing else */
    EXPECT(!strcmp(c.rollout_weights, "fp32"), "%s", c.rollout_weights);
    expect_config_error(cada_config_set(&c, "rollout.weights=fp16"), "rollout.weights", "fp32|bf16");
    REQUIRE_OK(cada_config_set(&c, "rollout.weights=bf16"));
    REQUIRE_OK(cada_config_validate_run(&c));
}

/* cluster.device: cpu by default; cuda is refused, naming the key and the reason, in a
 * build without CUDA, with a ZeRO stage (not built on the GPU), and on a machine that
 * shows no GPU (the machine check is separate, so --check works on a login node). */
TEST(config_device_cuda_is_checked) {
    cada_run_config c;
    cada_config_defaults(&c);
    EXPECT(!strcmp(c.device, "cpu"));
    REQUIRE_OK(cada_config_check_device(&c));
    expect_config_error(cada_config_set(&c, "cluster.device=tpu"), "cluster.device", "cpu|cuda");
    REQUIRE_OK(cada_config_set(&c, "cluster.device=cuda"));
#ifdef CADA_HAVE_CUDA
    expect_config_error(cada_config_validate_run(&c), "learn.zero = 1", "cluster.device = cuda");
    REQUIRE_OK(cada_config_set(&c, "learn.zero=0"));
    REQUIRE_OK(cada_config_validate_run(&c));
    /* rollout.weights = bf16 is the CPU engine's; the GPU rollout would silently ignore it */
    REQUIRE_OK(cada_config_set(&c, "rollout.weights=bf16"));
    expect_config_error(cada_config_validate_run(&c), "rollout.weights = bf16", "cluster.device = cuda");
    REQUIRE_OK(cada_config_set(&c, "rollout.weights=fp32"));
    const char *why = NULL;
    if (cada_gpu_count(&why) == 0) expect_config_error(cada_config_check_device(&c), "cluster.device = cuda", "no GPU is visible");
    else REQUIRE_OK(cada_config_check_device(&c));
#else
    REQUIRE_OK(cada_config_set(&c, "learn.zero=0"));
    expect_config_error(cada_config_validate_run(&c), "cluster.device = cuda", "no CUDA");
    expect_config_error(cada_config_check_device(&c), "cluster.device = cuda", "no CUDA");
#endif
}
