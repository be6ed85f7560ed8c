/*
 * frame.c: the RFC 6455 frame codec of frame.h.
 *
 * Writing is a few byte stores plus one memcpy of the payload into a
 * chunk; reading parses the header straight out of the caller's buffer,
 * checks every rule that the header alone can decide before waiting for
 * the payload, then unmasks in place. Only fragmented messages are copied,
 * into the reader's buffer, whose size is checked against max_message
 * before it grows.
 */
#include "ws/frame.h"

#include <assert.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "ws/utf8.h"

size_t duro_ws_header_size(uint64_t payload_len, int masked) {
  size_t n = 2;
  if (payload_len > 65535)
    n += 8;
  else if (payload_len > 125)
    n += 2;
  return masked ? n + 4 : n;
}

size_t duro_ws_write_header(uint8_t *out, int opcode, int fin,
                            uint64_t payload_len, const uint8_t mask[4]) {
  size_t n = 2;
  uint8_t mbit = mask ? 0x80 : 0;

  out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (payload_len <= 125) {
    out[1] = (uint8_t)(mbit | payload_len);
  } else if (payload_len <= 65535) {
    out[1] = mbit | 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    n = 4;
  } else {
    out[1] = mbit | 127;
    for (int i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void duro_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
                  size_t offset) {
  uint8_t key[8];
  uint64_t kw;
  size_t i = 0;

  /* Rotate the key so key[0] applies to data[0]; the 8-byte word is two
   * copies, and 8 is a multiple of 4, so the phase holds across words.
   * Data and key are loaded the same way (memcpy), so byte order does not
   * matter, and memcpy makes unaligned access well-defined. */
  for (int j = 0; j < 8; j++)
    key[j] = mask[(offset + (size_t)j) & 3];
  memcpy(&kw, key, 8);
  for (; len - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, data + i, 8);
    w ^= kw;
    memcpy(data + i, &w, 8);
  }
  for (; i < len; i++)
    data[i] ^= key[i & 3];
}

duro_chunk_t *duro_ws_frame_chunk(int opcode, const void *payload, size_t len) {
  size_t hdr = duro_ws_header_size(len, 0);
  assert(len <= UINT32_MAX - DURO_WS_MAX_HEADER);
  duro_chunk_t *c = duro_chunk_new(hdr + len);
  size_t n = duro_ws_write_header(c->data, opcode, 1, len, NULL);
  assert(n == hdr);
  if (len)
    memcpy(c->data + n, payload, len);
  return c;
}

size_t duro_ws_close_reason_len(const char *reason, size_t len) {
  if (len <= DURO_WS_MAX_CLOSE_REASON)
    return len;
  /* Cut before the continuation bytes of a character that would
   * straddle the limit. */
  len = DURO_WS_MAX_CLOSE_REASON;
  while (len > 0 && ((uint8_t)reason[len] & 0xc0) == 0x80)
    len--;
  return len;
}

duro_chunk_t *duro_ws_close_chunk(uint16_t code, const char *reason,
                                  size_t reason_len) {
  uint8_t payload[DURO_WS_MAX_CONTROL];
  size_t n = 0;

  if (code) {
    reason_len = duro_ws_close_reason_len(reason, reason_len);
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (reason_len)
      memcpy(payload + 2, reason, reason_len);
    n = 2 + reason_len;
  }
  return duro_ws_frame_chunk(DURO_WS_OP_CLOSE, payload, n);
}

int duro_ws_close_code_valid(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

size_t duro_ws_frame_header_len(const uint8_t *frame, size_t len) {
  if (len < 2)
    return 0;
  uint8_t l7 = frame[1] & 0x7f;
  size_t hdr = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
  return hdr + ((frame[1] & 0x80) ? 4 : 0) <= len ? hdr + ((frame[1] & 0x80) ? 4 : 0) : 0;
}

void duro_ws_reader_init(duro_ws_reader_t *r, int expect_masked,
                         size_t max_message) {
  memset(r, 0, sizeof(*r));
  r->expect_masked = expect_masked ? 1 : 0;
  r->utf8_state = DURO_UTF8_ACCEPT;
  r->max_message = max_message;
}

void duro_ws_reader_reset(duro_ws_reader_t *r) {
  duro_buf_free(&r->msg);
  r->msg_opcode = 0;
  r->msg_compressed = 0;
  r->utf8_state = DURO_UTF8_ACCEPT;
}

/* Fills in ev for a violation and returns rc. */
static ssize_t fail(duro_ws_event_t *ev, int rc, uint16_t code,
                    const char *reason) {
  ev->opcode = 0;
  ev->error_code = code;
  ev->error_reason = reason;
  return rc;
}

#define PROTO(reason) fail(ev, DURO_EPROTO, DURO_WS_CLOSE_PROTOCOL, (reason))
#define BADDATA(reason)                                                       \
  fail(ev, DURO_EPROTO, DURO_WS_CLOSE_INVALID_DATA, (reason))
#define TOOBIG() fail(ev, DURO_E2BIG, DURO_WS_CLOSE_TOO_BIG, "message too big")

/* Checks a complete close payload and fills in the event. */
static ssize_t close_frame(duro_ws_event_t *ev, uint8_t *p, size_t n,
                           size_t consumed) {
  if (n == 1)
    return PROTO("invalid close payload");
  if (n == 0) {
    ev->close_code = DURO_WS_CLOSE_NO_STATUS;
  } else {
    unsigned code = (unsigned)p[0] << 8 | p[1];
    if (!duro_ws_close_code_valid(code))
      return PROTO("invalid close code");
    if (duro_utf8_validate(DURO_UTF8_ACCEPT, p + 2, n - 2) != DURO_UTF8_ACCEPT)
      return BADDATA("invalid utf-8");
    ev->close_code = (uint16_t)code;
  }
  ev->opcode = DURO_WS_OP_CLOSE;
  ev->data = p;
  ev->len = n;
  return (ssize_t)consumed;
}

ssize_t duro_ws_reader_feed(duro_ws_reader_t *r, uint8_t *buf, size_t len,
                            duro_ws_event_t *ev) {
  memset(ev, 0, sizeof(*ev));

  /* A message delivered by the previous call is no longer borrowed. */
  if (!r->msg_opcode && r->msg.data)
    duro_buf_free(&r->msg);

  if (len < 2)
    return DURO_AGAIN;

  unsigned b0 = buf[0], b1 = buf[1];
  int fin = (b0 & 0x80) != 0;
  int opcode = (int)(b0 & 0x0f);
  int masked = (b1 & 0x80) != 0;
  uint64_t plen = b1 & 0x7f;
  size_t hdr = 2;

  /* Everything the first two bytes decide, before waiting for more. */
  if (masked != r->expect_masked)
    return PROTO(masked ? "masked frame" : "unmasked frame");
  if (b0 & 0x30)
    return PROTO("reserved bits set");
  /* RSV1: a compressed message (permessage-deflate), flagged on its first
   * frame only, and only where the extension was negotiated */
  int compressed = (b0 & 0x40) != 0;
  if (compressed && !r->deflate)
    return PROTO("reserved bits set");
  if (compressed && (opcode == DURO_WS_OP_CONT || opcode >= DURO_WS_OP_CLOSE))
    return PROTO("RSV1 on a continuation or control frame");
  switch (opcode) {
  case DURO_WS_OP_CONT:
    if (!r->msg_opcode)
      return PROTO("unexpected continuation");
    break;
  case DURO_WS_OP_TEXT:
  case DURO_WS_OP_BINARY:
    if (r->msg_opcode)
      return PROTO("expected continuation");
    break;
  case DURO_WS_OP_CLOSE:
  case DURO_WS_OP_PING:
  case DURO_WS_OP_PONG:
    if (!fin)
      return PROTO("fragmented control frame");
    if (plen > DURO_WS_MAX_CONTROL)
      return PROTO("control frame too big");
    break;
  default:
    return PROTO("unknown opcode");
  }

  if (plen == 126) {
    if (len < 4)
      return DURO_AGAIN;
    plen = (uint64_t)buf[2] << 8 | buf[3];
    hdr = 4;
  } else if (plen == 127) {
    if (len < 10)
      return DURO_AGAIN;
    plen = 0;
    for (int i = 0; i < 8; i++)
      plen = plen << 8 | buf[2 + i];
    if (plen >> 63)
      return PROTO("invalid length");
    hdr = 10;
  }

  /* The size limit is checked on the announcement: never wait for (or
   * buffer) bytes of a message that is bound to be rejected. r->msg.len
   * never exceeds max_message, so the subtraction cannot wrap. */
  if (opcode < DURO_WS_OP_CLOSE) {
    size_t have = r->msg_opcode ? r->msg.len : 0;
    if (plen > (uint64_t)(r->max_message - have))
      return TOOBIG();
  }

  if (masked)
    hdr += 4;
  /* plen is at most max_message (a size_t) or 125 here, so the cast and
   * the sum below cannot wrap once the whole frame is in buf. */
  if (len < hdr || len - hdr < plen)
    return DURO_AGAIN;

  size_t n = (size_t)plen;
  size_t consumed = hdr + n;
  uint8_t *p = buf + hdr;
  if (masked)
    duro_ws_mask(p, n, p - 4, 0);

  if (opcode == DURO_WS_OP_CLOSE)
    return close_frame(ev, p, n, consumed);
  if (opcode >= DURO_WS_OP_CLOSE) {
    ev->opcode = opcode;
    ev->data = p;
    ev->len = n;
    return (ssize_t)consumed;
  }

  if (opcode != DURO_WS_OP_CONT && fin) {
    /* An unfragmented message: deliver it from buf, no copy. A compressed
     * one's text is checked once inflated (by the caller). */
    if (opcode == DURO_WS_OP_TEXT && !compressed &&
        duro_utf8_validate(DURO_UTF8_ACCEPT, p, n) != DURO_UTF8_ACCEPT)
      return BADDATA("invalid utf-8");
    ev->opcode = opcode;
    ev->data = p;
    ev->len = n;
    ev->compressed = (uint8_t)compressed;
    return (ssize_t)consumed;
  }

  if (opcode != DURO_WS_OP_CONT) {
    r->msg_opcode = (uint8_t)opcode;
    r->msg_compressed = (uint8_t)compressed;
    r->utf8_state = DURO_UTF8_ACCEPT;
  }
  if (r->msg_opcode == DURO_WS_OP_TEXT && !r->msg_compressed) {
    r->utf8_state = duro_utf8_validate(r->utf8_state, p, n);
    if (r->utf8_state == DURO_UTF8_REJECT ||
        (fin && r->utf8_state != DURO_UTF8_ACCEPT))
      return BADDATA("invalid utf-8");
  }
  duro_buf_append(&r->msg, p, n);
  if (!fin)
    return (ssize_t)consumed;

  /* The final fragment: hand out the assembled bytes. They stay in r->msg
   * until the next feed call frees them (see the top of this function). */
  ev->opcode = r->msg_opcode;
  ev->data = r->msg.data ? r->msg.data : p;
  ev->len = r->msg.len;
  ev->compressed = r->msg_compressed;
  r->msg_opcode = 0;
  r->msg_compressed = 0;
  r->utf8_state = DURO_UTF8_ACCEPT;
  return (ssize_t)consumed;
}
