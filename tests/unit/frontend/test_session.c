/*
 * test_session.c: session tokens, HS256 JWTs and cookie parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "core/err.h"
#include "core/b64url.h"
#include "frontend/session.h"

static const char SECRET[] = "0123456789abcdef-secret";
#define S SECRET, sizeof(SECRET) - 1

static void test_session_roundtrip(void **state) {
  char tok[DURO_SESSION_TOKEN_MAX];
  size_t n = duro_session_issue(S, 2000, tok);
  assert_int_equal(n, strlen(tok));
  assert_int_equal(duro_session_verify(S, tok, n, 1000), 0);
  /* expired at and after the expiry */
  assert_int_equal(duro_session_verify(S, tok, n, 2000), DURO_ETIMEDOUT);
  /* another secret */
  assert_int_equal(duro_session_verify("other-secret-xxxx", 17, tok, n, 1000),
                   DURO_EACCES);
  /* two tokens differ (random nonce) */
  char tok2[DURO_SESSION_TOKEN_MAX];
  duro_session_issue(S, 2000, tok2);
  assert_string_not_equal(tok, tok2);
}

static void test_session_tampered(void **state) {
  char tok[DURO_SESSION_TOKEN_MAX];
  size_t n = duro_session_issue(S, 2000, tok);
  /* extend the expiry: the signature no longer matches */
  char forged[DURO_SESSION_TOKEN_MAX + 8];
  snprintf(forged, sizeof(forged), "v1.9%s", tok + 3);
  assert_int_equal(duro_session_verify(S, forged, strlen(forged), 1000),
                   DURO_EACCES);
  /* flip one bit of every position: never valid */
  for (size_t i = 0; i < n; i++) {
    char t[DURO_SESSION_TOKEN_MAX];
    memcpy(t, tok, n);
    t[i] ^= 1;
    assert_int_not_equal(duro_session_verify(S, t, n, 1000), 0);
  }
  static const char *bad[] = {"", "v1", "v1.", "v1..", "v2.1.a.b",
                              "v1.abc.x.y", "v1.1.x", "garbage"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_not_equal(duro_session_verify(S, bad[i], strlen(bad[i]), 0), 0);
}

/* Builds header.payload.signature with HS256 over the given JSON parts. */
static void make_jwt(const char *header, const char *payload,
                     const char *secret, char *out) {
  char h[256], p[256], sig[64];
  duro_b64url_encode((const uint8_t *)header, strlen(header), h);
  duro_b64url_encode((const uint8_t *)payload, strlen(payload), p);
  char msg[600];
  int n = snprintf(msg, sizeof(msg), "%s.%s", h, p);
  unsigned char mac[32];
  unsigned int maclen = 32;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg,
       (size_t)n, mac, &maclen);
  duro_b64url_encode(mac, 32, sig);
  sprintf(out, "%s.%s", msg, sig);
}

static void test_jwt(void **state) {
  char t[1024];
  const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  make_jwt(hs, "{\"sub\":\"u1\",\"exp\":2000}", SECRET, t);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 1000), 0);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 2000),
                   DURO_ETIMEDOUT);
  assert_int_equal(duro_jwt_verify_hs256("wrong", 5, t, strlen(t), 1000),
                   DURO_EACCES);
  /* a tampered payload keeps the old signature */
  char t2[1024], p[128];
  make_jwt(hs, "{\"sub\":\"u1\",\"exp\":2000}", SECRET, t2);
  duro_b64url_encode((const uint8_t *)"{\"sub\":\"admin\",\"exp\":2000}", 27, p);
  char *d1 = strchr(t2, '.'), *d2 = strchr(d1 + 1, '.');
  char forged[1024];
  snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(d1 - t2), t2, p, d2);
  assert_int_equal(duro_jwt_verify_hs256(S, forged, strlen(forged), 1000),
                   DURO_EACCES);
  /* alg none and other algorithms are refused outright */
  make_jwt("{\"alg\":\"none\"}", "{\"exp\":2000}", SECRET, t);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 1000), DURO_EINVAL);
  make_jwt("{\"alg\":\"RS256\"}", "{\"exp\":2000}", SECRET, t);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 1000), DURO_EINVAL);
  /* exp is required; nbf in the future is refused */
  make_jwt(hs, "{\"sub\":\"u1\"}", SECRET, t);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 1000), DURO_EINVAL);
  make_jwt(hs, "{\"exp\":5000,\"nbf\":3000}", SECRET, t);
  /* a future nbf is "not valid yet", not a bad signature */
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 1000), DURO_AGAIN);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 3000), 0);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 3500), 0);
  make_jwt(hs, "{\"exp\":5000,\"nbf\":\"soon\"}", SECRET, t);
  assert_int_equal(duro_jwt_verify_hs256(S, t, strlen(t), 3500), DURO_EINVAL);
  static const char *bad[] = {"", "a", "a.b", "a.b.c.d", "..", "!!.!!.!!"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_not_equal(duro_jwt_verify_hs256(S, bad[i], strlen(bad[i]), 0),
                         0);
}

static void test_cookie_find(void **state) {
  const char *h = "a=1; duro_session=abc.def; b=2";
  size_t n;
  const char *v = duro_cookie_find(h, strlen(h), "duro_session", &n);
  assert_non_null(v);
  assert_int_equal(n, 7);
  assert_memory_equal(v, "abc.def", 7);
  assert_null(duro_cookie_find(h, strlen(h), "duro", &n));
  assert_null(duro_cookie_find("", 0, "a", &n));
  v = duro_cookie_find("x_duro_session=1;duro_session=2", 31, "duro_session",
                       &n);
  assert_non_null(v);
  assert_memory_equal(v, "2", 1);
}

static void test_b64url(void **state) {
  char out[64];
  uint8_t back[64];
  for (size_t len = 0; len < 20; len++) {
    uint8_t in[20];
    for (size_t i = 0; i < len; i++)
      in[i] = (uint8_t)(i * 37 + 250);
    size_t n = duro_b64url_encode(in, len, out);
    assert_int_equal(duro_b64url_decode(out, n, back, sizeof(back)),
                     (long)len);
    assert_memory_equal(in, back, len);
  }
  assert_int_equal(duro_b64url_decode("a", 1, back, sizeof(back)), DURO_EINVAL);
  assert_int_equal(duro_b64url_decode("a*bc", 4, back, sizeof(back)), DURO_EINVAL);
  assert_int_equal(duro_b64url_decode("aaaa", 4, back, 2), DURO_ENOSPC);
  /* non-canonical: unused low bits set in the last character */
  assert_int_equal(duro_b64url_decode("AB", 2, back, sizeof(back)), DURO_EINVAL);
  assert_int_equal(duro_b64url_decode("AQ", 2, back, sizeof(back)), 1);
  /* standard base64's '+' and '/' are other spellings of '-' and '_' */
  assert_int_equal(duro_b64url_decode("ab-_", 4, back, sizeof(back)), 3);
  assert_int_equal(duro_b64url_decode("ab+_", 4, back, sizeof(back)), DURO_EINVAL);
  assert_int_equal(duro_b64url_decode("ab-/", 4, back, sizeof(back)), DURO_EINVAL);
  /* padding only at the end */
  assert_int_equal(duro_b64url_decode("AQ==", 4, back, sizeof(back)), 1);
  assert_int_equal(duro_b64url_decode("AQ=A", 4, back, sizeof(back)), DURO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session_roundtrip),
      cmocka_unit_test(test_session_tampered),
      cmocka_unit_test(test_jwt),
      cmocka_unit_test(test_cookie_find),
      cmocka_unit_test(test_b64url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
