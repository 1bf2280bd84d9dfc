/* tests/unit/test_kl_grad.c: the expected gradient of every KL estimator x placement
 * (learn/kl.h's table), through the real loss code (cada_algo_prepare + cada_algo_loss),
 * against the analytic gradient of KL(pi || pi_ref) with respect to the logits.
 *
 * The policy is a tiny autoregressive softmax over V = 5 tokens: T = 1 (one token,
 * logits theta1) or T = 2 (y1 from theta1, then y2 from theta2[y1], 5 + 25 logits); the
 * reference has its own fixed logits. Expectations are exact: every sequence y of V^T
 * is fed to the loss as a one-sequence batch, on-policy (rollout log-probs = the
 * learner's), reward 0, and
 *     E[grad] = sum_y pi(y) sum_t dlogprob_t(y) d log pi(y_t | y_<t) / d theta,
 * with d log softmax(theta)[y] / d theta_j = [j == y] - p_j. The loss's aggregation is
 * sequence-sum over one sequence (weight 1), so E[grad] / kl_coef is the KL part's
 * expected gradient.
 *
 * Analytic gradients (p = softmax of the logits, q the reference's, c = log p - log q):
 *   one softmax:   d KL(p || q) / d theta_j = p_j (c_j - KL),  d KL(q || p) / d theta_j = p_j - q_j
 *   T = 2:         KL = KL1 + sum_a p1(a) KL2(a); with C(a) = c1(a) + KL2(a),
 *                  d / d theta1_j = p1_j (C(j) - sum_a p1(a) C(a)),
 *                  d / d theta2[a]_j = p1(a) p2_j(a) (c2_j(a) - KL2(a)).
 * The per-token forms (prefix distribution held fixed) drop KL2 from C.
 *
 * Tolerance 1e-7 absolute on gradients of size 0.05-1: the enumeration and the analytic
 * side are exact in double, but the loss takes its log-probs as float32 and writes
 * dlogprob as float32 (6e-8 relative each), which is the error left (measured: 1e-8);
 * the forms that are not the gradient asked for miss it by more than 1e-2. */
#include "test.h"

#include "learn/algo.h"
#include "sched/config.h"
#include "sched/config_modules.h"

#include <math.h>
#include <string.h>

enum { V = 5, NP = V + V * V };

typedef struct {
    double th1[V], th2[V][V]; /* policy logits */
    double ph1[V], ph2[V][V]; /* reference logits */
} toy;

static void log_softmax(const double *x, double *out) {
    double m = x[0];
    for (int j = 1; j < V; j++) m = fmax(m, x[j]);
    double s = 0.0;
    for (int j = 0; j < V; j++) s += exp(x[j] - m);
    for (int j = 0; j < V; j++) out[j] = x[j] - m - log(s);
}

static void toy_init(toy *m) {
    for (int j = 0; j < V; j++) {
        m->th1[j] = 0.7 * sin(1.3 * j + 0.2);
        m->ph1[j] = 0.9 * cos(0.8 * j + 0.5);
        for (int a = 0; a < V; a++) {
            m->th2[a][j] = 0.8 * sin(0.9 * j + 1.7 * a + 0.4);
            m->ph2[a][j] = 0.6 * cos(1.1 * j - 0.7 * a + 0.3);
        }
    }
}

/* grad[0..V) for theta1, grad[V + a V + j] for theta2[a][j]. which: 0 the sequence-level
 * KL(pi || ref), 1 its per-token form (prefix held fixed), 2 the per-token reverse
 * KL(ref || pi). */
static void analytic(const toy *m, int T, int which, double *grad) {
    double l1[V], r1[V];
    log_softmax(m->th1, l1);
    log_softmax(m->ph1, r1);
    memset(grad, 0, sizeof(double) * NP);
    double kl2[V] = {0};
    if (T == 2)
        for (int a = 0; a < V; a++) {
            double l2[V], r2[V];
            log_softmax(m->th2[a], l2);
            log_softmax(m->ph2[a], r2);
            for (int j = 0; j < V; j++) kl2[a] += exp(l2[j]) * (l2[j] - r2[j]);
            for (int j = 0; j < V; j++)
                grad[V + a * V + j] = exp(l1[a]) * (which == 2 ? exp(l2[j]) - exp(r2[j]) : exp(l2[j]) * (l2[j] - r2[j] - kl2[a]));
        }
    double C[V], mean = 0.0;
    for (int j = 0; j < V; j++) {
        C[j] = l1[j] - r1[j] + (which == 0 ? kl2[j] : 0.0);
        mean += exp(l1[j]) * C[j];
    }
    for (int j = 0; j < V; j++) grad[j] = which == 2 ? exp(l1[j]) - exp(r1[j]) : exp(l1[j]) * (C[j] - mean);
}

/* The loss's expected gradient / kl_coef, by enumeration. Returns the loss's status. */
static cada_status expected(const toy *m, int T, const cada_algo_config *cfg, double *grad) {
    double l1[V], r1[V];
    log_softmax(m->th1, l1);
    log_softmax(m->ph1, r1);
    memset(grad, 0, sizeof(double) * NP);
    const int n_seq = T == 1 ? V : V * V;
    for (int s = 0; s < n_seq; s++) {
        const int y[2] = {T == 1 ? s : s / V, s % V};
        double lpd[2], refd[2], p1[V], p2[V];
        lpd[0] = l1[y[0]];
        refd[0] = r1[y[0]];
        for (int j = 0; j < V; j++) p1[j] = exp(l1[j]);
        if (T == 2) {
            double l2[V], r2[V];
            log_softmax(m->th2[y[0]], l2);
            log_softmax(m->ph2[y[0]], r2);
            lpd[1] = l2[y[1]];
            refd[1] = r2[y[1]];
            for (int j = 0; j < V; j++) p2[j] = exp(l2[j]);
        }
        float lp[2], ref[2];
        for (int t = 0; t < T; t++) {
            lp[t] = (float)lpd[t];
            ref[t] = (float)refd[t];
        }
        const int tokens[3] = {0, y[0], y[1]};
        cada_traj tr = {.tokens = tokens, .prompt_len = 1, .completion_len = T, .rollout_logprob = lp, .ref_logprob = ref};
        cada_baseline b = {0.0, 0};
        float adv[1], dlp[2];
        const int idx[1] = {0};
        cada_loss_norm norm;
        cada_loss_norm_of(&tr, 1, &norm);
        CADA_TRY(cada_algo_prepare(cfg, &tr, 1, &b, adv, NULL));
        CADA_TRY(cada_algo_loss(cfg, &tr, 1, idx, adv, lp, T, &norm, dlp, NULL));
        const double py = exp(lpd[0] + (T == 2 ? lpd[1] : 0.0)) / cfg->pg.kl_coef;
        for (int j = 0; j < V; j++) grad[j] += py * dlp[0] * ((j == y[0]) - p1[j]);
        if (T == 2)
            for (int j = 0; j < V; j++) grad[V + y[0] * V + j] += py * dlp[1] * ((j == y[1]) - p2[j]);
    }
    return CADA_OK;
}

static double max_diff(const double *a, const double *b, int T) {
    double d = 0.0;
    for (int i = 0; i < (T == 1 ? V : NP); i++) d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

#define TOL 1e-7

static cada_algo_config with_kl(cada_algo algo, cada_kl_placement place, cada_kl_estimator est) {
    cada_algo_config c;
    cada_algo_config_default(&c, algo);
    c.pg.agg = CADA_AGG_SEQ_MEAN_TOKEN_SUM; /* weight 1 for a batch of one sequence */
    c.pg.tis_cap = 2.0;                     /* on-policy the weight is 1: TIS changes nothing */
    cada_algo_set_kl(&c, place, est, 0.01);
    return c;
}

/* cada train's default (the run configuration's defaults through config_modules) is the
 * exact gradient of the sequence-level KL(pi || pi_ref), for one token and for two. */
TEST(kl_grad_cada_train_default_is_the_sequence_kl_gradient) {
    cada_run_config rc;
    cada_config_defaults(&rc);
    cada_learner_config lc;
    REQUIRE_OK(cada_config_learner(&rc, &lc));
    toy m;
    toy_init(&m);
    double want[NP], got[NP], tok[NP], err[2];
    for (int T = 1; T <= 2; T++) {
        analytic(&m, T, 0, want);
        REQUIRE_OK(expected(&m, T, &lc.algo, got));
        err[T - 1] = max_diff(got, want, T);
        EXPECT(err[T - 1] < TOL, "T = %d: |E grad - grad KL| = %.3g (%s)", T, err[T - 1],
               cada_kl_gradient(lc.algo.pg.kl_place, lc.algo.pg.kl_est));
    }
    /* the two-token case tells the forms apart: the per-token KL misses the term of y1's
     * effect on y2's KL by far more than the tolerance */
    analytic(&m, 2, 1, tok);
    EXPECT(max_diff(tok, want, 2) > 1e-2, "the toy does not separate the forms: %.3g", max_diff(tok, want, 2));
    fprintf(stderr, "    default (%s k%d): max |E grad - grad KL| %.2g (one token), %.2g (two); the per-token form misses by %.2g\n",
            lc.algo.pg.kl_place == CADA_KL_IN_REWARD ? "reward" : "loss", (int)lc.algo.pg.kl_est, err[0], err[1],
            max_diff(tok, want, 2));
}

/* Each row of learn/kl.h's table, for REINFORCE (VANILLA) and GRPO (PPO_CLIP with the
 * learner's own log-probs as pi_old). */
TEST(kl_grad_every_estimator_and_placement) {
    toy m;
    toy_init(&m);
    const cada_algo algos[2] = {CADA_ALGO_REINFORCE, CADA_ALGO_GRPO};
    double exact[2][NP], tok[2][NP], rev[2][NP], got[NP];
    for (int T = 1; T <= 2; T++) {
        analytic(&m, T, 0, exact[T - 1]);
        analytic(&m, T, 1, tok[T - 1]);
        analytic(&m, T, 2, rev[T - 1]);
    }
    for (int a = 0; a < 2; a++) {
        const char *name = cada_algo_name(algos[a]);
        for (int T = 1; T <= 2; T++) {
            const double *ex = exact[T - 1], *tk = tok[T - 1], *rv = rev[T - 1];
            /* k1 summed in the reward: exact */
            cada_algo_config c = with_kl(algos[a], CADA_KL_IN_REWARD, CADA_KL_K1);
            REQUIRE_OK(expected(&m, T, &c, got));
            EXPECT(max_diff(got, ex, T) < TOL, "%s T %d reward k1: %.3g", name, T, max_diff(got, ex, T));
            /* k2 in the loss: the per-token KL(pi || ref), exact for one token only */
            c = with_kl(algos[a], CADA_KL_IN_LOSS, CADA_KL_K2);
            REQUIRE_OK(expected(&m, T, &c, got));
            EXPECT(max_diff(got, tk, T) < TOL, "%s T %d loss k2 vs per-token: %.3g", name, T, max_diff(got, tk, T));
            if (T == 2) EXPECT(max_diff(got, ex, T) > 1e-2, "%s loss k2 should miss the later-token term", name);
            /* k3 in the loss: the per-token reverse KL(ref || pi) */
            c = with_kl(algos[a], CADA_KL_IN_LOSS, CADA_KL_K3);
            REQUIRE_OK(expected(&m, T, &c, got));
            EXPECT(max_diff(got, rv, T) < TOL, "%s T %d loss k3 vs reverse: %.3g", name, T, max_diff(got, rv, T));
            EXPECT(max_diff(got, ex, T) > 1e-2, "%s T %d loss k3 should not be grad KL(pi || ref)", name, T);
            /* k3 in the reward: grad KL(pi || ref) minus the per-token reverse gradient */
            c = with_kl(algos[a], CADA_KL_IN_REWARD, CADA_KL_K3);
            REQUIRE_OK(expected(&m, T, &c, got));
            double mix[NP];
            for (int i = 0; i < NP; i++) mix[i] = ex[i] - rv[i];
            EXPECT(max_diff(got, mix, T) < TOL, "%s T %d reward k3 vs the mix: %.3g", name, T, max_diff(got, mix, T));
            /* k2 in the reward: neither */
            c = with_kl(algos[a], CADA_KL_IN_REWARD, CADA_KL_K2);
            REQUIRE_OK(expected(&m, T, &c, got));
            EXPECT(max_diff(got, ex, T) > 1e-3 && max_diff(got, rv, T) > 1e-3, "%s T %d reward k2 is biased", name, T);
            /* k1 in the loss: expected gradient zero, refused */
            c = with_kl(algos[a], CADA_KL_IN_LOSS, CADA_KL_K1);
            EXPECT(expected(&m, T, &c, got) == CADA_ERR_CONFIG && strstr(cada_error_message(), "zero"), "%s", cada_error_message());
        }
    }
    /* the labels name what each gives */
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_REWARD, CADA_KL_K1), "exact"));
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_LOSS, CADA_KL_K3), "reverse KL(pi_ref || pi)"));
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_LOSS, CADA_KL_K2), "ignoring its effect on later tokens"));
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_REWARD, CADA_KL_K2), "biased"));
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_REWARD, CADA_KL_K3), "biased"));
    EXPECT(strstr(cada_kl_gradient(CADA_KL_IN_LOSS, CADA_KL_K1), "zero"));
    EXPECT(cada_kl_check(CADA_KL_IN_LOSS, CADA_KL_K1) == CADA_ERR_CONFIG && cada_kl_check(CADA_KL_IN_REWARD, CADA_KL_K1) == CADA_OK &&
           cada_kl_check(CADA_KL_OFF, CADA_KL_K1) == CADA_OK);
}
