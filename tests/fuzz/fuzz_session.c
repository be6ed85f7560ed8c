/*
 * fuzz_session.c: session tokens, HS256 JWTs and Cookie headers, the
 * frontend's parsers of client-supplied credentials. Nothing may crash,
 * and nothing forged may verify.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64url.h"
#include "frontend/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char secret[] = "fuzzing-secret-0123456789";
  const char *s = (const char *)data;
  /* A random input is never a valid signature under our secret. */
  if (duro_session_verify(secret, sizeof(secret) - 1, s, size, 0) == 0 &&
      size > 0 && memcmp(s, "v1.", 3) == 0) {
    /* possible only if the fuzzer found an HMAC collision */
    abort();
  }
  duro_jwt_verify_hs256(secret, sizeof(secret) - 1, s, size, 1000);
  size_t vlen;
  const char *v = duro_cookie_find(s, size, "duro_session", &vlen);
  if (v && (v < s || v + vlen > s + size))
    abort();
  uint8_t out[4096];
  duro_b64url_decode(s, size, out, sizeof(out));
  return 0;
}
