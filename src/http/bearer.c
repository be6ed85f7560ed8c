/* bearer.c: see bearer.h. */
#include "http/bearer.h"

#include <openssl/crypto.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "http/http.h"
#include "net/conn.h"

int duro_bearer_check(const char *var, const char *secret, char *err,
                      size_t errlen) {
  size_t n = strlen(secret); /* C string: from the config */
  if (n == 0 || n > DURO_BEARER_SECRET_MAX)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "%s must be 1 to %d bytes long (it is %zu)", var,
                        DURO_BEARER_SECRET_MAX, n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)secret[i] < 0x21 || (unsigned char)secret[i] > 0x7e)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "%s may hold only visible ASCII characters (no "
                          "spaces, control characters or UTF-8); byte %zu "
                          "is not one",
                          var, i + 1);
  return 0;
}

char *duro_bearer_header(const char *secret) {
  size_t n = strlen(secret); /* C string: checked by duro_bearer_check */
  char *h = duro_malloc(7 + n + 1);
  memcpy(h, "Bearer ", 7);
  memcpy(h + 7, secret, n + 1);
  return h;
}

/* 1 when given (n bytes) is the secret. Always compares secret_len
 * bytes, so that the time taken does not tell how much of a wrong guess
 * was right; a guess of another length is compared with the secret
 * itself and then refused. */
static int secret_equals(const char *given, size_t n, const char *secret,
                         size_t secret_len) {
  int ok = n == secret_len;
  if (!ok)
    given = secret;
  return (CRYPTO_memcmp(given, secret, secret_len) == 0) & ok;
}

int duro_bearer_matches(const char *value, size_t len, const char *secret,
                        size_t secret_len) {
  if (!value || len < 7 || !duro_memcaseeq(value, 7, "Bearer ", 7))
    return 0;
  return secret_equals(value + 7, len - 7, secret, secret_len);
}

int duro_bearer_allows(const duro_http_req_t *req, const char *secret,
                       size_t secret_len) {
  if (!secret)
    return req->conn && duro_conn_is_loopback(req->conn);
  const duro_header_t *h = duro_http_header(req, "Authorization");
  return h && duro_bearer_matches(h->value, h->value_len, secret, secret_len);
}

int duro_secret_header_allows(const duro_http_req_t *req, const char *secret,
                              size_t secret_len) {
  if (!secret)
    return 0;
  const duro_header_t *h = duro_http_header(req, DURO_SECRET_HEADER);
  return h && secret_equals(h->value, h->value_len, secret, secret_len);
}
