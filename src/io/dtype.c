/* io/dtype.c: element types of tensor files and their conversions to and from fp32.
 *
 * Bit-level IEEE 754 conversions, written out so that the results do not depend on the
 * compiler's or the CPU's half-precision support:
 *   - f16 -> f32 and bf16 -> f32 are exact (every f16/bf16 value is an f32 value);
 *   - f32 -> f16 and f32 -> bf16 round to nearest, ties to even, overflow to infinity,
 *     and return a quiet NaN for NaN, as PyTorch's c10::Half / c10::BFloat16 do.
 * Tensor files are little-endian; so is every host cada builds for (checked below), and
 * loads go through memcpy so that source data may have any alignment. */
#include "io/dtype.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cada's tensor-file readers assume a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_info[CADA_DTYPE_COUNT] = {
    [CADA_DTYPE_F32] = {"F32", 4},
    [CADA_DTYPE_F16] = {"F16", 2},
    [CADA_DTYPE_BF16] = {"BF16", 2},
    [CADA_DTYPE_I32] = {"I32", 4},
    [CADA_DTYPE_I64] = {"I64", 8},
};

size_t cada_dtype_size(cada_dtype t) {
    return (unsigned)t < CADA_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *cada_dtype_name(cada_dtype t) {
    return (unsigned)t < CADA_DTYPE_COUNT ? dtype_info[t].name : "?";
}

int cada_dtype_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < CADA_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) return i;
    return -1;
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* f16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
float cada_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* Zero or subnormal: man * 2^-24, exact in f32 (a normal f32 unless zero). */
        float v = (float)man * 0x1p-24f;
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, NaN (payload kept) */
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));     /* rebias 15 -> 127 */
}

float cada_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

/* Shifts m right by s (1..31), rounding to nearest, ties to even. */
static inline uint32_t shift_rne(uint32_t m, unsigned s) {
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1u);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return q;
}

uint16_t cada_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu; /* biased by 127 */
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) return man ? (uint16_t)(sign | 0x7e00u) : (uint16_t)(sign | 0x7c00u);
    if (exp >= 143) return (uint16_t)(sign | 0x7c00u); /* |f| >= 2^16: past the f16 range */
    if (exp >= 113) {
        /* Normal f16 (2^-14 <= |f| < 2^16). A carry out of the mantissa bumps the
         * exponent, and a carry out of exponent 30 gives 0x7c00 = inf, both correctly. */
        uint32_t h = ((exp - 112u) << 10) | (man >> 13);
        uint32_t rem = man & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    /* Subnormal f16: |f| = m * 2^(exp-150) with m the 24-bit significand, in units of
     * 2^-24 that is m >> (126 - exp). Below 2^-25 (exp < 102) everything rounds to 0. */
    if (exp < 102) return sign;
    uint32_t m = man | 0x800000u; /* exp >= 102 > 0, so f is a normal f32 */
    return (uint16_t)(sign | shift_rne(m, 126u - exp)); /* 0x400 on round-up = min normal */
}

uint16_t cada_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    /* NaN: canonical quiet NaN with the sign, as c10::BFloat16 (rounding could turn a
     * NaN whose payload sits in the low bits into infinity). */
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((x >> 16) & 0x8000u) | 0x7fc0u);
    /* Round to nearest even on the low 16 bits; the carry may reach inf, as it should. */
    uint32_t rounding_bias = 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)((x + rounding_bias) >> 16);
}

void cada_convert_to_f32(cada_dtype t, const void *src, float *dst, size_t n) {
    const unsigned char *p = src;
    switch (t) {
    case CADA_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        return;
    case CADA_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = cada_f16_to_f32(h);
        }
        return;
    case CADA_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t b;
            memcpy(&b, p + 2 * i, 2);
            dst[i] = cada_bf16_to_f32(b);
        }
        return;
    case CADA_DTYPE_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = (float)v;
        }
        return;
    case CADA_DTYPE_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            dst[i] = (float)v;
        }
        return;
    case CADA_DTYPE_COUNT:
        break;
    }
}

void cada_convert_from_f32(cada_dtype t, const float *src, void *dst, size_t n) {
    unsigned char *p = dst;
    switch (t) {
    case CADA_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        return;
    case CADA_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = cada_f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    case CADA_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t b = cada_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &b, 2);
        }
        return;
    default: /* integer targets are not part of the contract: left untouched */
        return;
    }
}
