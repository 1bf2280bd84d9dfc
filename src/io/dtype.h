/* io/dtype.h: element types of tensor files and conversions to fp32.
 *
 * Conversions follow IEEE 754: f16 handles subnormals, inf and NaN; bf16 is the top half
 * of an f32; f32 -> bf16 and f32 -> f16 round to nearest, ties to even (as PyTorch). */
#ifndef CADA_IO_DTYPE_H
#define CADA_IO_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CADA_DTYPE_F32 = 0,
    CADA_DTYPE_F16,
    CADA_DTYPE_BF16,
    CADA_DTYPE_I32,
    CADA_DTYPE_I64,
    CADA_DTYPE_COUNT
} cada_dtype;

size_t cada_dtype_size(cada_dtype t);          /* bytes per element */
const char *cada_dtype_name(cada_dtype t);     /* safetensors spelling: "F32", "BF16", ... */
int cada_dtype_from_name(const char *name);    /* -1 when unknown */

float cada_f16_to_f32(uint16_t h);
float cada_bf16_to_f32(uint16_t b);
uint16_t cada_f32_to_f16(float f);
uint16_t cada_f32_to_bf16(float f);

/* n elements of type t at src (little-endian, any alignment) to fp32. Integer types are
 * converted by value. */
void cada_convert_to_f32(cada_dtype t, const void *src, float *dst, size_t n);
/* n fp32 values to type t (F32, F16, BF16 only). */
void cada_convert_from_f32(cada_dtype t, const float *src, void *dst, size_t n);

#endif
