/* cli/cli.h: the subcommands of the cada binary. Each takes the arguments after its
 * name and returns a process exit code (0 success, 1 failure, 2 usage error); errors
 * are printed with the recorded message. */
#ifndef CADA_CLI_CLI_H
#define CADA_CLI_CLI_H

int cada_cmd_inspect(int argc, char **argv);
int cada_cmd_convert(int argc, char **argv);
int cada_cmd_consolidate(int argc, char **argv); /* consolidate.c: one file from a sharded checkpoint */
int cada_cmd_bench(int argc, char **argv);
int cada_cmd_forward(int argc, char **argv);
int cada_cmd_generate(int argc, char **argv);
int cada_cmd_bench_generate(int argc, char **argv);
int cada_cmd_eval(int argc, char **argv);
int cada_cmd_score(int argc, char **argv);
int cada_cmd_report(int argc, char **argv);
int cada_cmd_bench_allreduce(int argc, char **argv);
int cada_cmd_bench_learner(int argc, char **argv);
int cada_cmd_plan(int argc, char **argv); /* plan_cmd.c: device memory per role */
int cada_cmd_experiment(int argc, char **argv); /* experiment_cmd.c: methods x seeds x attacks, the tables */
int cada_cmd_split(int argc, char **argv);   /* split_cmd.c: training and held-out sets */
int cada_cmd_utility(int argc, char **argv); /* utility_cmd.c: GSM8K, MMLU, BBH accuracy */
int cada_cmd_build_data(int argc, char **argv); /* build_data.c: a baseline's training set */

/* Prints "cada <cmd>: <message> (<status>)" for the current recorded error; returns 1. */
int cada_cli_fail(const char *cmd);
/* Prints "cada <cmd>: <what> <arg>" (arg may be NULL), a blank line and usage to
 * stderr; returns 2. */
int cada_cli_usage_error(const char *cmd, const char *usage, const char *what, const char *arg);

/* The default model: $CADA_MODEL, else .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf. */
const char *cada_cli_default_model(void);

#endif
