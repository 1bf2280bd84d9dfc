/* model/syncplan.h: the wire time of the weight sync of a disaggregated run (`cada plan`),
 * a model of bytes over links, not a measurement. Needs no GPU and no network.
 *
 * After each update the rollout ranks need the new bf16 weights. A rollout engine is a
 * tensor-parallel group of Pr ranks (rollout.tp); rank j of an engine needs exactly its
 * slice, `rank_bytes` = 2 x its part of the parameters (about 2 n / Pr; the replicated
 * norms go to every rank). Two ways to deliver them are modelled:
 *
 *   resharded  every learner sends every rollout rank an equal share of that rank's
 *              slice (the bytes are spread over all L learners, each of which owns a
 *              1/L part of the parameters under TP x ZeRO-3):
 *                learner l -> rollout r: rank_bytes / L
 *                each learner sends R rank_bytes / L, each rollout rank receives rank_bytes
 *   funnelled  everything through learner 0 (one sender, as when rank 0 broadcasts):
 *                learner 0 -> rollout r: rank_bytes; learner 0 sends R rank_bytes
 *
 * Links (each direction separately, full duplex): a GPU's NVLink port, `nvlink_Bps`
 * bytes/s out and as much in, for a pair on the same node; a GPU's share of its node's
 * InfiniBand, `ib_node_Bps` / gpus_per_node out and as much in (rail-optimised nodes: one
 * NIC per GPU), for a pair on different nodes. Ranks lie on nodes in blocks of
 * gpus_per_node in world-rank order: learners [0, L), rollout ranks [L, L + R)
 * (sched/roles.h). The time of a scheme is
 *     max over every GPU and direction of (its bytes over NVLink / nvlink_Bps,
 *                                          its bytes over IB / (ib_node_Bps / gpus_per_node))
 * taking a GPU's two links as parallel (NVLink and its NIC carry at once). Not modelled:
 * latency and per-message overhead, protocol efficiency (NCCL reaches roughly 80-90% of
 * these link rates on large messages), contention with other traffic, the learners'
 * gather of their shards before sending, and the rollout ranks' copy into their
 * weights. The figures are therefore lower bounds on the real transfer.
 *
 * Errors: CADA_ERR_ARG naming the field (counts < 1, bandwidths <= 0). */
#ifndef CADA_MODEL_SYNCPLAN_H
#define CADA_MODEL_SYNCPLAN_H

#include "base/error.h"

#include <stddef.h>

typedef struct {
    int learners;       /* L >= 1, world ranks [0, L) */
    int rollout;        /* R >= 1, world ranks [L, L + R) */
    int gpus_per_node;  /* ranks per node (one GPU each) */
    double rank_bytes;  /* bytes each rollout rank receives per sync */
    double nvlink_Bps;  /* one GPU's NVLink, one direction, bytes/s */
    double ib_node_Bps; /* one node's InfiniBand, one direction, bytes/s */
} cada_syncplan_in;

typedef struct {
    double total_bytes;        /* R rank_bytes: what crosses the wire per sync */
    double learner_bytes;      /* resharded: what each learner sends (R rank_bytes / L) */
    double resharded_s;        /* resharded: the modelled time */
    double funnelled_s;        /* funnelled: the modelled time */
    const char *resharded_by;  /* the link that sets resharded_s, e.g. "learner IB out" */
    const char *funnelled_by;  /* the link that sets funnelled_s */
} cada_syncplan;

cada_status cada_syncplan_model(const cada_syncplan_in *in, cada_syncplan *out);

#endif
