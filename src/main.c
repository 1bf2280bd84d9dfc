/* main.c: the cada binary. One program; the subcommand picks the work. Under mpirun
 * (from `cada train`, with the scheduler) every rank runs this same binary. */
#include "base/cpu.h"
#include "base/error.h"
#include "cli/cli.h"
#include "ops/blas_core.h"
#include "sched/train.h"

#ifdef CADA_HAVE_CUDA
#include "device.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How OpenMP threads wait between parallel regions. A decode step runs some 150 of them
 * (a few per layer), each a few microseconds apart.
 *   - Sleeping waits (passive) cost a wake-up per region: alone on 2 cores, bf16 decode at
 *     batch 1 ran at 60 tokens/s passive and 95 with a bounded spin (GOMP_SPINCOUNT =
 *     10000, about 0.1-0.3 ms before sleeping) or fully active waits.
 *   - Spinning waits burn the time slices another thread needs whenever threads
 *     outnumber cores: two such processes on 2 cores decoded at 13 tokens/s each with
 *     that spin and 59-64 passive (and batch-4 decoding once at 3.9 vs 36.5 under a load
 *     of 4).
 * So when the user has chosen neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, cada spins
 * boundedly when this job's ranks on the machine are fewer than its cores (each rank's
 * threads then have cores of their own: cada train gives a rank cores / local ranks
 * threads), and sleeps otherwise (a rank then runs one thread, and other programs may
 * share the cores); tests/run.sh sets passive for the test programs that share cores.
 * libgomp reads both variables once, before main, so cada sets them and re-executes
 * itself (before MPI or any thread exists). Returns 1 when it set one. */
static int choose_omp_wait_policy(void) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return 0;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > cada_local_ranks()) setenv("GOMP_SPINCOUNT", "10000", 1);
    else setenv("OMP_WAIT_POLICY", "passive", 1);
    return 1;
}

/* The variables the libraries read as they load (OpenMP's wait policy above, OpenBLAS's
 * kernels: ops/blas_core.h), set and then taken up by executing this program again, once
 * (the second time every variable is set and nothing changes). */
static void choose_library_settings(char **argv) {
    const int omp = choose_omp_wait_policy(), blas = cada_blas_choose_core();
    if (omp || blas) execv("/proc/self/exe", argv);
    /* no /proc: carry on with the libraries' defaults */
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: cada <command> [options]\n"
            "\n"
            "commands:\n"
            "  train -c CONFIG.ini [--set section.key=value]... [--resume CKPT|latest] [--check] [--keys]\n"
            "        [--print-config]    CADA training (under mpirun; cada train --help, --keys lists every key)\n"
            "  plan -c CONFIG.ini [--set section.key=value]... [--gpu-mem GiB] [--preset NAME]\n"
            "                            device memory per role and whether it fits (cada plan --help)\n"
            "  inspect PATH              architecture, dimensions, parameters, dtypes and bytes of a\n"
            "                            GGUF file or Hugging Face folder\n"
            "  convert IN OUT_DIR [--dtype F32|BF16|F16]\n"
            "                            write config.json + model.safetensors (Hugging Face layout)\n"
            "  consolidate CHECKPOINT --out DIR [--dtype bf16|f32] [--force]\n"
            "                            one Hugging Face folder (model.safetensors, config.json, tokenizer)\n"
            "                            from a checkpoint's per-learner weights files (cada consolidate --help)\n"
            "  forward [--model PATH] --ids ID,ID,...\n"
            "                            per-token log-probabilities of token ids under a model\n"
            "  generate --prompt TEXT [--model PATH] [--chat] [--system TEXT] [--max-tokens N] [--max-len N]\n"
            "           [--temperature T] [--top-p P] [--top-k K] [--seed S] [-n SAMPLES] [--stop STR] [--json]\n"
            "           [--gguf-tokenizer llama.cpp|transformers]\n"
            "                            generate text (streamed), greedy by default\n"
            "  eval [-c CONFIG.ini] --set [FORMAT:]FILE... [--set section.key=value]... [--model PATH]\n"
            "       [--template plain|cada|rule] [--k N] [--limit N] [--detector rule|judge] [--check]\n"
            "       [--attack none|template|pap|pair] [--attacker-model PATH]\n"
            "                            safety evaluation: attack success (also under jailbreak attacks),\n"
            "                            over-refusal, per category; JSON, Markdown and SVG reports\n"
            "                            (cada eval --help)\n"
            "  score --in FILE [-c CONFIG.ini] [--set section.key=value]... [--detector rule|judge] [--out FILE]\n"
            "                            score existing (prompt, response) pairs with a reward\n"
            "                            (cada score --help)\n"
            "  experiment -c EXPERIMENT.ini [--set key=value]... [--dry-run] [--keep-going] [--tables]\n"
            "                            methods x seeds x attacks, trained and evaluated, resumable; the\n"
            "                            paper's tables (mean +- std) and a chart (cada experiment --help)\n"
            "  utility --set gsm8k|mmlu|bbh:FILE... [--model PATH] [--mmlu-dev FILE] [--limit N] [--out DIR]\n"
            "                            utility benchmarks: accuracy with n in report.json (cada utility --help)\n"
            "  split --train-from FILE[,FILE...] [--train-size N] [--test FILE]... [--benign-from FILE]\n"
            "        [--seed S] --out DIR\n"
            "                            a training set and held-out test sets with no near-duplicate\n"
            "                            across them, and split.json (cada split --help)\n"
            "  build-data -c CONFIG.ini --method dr|rule|cr|dpo-cr --out FILE.jsonl [--set FILE]... [--limit N]\n"
            "             [--samples N] [--keep K] [--rejected FILE]\n"
            "                            a baseline's training set (SFT w DR, rule-only DA, SFT w CR, DPO w CR)\n"
            "                            for cada train with learn.algorithm = sft | dpo (cada build-data --help)\n"
            "  report RUN_DIR [--out DIR]\n"
            "                            SVG charts and report.md of a training run's metrics.jsonl\n"
            "  bench forward|train-step|matmul [--model PATH] [--batch B] [--seq T] [--iters N]\n"
            "  bench generate [--model PATH] [--prompts FILE] [--new-tokens 64] [--batch 16]\n"
            "                 [--gguf-tokenizer llama.cpp|transformers]\n"
            "  bench tokenizer TOKENIZER_PATH TEXT_FILE\n"
            "  bench allreduce [--sizes 256K,...,256M] [--iters N]   (under mpirun) vs MPI_Allreduce\n"
            "  bench learner [--zero dp|zero1|zero2] [--algo NAME] [--layers L] [--fixed 0|1]\n"
            "                            (under mpirun) bytes per parameter held and tokens/s\n"
            "                            throughput on the CPU path\n"
            "  version                   build configuration\n"
            "\n"
            "The model defaults to $CADA_MODEL, else .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf\n"
            "(fetched by `make fetch-models`).\n");
}

static int cmd_version(void) {
    printf("cada 0.1 (C11)\n");
    printf("  MPI:  %s\n",
#ifdef CADA_HAVE_MPI
           "yes"
#else
           "no"
#endif
    );
    printf("  CUDA: %s\n",
#ifdef CADA_HAVE_CUDA
           "compiled (sm_80, sm_90)"
#else
           "not compiled (CPU-only build)"
#endif
    );
    printf("  NCCL: %s\n",
#ifdef CADA_HAVE_NCCL
           "yes"
#else
           "no"
#endif
    );
    /* the bf16 kernels of rollout.weights = bf16 (ops/gemm_bf16.h) */
    char feats[160];
    cada_cpu_features(feats, sizeof feats);
    cada_cpu_kernels k;
    const int ok = cada_cpu_kernels_active(&k) == CADA_OK;
    const char *why = cada_cpu_kernels_best_reason();
    printf("  CPU kernels: %s (%s; best here %s; %s%sCADA_CPU_KERNELS forces one)\n", ok ? cada_cpu_kernels_name(k) : "none",
           ok ? (getenv("CADA_CPU_KERNELS") && *getenv("CADA_CPU_KERNELS") ? "forced" : "chosen at run time") : cada_error_message(),
           cada_cpu_kernels_name(cada_cpu_kernels_best()), why, *why ? "; " : "");
    printf("  CPU features: %s\n", feats);
    char blas[256];
    cada_blas_describe(blas, sizeof blas);
    printf("  BLAS: %s\n", blas);
#ifdef CADA_HAVE_CUDA
    cada_gpu_report();
#endif
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    choose_library_settings(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "inspect")) return cada_cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert")) return cada_cmd_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "consolidate")) return cada_cmd_consolidate(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cada_cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "forward")) return cada_cmd_forward(argc - 2, argv + 2);
    if (!strcmp(cmd, "generate")) return cada_cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return cada_cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "plan")) return cada_cmd_plan(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cada_cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "score")) return cada_cmd_score(argc - 2, argv + 2);
    if (!strcmp(cmd, "experiment")) return cada_cmd_experiment(argc - 2, argv + 2);
    if (!strcmp(cmd, "utility")) return cada_cmd_utility(argc - 2, argv + 2);
    if (!strcmp(cmd, "split")) return cada_cmd_split(argc - 2, argv + 2);
    if (!strcmp(cmd, "build-data")) return cada_cmd_build_data(argc - 2, argv + 2);
    if (!strcmp(cmd, "report")) return cada_cmd_report(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cmd_version();
    fprintf(stderr, "cada: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
