/* tok/unicode.c: see unicode.h. */
#include "tok/unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------- */

/* Valid second-byte range for each lead byte (RFC 3629 table): E0 needs A0..BF (no
 * overlongs), ED 80..9F (no surrogates), F0 90..BF, F4 80..8F (nothing past 10FFFF). */
static int utf8_expect(unsigned char b0, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (b0 < 0x80) return 1;
    if (b0 < 0xC2) return 0;
    if (b0 < 0xE0) return 2;
    if (b0 < 0xF0) {
        if (b0 == 0xE0) *lo = 0xA0;
        if (b0 == 0xED) *hi = 0x9F;
        return 3;
    }
    if (b0 < 0xF5) {
        if (b0 == 0xF0) *lo = 0x90;
        if (b0 == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

size_t cada_utf8_subpart(const unsigned char *s, size_t n, int *status) {
    unsigned char lo, hi;
    int need = utf8_expect(s[0], &lo, &hi);
    if (need == 0) {
        *status = 2;
        return 1;
    }
    size_t i = 1;
    for (; i < (size_t)need; i++) {
        if (i >= n) {
            *status = 1;
            return i;
        }
        unsigned char b = s[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) {
            *status = 2;
            return i;
        }
    }
    *status = 0;
    return i;
}

size_t cada_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int status;
    size_t len = cada_utf8_subpart(s, n, &status);
    if (status != 0) {
        *cp = CADA_UNI_INVALID;
        return 1;
    }
    uint32_t c = len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
    for (size_t i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3Fu);
    *cp = c;
    return len;
}

size_t cada_utf8_encode(uint32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- properties ---------------------------------------------------------------------- */

static int in_ranges(const cada_uni_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int cada_uni_ccc(uint32_t cp) {
    if (cp < 0x300 || cp == CADA_UNI_INVALID) return 0;
    size_t lo = 0, hi = cada_uni_ccc_ranges_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < cada_uni_ccc_ranges[mid].lo) hi = mid;
        else if (cp > cada_uni_ccc_ranges[mid].hi) lo = mid + 1;
        else return cada_uni_ccc_ranges[mid].ccc;
    }
    return 0;
}

int cada_uni_is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    if (cp == CADA_UNI_INVALID) return 0;
    return in_ranges(cada_uni_numeric, cada_uni_numeric_n, cp);
}

int cada_uni_is_space(uint32_t cp) {
    /* The White_Space property (PropList.txt), stable since Unicode 6.3. */
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int cada_uni_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == CADA_UNI_INVALID) return 0;
    return in_ranges(cada_uni_word, cada_uni_word_n, cp);
}

/* ---- NFC ----------------------------------------------------------------------------- */

enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_LN = 19, HANGUL_VN = 21, HANGUL_TN = 28, HANGUL_NN = HANGUL_VN * HANGUL_TN,
    HANGUL_SN = HANGUL_LN * HANGUL_NN
};

/* Code points from which a text may not be NFC: ccc > 0, NFC_QC No or Maybe. */
static int nfc_care(uint32_t cp) {
    if (cp < 0x300) return 0;
    return in_ranges(cada_uni_nfc_care, cada_uni_nfc_care_n, cp);
}

static const cada_uni_decomp *find_decomp(uint32_t cp) {
    size_t lo = 0, hi = cada_uni_decomps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < cada_uni_decomps[mid].cp) hi = mid;
        else if (cp > cada_uni_decomps[mid].cp) lo = mid + 1;
        else return &cada_uni_decomps[mid];
    }
    return NULL;
}

/* The primary composite of (a, b), or 0 when none. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a == CADA_UNI_INVALID || b == CADA_UNI_INVALID) return 0;
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LN && b >= HANGUL_V && b < HANGUL_V + HANGUL_VN)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VN + (b - HANGUL_V)) * HANGUL_TN;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SN && (a - HANGUL_S) % HANGUL_TN == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_TN)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = cada_uni_comps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const cada_uni_comp *c = &cada_uni_comps[mid];
        if (a < c->first || (a == c->first && b < c->second)) hi = mid;
        else if (a > c->first || b > c->second) lo = mid + 1;
        else return c->composite;
    }
    return 0;
}

/* A decoded unit: the code point (or CADA_UNI_INVALID) and, for invalid units, the raw
 * byte to write back. */
typedef struct {
    uint32_t cp;
    uint8_t raw;
    uint8_t ccc;
} nfc_unit;

static size_t push_decomposed(uint32_t cp, nfc_unit *u) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SN) {
        uint32_t s = cp - HANGUL_S;
        u[0] = (nfc_unit){HANGUL_L + s / HANGUL_NN, 0, 0};
        u[1] = (nfc_unit){HANGUL_V + (s % HANGUL_NN) / HANGUL_TN, 0, 0};
        if (s % HANGUL_TN == 0) return 2;
        u[2] = (nfc_unit){HANGUL_T + s % HANGUL_TN, 0, 0};
        return 3;
    }
    const cada_uni_decomp *d = cp >= 0xC0 ? find_decomp(cp) : NULL;
    if (!d) {
        u[0] = (nfc_unit){cp, 0, (uint8_t)cada_uni_ccc(cp)};
        return 1;
    }
    for (size_t i = 0; i < d->len; i++) {
        uint32_t c = cada_uni_decomp_pool[d->off + i];
        u[i] = (nfc_unit){c, 0, (uint8_t)cada_uni_ccc(c)};
    }
    return d->len;
}

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return 0;
    *buf = p;
    *cap = c;
    return 1;
}

/* NFC of one segment s[0..n) into out (room for 4 bytes per unit); returns the length.
 * u has room for 4 * n + 4 units: a byte yields at most 4 units (the longest canonical
 * decomposition is 4 code points, from a sequence of 2 or more bytes; Hangul gives 3
 * from 3 bytes). */
static size_t nfc_segment(const unsigned char *s, size_t n, nfc_unit *u, unsigned char *out) {
    size_t nu = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = cada_utf8_decode(s + i, n - i, &cp);
        if (cp == CADA_UNI_INVALID) u[nu++] = (nfc_unit){cp, s[i], 0};
        else nu += push_decomposed(cp, u + nu);
        i += len;
    }
    /* Canonical ordering: a stable sort of each run of non-starters by ccc (insertion
     * sort; runs are a few marks long). */
    for (size_t k = 1; k < nu; k++) {
        if (u[k].ccc == 0) continue;
        nfc_unit x = u[k];
        size_t j = k;
        while (j > 0 && u[j - 1].ccc > x.ccc) {
            u[j] = u[j - 1];
            j--;
        }
        u[j] = x;
    }
    /* Canonical composition (UAX #15, D117): a character C composes with the last starter
     * S if nothing between them blocks it (no unit in between with ccc 0 or >= ccc(C)). */
    size_t w = 0;
    long starter = -1;
    int last_ccc = 0;
    for (size_t k = 0; k < nu; k++) {
        nfc_unit c = u[k];
        if (starter >= 0 && (w == (size_t)starter + 1 || (last_ccc != 0 && last_ccc < c.ccc))) {
            uint32_t p = compose(u[starter].cp, c.cp);
            if (p) {
                u[starter].cp = p;
                continue;
            }
        }
        if (c.ccc == 0) {
            starter = (long)w;
            last_ccc = 0;
        } else {
            last_ccc = c.ccc;
        }
        u[w++] = c;
    }
    size_t o = 0;
    for (size_t k = 0; k < w; k++) {
        if (u[k].cp == CADA_UNI_INVALID) out[o++] = u[k].raw;
        else o += cada_utf8_encode(u[k].cp, out + o);
    }
    return o;
}

/* Quick check per unit: ASCII and code points outside the care set are "stable": they
 * have ccc 0, never compose with what precedes them, and nothing after them reorders or
 * composes across them except with them as the starter. So a text is cut into stable
 * units copied as they are and segments, each running from the stable unit before a
 * care unit (the starter it may compose with) to the next stable unit, normalized on
 * their own. Almost all text has no care unit at all and is returned without copying. */
cada_status cada_uni_nfc(const char *in, size_t n, char **buf, size_t *cap, const char **out,
                         size_t *out_len) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, last_stable = 0, copied = 0, o = 0;
    int any = 0;
    nfc_unit stack_units[256];
    nfc_unit *u = stack_units;
    size_t u_cap = sizeof stack_units / sizeof stack_units[0];
    cada_status st = CADA_OK;
    while (i < n) {
        if (s[i] < 0x80) {
            last_stable = i++;
            continue;
        }
        uint32_t cp;
        size_t len = cada_utf8_decode(s + i, n - i, &cp);
        if (cp == CADA_UNI_INVALID || !nfc_care(cp)) {
            last_stable = i;
            i += len;
            continue;
        }
        /* The unit just before i is stable (care units are consumed whole, segment by
         * segment) unless i is 0: start the segment there. */
        size_t seg = last_stable;
        size_t end = i + len;
        while (end < n) {
            if (s[end] < 0x80) break;
            size_t l = cada_utf8_decode(s + end, n - end, &cp);
            if (cp == CADA_UNI_INVALID || !nfc_care(cp)) break;
            end += l;
        }
        size_t need_units = 4 * (end - seg) + 4;
        if (need_units > u_cap) {
            nfc_unit *nu = malloc(need_units * sizeof *nu);
            if (!nu) {
                st = CADA_ERR(CADA_ERR_NOMEM, "NFC: cannot allocate %zu units", need_units);
                break;
            }
            if (u != stack_units) free(u);
            u = nu;
            u_cap = need_units;
        }
        if (!grow(buf, cap, o + (seg - copied) + 4 * need_units + (n - end) + 1)) {
            st = CADA_ERR(CADA_ERR_NOMEM, "NFC: cannot allocate %zu bytes", o + 4 * need_units + n);
            break;
        }
        memcpy(*buf + o, in + copied, seg - copied);
        o += seg - copied;
        o += nfc_segment(s + seg, end - seg, u, (unsigned char *)*buf + o);
        copied = end;
        last_stable = end; /* the unit at end (if any) is stable or ASCII */
        i = end;
        any = 1;
    }
    if (u != stack_units) free(u);
    if (st != CADA_OK) return st;
    if (!any) {
        *out = in;
        *out_len = n;
        return CADA_OK;
    }
    if (!grow(buf, cap, o + (n - copied) + 1)) return CADA_ERR(CADA_ERR_NOMEM, "NFC: %zu bytes", o + n - copied);
    memcpy(*buf + o, in + copied, n - copied);
    o += n - copied;
    *out = *buf;
    *out_len = o;
    return CADA_OK;
}
