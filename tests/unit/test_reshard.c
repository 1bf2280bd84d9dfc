/* tests/unit/test_reshard.c: the layouts the resharded weight sync accepts
 * (sched/reshard.h) and how it cuts a piece into the replicas' chunks. The transfer
 * itself runs on real MPI ranks in tests/mpi/mpi_reshard_test.c. */
#include "test.h"

#include "learn/synth.h"
#include "sched/reshard.h"

#include <string.h>

TEST(reshard_layouts) {
    cada_model_config c;
    cada_synth_config(&c, 96, 64, 2, 1); /* 8 heads */
    c.n_kv_heads = 4;
    const cada_reshard_layout ok[] = {{2, 1, 2, 2}, {2, 2, 4, 4}, {4, 4, 2, 2}, {4, 2, 2, 1}, {8, 4, 4, 4}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) EXPECT(cada_reshard_check(&ok[i], &c) == CADA_OK, "layout %zu", i);
    cada_reshard_layout bad = {3, 2, 2, 2}; /* 3 learners are not whole groups of 2 */
    EXPECT(cada_reshard_check(&bad, &c) == CADA_ERR_CONFIG && strstr(cada_error_message(), "learner_ranks = 3"));
    bad = (cada_reshard_layout){4, 4, 6, 3}; /* neither tp a multiple of the other */
    EXPECT(cada_reshard_check(&bad, &c) == CADA_ERR_CONFIG && strstr(cada_error_message(), "one must be a multiple"));
    bad = (cada_reshard_layout){2, 1, 16, 16}; /* 16 does not divide 8 heads */
    EXPECT(cada_reshard_check(&bad, &c) == CADA_ERR_CONFIG && strstr(cada_error_message(), "num_attention_heads"),
           "%s", cada_error_message());
}

TEST(reshard_chunks_cover_the_piece) {
    const size_t n = 1000003;
    for (int W = 1; W <= 7; W++) {
        size_t at = 0;
        for (int d = 0; d < W; d++) {
            size_t off, count;
            cada_reshard_chunk(n, d, W, &off, &count);
            EXPECT(off == at && (count == n / W || count == n / W + 1), "W %d d %d: [%zu, +%zu)", W, d, off, count);
            at = off + count;
        }
        EXPECT(at == n, "W %d: chunks end at %zu of %zu", W, at, n);
    }
}
