/*
 * test_frame.c: the RFC 6455 frame codec (src/ws/frame.c).
 *
 * Header writing and reading for every opcode and the length boundaries
 * (0, 125, 126, 65535, 65536), masking at every key offset and alignment,
 * the server-side chunk builders, fragmentation with interleaved control
 * frames and split UTF-8, every protocol violation with the close code it
 * must produce, and a multi-frame stream fed split at every offset and
 * byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "ws/frame.h"

static const uint8_t test_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/*
 * Appends one frame to b: first byte b0 (FIN, RSV and opcode bits as
 * given), a header announcing len bytes, then n bytes of payload (n may be
 * less than len to build truncated or header-only frames), masked with
 * test_mask when masked.
 */
static void put_frame(duro_buf_t *b, uint8_t b0, uint64_t len,
                      const void *payload, size_t n, int masked) {
  uint8_t hdr[DURO_WS_MAX_HEADER];
  size_t h = duro_ws_write_header(hdr, b0 & 0x0f, b0 & FIN, len,
                                  masked ? test_mask : NULL);
  hdr[0] = b0;
  duro_buf_append(b, hdr, h);
  if (n) {
    uint8_t *p = duro_buf_reserve(b, n);
    memcpy(p, payload, n);
    if (masked)
      duro_ws_mask(p, n, test_mask, 0);
    b->len += n;
  }
}

/* A frame whose announced length matches its payload. */
static void put(duro_buf_t *b, uint8_t b0, const void *payload, size_t n,
                int masked) {
  put_frame(b, b0, n, payload, n, masked);
}

static void put_str(duro_buf_t *b, uint8_t b0, const char *s, int masked) {
  put(b, b0, s, strlen(s), masked);
}

/* A recorded event, with a copy of its payload. */
struct rec {
  ssize_t rc;
  int opcode;
  uint16_t close_code;
  size_t len;
  uint8_t *data;
};

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)('a' + (i * 7 + seed) % 26);
}

/* ---------------------------------------------------------------- headers */

static void test_header_size(void **state) {
  static const struct {
    uint64_t len;
    size_t size;
  } t[] = {{0, 2},      {1, 2},          {125, 2},      {126, 4},
           {127, 4},    {65535, 4},      {65536, 10},   {UINT32_MAX, 10},
           {UINT64_C(1) << 62, 10}};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    assert_int_equal(duro_ws_header_size(t[i].len, 0), t[i].size);
    assert_int_equal(duro_ws_header_size(t[i].len, 1), t[i].size + 4);
  }
}

static const int all_opcodes[] = {DURO_WS_OP_CONT,  DURO_WS_OP_TEXT,
                                  DURO_WS_OP_BINARY, DURO_WS_OP_CLOSE,
                                  DURO_WS_OP_PING,  DURO_WS_OP_PONG};
static const uint64_t boundary_lens[] = {0, 125, 126, 65535, 65536};

static void test_write_header_bytes(void **state) {
  for (size_t o = 0; o < 6; o++) {
    for (size_t l = 0; l < 5; l++) {
      for (int fin = 0; fin <= 1; fin++) {
        for (int masked = 0; masked <= 1; masked++) {
          int op = all_opcodes[o];
          uint64_t len = boundary_lens[l];
          uint8_t out[DURO_WS_MAX_HEADER + 1];
          memset(out, 0xee, sizeof(out));
          size_t n = duro_ws_write_header(out, op, fin, len,
                                          masked ? test_mask : NULL);
          assert_int_equal(n, duro_ws_header_size(len, masked));
          assert_int_equal(out[n], 0xee); /* nothing past the header */
          assert_int_equal(out[0], (fin ? 0x80 : 0) | op);
          assert_int_equal(out[1] & 0x80, masked ? 0x80 : 0);
          size_t at;
          if (len <= 125) {
            assert_int_equal(out[1] & 0x7f, len);
            at = 2;
          } else if (len <= 65535) {
            assert_int_equal(out[1] & 0x7f, 126);
            assert_int_equal((out[2] << 8) | out[3], len);
            at = 4;
          } else {
            assert_int_equal(out[1] & 0x7f, 127);
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
              v = v << 8 | out[2 + i];
            assert_int_equal(v, len);
            at = 10;
          }
          if (masked)
            assert_memory_equal(out + at, test_mask, 4);
          assert_int_equal(n, at + (masked ? 4 : 0));
        }
      }
    }
  }
  /* The RFC 6455 5.7 examples. */
  uint8_t out[DURO_WS_MAX_HEADER];
  assert_int_equal(duro_ws_write_header(out, DURO_WS_OP_TEXT, 1, 5, NULL), 2);
  assert_memory_equal(out, "\x81\x05", 2);
  assert_int_equal(duro_ws_write_header(out, DURO_WS_OP_BINARY, 1, 256, NULL),
                   4);
  assert_memory_equal(out, "\x82\x7e\x01\x00", 4);
  assert_int_equal(
      duro_ws_write_header(out, DURO_WS_OP_BINARY, 1, 65536, NULL), 10);
  assert_memory_equal(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
}

/* Header then payload, read back by a reader of the matching side, for
 * every opcode and boundary length. */
static void test_roundtrip_lengths(void **state) {
  uint8_t *payload = duro_malloc(65536);
  fill(payload, 65536, 3);
  for (int masked = 0; masked <= 1; masked++) {
    for (size_t o = 0; o < 6; o++) {
      for (size_t l = 0; l < 5; l++) {
        int op = all_opcodes[o];
        size_t len = (size_t)boundary_lens[l];
        int control = op >= DURO_WS_OP_CLOSE;
        duro_ws_reader_t r;
        duro_ws_event_t ev;
        duro_buf_t b = DURO_BUF_INIT;
        size_t skip = 0;
        duro_ws_reader_init(&r, masked, 1 << 20);

        if (op == DURO_WS_OP_CONT) /* open a message for it to continue */
          put(&b, DURO_WS_OP_BINARY, NULL, 0, masked);
        skip = b.len;
        /* A close payload of this length: code 1000 plus ASCII. */
        if (op == DURO_WS_OP_CLOSE && len >= 2) {
          payload[0] = 0x03;
          payload[1] = 0xe8;
        }
        put(&b, (uint8_t)(FIN | op), payload, len, masked);
        if (op == DURO_WS_OP_CLOSE && len == 1) {
          duro_buf_free(&b);
          continue;
        }

        if (skip) {
          assert_int_equal(duro_ws_reader_feed(&r, b.data, skip, &ev), skip);
          assert_int_equal(ev.opcode, 0);
        }
        ssize_t rc = duro_ws_reader_feed(&r, b.data + skip, b.len - skip, &ev);
        if (control && len > 125) {
          assert_int_equal(rc, DURO_EPROTO);
          assert_int_equal(ev.error_code, DURO_WS_CLOSE_PROTOCOL);
        } else {
          assert_int_equal(rc, b.len - skip);
          assert_int_equal(ev.opcode,
                           op == DURO_WS_OP_CONT ? DURO_WS_OP_BINARY : op);
          assert_int_equal(ev.len, len);
          assert_non_null(ev.data);
          if (len)
            assert_memory_equal(ev.data, payload, len);
          if (op == DURO_WS_OP_CLOSE)
            assert_int_equal(ev.close_code, len ? 1000 : 1005);
          /* An unfragmented frame is delivered from the input buffer. */
          if (op != DURO_WS_OP_CONT)
            assert_ptr_equal(ev.data, b.data + skip +
                                          duro_ws_header_size(len, masked));
        }
        fill(payload, 2, 3); /* undo the close code for the next case */
        duro_ws_reader_reset(&r);
        duro_buf_free(&b);
      }
    }
  }
  duro_free(payload);
}

/* Non-minimal length encodings are accepted. */
static void test_nonminimal_length(void **state) {
  uint8_t f[32];
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  duro_ws_reader_init(&r, 0, 1024);

  memcpy(f, "\x82\x7e\x00\x03" "abc", 7);
  assert_int_equal(duro_ws_reader_feed(&r, f, 7, &ev), 7);
  assert_int_equal(ev.opcode, DURO_WS_OP_BINARY);
  assert_int_equal(ev.len, 3);
  assert_memory_equal(ev.data, "abc", 3);

  memcpy(f, "\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x02" "hi", 12);
  assert_int_equal(duro_ws_reader_feed(&r, f, 12, &ev), 12);
  assert_int_equal(ev.opcode, DURO_WS_OP_TEXT);
  assert_int_equal(ev.len, 2);
  assert_memory_equal(ev.data, "hi", 2);
  duro_ws_reader_reset(&r);
}

/* The RFC 6455 5.7 masked "Hello". */
static void test_rfc_masked_example(void **state) {
  uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  duro_ws_reader_init(&r, 1, 1024);
  assert_int_equal(duro_ws_reader_feed(&r, f, sizeof(f), &ev), sizeof(f));
  assert_int_equal(ev.opcode, DURO_WS_OP_TEXT);
  assert_int_equal(ev.len, 5);
  assert_memory_equal(ev.data, "Hello", 5);
  duro_ws_reader_reset(&r);
}

/* ---------------------------------------------------------------- masking */

static void test_mask_offsets(void **state) {
  uint8_t buf[96], want[96], orig[96];
  for (size_t i = 0; i < sizeof(orig); i++)
    orig[i] = (uint8_t)(i * 31 + 7);
  for (size_t offset = 0; offset < 8; offset++) {
    for (size_t align = 0; align < 8; align++) {
      for (size_t len = 0; len + align <= 80; len++) {
        memcpy(buf, orig, sizeof(buf));
        memcpy(want, orig, sizeof(want));
        for (size_t i = 0; i < len; i++)
          want[align + i] ^= test_mask[(offset + i) % 4];
        duro_ws_mask(buf + align, len, test_mask, offset);
        assert_memory_equal(buf, want, sizeof(buf)); /* no stray writes */
        duro_ws_mask(buf + align, len, test_mask, offset);
        assert_memory_equal(buf, orig, sizeof(buf));
      }
    }
  }
  /* Masking in two pieces, passing the bytes done as the offset, equals
   * masking in one pass. */
  for (size_t cut = 0; cut <= 80; cut++) {
    memcpy(buf, orig, sizeof(buf));
    memcpy(want, orig, sizeof(want));
    duro_ws_mask(want, 80, test_mask, 0);
    duro_ws_mask(buf, cut, test_mask, 0);
    duro_ws_mask(buf + cut, 80 - cut, test_mask, cut);
    assert_memory_equal(buf, want, sizeof(buf));
  }
}

/* ---------------------------------------------------------- chunk builders */

static void test_frame_chunk(void **state) {
  uint8_t *payload = duro_malloc(65536);
  fill(payload, 65536, 11);
  for (size_t o = 1; o < 6; o++) {
    for (size_t l = 0; l < 5; l++) {
      int op = all_opcodes[o];
      size_t len = (size_t)boundary_lens[l];
      if (op >= DURO_WS_OP_CLOSE && len > 125)
        continue;
      if (op == DURO_WS_OP_CLOSE && len >= 2) {
        payload[0] = 0x0f;
        payload[1] = 0xa0; /* 4000 */
      }
      duro_chunk_t *c = duro_ws_frame_chunk(op, payload, len);
      size_t h = duro_ws_header_size(len, 0);
      assert_int_equal(c->refs, 1);
      assert_int_equal(c->len, h + len);
      assert_int_equal(c->data[0], 0x80 | op);
      assert_int_equal(c->data[1] & 0x80, 0);
      if (len)
        assert_memory_equal(c->data + h, payload, len);

      /* A client-side reader accepts it as is. */
      duro_ws_reader_t r;
      duro_ws_event_t ev;
      duro_ws_reader_init(&r, 0, 1 << 20);
      uint8_t *copy = duro_memdup(c->data, c->len);
      assert_int_equal(duro_ws_reader_feed(&r, copy, c->len, &ev), c->len);
      assert_int_equal(ev.opcode, op);
      assert_int_equal(ev.len, len);
      if (op == DURO_WS_OP_CLOSE)
        assert_int_equal(ev.close_code, len ? 4000 : 1005);
      duro_free(copy);
      duro_ws_reader_reset(&r);
      duro_chunk_unref(c);
    }
  }
  duro_chunk_t *c = duro_ws_frame_chunk(DURO_WS_OP_BINARY, NULL, 0);
  assert_int_equal(c->len, 2);
  assert_memory_equal(c->data, "\x82\x00", 2);
  duro_chunk_unref(c);
  duro_free(payload);
}

/* Reads back a close chunk and returns the reason length. */
static size_t read_close(duro_chunk_t *c, uint16_t code) {
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  duro_ws_reader_init(&r, 0, 1024);
  uint8_t *copy = duro_memdup(c->data, c->len);
  assert_int_equal(duro_ws_reader_feed(&r, copy, c->len, &ev), c->len);
  assert_int_equal(ev.opcode, DURO_WS_OP_CLOSE);
  assert_int_equal(ev.close_code, code ? code : 1005);
  assert_true(ev.len <= 125);
  size_t n = ev.len >= 2 ? ev.len - 2 : 0;
  duro_free(copy);
  duro_ws_reader_reset(&r);
  return n;
}

static void test_close_chunk(void **state) {
  duro_chunk_t *c = duro_ws_close_chunk(0, "ignored", 7);
  assert_int_equal(c->len, 2);
  assert_memory_equal(c->data, "\x88\x00", 2);
  assert_int_equal(read_close(c, 0), 0);
  duro_chunk_unref(c);

  c = duro_ws_close_chunk(1000, NULL, 0);
  assert_int_equal(c->len, 4);
  assert_memory_equal(c->data, "\x88\x02\x03\xe8", 4);
  duro_chunk_unref(c);

  c = duro_ws_close_chunk(DURO_WS_CLOSE_TOO_BIG, "bye", 3);
  assert_int_equal(c->len, 7);
  assert_memory_equal(c->data, "\x88\x05\x03\xf1" "bye", 7);
  assert_int_equal(read_close(c, 1009), 3);
  duro_chunk_unref(c);

  /* Truncation to 123 bytes on a character boundary, for characters of
   * 1, 2, 3 and 4 bytes. */
  static const struct {
    const char *ch;
    size_t want;
  } t[] = {{"a", 123}, {"\xc3\xa9", 122}, {"\xe2\x82\xac", 123},
           {"\xf0\x9f\x98\x80", 120}};
  char reason[400];
  for (size_t i = 0; i < 4; i++) {
    size_t w = strlen(t[i].ch), n = 0;
    while (n + w <= sizeof(reason)) {
      memcpy(reason + n, t[i].ch, w);
      n += w;
    }
    for (size_t len = w * (118 / w); len <= n; len += w) {
      c = duro_ws_close_chunk(4321, reason, len);
      size_t got = read_close(c, 4321); /* also checks it is valid UTF-8 */
      assert_int_equal(got, len <= 123 ? len : t[i].want);
      assert_memory_equal(c->data + 4, reason, got);
      duro_chunk_unref(c);
    }
  }
}

static void test_close_code_valid(void **state) {
  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                  4000, 4999};
  static const unsigned bad[] = {0,    1,    999,  1004, 1005, 1006,
                                 1015, 1016, 1100, 2000, 2999, 5000,
                                 65535, 100000};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!duro_ws_close_code_valid(good[i]))
      fail_msg("%u should be valid", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (duro_ws_close_code_valid(bad[i]))
      fail_msg("%u should be invalid", bad[i]);
}

/* ---------------------------------------------------------- fragmentation */

/* Feeds all of b (which must hold whole frames) and records each result. */
static size_t feed_all(duro_ws_reader_t *r, duro_buf_t *b, struct rec *out,
                       size_t max) {
  size_t off = 0, n = 0;
  while (off < b->len && n < max) {
    duro_ws_event_t ev;
    ssize_t rc = duro_ws_reader_feed(r, b->data + off, b->len - off, &ev);
    out[n].rc = rc;
    out[n].opcode = ev.opcode;
    out[n].len = ev.len;
    out[n].close_code = rc < 0 ? ev.error_code : ev.close_code;
    out[n].data = ev.opcode ? duro_memdup(ev.data, ev.len) : NULL;
    n++;
    if (rc <= 0)
      break;
    off += (size_t)rc;
  }
  return n;
}

static void free_recs(struct rec *recs, size_t n) {
  for (size_t i = 0; i < n; i++)
    duro_free(recs[i].data);
}

static void test_fragmented_text_with_ping(void **state) {
  /* "Grüße, wörld" with the ü split between fragments 1 and 2. */
  const char *msg = "Gr\xc3\xbc\xc3\x9f" "e, w\xc3\xb6rld";
  size_t n = strlen(msg);
  duro_buf_t b = DURO_BUF_INIT;
  duro_ws_reader_t r;
  struct rec recs[8];
  duro_ws_reader_init(&r, 1, 1024);

  put(&b, DURO_WS_OP_TEXT, msg, 3, 1);                 /* "Gr\xc3" */
  put(&b, FIN | DURO_WS_OP_PING, "ping!", 5, 1);       /* in between */
  put(&b, DURO_WS_OP_CONT, msg + 3, 6, 1);             /* "\xbc\xc3\x9f" "e, " */
  put(&b, FIN | DURO_WS_OP_PONG, NULL, 0, 1);
  put(&b, FIN | DURO_WS_OP_CONT, msg + 9, n - 9, 1);   /* "w\xc3\xb6rld" */
  put(&b, FIN | DURO_WS_OP_BINARY, "\x00\xff", 2, 1);  /* next message */

  assert_null(r.msg.data);
  size_t k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 6);
  assert_int_equal(recs[0].opcode, 0);
  assert_int_equal(recs[1].opcode, DURO_WS_OP_PING);
  assert_int_equal(recs[1].len, 5);
  assert_memory_equal(recs[1].data, "ping!", 5);
  assert_int_equal(recs[2].opcode, 0);
  assert_int_equal(recs[3].opcode, DURO_WS_OP_PONG);
  assert_int_equal(recs[3].len, 0);
  assert_int_equal(recs[4].opcode, DURO_WS_OP_TEXT);
  assert_int_equal(recs[4].len, n);
  assert_memory_equal(recs[4].data, msg, n);
  assert_int_equal(recs[5].opcode, DURO_WS_OP_BINARY);
  assert_int_equal(recs[5].len, 2);
  assert_memory_equal(recs[5].data, "\x00\xff", 2);
  for (size_t i = 0; i < k; i++)
    assert_true(recs[i].rc > 0);
  /* The feed after the delivery released the message storage. */
  assert_null(r.msg.data);
  assert_int_equal(r.msg_opcode, 0);
  free_recs(recs, k);
  duro_buf_free(&b);
  duro_ws_reader_reset(&r);
}

/* A 4-byte character split one byte per fragment is valid; text that ends
 * inside a character, or goes bad in a middle fragment, is 1007 at once. */
static void test_utf8_across_fragments(void **state) {
  const char *emoji = "\xf0\x9f\x98\x80";
  duro_buf_t b = DURO_BUF_INIT;
  duro_ws_reader_t r;
  struct rec recs[8];
  size_t k;

  duro_ws_reader_init(&r, 1, 1024);
  put(&b, DURO_WS_OP_TEXT, emoji, 1, 1);
  put(&b, DURO_WS_OP_CONT, emoji + 1, 1, 1);
  put(&b, DURO_WS_OP_CONT, emoji + 2, 1, 1);
  put(&b, FIN | DURO_WS_OP_CONT, emoji + 3, 1, 1);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 4);
  assert_int_equal(recs[3].opcode, DURO_WS_OP_TEXT);
  assert_int_equal(recs[3].len, 4);
  assert_memory_equal(recs[3].data, emoji, 4);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  b.len = 0;

  /* Final fragment leaves a character incomplete. */
  put(&b, DURO_WS_OP_TEXT, "ok", 2, 1);
  put(&b, FIN | DURO_WS_OP_CONT, emoji, 3, 1);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 2);
  assert_int_equal(recs[1].rc, DURO_EPROTO);
  assert_int_equal(recs[1].close_code, DURO_WS_CLOSE_INVALID_DATA);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  b.len = 0;

  /* Invalid in the first fragment: rejected before the message ends. */
  put(&b, DURO_WS_OP_TEXT, "a\xed\xa0\x80", 4, 1);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 1);
  assert_int_equal(recs[0].rc, DURO_EPROTO);
  assert_int_equal(recs[0].close_code, DURO_WS_CLOSE_INVALID_DATA);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  b.len = 0;

  /* Binary messages are not checked. */
  put(&b, DURO_WS_OP_BINARY, "\xff", 1, 1);
  put(&b, FIN | DURO_WS_OP_CONT, "\xc3", 1, 1);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 2);
  assert_int_equal(recs[1].opcode, DURO_WS_OP_BINARY);
  assert_int_equal(recs[1].len, 2);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  duro_buf_free(&b);
}

/* Fragments with empty payloads, and a reset mid-message. */
static void test_empty_fragments_and_reset(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_ws_reader_t r;
  struct rec recs[8];
  duro_ws_reader_init(&r, 0, 16);

  put(&b, DURO_WS_OP_TEXT, NULL, 0, 0);
  put(&b, DURO_WS_OP_CONT, NULL, 0, 0);
  put(&b, FIN | DURO_WS_OP_CONT, NULL, 0, 0);
  size_t k = feed_all(&r, &b, recs, 8);
  assert_int_equal(k, 3);
  assert_int_equal(recs[2].opcode, DURO_WS_OP_TEXT);
  assert_int_equal(recs[2].len, 0);
  free_recs(recs, k);

  b.len = 0;
  put(&b, DURO_WS_OP_BINARY, "abc", 3, 0);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(recs[0].rc, 5);
  assert_int_equal(r.msg_opcode, DURO_WS_OP_BINARY);
  assert_non_null(r.msg.data);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  assert_null(r.msg.data);
  assert_int_equal(r.msg_opcode, 0);
  assert_int_equal(r.max_message, 16);
  assert_int_equal(r.expect_masked, 0);

  /* After the reset a continuation has nothing to continue. */
  b.len = 0;
  put(&b, FIN | DURO_WS_OP_CONT, "d", 1, 0);
  k = feed_all(&r, &b, recs, 8);
  assert_int_equal(recs[0].rc, DURO_EPROTO);
  assert_int_equal(recs[0].close_code, DURO_WS_CLOSE_PROTOCOL);
  free_recs(recs, k);
  duro_ws_reader_reset(&r);
  duro_buf_free(&b);
}

/* ------------------------------------------------------------ error paths */

#define MAXF 4
struct frame_spec {
  uint8_t b0;
  int mask; /* -1: as the reader expects; 0/1: forced */
  uint64_t len; /* announced; UINT64_MAX: n */
  const char *payload;
  size_t n;
};

struct error_case {
  const char *name;
  int expect_masked;
  size_t max_message;
  struct frame_spec f[MAXF]; /* all but the last must succeed */
  size_t nf;
  ssize_t rc;
  uint16_t code;
};

#define F(b0, s) {(b0), -1, UINT64_MAX, (s), sizeof(s) - 1}
#define FM(b0, m, s) {(b0), (m), UINT64_MAX, (s), sizeof(s) - 1}
#define FL(b0, len) {(b0), -1, (len), NULL, 0}

#define P DURO_EPROTO, DURO_WS_CLOSE_PROTOCOL
#define D DURO_EPROTO, DURO_WS_CLOSE_INVALID_DATA
#define B DURO_E2BIG, DURO_WS_CLOSE_TOO_BIG

static const struct error_case error_cases[] = {
    {"unmasked frame to server", 1, 64, {FM(FIN | 1, 0, "hi")}, 1, P},
    {"masked frame to client", 0, 64, {FM(FIN | 1, 1, "hi")}, 1, P},
    {"unmasked control to server", 1, 64, {FM(FIN | 9, 0, "")}, 1, P},
    {"RSV1", 1, 64, {F(FIN | RSV1 | 1, "hi")}, 1, P},
    {"RSV2", 1, 64, {F(FIN | RSV2 | 2, "hi")}, 1, P},
    {"RSV3", 0, 64, {F(FIN | RSV3 | 9, "")}, 1, P},
    {"RSV on continuation", 1, 64, {F(1, "a"), F(FIN | RSV1, "b")}, 2, P},
    {"opcode 3", 1, 64, {F(FIN | 3, "")}, 1, P},
    {"opcode 4", 1, 64, {F(FIN | 4, "")}, 1, P},
    {"opcode 5", 1, 64, {F(FIN | 5, "")}, 1, P},
    {"opcode 6", 1, 64, {F(FIN | 6, "")}, 1, P},
    {"opcode 7", 1, 64, {F(FIN | 7, "")}, 1, P},
    {"opcode 11", 1, 64, {F(FIN | 11, "")}, 1, P},
    {"opcode 12", 1, 64, {F(FIN | 12, "")}, 1, P},
    {"opcode 13", 1, 64, {F(FIN | 13, "")}, 1, P},
    {"opcode 14", 1, 64, {F(FIN | 14, "")}, 1, P},
    {"opcode 15", 0, 64, {F(FIN | 15, "")}, 1, P},
    {"fragmented ping", 1, 64, {F(9, "x")}, 1, P},
    {"fragmented pong", 1, 64, {F(10, "")}, 1, P},
    {"fragmented close", 1, 64, {F(8, "\x03\xe8")}, 1, P},
    {"ping of 126", 1, 1024, {FL(FIN | 9, 126)}, 1, P},
    {"pong of 65536", 0, 1024, {FL(FIN | 10, 65536)}, 1, P},
    {"close of 126", 1, 1024, {FL(FIN | 8, 126)}, 1, P},
    {"continuation first", 1, 64, {F(FIN | 0, "a")}, 1, P},
    {"non-final continuation first", 1, 64, {F(0, "a")}, 1, P},
    {"continuation after message", 1, 64, {F(FIN | 1, "a"), F(FIN, "b")}, 2, P},
    {"text while fragmented", 1, 64, {F(1, "a"), F(FIN | 1, "b")}, 2, P},
    {"binary while fragmented", 1, 64, {F(2, "a"), F(2, "b")}, 2, P},
    {"text after ping mid-message",
     1,
     64,
     {F(1, "a"), F(FIN | 9, ""), F(FIN | 1, "b")},
     3,
     P},
    {"64-bit length top bit", 1, 64, {FL(FIN | 2, UINT64_C(1) << 63)}, 1, P},
    {"64-bit length all ones", 0, 64, {FL(FIN | 2, UINT64_MAX - 1)}, 1, P},
    {"close payload of 1", 1, 64, {F(FIN | 8, "\x03")}, 1, P},
    {"close code 0", 1, 64, {F(FIN | 8, "\x00\x00")}, 1, P},
    {"close code 999", 1, 64, {F(FIN | 8, "\x03\xe7")}, 1, P},
    {"close code 1004", 1, 64, {F(FIN | 8, "\x03\xec")}, 1, P},
    {"close code 1005", 1, 64, {F(FIN | 8, "\x03\xed")}, 1, P},
    {"close code 1006", 1, 64, {F(FIN | 8, "\x03\xee")}, 1, P},
    {"close code 1015", 1, 64, {F(FIN | 8, "\x03\xf7")}, 1, P},
    {"close code 2000", 1, 64, {F(FIN | 8, "\x07\xd0" "why")}, 1, P},
    {"close code 5000", 0, 64, {F(FIN | 8, "\x13\x88")}, 1, P},
    {"close reason bad utf-8", 1, 64, {F(FIN | 8, "\x03\xe8" "\xff")}, 1, D},
    {"close reason truncated", 1, 64, {F(FIN | 8, "\x03\xe8" "\xc3")}, 1, D},
    {"text bad utf-8", 1, 64, {F(FIN | 1, "ab\xc0\xaf")}, 1, D},
    {"text surrogate", 0, 64, {F(FIN | 1, "\xed\xb0\x80")}, 1, D},
    {"text truncated", 1, 64, {F(FIN | 1, "ab\xe2\x82")}, 1, D},
    {"text bad in 2nd fragment", 1, 64, {F(1, "a"), F(0, "\xff")}, 2, D},
    {"text truncated at end", 1, 64, {F(1, "\xe2"), F(FIN, "\x82")}, 2, D},
    {"text > max", 1, 4, {F(FIN | 1, "abcde")}, 1, B},
    {"binary > max (16-bit len)", 1, 125, {FL(FIN | 2, 126)}, 1, B},
    {"binary > max (64-bit len)", 0, 65535, {FL(FIN | 2, 65536)}, 1, B},
    {"fragments > max", 1, 4, {F(2, "ab"), F(0, "cd"), F(FIN, "e")}, 3, B},
    {"first fragment > max", 1, 4, {F(1, "abcde")}, 1, B},
};

static void append_spec(duro_buf_t *b, const struct frame_spec *s,
                        int expect_masked) {
  int masked = s->mask < 0 ? expect_masked : s->mask;
  uint64_t len = s->len == UINT64_MAX ? s->n : s->len;
  put_frame(b, s->b0, len, s->payload, s->n, masked);
}

static void test_error_paths(void **state) {
  for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const struct error_case *c = &error_cases[i];
    duro_ws_reader_t r;
    duro_ws_event_t ev;
    duro_buf_t b = DURO_BUF_INIT;
    duro_ws_reader_init(&r, c->expect_masked, c->max_message);
    for (size_t j = 0; j < c->nf; j++)
      append_spec(&b, &c->f[j], c->expect_masked);

    size_t off = 0;
    ssize_t rc = 0;
    for (size_t j = 0; j < c->nf; j++) {
      rc = duro_ws_reader_feed(&r, b.data + off, b.len - off, &ev);
      if (j + 1 < c->nf) {
        if (rc <= 0)
          fail_msg("%s: frame %zu: rc %zd", c->name, j, rc);
        off += (size_t)rc;
      }
    }
    if (rc != c->rc || ev.error_code != c->code)
      fail_msg("%s: want rc %zd code %u, got rc %zd code %u (%s)", c->name,
               c->rc, c->code, rc, ev.error_code,
               ev.error_reason ? ev.error_reason : "no reason");
    assert_non_null(ev.error_reason);
    assert_true(strlen(ev.error_reason) <= DURO_WS_MAX_CLOSE_REASON);
    assert_int_equal(ev.opcode, 0);
    duro_ws_reader_reset(&r);
    assert_null(r.msg.data);
    duro_buf_free(&b);
  }
}

/* Errors the first bytes decide come without waiting for the payload. */
static void test_errors_need_only_header(void **state) {
  static const struct {
    const char *bytes;
    size_t n;
    int expect_masked;
    ssize_t rc;
  } t[] = {
      {"\x81\x05", 2, 1, DURO_EPROTO},      /* unmasked to server */
      {"\xc1\x85", 2, 1, DURO_EPROTO},      /* RSV1 */
      {"\x83\x85", 2, 1, DURO_EPROTO},      /* opcode 3 */
      {"\x09\x85", 2, 1, DURO_EPROTO},      /* fragmented ping */
      {"\x89\xfe", 2, 1, DURO_EPROTO},      /* ping with 16-bit length */
      {"\x80\x85", 2, 1, DURO_EPROTO},      /* continuation first */
      {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, 0, DURO_EPROTO},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    duro_ws_reader_t r;
    duro_ws_event_t ev;
    uint8_t buf[16];
    memcpy(buf, t[i].bytes, t[i].n);
    duro_ws_reader_init(&r, t[i].expect_masked, 1 << 20);
    assert_int_equal(duro_ws_reader_feed(&r, buf, t[i].n, &ev), t[i].rc);
    assert_int_equal(ev.error_code, DURO_WS_CLOSE_PROTOCOL);
    duro_ws_reader_reset(&r);
  }
}

/* A 1-byte close payload is refused as such, without reading a second
 * code byte past the frame (the buffer is sized exactly, for ASan; the
 * byte after it in a stream could complete a valid code). */
static void test_close_one_byte(void **state) {
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  uint8_t *f = duro_malloc(3);
  memcpy(f, "\x88\x01\x03", 3);
  duro_ws_reader_init(&r, 0, 1024);
  assert_int_equal(duro_ws_reader_feed(&r, f, 3, &ev), DURO_EPROTO);
  assert_int_equal(ev.error_code, DURO_WS_CLOSE_PROTOCOL);
  assert_string_equal(ev.error_reason, "invalid close payload");
  duro_free(f);

  uint8_t g[] = {0x88, 0x01, 0x03, 0xe8};
  assert_int_equal(duro_ws_reader_feed(&r, g, sizeof(g), &ev), DURO_EPROTO);
  assert_int_equal(ev.error_code, DURO_WS_CLOSE_PROTOCOL);
  duro_ws_reader_reset(&r);
}

/* An announcement over max_message fails on the header alone. */
static void test_oversized_announcement(void **state) {
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  duro_buf_t b = DURO_BUF_INIT;
  duro_ws_reader_init(&r, 1, 1024);

  /* Exactly at the limit is fine: the reader waits for the payload. */
  put_frame(&b, FIN | DURO_WS_OP_BINARY, 1024, NULL, 0, 1);
  assert_int_equal(duro_ws_reader_feed(&r, b.data, b.len, &ev), DURO_AGAIN);
  b.len = 0;

  put_frame(&b, FIN | DURO_WS_OP_BINARY, 1025, NULL, 0, 1);
  assert_int_equal(b.len, 8); /* header only */
  assert_int_equal(duro_ws_reader_feed(&r, b.data, 3, &ev), DURO_AGAIN);
  assert_int_equal(duro_ws_reader_feed(&r, b.data, 4, &ev), DURO_E2BIG);
  assert_int_equal(ev.error_code, DURO_WS_CLOSE_TOO_BIG);
  assert_string_equal(ev.error_reason, "message too big");
  b.len = 0;

  /* A 64-bit announcement of 1 TiB, with 10 header bytes in hand. */
  put_frame(&b, FIN | DURO_WS_OP_TEXT, UINT64_C(1) << 40, NULL, 0, 1);
  for (size_t n = 0; n < 10; n++)
    assert_int_equal(duro_ws_reader_feed(&r, b.data, n, &ev), DURO_AGAIN);
  assert_int_equal(duro_ws_reader_feed(&r, b.data, 10, &ev), DURO_E2BIG);
  assert_int_equal(ev.error_code, DURO_WS_CLOSE_TOO_BIG);
  b.len = 0;

  /* A continuation whose header pushes the message over the limit. */
  uint8_t part[1000];
  fill(part, sizeof(part), 1);
  put(&b, DURO_WS_OP_BINARY, part, sizeof(part), 1);
  ssize_t rc = duro_ws_reader_feed(&r, b.data, b.len, &ev);
  assert_int_equal(rc, b.len);
  b.len = 0;
  put_frame(&b, FIN | DURO_WS_OP_CONT, 25, NULL, 0, 1);
  assert_int_equal(duro_ws_reader_feed(&r, b.data, b.len, &ev), DURO_E2BIG);
  assert_int_equal(ev.error_code, DURO_WS_CLOSE_TOO_BIG);
  duro_ws_reader_reset(&r);

  /* Control frames do not count against the message limit. */
  duro_ws_reader_init(&r, 1, 4);
  b.len = 0;
  put(&b, FIN | DURO_WS_OP_PING, part, 125, 1);
  assert_int_equal(duro_ws_reader_feed(&r, b.data, b.len, &ev), b.len);
  assert_int_equal(ev.opcode, DURO_WS_OP_PING);
  duro_ws_reader_reset(&r);
  duro_buf_free(&b);
}

/* ---------------------------------------------------------------- streams */

/* A stream of assorted frames, as a client would send them. */
static void build_stream(duro_buf_t *b) {
  uint8_t big[300];
  fill(big, sizeof(big), 5);
  put_str(b, FIN | DURO_WS_OP_TEXT, "hello", 1);
  put(b, FIN | DURO_WS_OP_BINARY, NULL, 0, 1);
  put_str(b, FIN | DURO_WS_OP_PING, "are you there", 1);
  put_str(b, DURO_WS_OP_TEXT, "fr\xc3", 1);
  put_str(b, FIN | DURO_WS_OP_PONG, "", 1);
  put_str(b, DURO_WS_OP_CONT, "\xa9gm", 1);
  put_str(b, FIN | DURO_WS_OP_CONT, "ent \xe2\x82\xac", 1);
  put(b, FIN | DURO_WS_OP_BINARY, big, sizeof(big), 1);
  /* A non-minimal 64-bit length. */
  uint8_t h[] = {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4};
  size_t at = b->len;
  duro_buf_append(b, h, sizeof(h));
  duro_buf_append(b, "wxyz", 4);
  duro_ws_mask(b->data + at + sizeof(h), 4, (const uint8_t *)"\x01\x02\x03\x04",
               0);
  put_str(b, FIN | DURO_WS_OP_CLOSE, "\x03\xe8" "bye", 1);
}

#define MAXREC 32

/* Runs the stream through a reader the way a connection would: bytes are
 * appended to an input buffer in pieces of the given sizes (cuts[] are
 * the end offsets), and after each append the reader is fed until it
 * returns 0. Records every event; returns how many. */
static size_t run_stream(const duro_buf_t *stream, const size_t *cuts,
                         size_t ncuts, struct rec *recs) {
  duro_ws_reader_t r;
  duro_buf_t in = DURO_BUF_INIT;
  size_t n = 0, prev = 0;
  duro_ws_reader_init(&r, 1, 1 << 16);
  for (size_t c = 0; c < ncuts; c++) {
    duro_buf_append(&in, stream->data + prev, cuts[c] - prev);
    prev = cuts[c];
    for (;;) {
      duro_ws_event_t ev;
      uint8_t before[32];
      size_t keep = in.len < sizeof(before) ? in.len : sizeof(before);
      if (keep)
        memcpy(before, in.data, keep);
      ssize_t rc = duro_ws_reader_feed(&r, in.data, in.len, &ev);
      assert_true(rc >= 0 || rc == DURO_AGAIN);
      if (rc == DURO_AGAIN) {
        /* Nothing consumed means nothing touched. */
        if (keep)
          assert_memory_equal(before, in.data, keep);
        assert_int_equal(ev.opcode, 0);
        break;
      }
      assert_true(n < MAXREC);
      recs[n].rc = rc;
      recs[n].opcode = ev.opcode;
      recs[n].len = ev.len;
      recs[n].close_code = ev.close_code;
      recs[n].data = ev.opcode ? duro_memdup(ev.data, ev.len) : NULL;
      n++;
      duro_buf_consume(&in, (size_t)rc);
    }
  }
  assert_int_equal(in.len, 0);
  duro_buf_free(&in);
  duro_ws_reader_reset(&r);
  return n;
}

static void assert_same(const struct rec *a, size_t na, const struct rec *b,
                        size_t nb) {
  assert_int_equal(na, nb);
  for (size_t i = 0; i < na; i++) {
    assert_int_equal(a[i].rc, b[i].rc);
    assert_int_equal(a[i].opcode, b[i].opcode);
    assert_int_equal(a[i].len, b[i].len);
    assert_int_equal(a[i].close_code, b[i].close_code);
    if (a[i].len)
      assert_memory_equal(a[i].data, b[i].data, a[i].len);
  }
}

static void test_stream_whole(void **state) {
  duro_buf_t s = DURO_BUF_INIT;
  struct rec recs[MAXREC];
  build_stream(&s);
  size_t cut = s.len;
  size_t n = run_stream(&s, &cut, 1, recs);
  static const struct {
    int opcode;
    const char *data;
    size_t len;
  } want[] = {
      {DURO_WS_OP_TEXT, "hello", 5},
      {DURO_WS_OP_BINARY, "", 0},
      {DURO_WS_OP_PING, "are you there", 13},
      {0, NULL, 0},
      {DURO_WS_OP_PONG, "", 0},
      {0, NULL, 0},
      {DURO_WS_OP_TEXT, "fr\xc3\xa9gment \xe2\x82\xac", 13},
      {DURO_WS_OP_BINARY, NULL, 300},
      {DURO_WS_OP_BINARY, "wxyz", 4},
      {DURO_WS_OP_CLOSE, "\x03\xe8" "bye", 5},
  };
  assert_int_equal(n, sizeof(want) / sizeof(want[0]));
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(recs[i].opcode, want[i].opcode);
    assert_int_equal(recs[i].len, want[i].len);
    if (want[i].data && want[i].len)
      assert_memory_equal(recs[i].data, want[i].data, want[i].len);
  }
  uint8_t big[300];
  fill(big, sizeof(big), 5);
  assert_memory_equal(recs[7].data, big, 300);
  assert_int_equal(recs[9].close_code, 1000);
  free_recs(recs, n);
  duro_buf_free(&s);
}

static void test_stream_split_everywhere(void **state) {
  duro_buf_t s = DURO_BUF_INIT;
  struct rec whole[MAXREC], split[MAXREC];
  build_stream(&s);
  size_t end = s.len;
  size_t nw = run_stream(&s, &end, 1, whole);
  for (size_t at = 0; at <= s.len; at++) {
    size_t cuts[2] = {at, s.len};
    size_t ns = run_stream(&s, cuts, 2, split);
    assert_same(whole, nw, split, ns);
    free_recs(split, ns);
  }
  /* Two cuts, at every pair of offsets seven apart. */
  for (size_t at = 0; at + 7 <= s.len; at++) {
    size_t cuts[3] = {at, at + 7, s.len};
    size_t ns = run_stream(&s, cuts, 3, split);
    assert_same(whole, nw, split, ns);
    free_recs(split, ns);
  }
  free_recs(whole, nw);
  duro_buf_free(&s);
}

/* Byte by byte: the reader returns 0 until a frame is whole, then
 * consumes exactly that frame. */
static void test_stream_byte_by_byte(void **state) {
  duro_buf_t s = DURO_BUF_INIT;
  struct rec whole[MAXREC], bytes[MAXREC];
  build_stream(&s);
  size_t end = s.len;
  size_t nw = run_stream(&s, &end, 1, whole);

  size_t *cuts = duro_malloc(s.len * sizeof(*cuts));
  for (size_t i = 0; i < s.len; i++)
    cuts[i] = i + 1;
  size_t nb = run_stream(&s, cuts, s.len, bytes);
  assert_same(whole, nw, bytes, nb);
  free_recs(bytes, nb);
  duro_free(cuts);

  /* And explicitly: each prefix shorter than the first frame gives 0. */
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  duro_ws_reader_init(&r, 1, 1 << 16);
  uint8_t *copy = duro_memdup(s.data, s.len);
  size_t first = (size_t)whole[0].rc;
  for (size_t n = 0; n < first; n++)
    assert_int_equal(duro_ws_reader_feed(&r, copy, n, &ev), DURO_AGAIN);
  assert_int_equal(duro_ws_reader_feed(&r, copy, first, &ev), first);
  assert_int_equal(ev.opcode, DURO_WS_OP_TEXT);
  duro_free(copy);
  duro_ws_reader_reset(&r);

  free_recs(whole, nw);
  duro_buf_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_size),
      cmocka_unit_test(test_write_header_bytes),
      cmocka_unit_test(test_roundtrip_lengths),
      cmocka_unit_test(test_nonminimal_length),
      cmocka_unit_test(test_rfc_masked_example),
      cmocka_unit_test(test_mask_offsets),
      cmocka_unit_test(test_frame_chunk),
      cmocka_unit_test(test_close_chunk),
      cmocka_unit_test(test_close_code_valid),
      cmocka_unit_test(test_fragmented_text_with_ping),
      cmocka_unit_test(test_utf8_across_fragments),
      cmocka_unit_test(test_empty_fragments_and_reset),
      cmocka_unit_test(test_error_paths),
      cmocka_unit_test(test_errors_need_only_header),
      cmocka_unit_test(test_close_one_byte),
      cmocka_unit_test(test_oversized_announcement),
      cmocka_unit_test(test_stream_whole),
      cmocka_unit_test(test_stream_split_everywhere),
      cmocka_unit_test(test_stream_byte_by_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
