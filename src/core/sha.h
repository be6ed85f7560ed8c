/*
 * sha.h: SHA-1 and SHA-256 (FIPS 180-4), for the WebSocket accept key
 * and object and store ids.
 *
 * duro hashes a few short strings per connection or per object. OpenSSL
 * 3 does the same through its provider machinery, whose first use maps
 * about 2 MB of libcrypto into the process and whose every one-shot call
 * looks the algorithm up again; these two small functions touch nothing
 * but the caller's bytes. Not for secrets: HMAC and random bytes stay
 * with OpenSSL.
 */
#ifndef DURO_CORE_SHA_H
#define DURO_CORE_SHA_H

#include <stddef.h>
#include <stdint.h>

#define DURO_SHA1_LEN 20
#define DURO_SHA256_LEN 32

/* An incremental hash; init with duro_sha1_init or duro_sha256_init. */
typedef struct duro_sha {
  uint32_t h[8];
  uint64_t len;          /* bytes hashed so far */
  uint8_t block[64];
  size_t fill;           /* bytes waiting in block */
  unsigned words;        /* of the digest: 5 (SHA-1) or 8 (SHA-256) */
  void (*compress)(uint32_t h[8], const uint8_t block[64]);
} duro_sha_t;

void duro_sha1_init(duro_sha_t *s);
void duro_sha256_init(duro_sha_t *s);
void duro_sha_update(duro_sha_t *s, const void *data, size_t len);
/* Writes the digest (DURO_SHA1_LEN or DURO_SHA256_LEN bytes); s is spent. */
void duro_sha_final(duro_sha_t *s, uint8_t *out);

/* One-shot forms. */
void duro_sha1(const void *data, size_t len, uint8_t out[DURO_SHA1_LEN]);
void duro_sha256(const void *data, size_t len, uint8_t out[DURO_SHA256_LEN]);

#endif
