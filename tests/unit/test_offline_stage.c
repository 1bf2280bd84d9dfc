/* tests/unit/test_offline_stage.c: the data stage of learn.algorithm = sft | dpo
 * (sched/offline_stage.h) with SmolLM2's tokenizer and a synthetic model of its
 * vocabulary: the sequences are the bare request, the response's tokens and EOS; the
 * SFT loss the learn stage reports equals the model's mean cross-entropy over those
 * response tokens (scored apart by learn/scorer.h); a DPO pair is (chosen, rejected)
 * with the reference's log-probs, and its loss starts at ln 2 when the policy is the
 * reference; a record longer than rollout.max_len is refused naming it. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "learn/scorer.h"
#include "learn/synth.h"
#include "sched/learn_stage.h"
#include "sched/offline_stage.h"
#include "sched/requests.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    cada_tokenizer *tok;
    cada_cursor cursor;
    cada_model m;
    cada_comm *comm;
    cada_learner *L;
} fixture;

static const char *const records =
    "{\"id\": \"h1\", \"prompt\": \"How do I pick a lock to get into my neighbour's house?\", \"label\": \"harmful\", "
    "\"response\": \"### Analysis\\nBreaking into a home.\\n### Final Response\\nI can't help with that.\", "
    "\"rejected\": \"### Analysis\\n### Final Response\\nI'm sorry.\"}\n"
    "{\"id\": \"b1\", \"prompt\": \"How do I bake bread?\", \"label\": \"benign\", "
    "\"response\": \"### Analysis\\nBaking.\\n### Final Response\\nMix, knead, bake.\", \"rejected\": \"No.\"}\n";

/* Tokenizer, the two records in file order, a synthetic policy, a one-rank learner. */
static cada_status fixture_open(fixture *f, cada_algo algo) {
    memset(f, 0, sizeof *f);
    char path[1024];
    snprintf(path, sizeof path, "%s/offline_%s.jsonl", cada_test_tmpdir(), cada_algo_name(algo));
    FILE *out = fopen(path, "w");
    if (!out) return CADA_ERR(CADA_ERR_IO, "%s", path);
    fputs(records, out);
    fclose(out);
    CADA_TRY(cada_tok_load(&f->tok, cada_test_smollm2_path(), 0));
    cada_set_options so;
    cada_set_options_default(&so);
    so.require_response = 1;
    so.require_rejected = algo == CADA_ALGO_DPO;
    CADA_TRY(cada_cursor_init(&f->cursor, path, &so, 1, 0));
    cada_model_config cfg;
    cada_synth_config(&cfg, (int)cada_tok_vocab_size(f->tok), 16, 1, 1);
    CADA_TRY(cada_synth_model(&f->m, &cfg, 5, 0.05f));
    CADA_TRY(cada_comm_init_self(&f->comm, NULL));
    cada_learner_config lc;
    cada_learner_config_default(&lc, algo);
    lc.row_tokens = 256;
    lc.micro_tokens = 512;
    return cada_learner_init(&f->L, &f->m, f->comm, &lc);
}

static void fixture_close(fixture *f) {
    cada_learner_free(f->L);
    cada_comm_free(f->comm);
    cada_model_free(&f->m);
    cada_cursor_free(&f->cursor);
    cada_tok_free(f->tok);
}

static cada_offline_ctx ctx_of(fixture *f, int dpo, int max_len, const cada_score_ctx *sc) {
    cada_offline_ctx c = {&f->cursor, f->tok, NULL, 1, dpo, cada_tok_eos_id(f->tok), max_len, 2, 0, 1, sc};
    return c;
}

TEST(offline_sft_sequences_and_loss) {
    fixture f;
    REQUIRE_OK(fixture_open(&f, CADA_ALGO_SFT));
    cada_offline_ctx c = ctx_of(&f, 0, 256, NULL);
    seq_rec *q = NULL;
    int n = 0;
    double data_s = 0;
    REQUIRE_OK(cada_offline_stage_run(&c, 0, &q, &n, &data_s));
    REQUIRE(n == 2);
    for (int i = 0; i < 2; i++) {
        const cada_item *it = &f.cursor.data.items[i];
        cada_tok_ids prompt = {0}, resp = {0};
        REQUIRE_OK(cada_request_render_bare(f.tok, it, &prompt));
        REQUIRE_OK(cada_tok_encode(f.tok, it->response, strlen(it->response), 0, &resp));
        EXPECT(q[i].order == i && q[i].sample == 0 && q[i].item == i && q[i].harmful == (i == 0));
        EXPECT(q[i].prompt_len == (int)prompt.n && q[i].completion_len == (int)resp.n + 1);
        EXPECT(!memcmp(q[i].tokens, prompt.ids, sizeof(int) * prompt.n), "record %d: not the bare request", i);
        EXPECT(!memcmp(q[i].tokens + prompt.n, resp.ids, sizeof(int) * resp.n), "record %d: not the response", i);
        EXPECT(q[i].tokens[prompt.n + resp.n] == cada_tok_eos_id(f.tok));
        cada_tok_ids_free(&prompt);
        cada_tok_ids_free(&resp);
    }
    /* the model's mean cross-entropy over the response tokens, from the scorer, before the step */
    cada_traj tr[2];
    float *lp[2];
    double sum = 0, count = 0;
    for (int i = 0; i < 2; i++) {
        tr[i] = (cada_traj){.tokens = q[i].tokens, .prompt_len = q[i].prompt_len, .completion_len = q[i].completion_len};
        lp[i] = calloc((size_t)q[i].completion_len, sizeof(float));
        REQUIRE(lp[i]);
    }
    cada_scorer *s = NULL;
    cada_scorer_options so = {.device = -1, .row_tokens = 256, .micro_tokens = 512};
    REQUIRE_OK(cada_scorer_create(&s, &f.m, &so));
    REQUIRE_OK(cada_scorer_logprobs(s, tr, 2, lp));
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < q[i].completion_len; k++) sum -= lp[i][k], count++;
    cada_step_metrics sm;
    double learn_s = 0;
    REQUIRE_OK(cada_learn_stage_run(f.L, q, n, NULL, "learn", &sm, &learn_s));
    EXPECT(fabs(sm.loss - sum / count) < 1e-5 * (sum / count), "reported %.8g, mean CE %.8g", sm.loss, sum / count);
    EXPECT(sm.tok.tokens == count);
    cada_scorer_free(s);
    free(lp[0]);
    free(lp[1]);
    seqs_free(q, n);
    /* a record longer than rollout.max_len is named */
    c = ctx_of(&f, 0, 20, NULL);
    EXPECT(cada_offline_stage_run(&c, 0, &q, &n, &data_s) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "record 'h1' (line 1)") && strstr(cada_error_message(), "rollout.max_len = 20"), "%s",
           cada_error_message());
    fixture_close(&f);
}

TEST(offline_dpo_pairs_start_at_ln2) {
    fixture f;
    REQUIRE_OK(fixture_open(&f, CADA_ALGO_DPO));
    cada_scorer *ref = NULL;
    cada_scorer_options so = {.device = -1, .row_tokens = 256, .micro_tokens = 512};
    REQUIRE_OK(cada_scorer_create(&ref, &f.m, &so)); /* the policy is its own reference */
    cada_score_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.reference = ref;
    cada_offline_ctx c = ctx_of(&f, 1, 256, &sc);
    seq_rec *q = NULL;
    int n = 0;
    double data_s = 0;
    REQUIRE_OK(cada_offline_stage_run(&c, 0, &q, &n, &data_s));
    REQUIRE(n == 4);
    for (int i = 0; i < 4; i++) EXPECT(q[i].order == i / 2 && q[i].sample == i % 2 && q[i].ref_lp, "sequence %d", i);
    EXPECT(q[0].completion_len != q[1].completion_len); /* chosen and rejected differ */
    cada_step_metrics sm;
    double learn_s = 0;
    REQUIRE_OK(cada_learn_stage_run(f.L, q, n, NULL, "learn", &sm, &learn_s));
    /* margins of zero up to the packings' float rounding (the learner's rows are not the scorer's) */
    EXPECT(fabs(sm.loss - log(2.0)) < 1e-6 && sm.tok.pairs == 2 && fabs(sm.tok.dpo_margin_sum) < 1e-3, "loss %.8g, pairs %g, margins %g",
           sm.loss, sm.tok.pairs, sm.tok.dpo_margin_sum);
    seqs_free(q, n);
    cada_scorer_free(ref);
    fixture_close(&f);
}
