/* base/kv.h: splitting one "key=value" setting (command-line --set, config overrides).
 *
 * cada_kv_split("prompt.k=3", "prompt", key, sizeof key, &k, &v) copies "prompt.k" into
 * key, points k at the key without its "section." prefix ("k"; the prefix is optional in
 * the input) and v at the value ("3", inside kv). Errors (CADA_ERR_CONFIG): no '=' or an
 * empty key ("'x' is not key=value"), a key of cap bytes or more (named). */
#ifndef CADA_BASE_KV_H
#define CADA_BASE_KV_H

#include "base/error.h"

#include <stddef.h>

cada_status cada_kv_split(const char *kv, const char *section, char *key, size_t cap, const char **k, const char **v);

#endif
