/*
 * sha.c: see sha.h. Both hashes share the framing (64-byte blocks, a 0x80
 * byte, the bit length big-endian at the end); only the compression
 * function and the initial state differ (FIPS 180-4, 6.1 and 6.2).
 */
#include "core/sha.h"

#include <string.h>

#include "core/bytes.h"

static uint32_t rotl(uint32_t x, unsigned n) { return x << n | x >> (32 - n); }
static uint32_t rotr(uint32_t x, unsigned n) { return x >> n | x << (32 - n); }

/* ---- SHA-1 ------------------------------------------------------------- */

static void sha1_compress(uint32_t h[8], const uint8_t block[64]) {
  uint32_t w[80];
  for (int t = 0; t < 16; t++)
    w[t] = duro_load_be32(block + 4 * t);
  for (int t = 16; t < 80; t++)
    w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; t++) {
    uint32_t f, k;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    uint32_t tmp = rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void duro_sha1_init(duro_sha_t *s) {
  static const uint32_t h0[5] = {0x67452301, 0xefcdab89, 0x98badcfe,
                                 0x10325476, 0xc3d2e1f0};
  memset(s, 0, sizeof(*s));
  memcpy(s->h, h0, sizeof(h0));
  s->words = 5;
  s->compress = sha1_compress;
}

/* ---- SHA-256 ----------------------------------------------------------- */

static const uint32_t k256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static void sha256_compress(uint32_t h[8], const uint8_t block[64]) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++)
    w[t] = duro_load_be32(block + 4 * t);
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t v[8];
  memcpy(v, h, sizeof(v));
  for (int t = 0; t < 64; t++) {
    uint32_t e = v[4], a = v[0];
    uint32_t t1 = v[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
                  ((e & v[5]) ^ (~e & v[6])) + k256[t] + w[t];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
                  ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
    memmove(v + 1, v, 7 * sizeof(v[0]));
    v[4] += t1;
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++)
    h[i] += v[i];
}

void duro_sha256_init(duro_sha_t *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};
  memset(s, 0, sizeof(*s));
  memcpy(s->h, h0, sizeof(h0));
  s->words = 8;
  s->compress = sha256_compress;
}

/* ---- both -------------------------------------------------------------- */

void duro_sha_update(duro_sha_t *s, const void *data, size_t len) {
  const uint8_t *p = data;
  s->len += len;
  while (len) {
    size_t n = 64 - s->fill < len ? 64 - s->fill : len;
    memcpy(s->block + s->fill, p, n);
    s->fill += n;
    p += n;
    len -= n;
    if (s->fill == 64) {
      s->compress(s->h, s->block);
      s->fill = 0;
    }
  }
}

void duro_sha_final(duro_sha_t *s, uint8_t *out) {
  uint64_t bits = s->len * 8;
  uint8_t pad[72] = {0x80};
  /* 0x80, zeros up to 56 mod 64, then the 8-byte length */
  size_t npad = (s->fill < 56 ? 56 : 120) - s->fill;
  for (int i = 0; i < 8; i++)
    pad[npad + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
  duro_sha_update(s, pad, npad + 8);
  for (unsigned i = 0; i < s->words; i++)
    duro_store_be32(out + 4 * i, s->h[i]);
}

void duro_sha1(const void *data, size_t len, uint8_t out[DURO_SHA1_LEN]) {
  duro_sha_t s;
  duro_sha1_init(&s);
  duro_sha_update(&s, data, len);
  duro_sha_final(&s, out);
}

void duro_sha256(const void *data, size_t len,
                 uint8_t out[DURO_SHA256_LEN]) {
  duro_sha_t s;
  duro_sha256_init(&s);
  duro_sha_update(&s, data, len);
  duro_sha_final(&s, out);
}
