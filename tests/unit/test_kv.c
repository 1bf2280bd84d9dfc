/* tests/unit/test_kv.c: base/kv.h. */
#include "base/kv.h"
#include "test.h"

#include <string.h>

TEST(kv_split_strips_only_its_own_section) {
    char key[64];
    const char *k, *v;
    REQUIRE_OK(cada_kv_split("prompt.k=3", "prompt", key, sizeof key, &k, &v));
    EXPECT(!strcmp(key, "prompt.k") && !strcmp(k, "k") && !strcmp(v, "3"));
    REQUIRE_OK(cada_kv_split("k=", "prompt", key, sizeof key, &k, &v));
    EXPECT(!strcmp(k, "k") && !strcmp(v, ""));
    REQUIRE_OK(cada_kv_split("prompts.k=a=b", "prompt", key, sizeof key, &k, &v));
    EXPECT(!strcmp(k, "prompts.k") && !strcmp(v, "a=b"));
}

TEST(kv_split_refuses_malformed_settings) {
    char key[8];
    const char *k, *v;
    EXPECT(cada_kv_split("novalue", "prompt", key, sizeof key, &k, &v) == CADA_ERR_CONFIG);
    EXPECT(cada_kv_split("=3", "prompt", key, sizeof key, &k, &v) == CADA_ERR_CONFIG);
    EXPECT(cada_kv_split("prompt.template=x", "prompt", key, sizeof key, &k, &v) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "too long") != NULL);
}
