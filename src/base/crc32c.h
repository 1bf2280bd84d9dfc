/* base/crc32c.h: CRC-32C (Castagnoli), the checksum of TFRecord files (TensorBoard's
 * event files, sched/tb_events.h), iSCSI and ext4.
 *
 * Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF: the CRC of
 * "123456789" is 0xE3069283 and that of 32 zero bytes 0x8A9136AA (RFC 3720, B.4).
 * Computed slice-by-8 from tables built once (thread-safe). */
#ifndef CADA_BASE_CRC32C_H
#define CADA_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc is the value returned for the bytes before (0 to start), so
 * cada_crc32c(cada_crc32c(0, a, n), b, m) is the CRC of a followed by b. */
uint32_t cada_crc32c(uint32_t crc, const void *data, size_t n);

/* TFRecord's masked form, ((crc >> 15) | (crc << 17)) + 0xa282ead8: a CRC stored next
 * to the data it covers would otherwise make CRCs of CRCs degenerate. */
uint32_t cada_crc32c_mask(uint32_t crc);
uint32_t cada_crc32c_unmask(uint32_t masked);

#endif
