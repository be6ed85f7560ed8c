/*
 * handshake.c: the opening handshake checks of handshake.h.
 *
 * Base64 is done here by hand: the inputs are fixed sizes (16 and 20
 * bytes) and validation must be strict about length and alphabet, which
 * the lenient libcrypto decoder is not.
 */
#include "ws/handshake.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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

/* Trims spaces and tabs from both ends of s[0..*n); returns the start. */
static const char *trim(const char *s, size_t *n) {
  while (*n && is_ows(s[0])) {
    s++;
    (*n)--;
  }
  while (*n && is_ows(s[*n - 1]))
    (*n)--;
  return s;
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
  uint8_t digest[SHA_DIGEST_LENGTH];

  if (key)
    key = trim(key, &key_len);
  if (!key_valid(key, key_len))
    return DURO_EINVAL;
  memcpy(in, key, KEY_LEN);
  memcpy(in + KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
  SHA1((const unsigned char *)in, sizeof(in), digest);
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
    const char *elem = trim(value + start, &n);
    if (slice_eq(elem, n, token))
      return 1;
    start = end + 1;
  }
  return 0;
}

int duro_ws_check_upgrade(duro_ws_hdr_t upgrade, duro_ws_hdr_t connection,
                          duro_ws_hdr_t version, duro_ws_hdr_t key,
                          const char **reason) {
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
    const char *v = version.ptr ? trim(version.ptr, &vn) : NULL;
    size_t kn = key.len;
    const char *k = key.ptr ? trim(key.ptr, &kn) : NULL;
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
  return status;
}

void duro_ws_client_key(char out[25]) {
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
    fprintf(stderr, "duro: no random bytes for a websocket key\n");
    abort();
  }
  b64_encode(nonce, sizeof(nonce), out);
}
