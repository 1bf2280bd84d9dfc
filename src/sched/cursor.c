/* sched/cursor.c: see cursor.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/cursor.h"

#include "base/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cada_status append(cada_prompt_set *all, cada_prompt_set *one) {
    for (int i = 0; i < one->n; i++) {
        if (all->n == all->cap) {
            int cap = all->cap ? 2 * all->cap : 256;
            cada_item *grown = realloc(all->items, sizeof *grown * (size_t)cap);
            if (!grown) return CADA_ERR(CADA_ERR_NOMEM, "training prompts");
            all->items = grown;
            all->cap = cap;
        }
        all->items[all->n++] = one->items[i]; /* the strings move */
    }
    free(one->items);
    one->items = NULL;
    one->n = 0;
    return CADA_OK;
}

cada_status cada_cursor_init(cada_cursor *c, const char *files, const cada_set_options *so, uint64_t seed, int shuffle) {
    memset(c, 0, sizeof *c);
    c->seed = seed;
    c->shuffle = shuffle;
    c->shuffled_epoch = -1;
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", files) >= (int)sizeof buf) return CADA_ERR(CADA_ERR_CONFIG, "data.train_set is too long");
    for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        cada_prompt_set one;
        CADA_TRY(cada_set_load(&one, f, so));
        cada_status st = append(&c->data, &one);
        if (st != CADA_OK) {
            cada_set_free(&one);
            return st;
        }
    }
    if (c->data.n == 0) return CADA_ERR(CADA_ERR_CONFIG, "data.train_set '%s': no prompts", files);
    c->order = malloc(sizeof(int) * (size_t)c->data.n);
    if (!c->order) return CADA_ERR(CADA_ERR_NOMEM, "data order");
    return CADA_OK;
}

/* Epoch e's order: a Fisher-Yates shuffle from the Philox stream (seed, "EPOCH", e). */
static void shuffle_epoch(cada_cursor *c, long long epoch) {
    for (int i = 0; i < c->data.n; i++) c->order[i] = i;
    if (!c->shuffle) return;
    cada_rng r;
    cada_rng_init(&r, c->seed, 0x45504f4348ull, (uint64_t)epoch, 0);
    for (int i = c->data.n - 1; i > 0; i--) {
        int j = (int)(cada_rng_u32(&r) % (uint32_t)(i + 1));
        int tmp = c->order[i];
        c->order[i] = c->order[j];
        c->order[j] = tmp;
    }
}

int cada_cursor_item(cada_cursor *c, long long position) {
    long long epoch = position / c->data.n;
    if (epoch != c->shuffled_epoch) {
        shuffle_epoch(c, epoch);
        c->shuffled_epoch = epoch;
    }
    return c->order[position % c->data.n];
}

void cada_cursor_free(cada_cursor *c) {
    cada_set_free(&c->data);
    free(c->order);
    memset(c, 0, sizeof *c);
}
