/*
 * deflate.c: see deflate.h.
 */
#include "ws/deflate.h"

#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "core/str.h"

/* ---- the offer ------------------------------------------------------------ */

/* A window-bits value: 8 to 15, digits only (quotes allowed around it,
 * RFC 7692 7.1: a quoted-string whose content is the token). */
static int window_bits(const char *v, size_t n) {
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
    v++, n -= 2;
  if (n == 1 && v[0] >= '8' && v[0] <= '9')
    return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
    return 10 + v[1] - '0';
  return -1;
}

enum {
  P_SERVER_NO_TAKEOVER = 1,
  P_CLIENT_NO_TAKEOVER = 2,
  P_SERVER_BITS = 4,
  P_CLIENT_BITS = 8,
};

/* One parameter, "key" or "key=value", trimmed. Returns its bit, or 0
 * when duro cannot take an offer with it. */
static unsigned param_ok(const char *p, size_t n) {
  const char *eq = memchr(p, '=', n);
  size_t kl = eq ? (size_t)(eq - p) : n;
  const char *k = duro_trim_ows(p, &kl);
  size_t vl = eq ? n - (size_t)(eq - p) - 1 : 0;
  const char *v = eq ? duro_trim_ows(eq + 1, &vl) : NULL;
  if (duro_memcaseeq(k, kl, "server_no_context_takeover", 26))
    return eq ? 0 : P_SERVER_NO_TAKEOVER;
  if (duro_memcaseeq(k, kl, "client_no_context_takeover", 26))
    return eq ? 0 : P_CLIENT_NO_TAKEOVER;
  if (duro_memcaseeq(k, kl, "server_max_window_bits", 22))
    return eq && window_bits(v, vl) == 15 ? P_SERVER_BITS : 0;
  if (duro_memcaseeq(k, kl, "client_max_window_bits", 22))
    return !eq || window_bits(v, vl) > 0 ? P_CLIENT_BITS : 0;
  return 0;
}

/* One offer, "permessage-deflate; param; ...": 1 when duro takes it. */
static int offer_ok(const char *p, size_t n) {
  const char *end = p + n;
  const char *semi = memchr(p, ';', n);
  size_t nl = semi ? (size_t)(semi - p) : n;
  const char *name = duro_trim_ows(p, &nl);
  if (!duro_memcaseeq(name, nl, "permessage-deflate", 18))
    return 0;
  unsigned seen = 0;
  while (semi) {
    const char *q = semi + 1;
    semi = memchr(q, ';', (size_t)(end - q));
    size_t pl = semi ? (size_t)(semi - q) : (size_t)(end - q);
    unsigned bit = param_ok(q, pl);
    if (!bit || (seen & bit))
      return 0;
    seen |= bit;
  }
  return 1;
}

int duro_ws_deflate_accepts(const char *value, size_t len) {
  const char *p = value, *end = value ? value + len : NULL;
  while (p && p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
    if (offer_ok(p, n))
      return 1;
    p = comma ? comma + 1 : end;
  }
  return 0;
}

/* ---- the codec ------------------------------------------------------------- */

/* One stream each for the process (the loop thread), reset per message:
 * no context is taken over, so none is kept per socket. */
static z_stream zdef, zinf;
static int zdef_ready, zinf_ready;

int duro_ws_deflate(const uint8_t *payload, size_t len, duro_buf_t *out) {
  if (!zdef_ready) {
    /* raw deflate (negative window bits), the full 32 KiB window */
    if (deflateInit2(&zdef, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      return DURO_ENOMEM;
    zdef_ready = 1;
  } else {
    deflateReset(&zdef);
  }
  size_t start = out->len;
  /* smaller than the payload or not at all: len bytes of room, plus the
   * 4 of the flush marker that is taken off again */
  size_t room = len + 4;
  uint8_t *dst = duro_buf_reserve(out, room);
  zdef.next_in = (Bytef *)payload;
  zdef.avail_in = (uInt)len;
  zdef.next_out = dst;
  zdef.avail_out = (uInt)room;
  int rc = deflate(&zdef, Z_SYNC_FLUSH);
  if ((rc != Z_OK && rc != Z_BUF_ERROR) || zdef.avail_in != 0 ||
      zdef.avail_out == 0)
    return DURO_E2BIG; /* did not fit: not worth it */
  size_t n = room - zdef.avail_out;
  if (n < 4 || memcmp(dst + n - 4, "\x00\x00\xff\xff", 4) != 0 || n - 4 >= len)
    return DURO_E2BIG;
  out->len = start + n - 4;
  return 0;
}

int duro_ws_inflate(const uint8_t *data, size_t len, size_t max,
                    duro_buf_t *out) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  if (!zinf_ready) {
    if (inflateInit2(&zinf, -15) != Z_OK)
      return DURO_ENOMEM;
    zinf_ready = 1;
  } else {
    inflateReset(&zinf);
  }
  out->len = 0;
  /* the message, then the flush marker the sender took off */
  for (int part = 0; part < 2; part++) {
    zinf.next_in = (Bytef *)(part ? tail : data);
    zinf.avail_in = (uInt)(part ? sizeof(tail) : len);
    while (zinf.avail_in > 0) {
      if (out->len >= max + 1)
        return DURO_E2BIG;
      /* at most one byte past max: enough to know it is too big */
      size_t want = max + 1 - out->len;
      size_t chunk = want < 16384 ? want : 16384;
      uint8_t *dst = duro_buf_reserve(out, chunk);
      zinf.next_out = dst;
      zinf.avail_out = (uInt)chunk;
      int rc = inflate(&zinf, Z_SYNC_FLUSH);
      out->len += chunk - zinf.avail_out;
      if (out->len > max)
        return DURO_E2BIG;
      if (rc == Z_STREAM_END)
        return 0; /* a final block ends the message */
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return DURO_EPROTO;
      if (rc == Z_BUF_ERROR && zinf.avail_out != 0)
        return DURO_EPROTO; /* no progress possible */
    }
  }
  return 0;
}
