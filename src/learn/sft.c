/* learn/sft.c: see sft.h. */
#include "learn/sft.h"

#include <string.h>

cada_status cada_sft_loss(const cada_traj *t, int n, const int *lp_index, const float *logprob, int n_lp,
                          const cada_loss_norm *norm, float *dlogprob, cada_token_stats *stats) {
    CADA_TRY(cada_check_lp_index(t, n, lp_index, n_lp, "sft loss"));
    memset(dlogprob, 0, sizeof(float) * (size_t)n_lp);
    cada_token_stats st;
    cada_token_stats_zero(&st);
    for (int i = 0; i < n; i++) {
        if (t[i].completion_len == 0) continue;
        if (norm->tokens <= 0) return CADA_ERR(CADA_ERR_ARG, "sft loss: global token total is %g", norm->tokens);
        const double w = 1.0 / norm->tokens;
        for (int k = 0; k < t[i].completion_len; k++) {
            st.loss -= w * logprob[lp_index[i] + k];
            dlogprob[lp_index[i] + k] = (float)-w;
        }
        st.tokens += t[i].completion_len;
        st.seqs += 1;
    }
    st.pg_loss = st.loss;
    if (stats) cada_token_stats_merge(stats, &st);
    return CADA_OK;
}
