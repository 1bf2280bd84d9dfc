/* sched/rollout_stage.c: see rollout_stage.h. */
#include "sched/rollout_stage.h"

#include "base/log.h"
#include "model/infer_weights.h"
#include "sched/requests.h"

#include <stdlib.h>
#include <string.h>

/* Progress of a generation: tokens per request, and which requests have ended (an end
 * of sequence id, max_new_tokens or the context limit), for the ETA. */
typedef struct {
    cada_progress *p;
    const cada_gen_request *reqs;
    int *len;
    char *ended;
    int n, n_ended, max_len;
    const int *eos;
    int n_eos;
    double tokens, ended_tokens;
} gen_watch;

static void on_token(void *ctx, int request, int token, float logprob) {
    (void)logprob;
    gen_watch *w = ctx;
    if (request < 0 || request >= w->n || w->ended[request]) return;
    int n = ++w->len[request];
    w->tokens += 1;
    int end = n >= w->reqs[request].max_new_tokens || w->reqs[request].prompt_len + n >= w->max_len;
    for (int i = 0; i < w->n_eos; i++) end |= token == w->eos[i];
    if (end) {
        w->ended[request] = 1;
        w->n_ended++;
        w->ended_tokens += n;
    }
    /* the phase's tokens: ended sequences at their length; each running one at the mean
     * ended length once a quarter of them has ended (a few early ends say little),
     * max_new_tokens before, and never below what the running ones hold already */
    const int running = w->n - w->n_ended;
    double guess = 4 * w->n_ended >= w->n && w->n_ended ? w->ended_tokens / w->n_ended : (double)w->reqs[0].max_new_tokens;
    const double held = running ? (w->tokens - w->ended_tokens) / running + 1 : 0;
    if (guess < held) guess = held;
    const double estimate = w->ended_tokens + (double)running * guess;
    cada_progress_update(w->p, w->n_ended, w->tokens, estimate);
}

cada_status cada_rollout_stage_run(const cada_rollout_policy *pol, const cada_run_config *c, long long step,
                                   long long version, const cada_rollout_prompt *p, int n_prompts, cada_progress *progress,
                                   const char *label, seq_rec **out, int *n_out, double *generate_s) {
    const int S = c->samples_per_prompt, n = n_prompts * S;
    *out = NULL;
    *n_out = 0;
    *generate_s = 0;
    if (n == 0) return CADA_OK;
    if (!pol->gpu && pol->cpu->bf16 && pol->cpu->bf16->version != version)
        return CADA_ERR(CADA_ERR_INTERNAL, "rollout of step %lld: the bf16 weights (rollout.weights) were packed from policy version %lld, "
                        "the step samples version %lld: a weight update did not repack them", step + 1, pol->cpu->bf16->version, version);
    cada_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    cada_gen_result *res = calloc((size_t)n, sizeof *res);
    seq_rec *seqs = calloc((size_t)n, sizeof *seqs);
    gen_watch w = {progress, reqs, calloc((size_t)n, sizeof(int)), calloc((size_t)n, 1), n, 0, c->max_len, pol->eos, pol->n_eos, 0, 0};
    cada_status st = reqs && res && seqs && w.len && w.ended ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "rollout buffers (%d sequences)", n);
    for (int k = 0; st == CADA_OK && k < n_prompts; k++)
        cada_request_samples(&reqs[k * S], p[k].item, p[k].ids, p[k].n_ids, S, c->max_new_tokens);
    if (st == CADA_OK) {
        cada_engine_config ec = cada_request_engine(c, step, pol->eos, pol->n_eos);
        ec.between_calls = pol->between_calls;
        ec.between_ctx = pol->between_ctx;
        if (progress && progress->enabled) {
            ec.on_token = on_token;
            ec.ctx = &w;
            cada_progress_begin(progress, label, "sequences", n);
        }
        double t0 = cada_now();
        cada_engine_stats es = {0};
        st = pol->gpu ? cada_generate_gpu(pol->gpu, &ec, reqs, n, res, &es) : cada_generate(pol->cpu, &ec, reqs, n, res, &es);
        *generate_s = cada_now() - t0;
        /* where a rollout's time goes (CADA_LOG=debug) */
        CADA_DEBUG("%s: step %lld: prefill %ld tokens in %.2f s (%ld shared with a sample, %ld from the prefix cache), decode %ld "
                   "tokens in %.2f s, %d model calls, %d preemptions", label, step + 1, es.prefill_tokens, es.prefill_seconds,
                   es.shared_prompt_tokens, es.prefix_hit_tokens, es.decode_tokens, es.decode_seconds, es.model_calls, es.preemptions);
        if (progress) cada_progress_end(progress);
    }
    for (int i = 0; st == CADA_OK && i < n; i++) {
        seq_rec *q = &seqs[i];
        const cada_rollout_prompt *pr = &p[i / S];
        q->order = pr->position;
        q->sample = i % S;
        q->item = pr->item;
        q->harmful = pr->harmful;
        q->version = version;
        st = seq_from_generation(q, pr->train_ids ? pr->train_ids : pr->ids, pr->train_ids ? pr->n_train_ids : pr->n_ids, &res[i]);
    }
    if (res)
        for (int i = 0; i < n; i++) cada_gen_result_free(&res[i]);
    free(reqs);
    free(res);
    free(w.len);
    free(w.ended);
    if (st != CADA_OK) {
        seqs_free(seqs, n);
        return st;
    }
    *out = seqs;
    *n_out = n;
    return CADA_OK;
}
