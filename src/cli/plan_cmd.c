/* cli/plan_cmd.c: `cada plan`, the device memory each rank of a run configuration needs
 * (model/memplan.h) against the GPU's memory, with the smallest change that makes a
 * rank fit when it does not; for cluster.device = cpu, the host memory of each rank. Reads only the model's shape: config.json or GGUF
 * metadata at model.path, or a named preset (--preset) when the weights are not here. */
#include "cli/cli.h"
#include "model/load.h"
#include "model/memplan.h"
#include "sched/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

typedef struct {
    cada_run_config rc;
    cada_model_config model;
    cada_memplan_in in;
    double mem; /* bytes per device */
} plan_ctx;

static void usage(FILE *f) {
    fprintf(f, "usage: cada plan -c CONFIG.ini [--set section.key=value]... [--gpu-mem GiB] [--preset NAME] [--device cpu|cuda]\n"
               "  per role (learner, rollout, reward/reference, or the colocated rank): device memory of the\n"
               "  weights (bf16), fp32 master, gradients and AdamW state (sharded by learn.zero over the\n"
               "  learners), activations with and without recomputation, logits, KV cache (rollout.slots x\n"
               "  rollout.max_len) and workspace; whether it fits --gpu-mem (default 80 GiB), and what to\n"
               "  change when it does not. The model's shape comes from model.path (config.json or GGUF);\n"
               "  --preset %s plans without the weights.\n"
               "  --device cpu: host memory per rank of the CPU path instead (fp32 parameters, gradients,\n"
               "  AdamW state, activations, rollout cache: rollout.kv_memory_mb, else rollout.slots at worst,\n"
               "  reference). Default: the GPU plan when --gpu-mem\n"
               "  or --preset is given or cluster.device = cuda, else the CPU plan.\n",
            cada_memplan_presets());
}

/* The memplan inputs a run configuration implies (as sched/train.c sets up the learner:
 * micro-batch tokens at least one row of max_len). */
static void inputs_from_config(plan_ctx *p) {
    const cada_run_config *c = &p->rc;
    cada_memplan_in *in = &p->in;
    memset(in, 0, sizeof *in);
    in->learners = c->learner_ranks;
    in->zero = c->zero;
    in->micro_tokens = c->micro_batch_tokens > c->max_len ? c->micro_batch_tokens : c->max_len;
    long long seqs = (long long)c->prompts_per_step * c->samples_per_prompt;
    long long rows = in->micro_tokens / c->max_len; /* sequences per micro-batch, at worst one row each */
    long long K = (seqs + rows - 1) / rows;
    in->micro_per_rank = (int)((K + in->learners - 1) / in->learners);
    if (in->micro_per_rank < 1) in->micro_per_rank = 1;
    /* slots 0 (as the KV pool allows): every sequence of a step, the pool bounds them (memplan) */
    long long all = (long long)c->prompts_per_step * c->samples_per_prompt;
    in->slots = c->slots > 0 ? c->slots : all > (1 << 20) ? 1 << 20 : (int)all;
    in->kv_pool = (size_t)c->kv_memory_mb << 20;
    in->rollout_bf16 = !strcmp(c->rollout_weights, "bf16") && !cada_config_offline(c); /* sft, dpo: no rollout */
    in->max_len = c->max_len;
    /* the largest infer call: every slot's prompt prefilled at once */
    long long g = (long long)in->slots * (c->max_len - c->max_new_tokens);
    in->prefill_tokens = g > (1 << 24) ? (1 << 24) : (int)g;
    in->samples = c->samples_per_prompt;
    in->reference = c->kl_coef > 0;
    in->recompute = c->recompute; /* the CPU plan's; the GPU plan shows both */
}

static void row(const char *name, size_t a, size_t b) {
    if (a == b) printf("  %-36s %9.2f GiB\n", name, a / GIB);
    else printf("  %-36s %9.2f GiB   (%.2f GiB with recomputation)\n", name, a / GIB, b / GIB);
}

static cada_status plan_of(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role, int recompute,
                           cada_memplan *out) {
    cada_memplan_in x = *in;
    x.recompute = recompute;
    return cada_memplan_role(&p->model, &x, role, out);
}

/* Total bytes of `role` under `in` with recomputation on; ~0 on error. */
static size_t total_with(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role) {
    cada_memplan m;
    if (plan_of(p, in, role, 1, &m) != CADA_OK) return (size_t)-1;
    return m.total;
}

/* Single changes (each on top of recomputation) that make `role` fit, cheapest first. */
static void suggest(const plan_ctx *p, cada_mem_role role) {
    const cada_memplan_in *in = &p->in;
    int any = 0;
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    int infers = role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_COLOCATED;
    printf("  to fit%s:\n", trains ? " (each with recomputation)" : "");
    if (trains && in->zero < 2 && in->learners > 1) {
        cada_memplan_in x = *in;
        x.zero = 2;
        if (total_with(p, &x, role) <= p->mem) {
            printf("    - learn.zero = 2 (gradients sharded too): %.2f GiB\n", total_with(p, &x, role) / GIB);
            any = 1;
        }
    }
    if (infers) {
        cada_memplan_in x = *in;
        int best = 0;
        for (int s = in->slots - 1; s >= 1; s--) {
            x.slots = s;
            long long g = (long long)s * (p->rc.max_len - p->rc.max_new_tokens);
            x.prefill_tokens = g > (1 << 24) ? (1 << 24) : (int)g;
            if (total_with(p, &x, role) <= p->mem) {
                best = s;
                break;
            }
        }
        if (best) {
            printf("    - rollout.slots = %d (from %d)\n", best, in->slots);
            any = 1;
        }
    }
    if (trains && in->micro_tokens > p->rc.max_len) {
        cada_memplan_in x = *in;
        for (int t = in->micro_tokens / 2; t >= p->rc.max_len; t /= 2) {
            x.micro_tokens = t;
            if (total_with(p, &x, role) <= p->mem) {
                printf("    - learn.micro_batch_tokens = %d (from %d; more micro-batches per step)\n", t, in->micro_tokens);
                any = 1;
                break;
            }
        }
    }
    if (trains) {
        cada_memplan_in x = *in;
        if (x.zero == 0) x.zero = 1;
        for (int w = in->learners + 1; w <= 4096; w++) {
            for (int z = x.zero; z <= 2; z++) {
                cada_memplan_in y = x;
                y.learners = w;
                y.zero = z;
                if (total_with(p, &y, role) <= p->mem) {
                    printf("    - cluster.learner_ranks = %d with learn.zero = %d (optimizer%s sharded %d ways)\n", w, z,
                           z == 2 ? " and gradients" : "", w);
                    any = 1;
                    goto learners_done;
                }
            }
        }
    learners_done:;
    }
    if (!any) {
        cada_memplan m;
        if (plan_of(p, in, role, 1, &m) == CADA_OK) {
            double bf16 = (m.weights ? 2.0 * m.n_params : 0) + (m.reference ? 2.0 * m.n_params : 0);
            const char *what = m.weights && m.reference ? "policy and reference weights" : m.weights ? "weights" : "reference weights";
            printf("    - no single change: the bf16 %s alone take %.2f GiB. cada keeps whole\n"
                   "      parameters on every rank (ZeRO-1/2 shard only optimizer state and gradients); this\n"
                   "      needs a device with more memory, or parameter sharding (tensor or pipeline\n"
                   "      parallelism, ZeRO-3), which cada does not have\n",
                   what, bf16 / GIB);
        }
    }
}

static int report_role(const plan_ctx *p, cada_mem_role role, const char *title, int ranks) {
    cada_memplan a, b;
    if (plan_of(p, &p->in, role, 0, &a) != CADA_OK || plan_of(p, &p->in, role, 1, &b) != CADA_OK) return -1;
    printf("\n%s: %d rank%s\n", title, ranks, ranks == 1 ? "" : "s");
    if (a.weights) row("weights (bf16)", a.weights, b.weights);
    if (a.master) row(p->in.zero ? "fp32 master (shard)" : "fp32 master", a.master, b.master);
    if (a.grads) row(p->in.zero == 2 ? "gradients fp32 (ZeRO-2 ranges)" : "gradients fp32", a.grads, b.grads);
    if (a.adam) row(p->in.zero ? "AdamW m and v (shard)" : "AdamW m and v", a.adam, b.adam);
    if (a.activations) row("activations", a.activations, b.activations);
    if (a.logits) row("logits and their gradient", a.logits, b.logits);
    if (a.scratch) row("backward scratch", a.scratch, b.scratch);
    if (a.kv_cache) row("KV cache (bf16)", a.kv_cache, b.kv_cache);
    if (a.infer) row("decode and prefill buffers", a.infer, b.infer);
    if (a.reference) row("reference model and its forward", a.reference, b.reference);
    row("workspace (cuBLASLt, buckets, CUDA)", a.workspace, b.workspace);
    row("total", a.total, b.total);
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    if (a.total <= p->mem) {
        printf("  verdict: fits in %.0f GiB (%.2f GiB free)\n", p->mem / GIB, (p->mem - a.total) / GIB);
        return 0;
    }
    if (trains && b.total <= p->mem) {
        printf("  verdict: fits in %.0f GiB only with activation recomputation (%.2f GiB free; without it %.2f GiB over)\n",
               p->mem / GIB, (p->mem - b.total) / GIB, (a.total - p->mem) / GIB);
        return 0;
    }
    printf("  verdict: does NOT fit in %.0f GiB: %.2f GiB over%s\n", p->mem / GIB, ((trains ? b.total : a.total) - p->mem) / GIB,
           trains ? " even with recomputation" : "");
    suggest(p, role);
    return 1;
}

/* cluster.device = cpu: host memory per rank (memplan.h, cada_memplan_cpu_role) against
 * this machine's memory, and the parameter-state floor of 16 bytes per parameter
 * (fp32 weights, gradients, AdamW m and v). */
static int report_role_cpu(const plan_ctx *p, cada_mem_role role, const char *title, int ranks, size_t *sum) {
    cada_memplan_cpu a;
    if (cada_memplan_cpu_role(&p->model, &p->in, p->rc.logits_chunk_tokens, 1, role, &a) != CADA_OK) return -1;
    printf("\n%s: %d rank%s (host memory, fp32)\n", title, ranks, ranks == 1 ? "" : "s");
    if (a.params) row("parameters (fp32, also the master)", a.params, a.params);
    if (a.grads) row(p->in.zero == 2 ? "gradients (ZeRO-2 ranges)" : "gradients", a.grads, a.grads);
    if (a.adam) row(p->in.zero ? "AdamW m and v (shard)" : "AdamW m and v", a.adam, a.adam);
    if (a.activations) {
        char what[96];
        snprintf(what, sizeof what, "activations (%s)", p->in.recompute ? "recompute" : "every layer kept");
        row(what, a.activations, a.activations);
    }
    if (a.infer_weights) row("bf16 rollout matrices (rollout.weights)", a.infer_weights, a.infer_weights);
    if (a.rollout) row("rollout KV cache and prefill (freed)", a.rollout, a.rollout);
    if (a.reference) row("reference model and its forward", a.reference, a.reference);
    row("peak (learning or rolling out)", a.peak, a.peak);
    if (a.grads) printf("  parameter-state floor (16 B/param): %.2f GiB; peak / floor %.2f\n", 16.0 * a.n_params / GIB,
                        a.peak / (16.0 * a.n_params));
    *sum += a.peak * (size_t)ranks;
    return 0;
}

int cada_cmd_plan(int argc, char **argv) {
    plan_ctx *p = calloc(1, sizeof *p);
    if (!p) return 1;
    cada_config_defaults(&p->rc);
    const char *preset = NULL, *config = NULL, *device = NULL;
    int gpu_mem_given = 0;
    double gib = 80;
    for (int i = 0; i < argc; i++) {
        cada_status st = CADA_OK;
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
            st = cada_config_load(&p->rc, config);
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) st = cada_config_set(&p->rc, argv[++i]);
        else if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
            if (strcmp(device, "cpu") && strcmp(device, "cuda")) {
                fprintf(stderr, "cada plan: --device '%s' is not cpu or cuda\n", device);
                free(p);
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--gpu-mem") && i + 1 < argc) {
            char *end = NULL;
            gib = strtod(argv[++i], &end);
            gpu_mem_given = 1;
            if (end == argv[i] || *end || !(gib > 0) || gib > 1e6) {
                fprintf(stderr, "cada plan: --gpu-mem '%s' is not a positive number of GiB\n", argv[i]);
                free(p);
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            free(p);
            return 0;
        } else {
            usage(stderr);
            free(p);
            return 2;
        }
        if (st != CADA_OK) {
            free(p);
            return cada_cli_fail("plan");
        }
    }
    if (!config) {
        usage(stderr);
        free(p);
        return 2;
    }
    if (cada_config_validate_run(&p->rc) != CADA_OK) {
        free(p);
        return cada_cli_fail("plan");
    }
    const char *source;
    if (preset) {
        if (cada_memplan_preset(preset, &p->model) != 0) {
            fprintf(stderr, "cada plan: --preset '%s': unknown (known: %s)\n", preset, cada_memplan_presets());
            free(p);
            return 2;
        }
        source = "preset";
    } else {
        if (access(p->rc.model_path, F_OK) != 0) {
            fprintf(stderr, "cada plan: model.path '%s' (from %s) is not on this machine; give --preset (%s) to plan "
                            "from the published shape\n",
                    p->rc.model_path, config, cada_memplan_presets());
            free(p);
            return 1;
        }
        if (cada_model_load_config(p->rc.model_path, &p->model) != CADA_OK) {
            free(p);
            return cada_cli_fail("plan");
        }
        source = "model.path";
    }
    p->mem = gib * GIB;
    inputs_from_config(p);
    const cada_model_config *m = &p->model;
    const cada_run_config *c = &p->rc;
    printf("cada plan: %s\n", config);
    printf("model: %s (%s), %s, %.2f B parameters: L %d, C %d, I %d, heads %d/%d x %d, V %d%s%s\n",
           preset ? preset : c->model_path, source, cada_arch_name(m->arch), cada_config_param_count(m) / 1e9, m->n_layers,
           m->hidden_size, m->intermediate_size, m->n_heads, m->n_kv_heads, m->head_dim, m->vocab_size,
           m->tie_embeddings ? ", tied embeddings" : "", m->qkv_bias ? ", QKV bias" : "");
    printf("layout: %s, %d learner%s, ZeRO stage %d; micro-batch %d tokens, %d per learner per step "
           "(%d x %d sequences of up to %d tokens); rollout %d slots x %d tokens%s%s; reference %s\n",
           c->placement, c->learner_ranks, c->learner_ranks == 1 ? "" : "s", c->zero, p->in.micro_tokens, p->in.micro_per_rank,
           c->prompts_per_step, c->samples_per_prompt, c->max_len, p->in.slots, c->max_len,
           c->slots ? "" : " at most (as the KV pool allows)", c->kv_memory_mb ? " over a KV pool of rollout.kv_memory_mb" : "",
           p->in.reference ? "held (learn.kl_coef > 0)" : "not needed (learn.kl_coef = 0)");
    int bad = 0, r;
    const int host_plan = device ? !strcmp(device, "cpu") : !gpu_mem_given && !preset && strcmp(c->device, "cuda");
    if (host_plan) {
        size_t sum = 0;
        const int dis = strcmp(c->placement, "colocated") != 0;
        if (!dis) bad |= report_role_cpu(p, CADA_ROLE_COLOCATED, p->in.reference ? "colocated rank (learner + rollout + reference)"
                                                                                 : "colocated rank (learner + rollout)",
                                         c->learner_ranks, &sum);
        else {
            bad |= report_role_cpu(p, CADA_ROLE_LEARNER, "learner", c->learner_ranks, &sum);
            bad |= report_role_cpu(p, CADA_ROLE_ROLLOUT, "rollout", c->rollout_ranks, &sum);
            if (p->in.reference && c->reward_ranks > 0)
                bad |= report_role_cpu(p, CADA_ROLE_REFERENCE, "reward (holds the reference)", c->reward_ranks, &sum);
        }
        if (bad < 0) {
            free(p);
            return cada_cli_fail("plan");
        }
        const double host = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
        printf("\nplan: every rank on one machine: %.2f GiB of this machine's %.2f GiB (%s)\n", sum / GIB, host / GIB,
               sum <= host ? "fits" : "does NOT fit: spread the ranks over machines");
        free(p);
        return sum <= host ? 0 : 3;
    }
    printf("device memory: %.1f GiB per GPU (1 GiB = 2^30 bytes)\n", gib);
    if (!strcmp(c->placement, "colocated")) {
        r = report_role(p, CADA_ROLE_COLOCATED, p->in.reference ? "colocated rank (learner + rollout + reference)"
                                                                : "colocated rank (learner + rollout)",
                        c->learner_ranks);
        bad |= r;
    } else {
        r = report_role(p, CADA_ROLE_LEARNER, "learner", c->learner_ranks);
        bad |= r;
        r = report_role(p, CADA_ROLE_ROLLOUT, "rollout", c->rollout_ranks);
        bad |= r;
        if (p->in.reference && c->reward_ranks > 0) {
            r = report_role(p, CADA_ROLE_REFERENCE, "reward (holds the reference; rule detector)", c->reward_ranks);
            bad |= r;
        } else {
            printf("\nreward: %d rank%s, rule detector%s: no device memory\n", c->reward_ranks, c->reward_ranks == 1 ? "" : "s",
                   p->in.reference ? "" : ", no reference");
            if (p->in.reference && c->reward_ranks == 0) printf("  note: learn.kl_coef > 0 but no reward ranks hold the reference\n");
        }
    }
    if (bad < 0) {
        free(p);
        return cada_cli_fail("plan");
    }
    printf("\n%s\n", bad ? "plan: some roles do not fit (see the verdicts above)" : "plan: every role fits");
    free(p);
    return bad ? 3 : 0;
}
