/*
 * fuzz_ws_handshake.c: libFuzzer target for the opening handshake checks
 * (src/ws/handshake.c).
 *
 * The input is split at '\n' into up to five slices: Upgrade, Connection,
 * Sec-WebSocket-Version, Sec-WebSocket-Key and a token. A missing slice
 * means an absent header. Each slice is copied into its own exact-size
 * allocation, so reading one byte past a {ptr, len} value trips ASan.
 * Checks: no crash, statuses are only 0/400/426, a 0 comes with a key that
 * accept_key takes, and accept_key output is 28 base64 characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ws/handshake.h"

#define NSLICE 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  duro_ws_hdr_t h[NSLICE];
  char *copies[NSLICE] = {NULL};
  size_t start = 0, n = 0;

  memset(h, 0, sizeof(h));
  while (n < NSLICE && start <= size) {
    const uint8_t *nl = memchr(data + start, '\n', size - start);
    size_t end = nl ? (size_t)(nl - data) : size;
    size_t len = end - start;
    copies[n] = malloc(len ? len : 1);
    if (!copies[n])
      abort();
    if (len)
      memcpy(copies[n], data + start, len);
    h[n].ptr = copies[n];
    h[n].len = len;
    n++;
    if (!nl)
      break;
    start = end + 1;
  }

  const char *reason = NULL;
  int status;
  int checked = duro_ws_check_upgrade(h[0], h[1], h[2], h[3], &status,
                                      &reason);
  if ((checked == 0) != (status == 0) || (checked && checked != DURO_EPROTO))
    abort();
  if (status != 0 && status != 400 && status != 426)
    abort();
  if (status && !reason)
    abort();

  char out[29];
  int rc = duro_ws_accept_key(h[3].ptr, h[3].len, out);
  if (status == 0 && rc != 0)
    abort();
  if (rc == 0 && strlen(out) != 28)
    abort();

  /* The whole input as a header value and as a key. */
  if (duro_ws_accept_key((const char *)data, size, out) == 0 &&
      strlen(out) != 28)
    abort();
  char *token = h[4].ptr ? strndup(h[4].ptr, h[4].len) : NULL;
  if (token) {
    for (int i = 0; i < 4; i++)
      (void)duro_http_header_has_token(h[i].ptr, h[i].len, token);
    free(token);
  }
  (void)duro_http_header_has_token(h[0].ptr, h[0].len, "upgrade");

  for (size_t i = 0; i < n; i++)
    free(copies[i]);
  return 0;
}
