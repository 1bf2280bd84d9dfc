/* model/syncplan.h: the wire time of the weight sync of a disaggregated run (`cada plan`),
 * a model of bytes over links, not a measurement. Needs no GPU and no network.
 *
 * After each update the rollout ranks need the new bf16 weights. Who holds what
 * (Megatron split, model/tp.h; ZeRO-3, learn/learner.h):
 *   learner l, world rank l in [0, L): tensor-parallel rank tl = l mod Pl of its group of
 *     Pl = learn.tp consecutive ranks, data-parallel index l / Pl of W = L / Pl; it owns
 *     the 1/W ZeRO shard of its group rank's part, i.e. of the split parameters the
 *     columns (heads, intermediate units, vocabulary rows) in the interval
 *     Il = [tl / Pl, (tl + 1) / Pl) of the whole, a 1/W part of them.
 *   rollout rank r, world rank L + r: tensor-parallel rank tr = r mod Pr of an engine of
 *     Pr = rollout.tp; it needs the columns Ir = [tr / Pr, (tr + 1) / Pr) of the split
 *     parameters and every replicated one (RMSNorm weights):
 *       rank_bytes = split_bytes / Pr + repl_bytes
 * Resharded sync: every learner sends each rollout rank the part of that rank's slice it
 * owns, in proportion to the overlap of the intervals (a learner's ZeRO shard cuts along
 * the flat layer order, so it holds 1/W of every column range of its group rank; the
 * replicated norms, a few MB, come along in the same proportion):
 *     b(l, r) = rank_bytes Pr |Il n Ir| / W
 * Summed over l this is rank_bytes. With Pl = Pr a rollout rank receives from the W
 * learners of its own group rank only; with Pl = 2 Pr from 2 W of them. Funnelled sync: everything through learner 0 (one sender, as when rank
 * 0 broadcasts): learner 0 -> rollout r: rank_bytes.
 *
 * Links (each direction separately, full duplex): a GPU's NVLink port, `nvlink_Bps`
 * bytes/s out and as much in, for a pair on the same node; a GPU's share of its node's
 * InfiniBand, `ib_node_Bps` / gpus_per_node out and as much in (rail-optimised nodes: one
 * NIC per GPU), for a pair on different nodes. Ranks lie on nodes in blocks of
 * gpus_per_node in world-rank order: learners [0, L), rollout ranks [L, L + R)
 * (sched/roles.h). The time of a scheme is
 *     max over every GPU and direction of max(its bytes over NVLink / nvlink_Bps,
 *                                             its bytes over IB / (ib_node_Bps / gpus_per_node))
 * taking a GPU's two links as parallel (NVLink and its NIC carry at once). Not modelled:
 * latency and per-message overhead, protocol efficiency (NCCL reaches roughly 80-90% of
 * these link rates on large messages), contention with other traffic, the learners'
 * gather of their shards before sending, and the rollout ranks' copy into their
 * weights. The figures are therefore lower bounds on the real transfer.
 *
 * Errors: CADA_ERR_ARG naming the field (counts < 1, a tp that does not divide its role's
 * ranks, byte counts < 0, bandwidths <= 0). */
#ifndef CADA_MODEL_SYNCPLAN_H
#define CADA_MODEL_SYNCPLAN_H

#include "base/error.h"

#include <stddef.h>

typedef struct {
    int learners;       /* L >= 1, world ranks [0, L) */
    int learn_tp;       /* Pl >= 1, divides L */
    int rollout;        /* R >= 1, world ranks [L, L + R) */
    int rollout_tp;     /* Pr >= 1, divides R */
    int gpus_per_node;  /* ranks per node (one GPU each) */
    double split_bytes; /* bf16 bytes of the whole model's split parameters (memplan.h) */
    double repl_bytes;  /* bf16 bytes of the replicated ones, which every rank holds */
    double nvlink_Bps;  /* one GPU's NVLink, one direction, bytes/s */
    double ib_node_Bps; /* one node's InfiniBand, one direction, bytes/s */
} cada_syncplan_in;

typedef struct {
    double rank_bytes;         /* what each rollout rank receives per sync */
    double total_bytes;        /* R rank_bytes: what crosses the wire per sync */
    double learner_bytes;      /* resharded: the most any learner sends */
    int learner_peers;         /* resharded: rollout ranks learner 0 sends to */
    int rollout_peers;         /* resharded: learners rollout rank 0 receives from */
    double resharded_s;        /* resharded: the modelled time */
    double funnelled_s;        /* funnelled: the modelled time */
    const char *resharded_by;  /* the link that sets resharded_s, e.g. "rollout IB in" */
    const char *funnelled_by;  /* the link that sets funnelled_s */
} cada_syncplan;

cada_status cada_syncplan_model(const cada_syncplan_in *in, cada_syncplan *out);

#endif
