/*
 * handshake.c: the opening handshake checks of handshake.h.
 *
 * Base64 is done here by hand: the inputs are fixed sizes (16 and 20
 * bytes) and validation must be strict about length and alphabet, which
 * the lenient libcrypto decoder is not.
 */
#include "ws/handshake.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sha.h"
#include "core/str.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_LEN 24

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes n bytes as padded base64 into out, NUL-terminated. out needs
 * 4 * ceil(n / 3) + 1 bytes. */
static void b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i = 0;
  for (; n - i >= 3; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 63];
    *out++ = b64_alphabet[(v >> 6) & 63];
    *out++ = b64_alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 63];
    *out++ = b64_alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
  *out = '\0';
}

static int is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of a slice and a NUL-terminated string. */
static int slice_eq(const char *s, size_t n, const char *lit) {
  size_t i = 0;
  for (; i < n; i++)
    if (lit[i] == '\0' || lower(s[i]) != lower(lit[i]))
      return 0;
  return lit[i] == '\0';
}


/* 1 when key is 24 characters of base64 that decode to 16 bytes. */
static int key_valid(const char *key, size_t key_len) {
  if (!key || key_len != KEY_LEN)
    return 0;
  for (size_t i = 0; i < KEY_LEN - 2; i++)
    if (!is_b64(key[i]))
      return 0;
  return key[KEY_LEN - 2] == '=' && key[KEY_LEN - 1] == '=';
}

int duro_ws_accept_key(const char *key, size_t key_len, char out[29]) {
  char in[KEY_LEN + sizeof(WS_GUID) - 1];
  uint8_t digest[DURO_SHA1_LEN];

  if (key)
    key = duro_trim_ows(key, &key_len);
  if (!key_valid(key, key_len))
    return DURO_EINVAL;
  memcpy(in, key, KEY_LEN);
  memcpy(in + KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
  duro_sha1(in, sizeof(in), digest);
  b64_encode(digest, sizeof(digest), out);
  return 0;
}

int duro_http_header_has_token(const char *value, size_t len,
                               const char *token) {
  if (!value || !token || !token[0])
    return 0;
  size_t start = 0;
  while (start <= len) {
    size_t end = start;
    while (end < len && value[end] != ',')
      end++;
    size_t n = end - start;
    const char *elem = duro_trim_ows(value + start, &n);
    if (slice_eq(elem, n, token))
      return 1;
    start = end + 1;
  }
  return 0;
}

int duro_ws_check_upgrade(duro_ws_hdr_t upgrade, duro_ws_hdr_t connection,
                          duro_ws_hdr_t version, duro_ws_hdr_t key,
                          int *out_status, const char **reason) {
  const char *why = NULL;
  int status = 0;

  if (!duro_http_header_has_token(upgrade.ptr, upgrade.len, "websocket")) {
    status = 426;
    why = "Upgrade: websocket required";
  } else if (!duro_http_header_has_token(connection.ptr, connection.len,
                                         "upgrade")) {
    status = 400;
    why = "Connection: upgrade required";
  } else {
    size_t vn = version.len;
    const char *v = version.ptr ? duro_trim_ows(version.ptr, &vn) : NULL;
    size_t kn = key.len;
    const char *k = key.ptr ? duro_trim_ows(key.ptr, &kn) : NULL;
    if (!v || !slice_eq(v, vn, "13")) {
      status = 426;
      why = "unsupported Sec-WebSocket-Version";
    } else if (!key_valid(k, kn)) {
      status = 400;
      why = "missing or invalid Sec-WebSocket-Key";
    }
  }
  if (reason)
    *reason = why;
  *out_status = status;
  return status ? DURO_EPROTO : 0;
}

static int refuse_answer(const char **reason, const char *why) {
  *reason = why;
  return DURO_EPROTO;
}

/* 1 when some LF in data[0..len) is not preceded by a CR. */
static int has_bare_lf(const char *data, size_t len) {
  for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data)));
       p++)
    if (p == data || p[-1] != '\r')
      return 1;
  return 0;
}

int duro_ws_check_answer(const char *data, size_t len, const char key[24],
                         int *status, const char **reason) {
  return duro_ws_check_answer_ext(data, len, key, 0, NULL, status, reason);
}

int duro_ws_check_answer_ext(const char *data, size_t len, const char key[24],
                             int offered_deflate, duro_ws_hdr_t *ext,
                             int *status, const char **reason) {
  if (ext)
    *ext = (duro_ws_hdr_t){NULL, 0};
  int exts = 0;
  *status = 0;
  *reason = NULL;
  const char *end = memmem(data, len, "\r\n\r\n", 4);
  if (has_bare_lf(data, end ? (size_t)(end - data) + 4 : len))
    return refuse_answer(reason, "a line of the answer not ended by CR LF");
  if (!end)
    return DURO_AGAIN;
  size_t head_len = (size_t)(end - data) + 4;
  /* status line: HTTP/1.x SP 3DIGIT [SP reason] */
  const char *eol = memmem(data, head_len, "\r\n", 2);
  size_t sl = (size_t)(eol - data);
  if (sl < 12 || memcmp(data, "HTTP/1.", 7) != 0 || data[7] < '0' ||
      data[7] > '9' || data[8] != ' ' || (sl > 12 && data[12] != ' '))
    return refuse_answer(reason, "malformed status line");
  int code = 0;
  for (size_t i = 9; i < 12; i++) {
    if (data[i] < '0' || data[i] > '9')
      return refuse_answer(reason, "malformed status line");
    code = code * 10 + (data[i] - '0');
  }
  *status = code;
  if (code != 101)
    return refuse_answer(reason, "the upgrade was refused");

  char want[29];
  if (duro_ws_accept_key(key, KEY_LEN, want) < 0)
    return refuse_answer(reason, "bad key");
  int upgrade = 0, connection = 0, accepts = 0;
  const char *p = eol + 2;
  while (p < end + 2) { /* one header line per turn, up to the empty one */
    const char *le = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
    size_t n = (size_t)(le - p);
    if (memchr(p, '\n', n) || memchr(p, '\r', n) || memchr(p, '\0', n))
      return refuse_answer(reason, "bare CR, LF or NUL in a header");
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p || is_ows(p[0]) || is_ows(colon[-1]))
      return refuse_answer(reason, "malformed header line");
    size_t nl = (size_t)(colon - p);
    size_t vl = n - nl - 1;
    const char *v = duro_trim_ows(colon + 1, &vl);
    if (duro_memcaseeq(p, nl, "Upgrade", 7))
      upgrade |= duro_http_header_has_token(v, vl, "websocket");
    else if (duro_memcaseeq(p, nl, "Connection", 10))
      connection |= duro_http_header_has_token(v, vl, "upgrade");
    else if (duro_memcaseeq(p, nl, "Sec-WebSocket-Accept", 20)) {
      if (vl != 28 || memcmp(v, want, 28) != 0)
        return refuse_answer(reason, "wrong accept key");
      accepts++;
    } else if (duro_memcaseeq(p, nl, "Sec-WebSocket-Extensions", 24) &&
               offered_deflate && ext && !exts++ && vl >= 18 &&
               duro_memcaseeq(v, 18, "permessage-deflate", 18) &&
               (vl == 18 || v[18] == ';' || is_ows(v[18]))) {
      /* what we offered, on behalf of the client we relay for: its
       * parameters are the client's to check */
      *ext = (duro_ws_hdr_t){v, vl};
    } else if (duro_memcaseeq(p, nl, "Sec-WebSocket-Extensions", 24) ||
               duro_memcaseeq(p, nl, "Sec-WebSocket-Protocol", 22))
      return refuse_answer(reason, "an extension or subprotocol we did not offer");
    p = le + 2;
  }
  if (!upgrade || !connection)
    return refuse_answer(reason, "no Upgrade: websocket");
  if (accepts != 1)
    return refuse_answer(reason, accepts ? "two accept keys" : "no accept key");
  return (int)head_len;
}

void duro_ws_client_key(char out[25]) {
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
    fprintf(stderr, "duro: no random bytes for a websocket key\n");
    abort();
  }
  b64_encode(nonce, sizeof(nonce), out);
}
