/*
 * bytes.h: big-endian integers in byte arrays (network order), for the
 * hashes (sha.c) and the wire formats above core. Unaligned access is
 * fine: one byte at a time.
 */
#ifndef DURO_CORE_BYTES_H
#define DURO_CORE_BYTES_H

#include <stdint.h>

static inline uint32_t duro_load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static inline void duro_store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

#endif
