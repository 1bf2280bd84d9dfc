/* base/kv.c: see kv.h. */
#include "base/kv.h"

#include <string.h>

cada_status cada_kv_split(const char *kv, const char *section, char *key, size_t cap, const char **k, const char **v) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return CADA_ERR(CADA_ERR_CONFIG, "'%s' is not key=value", kv);
    size_t kn = (size_t)(eq - kv);
    if (kn >= cap) return CADA_ERR(CADA_ERR_CONFIG, "key '%.*s...' too long", 32, kv);
    memcpy(key, kv, kn);
    key[kn] = 0;
    size_t sn = strlen(section);
    *k = !strncmp(key, section, sn) && key[sn] == '.' ? key + sn + 1 : key;
    *v = eq + 1;
    return CADA_OK;
}
