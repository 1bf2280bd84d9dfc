/* cli/plan_cmd.c: `cada plan`, the device memory each rank of a run configuration needs
 * (model/memplan.h) against the GPU's memory, with the smallest change that makes a
 * rank fit when it does not; for cluster.device = cpu, the host memory of each rank. Reads only the model's shape: config.json or GGUF
 * metadata at model.path, or a named preset (--preset) when the weights are not here. */
#include "cli/cli.h"
#include "model/load.h"
#include "model/memplan.h"
#include "model/tp.h"
#include "model/syncplan.h"
#include "sched/config.h"
#include "sched/config_modules.h"

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
    double nvlink_Bps, ib_node_Bps; /* the weight-sync model's links (model/syncplan.h) */
} plan_ctx;

/* Link defaults for the sync model, H100 SXM nodes (DGX H100 / HGX H100 8-GPU):
 * NVLink 4: 18 links x 50 GB/s bidirectional = 900 GB/s per GPU, 450 GB/s each way
 * (NVIDIA H100 datasheet); InfiniBand: 8 ConnectX-7 NDR ports of 400 Gb/s per node
 * (one per GPU, DGX H100 user guide) = 3200 Gb/s = 400 GB/s each way per node. */
#define NVLINK_GBS 450.0
#define IB_NODE_GBS 400.0

static void usage(FILE *f) {
    fprintf(f, "usage: cada plan -c CONFIG.ini [--set section.key=value]... [--gpu-mem GiB] [--preset NAME] [--device cpu|cuda]\n"
               "                 [--nvlink-gbps GB/s] [--ib-gbps GB/s]\n"
               "  per role (learner, rollout, reward/reference, or the colocated rank): device memory of one\n"
               "  rank: the weights (bf16), fp32 master, gradients and AdamW state (sharded by learn.zero over\n"
               "  the data-parallel learners), activations with and without recomputation, logits, KV cache\n"
               "  (rollout.slots x rollout.max_len) and workspace, each split over the role's tensor-parallel\n"
               "  group (learn.tp, rollout.tp, reward.tp); whether it fits --gpu-mem (default 80 GiB), and what\n"
               "  to change when it does not. The model's shape comes from model.path (config.json or GGUF);\n"
               "  --preset %s\n"
               "  (or model.preset, when model.path is absent) plans without the weights.\n"
               "  disaggregated: the modelled wire time of the weight sync, resharded from the learners that\n"
               "  own each slice and funnelled through learner 0, over links of --nvlink-gbps (one GPU's NVLink,\n"
               "  each way, default %.0f) and --ib-gbps (one node's InfiniBand, each way, default %.0f = 8 x\n"
               "  400 Gb/s), both in GB/s: gigaBYTES, 10^9 bytes per second.\n"
               "  --device cpu: host memory per rank of the CPU path instead (fp32 parameters, gradients,\n"
               "  AdamW state, activations, rollout cache: rollout.kv_memory_mb, else rollout.slots at worst,\n"
               "  reference). Default: the GPU plan when --gpu-mem or --preset is given (model.preset\n"
               "  standing in for it counts) or cluster.device = cuda, else the CPU plan.\n",
            cada_memplan_presets(), NVLINK_GBS, IB_NODE_GBS);
}

/* The tensor-parallel size and its key of a role. */
static int role_tp(const cada_run_config *c, cada_mem_role role) {
    return role == CADA_ROLE_ROLLOUT ? c->rollout_tp : role == CADA_ROLE_REFERENCE ? c->reward_tp : c->learn_tp;
}
static const char *role_tp_key(cada_mem_role role) {
    return role == CADA_ROLE_ROLLOUT ? "rollout.tp" : role == CADA_ROLE_REFERENCE ? "reward.tp" : "learn.tp";
}

/* The memplan inputs a run configuration implies (as sched/train.c sets up the learner:
 * micro-batch tokens at least one row of max_len). */
static void inputs_from_config(plan_ctx *p) {
    const cada_run_config *c = &p->rc;
    cada_memplan_in *in = &p->in;
    memset(in, 0, sizeof *in);
    in->learners = c->learner_ranks;
    in->zero = c->zero;
    in->tp = c->learn_tp; /* plan_of sets each role's */
    in->micro_tokens = c->micro_batch_tokens > c->max_len ? c->micro_batch_tokens : c->max_len;
    long long seqs = (long long)c->prompts_per_step * c->samples_per_prompt;
    long long rows = in->micro_tokens / c->max_len; /* sequences per micro-batch, at worst one row each */
    long long K = (seqs + rows - 1) / rows;
    long long dp = c->learner_ranks / (c->learn_tp > 0 ? c->learn_tp : 1); /* a TP group takes its micro-batches together */
    in->micro_per_rank = (int)((K + dp - 1) / (dp > 0 ? dp : 1));
    if (in->micro_per_rank < 1) in->micro_per_rank = 1;
    /* slots 0 (as the KV pool allows): every sequence of a step, the pool bounds them (memplan) */
    long long all = (long long)c->prompts_per_step * c->samples_per_prompt;
    in->slots = c->slots > 0 ? c->slots : all > (1 << 20) ? 1 << 20 : (int)all;
    in->kv_pool = (size_t)c->kv_memory_mb << 20;
    in->rollout_bf16 = !strcmp(c->rollout_weights, "bf16") && !cada_config_offline(c); /* sft, dpo: no rollout */
    in->sync_copy = !strcmp(c->mode, "async") && c->sync_overlap && strcmp(c->placement, "colocated") && !cada_config_offline(c);
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

/* `in` with recomputation as given; in->tp is the learners' and the colocated rank's, the
 * rollout and reference roles take rollout.tp and reward.tp unless tp_override > 0. */
static cada_status plan_tp(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role, int recompute, int tp_override,
                           cada_memplan *out) {
    cada_memplan_in x = *in;
    x.recompute = recompute;
    if (tp_override > 0) x.tp = tp_override;
    else if (role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_REFERENCE) x.tp = role_tp(&p->rc, role);
    return cada_memplan_role(&p->model, &x, role, out);
}

static cada_status plan_of(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role, int recompute,
                           cada_memplan *out) {
    return plan_tp(p, in, role, recompute, 0, out);
}

/* Total bytes of `role` under `in` with recomputation on, the role's group of tp ranks
 * (0: as configured); ~0 on error (a tp the model does not divide, learners not a
 * multiple of it). */
static size_t total_tp(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role, int tp) {
    cada_memplan m;
    if (plan_tp(p, in, role, 1, tp, &m) != CADA_OK) return (size_t)-1;
    return m.total;
}
static size_t total_with(const plan_ctx *p, const cada_memplan_in *in, cada_mem_role role) { return total_tp(p, in, role, 0); }

static const char *zero_what(int z) {
    return z == 3 ? "optimizer, gradients and parameters sharded; ZeRO-3 is planned on the GPU"
           : z == 2 ? "optimizer and gradients sharded" : "optimizer sharded";
}

/* A larger tensor-parallel group that makes `role` fit (with ZeRO up to 3 for a
 * learner), the smallest first; 1 if one was printed. */
static int suggest_tp(const plan_ctx *p, cada_mem_role role) {
    const cada_memplan_in *in = &p->in;
    const int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED, g = p->rc.gpus_per_node;
    for (int t = role_tp(&p->rc, role) + 1; t <= g; t++) {
        cada_model_config local;
        if (g % t != 0 || cada_tp_local_config(&p->model, t, &local) != CADA_OK) continue;
        cada_memplan_in x = *in;
        x.learners = (in->learners + t - 1) / t * t; /* whole groups */
        for (int z = trains ? in->zero : 3; z <= 3; z++) {
            x.zero = z;
            size_t total = total_tp(p, &x, role, t);
            if (total > p->mem) continue;
            if (!trains)
                printf("    - %s = %d (groups of %d ranks inside a node; the role's ranks a multiple of %d): %.2f GiB\n",
                       role_tp_key(role), t, t, t, total / GIB);
            else
                printf("    - learn.tp = %d with learn.zero = %d over %d data-parallel ranks (%s)%s: %.2f GiB\n", t, z,
                       x.learners / t, z ? zero_what(z) : "nothing sharded", x.learners != in->learners ? ", learner_ranks rounded up" : "",
                       total / GIB);
            return 1;
        }
    }
    return 0;
}

/* Single changes (each on top of recomputation) that make `role` fit, cheapest first. */
static void suggest(const plan_ctx *p, cada_mem_role role) {
    const cada_memplan_in *in = &p->in;
    int any = 0;
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    int infers = role == CADA_ROLE_ROLLOUT || role == CADA_ROLE_COLOCATED;
    const int tp = role_tp(&p->rc, role) > 0 ? role_tp(&p->rc, role) : 1;
    printf("  to fit%s:\n", trains ? " (each with recomputation)" : "");
    for (int z = in->zero + 1; trains && z <= 3 && in->learners / tp > 1; z++) {
        cada_memplan_in x = *in;
        x.zero = z;
        if (total_with(p, &x, role) <= p->mem) {
            printf("    - learn.zero = %d (%s): %.2f GiB\n", z, zero_what(z), total_with(p, &x, role) / GIB);
            any = 1;
            break;
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
    any |= suggest_tp(p, role);
    if (trains) {
        cada_memplan_in x = *in;
        if (x.zero == 0) x.zero = 1;
        for (int w = in->learners + tp; w <= 4096; w += tp) {
            for (int z = x.zero; z <= 3; z++) {
                cada_memplan_in y = x;
                y.learners = w;
                y.zero = z;
                if (total_with(p, &y, role) <= p->mem) {
                    printf("    - cluster.learner_ranks = %d with learn.zero = %d (%s %d ways)\n", w, z, zero_what(z), w / tp);
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
            double bf16 = (m.weights ? 2.0 * m.rank_params : 0) + (m.reference ? 2.0 * m.rank_params : 0);
            const char *what = m.weights && m.reference ? "policy and reference weights" : m.weights ? "weights" : "reference weights";
            printf("    - no single change: the bf16 %s of one rank alone take %.2f GiB (%s = %d), and no\n"
                   "      tensor-parallel group up to cluster.gpus_per_node = %d%s fits; this needs a device with\n"
                   "      more memory or pipeline parallelism, which cada does not have\n",
                   what, bf16 / GIB, role_tp_key(role), tp, p->rc.gpus_per_node, trains ? " with ZeRO-3" : "");
        }
    }
}

static int report_role(const plan_ctx *p, cada_mem_role role, const char *title, int ranks) {
    cada_memplan a, b;
    if (plan_of(p, &p->in, role, 0, &a) != CADA_OK || plan_of(p, &p->in, role, 1, &b) != CADA_OK) return -1;
    const int tp = role_tp(&p->rc, role), zero3 = p->in.zero == 3 && role == CADA_ROLE_LEARNER && p->in.learners / tp > 1;
    printf("\n%s: %d rank%s", title, ranks, ranks == 1 ? "" : "s");
    if (tp > 1)
        printf(", %d tensor-parallel groups of %d (%s); each rank holds %.2f B of the %.2f B parameters", ranks / tp, tp,
               role_tp_key(role), a.rank_params / 1e9, a.n_params / 1e9);
    if (tp > 1 && (role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED))
        printf("; ZeRO over %d data-parallel ranks", p->in.learners / tp);
    printf("\n");
    if (a.weights) row(zero3 ? "weights (bf16, ZeRO-3 shard + 2 layers)" : "weights (bf16)", a.weights, b.weights);
    if (a.master) row(p->in.zero ? "fp32 master (shard)" : "fp32 master", a.master, b.master);
    if (a.grads) row(p->in.zero >= 2 ? "gradients fp32 (ZeRO-2 ranges)" : "gradients fp32", a.grads, b.grads);
    if (a.adam) row(p->in.zero ? "AdamW m and v (shard)" : "AdamW m and v", a.adam, b.adam);
    if (a.activations) row("activations", a.activations, b.activations);
    if (a.logits) row("logits and their gradient", a.logits, b.logits);
    if (a.scratch) row("backward scratch", a.scratch, b.scratch);
    if (a.kv_cache) row("KV cache (bf16)", a.kv_cache, b.kv_cache);
    if (a.infer) row("decode and prefill buffers", a.infer, b.infer);
    if (a.reference) row("reference model and its forward", a.reference, b.reference);
    if (a.sync_copy) row("second copy of the weights (cluster.sync_overlap)", a.sync_copy, b.sync_copy);
    row("workspace (cuBLASLt, buckets, CUDA)", a.workspace, b.workspace);
    row("total", a.total, b.total);
    int trains = role == CADA_ROLE_LEARNER || role == CADA_ROLE_COLOCATED;
    if (zero3) printf("  note: ZeRO-3 is planned here; the GPU learner runs ZeRO 0 today (the CPU learner runs ZeRO-3)\n");
    if (tp > 1) printf("  note: tensor parallelism is planned here; on GPUs cada train runs %s = 1 today (TP groups run on the CPU)\n", role_tp_key(role));
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

/* Disaggregated: the weight sync's modelled wire time (model/syncplan.h). */
static int report_sync(const plan_ctx *p) {
    const cada_run_config *c = &p->rc;
    const double split = 2.0 * (double)cada_memplan_tp_split_params(&p->model),
                 all = 2.0 * (double)cada_config_param_count(&p->model);
    cada_syncplan_in in = {c->learner_ranks, c->learn_tp,      c->rollout_ranks, c->rollout_tp,   c->gpus_per_node,
                           split,            all - split,      p->nvlink_Bps,    p->ib_node_Bps};
    cada_syncplan s;
    if (cada_syncplan_model(&in, &s) != CADA_OK) return -1;
    printf("\nweight sync (modelled wire time, a lower bound): %d rollout ranks in engines of %d each receive their bf16\n"
           "  slice, %.2f GB; %.2f GB in all per update. Links: NVLink %.0f GB/s per GPU each way, InfiniBand\n"
           "  %.0f GB/s per node each way (%.1f GB/s per GPU); ranks in blocks of %d per node, learners first.\n"
           "  No latency, protocol overhead or contention counted.\n",
           c->rollout_ranks, c->rollout_tp, s.rank_bytes / 1e9, s.total_bytes / 1e9, p->nvlink_Bps / 1e9, p->ib_node_Bps / 1e9,
           p->ib_node_Bps / 1e9 / c->gpus_per_node, c->gpus_per_node);
    printf("  resharded from the owning learners (learn.tp %d -> rollout.tp %d: each rollout rank from %d learners,\n"
           "    each learner to %d rollout ranks, at most %.2f GB out of one): %.2f s (bound by %s)\n",
           c->learn_tp, c->rollout_tp, s.rollout_peers, s.learner_peers, s.learner_bytes / 1e9, s.resharded_s, s.resharded_by);
    printf("  funnelled through learner 0 (%.2f GB out of one GPU): %.2f s (bound by %s)\n", s.total_bytes / 1e9, s.funnelled_s,
           s.funnelled_by);
    return 0;
}

/* cluster.device = cpu: host memory per rank (memplan.h, cada_memplan_cpu_role) against
 * this machine's memory, and the parameter-state floor of 16 bytes per parameter
 * (fp32 weights, gradients, AdamW m and v). */
static int report_role_cpu(const plan_ctx *p, cada_mem_role role, const char *title, int ranks, size_t *sum) {
    cada_memplan_cpu a;
    cada_memplan_in in = p->in;
    in.tp = role_tp(&p->rc, role);
    if (cada_memplan_cpu_role(&p->model, &in, p->rc.logits_chunk_tokens, 1, role, &a) != CADA_OK) return -1;
    printf("\n%s: %d rank%s (host memory, fp32)", title, ranks, ranks == 1 ? "" : "s");
    if (in.tp > 1) printf(", groups of %d (%s): %.2f B of the %.2f B parameters a rank", in.tp, role_tp_key(role), a.rank_params / 1e9,
                          a.n_params / 1e9);
    printf("\n");
    if (a.params) row("parameters (fp32, also the master)", a.params, a.params);
    if (a.grads) row(p->in.zero == 2 ? "gradients (ZeRO-2 ranges)" : "gradients", a.grads, a.grads);
    if (a.adam) row(p->in.zero ? "AdamW m and v (shard)" : "AdamW m and v", a.adam, a.adam);
    if (a.activations) {
        char what[96];
        snprintf(what, sizeof what, "activations (%s)", p->in.recompute ? "recompute" : "every layer kept");
        row(what, a.activations, a.activations);
    }
    if (a.infer_weights) row("bf16 matrices (rollout.weights)", a.infer_weights, a.infer_weights);
    if (a.sync_copy) row("second copy (cluster.sync_overlap)", a.sync_copy, a.sync_copy);
    if (a.rollout) row("rollout KV cache and prefill (freed)", a.rollout, a.rollout);
    if (a.reference) row("reference model and its forward", a.reference, a.reference);
    row("peak (learning or rolling out)", a.peak, a.peak);
    if (a.grads) printf("  parameter-state floor (16 B/param of the rank's part): %.2f GiB; peak / floor %.2f\n",
                        16.0 * a.rank_params / GIB, a.peak / (16.0 * a.rank_params));
    *sum += a.peak * (size_t)ranks;
    return 0;
}

int cada_cmd_plan(int argc, char **argv) {
    plan_ctx *p = calloc(1, sizeof *p);
    if (!p) return 1;
    cada_config_defaults(&p->rc);
    const char *preset = NULL, *config = NULL, *device = NULL;
    int gpu_mem_given = 0;
    double gib = 80, nvl = NVLINK_GBS, ib = IB_NODE_GBS;
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
        else if ((!strcmp(argv[i], "--nvlink-gbps") || !strcmp(argv[i], "--ib-gbps")) && i + 1 < argc) {
            char *end = NULL;
            double v = strtod(argv[i + 1], &end);
            if (end == argv[i + 1] || *end || !(v > 0) || v > 1e6) {
                fprintf(stderr, "cada plan: %s '%s' is not a positive number of GB/s\n", argv[i], argv[i + 1]);
                free(p);
                return 2;
            }
            *(!strcmp(argv[i], "--ib-gbps") ? &ib : &nvl) = v;
            i++;
        } else if (!strcmp(argv[i], "--gpu-mem") && i + 1 < argc) {
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
    const char *source = "preset";
    if (!preset && p->rc.model_preset[0] && access(p->rc.model_path, F_OK) != 0) { /* stands in for --preset */
        preset = p->rc.model_preset;
        source = "model.preset; model.path is not on this machine";
    }
    if (preset) {
        if (cada_memplan_preset(preset, &p->model) != 0) {
            fprintf(stderr, "cada plan: --preset '%s': unknown (known: %s)\n", preset, cada_memplan_presets());
            free(p);
            return 2;
        }
    } else {
        if (access(p->rc.model_path, F_OK) != 0) {
            fprintf(stderr, "cada plan: model.path '%s' (from %s) is not on this machine; give --preset or set "
                            "model.preset (%s) to plan from the published shape\n",
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
    p->nvlink_Bps = nvl * 1e9;
    p->ib_node_Bps = ib * 1e9;
    if (cada_config_check_tp_shape(&p->rc, &p->model, preset ? &p->model : NULL) != CADA_OK) {
        free(p);
        return cada_cli_fail("plan");
    }
    inputs_from_config(p);
    const cada_model_config *m = &p->model;
    const cada_run_config *c = &p->rc;
    printf("cada plan: %s\n", config);
    printf("model: %s (%s), %s, %.2f B parameters: L %d, C %d, I %d, heads %d/%d x %d, V %d%s%s\n",
           preset ? preset : c->model_path, source, cada_arch_name(m->arch), cada_config_param_count(m) / 1e9, m->n_layers,
           m->hidden_size, m->intermediate_size, m->n_heads, m->n_kv_heads, m->head_dim, m->vocab_size,
           m->tie_embeddings ? ", tied embeddings" : "", m->qkv_bias ? ", QKV bias" : "");
    printf("layout: %s, %d learner%s, ZeRO stage %d; micro-batch %d tokens, %d per %s per step "
           "(%d x %d sequences of up to %d tokens); rollout %d slots x %d tokens%s%s; reference %s\n",
           c->placement, c->learner_ranks, c->learner_ranks == 1 ? "" : "s", c->zero, p->in.micro_tokens, p->in.micro_per_rank,
           c->learn_tp > 1 ? "tensor-parallel group" : "learner", c->prompts_per_step, c->samples_per_prompt, c->max_len, p->in.slots, c->max_len,
           c->slots ? "" : " at most (as the KV pool allows)", c->kv_memory_mb ? " over a KV pool of rollout.kv_memory_mb" : "",
           p->in.reference ? "held (learn.kl_coef > 0)" : "not needed (learn.kl_coef = 0)");
    const int colocated = !strcmp(c->placement, "colocated");
    if (c->learn_tp > 1 || c->rollout_tp > 1 || c->reward_tp > 1)
        printf("tensor parallelism: learn.tp %d (ZeRO over %d data-parallel ranks), rollout.tp %d (%d engines%s), reward.tp %d; "
               "nodes of %d GPUs\n",
               c->learn_tp, c->learner_ranks / c->learn_tp, c->rollout_tp,
               colocated ? c->learner_ranks / c->learn_tp : c->rollout_ranks / c->rollout_tp,
               colocated ? ": the learners' groups" : "", c->reward_tp, c->gpus_per_node);
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
    if (strcmp(c->placement, "colocated") && report_sync(p) != 0) {
        free(p);
        return cada_cli_fail("plan");
    }
    printf("\n%s\n", bad ? "plan: some roles do not fit (see the verdicts above)" : "plan: every role fits");
    free(p);
    return bad ? 3 : 0;
}
