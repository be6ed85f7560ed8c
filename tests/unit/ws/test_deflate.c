/*
 * test_deflate.c: permessage-deflate (src/ws/deflate.c): which offers are
 * taken, messages compressed and inflated on their own (the RFC 7692
 * 7.2.3.1 example), the inflation bound, corrupt data, and the reader's
 * RSV1 rules (src/ws/frame.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "ws/deflate.h"
#include "ws/frame.h"

static int accepts(const char *offer) {
  return duro_ws_deflate_accepts(offer, offer ? strlen(offer) : 0);
}

static void test_offers(void **state) {
  assert_false(accepts(NULL));
  assert_false(accepts(""));
  assert_true(accepts("permessage-deflate"));
  assert_true(accepts("PerMessage-Deflate"));
  /* Chromium's and ws's offers */
  assert_true(accepts("permessage-deflate; client_max_window_bits"));
  /* Firefox's */
  assert_true(accepts("permessage-deflate"));
  assert_true(accepts("permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover; client_max_window_bits=10"));
  assert_true(accepts("permessage-deflate; server_max_window_bits=15"));
  assert_true(accepts("permessage-deflate; client_max_window_bits=\"12\""));
  /* a smaller server window than duro compresses with: declined */
  assert_false(accepts("permessage-deflate; server_max_window_bits=10"));
  /* ... unless a later offer in the list is fine */
  assert_true(accepts("permessage-deflate; server_max_window_bits=10, "
                      "permessage-deflate"));
  /* unknown, duplicated or malformed parameters */
  assert_false(accepts("permessage-deflate; foo"));
  assert_false(accepts("permessage-deflate; client_max_window_bits=7"));
  assert_false(accepts("permessage-deflate; client_max_window_bits=16"));
  assert_false(accepts("permessage-deflate; server_no_context_takeover=1"));
  assert_false(accepts("permessage-deflate; client_no_context_takeover; "
                       "client_no_context_takeover"));
  assert_false(accepts("permessage-deflate; server_max_window_bits"));
  assert_false(accepts("x-webkit-deflate-frame"));
  assert_false(accepts("permessage-deflatex"));
}

static void test_roundtrip(void **state) {
  /* the RFC's example: "Hello" compressed on its own */
  static const uint8_t hello_z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  duro_buf_t out = DURO_BUF_INIT;
  assert_int_equal(duro_ws_inflate(hello_z, sizeof(hello_z), 100, &out), 0);
  assert_int_equal(out.len, 5);
  assert_memory_equal(out.data, "Hello", 5);

  uint8_t msg[4096];
  for (size_t i = 0; i < sizeof(msg); i++)
    msg[i] = (uint8_t)("{\"count\":10,\"text\":\"hello\"}"[i % 27]);
  duro_buf_t z = DURO_BUF_INIT;
  assert_int_equal(duro_ws_deflate(msg, sizeof(msg), &z), 0);
  assert_true(z.len < sizeof(msg) / 4);
  /* the sync flush's 4 bytes are taken off */
  assert_true(z.len < 4 || memcmp(z.data + z.len - 4, "\0\0\xff\xff", 4) != 0);
  for (int round = 0; round < 2; round++) { /* no context kept between */
    assert_int_equal(duro_ws_inflate(z.data, z.len, sizeof(msg), &out), 0);
    assert_int_equal(out.len, sizeof(msg));
    assert_memory_equal(out.data, msg, sizeof(msg));
  }
  /* one byte short of the limit: E2BIG, bounded */
  assert_int_equal(duro_ws_inflate(z.data, z.len, sizeof(msg) - 1, &out),
                   DURO_E2BIG);
  assert_true(out.len <= sizeof(msg));
  /* a second message compresses the same: no context taken over */
  duro_buf_t z2 = DURO_BUF_INIT;
  assert_int_equal(duro_ws_deflate(msg, sizeof(msg), &z2), 0);
  assert_int_equal(z2.len, z.len);
  assert_memory_equal(z2.data, z.data, z.len);
  /* random-looking bytes do not get smaller: sent plain */
  uint8_t noise[64];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof(noise); i++)
    noise[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
  size_t before = z2.len;
  assert_int_equal(duro_ws_deflate(noise, sizeof(noise), &z2), DURO_E2BIG);
  assert_int_equal(z2.len, before);
  duro_buf_free(&z);
  duro_buf_free(&z2);
  duro_buf_free(&out);
}

static void test_bomb_and_corrupt(void **state) {
  /* 8 MiB of zeros compress to a few KB: inflating stops at the limit */
  size_t big = 8u << 20;
  uint8_t *zeros = calloc(1, big);
  duro_buf_t z = DURO_BUF_INIT, out = DURO_BUF_INIT;
  assert_int_equal(duro_ws_deflate(zeros, big, &z), 0);
  free(zeros);
  assert_true(z.len < 16384);
  assert_int_equal(duro_ws_inflate(z.data, z.len, 65536, &out), DURO_E2BIG);
  assert_true(out.cap <= 2 * (65536 + 16384)); /* not 8 MiB */
  /* not deflate data */
  static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x12, 0x34};
  assert_int_equal(duro_ws_inflate(junk, sizeof(junk), 1024, &out),
                   DURO_EPROTO);
  /* an empty message */
  assert_int_equal(duro_ws_inflate((const uint8_t *)"\x00", 1, 10, &out), 0);
  assert_int_equal(out.len, 0);
  duro_buf_free(&z);
  duro_buf_free(&out);
}

/* A masked client frame: b0, then the payload (mask key 0). */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *p,
                           size_t n) {
  out[0] = b0;
  out[1] = (uint8_t)(0x80 | n);
  memset(out + 2, 0, 4);
  memcpy(out + 6, p, n);
  return 6 + n;
}

static void test_reader_rsv1(void **state) {
  static const uint8_t hello_z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  uint8_t buf[64];
  duro_ws_reader_t r;
  duro_ws_event_t ev;
  /* without the extension RSV1 is a protocol error */
  duro_ws_reader_init(&r, 1, 1024);
  size_t n = client_frame(buf, 0x80 | 0x40 | DURO_WS_OP_TEXT, hello_z, 7);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), DURO_EPROTO);
  assert_int_equal(ev.error_code, 1002);
  /* with it: a compressed message, its text unchecked until inflated */
  duro_ws_reader_init(&r, 1, 1024);
  r.deflate = 1;
  n = client_frame(buf, 0x80 | 0x40 | DURO_WS_OP_TEXT, hello_z, 7);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), (ssize_t)n);
  assert_int_equal(ev.opcode, DURO_WS_OP_TEXT);
  assert_int_equal(ev.compressed, 1);
  assert_int_equal(ev.len, 7);
  /* fragmented: RSV1 on the first frame only */
  n = client_frame(buf, 0x40 | DURO_WS_OP_TEXT, hello_z, 3);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), (ssize_t)n);
  assert_int_equal(ev.opcode, 0);
  n = client_frame(buf, 0x80 | DURO_WS_OP_CONT, hello_z + 3, 4);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), (ssize_t)n);
  assert_int_equal(ev.compressed, 1);
  assert_int_equal(ev.len, 7);
  assert_memory_equal(ev.data, hello_z, 7);
  /* RSV1 on a continuation, or on a control frame: 1002 */
  n = client_frame(buf, DURO_WS_OP_TEXT, "a", 1);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), (ssize_t)n);
  n = client_frame(buf, 0x80 | 0x40 | DURO_WS_OP_CONT, "b", 1);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), DURO_EPROTO);
  assert_int_equal(ev.error_code, 1002);
  duro_ws_reader_reset(&r);
  n = client_frame(buf, 0x80 | 0x40 | DURO_WS_OP_PING, "", 0);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), DURO_EPROTO);
  /* a plain message still goes through, UTF-8 checked */
  duro_ws_reader_reset(&r);
  n = client_frame(buf, 0x80 | DURO_WS_OP_TEXT, "\xff", 1);
  assert_int_equal(duro_ws_reader_feed(&r, buf, n, &ev), DURO_EPROTO);
  assert_int_equal(ev.error_code, 1007);
  duro_ws_reader_reset(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offers),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_bomb_and_corrupt),
      cmocka_unit_test(test_reader_rsv1),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
