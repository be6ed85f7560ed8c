/* session.c: see session.h. */
#include "frontend/session.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64url.h"
#include "core/err.h"
#include "core/str.h"

static void hmac(const char *secret, size_t slen, const char *msg, size_t len,
                 uint8_t out[32]) {
  unsigned int n = 32;
  HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)msg, len, out,
       &n);
}

size_t duro_session_issue(const char *secret, size_t secret_len, int64_t exp_s,
                          char *out) {
  uint8_t nonce[12], sig[32];
  char nonce_b64[24], sig_b64[48];
  RAND_bytes(nonce, sizeof(nonce));
  duro_b64url_encode(nonce, sizeof(nonce), nonce_b64);
  /* "v1." 20 digits "." 16 ".": 43 of the 128 bytes; the signature 43 */
  int n = duro_fmt(out, DURO_SESSION_TOKEN_MAX, "v1.%lld.%s",
                   (long long)exp_s, nonce_b64);
  if (n < 0)
    abort();
  hmac(secret, secret_len, out, (size_t)n, sig);
  duro_b64url_encode(sig, sizeof(sig), sig_b64);
  int m = duro_fmt(out + n, DURO_SESSION_TOKEN_MAX - (size_t)n, ".%s",
                   sig_b64);
  if (m < 0)
    abort();
  return (size_t)(n + m);
}

/* Checks that the last '.'-separated part of tok is the base64url HMAC of
 * everything before it. */
static int check_sig(const char *secret, size_t slen, const char *tok,
                     size_t len) {
  const char *dot = NULL;
  for (size_t i = len; i-- > 0;)
    if (tok[i] == '.') {
      dot = tok + i;
      break;
    }
  if (!dot)
    return DURO_EINVAL;
  uint8_t want[32], got[40];
  long gl = duro_b64url_decode(dot + 1, len - (size_t)(dot + 1 - tok), got,
                               sizeof(got));
  if (gl != 32)
    return DURO_EINVAL;
  hmac(secret, slen, tok, (size_t)(dot - tok), want);
  return CRYPTO_memcmp(want, got, 32) == 0 ? 0 : DURO_EACCES;
}

int duro_session_verify(const char *secret, size_t secret_len,
                        const char *tok, size_t len, int64_t now_s) {
  if (len < 8 || len >= DURO_SESSION_TOKEN_MAX || memcmp(tok, "v1.", 3) != 0)
    return DURO_EINVAL;
  int rc = check_sig(secret, secret_len, tok, len);
  if (rc)
    return rc;
  /* signed, so the expiry can be trusted */
  int64_t exp = 0;
  size_t i = 3;
  if (i >= len || tok[i] < '0' || tok[i] > '9')
    return DURO_EINVAL;
  for (; i < len && tok[i] >= '0' && tok[i] <= '9'; i++) {
    if (exp > (INT64_MAX - 9) / 10)
      return DURO_EINVAL;
    exp = exp * 10 + (tok[i] - '0');
  }
  if (i >= len || tok[i] != '.')
    return DURO_EINVAL;
  return now_s < exp ? 0 : DURO_ETIMEDOUT;
}

static cJSON *decode_json_part(const char *p, size_t len) {
  uint8_t buf[2048];
  long n = duro_b64url_decode(p, len, buf, sizeof(buf));
  if (n < 0)
    return NULL;
  return cJSON_ParseWithLength((const char *)buf, (size_t)n);
}

int duro_jwt_verify_hs256(const char *secret, size_t secret_len,
                          const char *tok, size_t len, int64_t now_s) {
  const char *d1 = memchr(tok, '.', len);
  if (!d1)
    return DURO_EINVAL;
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
    return DURO_EINVAL;
  cJSON *hdr = decode_json_part(tok, (size_t)(d1 - tok));
  if (!hdr)
    return DURO_EINVAL;
  const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
  int alg_ok = cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0;
  cJSON_Delete(hdr);
  if (!alg_ok)
    return DURO_EINVAL; /* never "none", never a key-type confusion */
  int rc = check_sig(secret, secret_len, tok, len);
  if (rc)
    return rc;
  cJSON *claims = decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
  if (!claims)
    return DURO_EINVAL;
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
  const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
  rc = 0;
  if (!cJSON_IsNumber(exp))
    rc = DURO_EINVAL;
  else if ((double)now_s >= exp->valuedouble)
    rc = DURO_ETIMEDOUT;
  else if (nbf && !cJSON_IsNumber(nbf))
    rc = DURO_EINVAL;
  else if (nbf && (double)now_s < nbf->valuedouble)
    rc = DURO_AGAIN; /* signed and well-formed, but not valid yet */
  cJSON_Delete(claims);
  return rc;
}

const char *duro_cookie_find(const char *h, size_t len, const char *name,
                             size_t *vlen) {
  size_t nl = strlen(name); /* C string: the cookie's name, a literal */
  size_t i = 0;
  while (i < len) {
    while (i < len && (h[i] == ' ' || h[i] == ';' || h[i] == '\t'))
      i++;
    size_t start = i;
    while (i < len && h[i] != ';')
      i++;
    size_t end = i;
    while (end > start && (h[end - 1] == ' ' || h[end - 1] == '\t'))
      end--;
    if (end - start > nl && h[start + nl] == '=' &&
        memcmp(h + start, name, nl) == 0) {
      *vlen = end - start - nl - 1;
      return h + start + nl + 1;
    }
  }
  return NULL;
}
