/*
 * test_linkwire.c: the messages of a link between cluster nodes
 * (src/backend/linkwire.c).
 *
 * - The bytes duro_link_put_head and duro_link_put_cast write, exactly.
 * - OPEN, DATA, END and CAST (one id, three, ids at an unaligned offset,
 *   no data after the ids) written and read back, with ids 0, 1 and
 *   0xffffffff; a message followed by another takes only its own bytes.
 * - Need more (0) for every prefix of each of them, and a stream of all
 *   of them split at every offset reads as the same messages.
 * - DURO_EPROTO: an unknown type (0, 5, 255); a length under the head
 *   (0 to 4) and over DURO_LINK_MAX_BODY, both known from the length
 *   field alone (the bound itself only needs more); END with a body; CAST
 *   with no room for its count, with 0 ids, with ids that do not fit (one
 *   more than fits, and a count whose byte size overflows 32 bits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/linkwire.h"
#include "core/buf.h"
#include "core/err.h"

static const char request[] = "GET /api/rooms/lobby/ws HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n";
static const uint8_t frame[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};

/* Appends a message of type for id with body (the head by put_head). */
static void put_msg(duro_buf_t *b, uint8_t type, uint32_t id,
                    const void *body, size_t len) {
  duro_link_put_head(b, type, id, len);
  duro_buf_append(b, body, len);
}

/* Appends a CAST of data for ids (the head by put_cast). */
static void put_cast(duro_buf_t *b, const uint32_t *ids, uint32_t n,
                     const void *data, size_t len) {
  duro_link_put_cast(b, ids, n, len);
  duro_buf_append(b, data, len);
}

/* Appends a raw head: a length field, a type, an id. */
static void put_raw(duro_buf_t *b, uint32_t len, uint8_t type, uint32_t id) {
  uint8_t h[9] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                  (uint8_t)(len >> 8), (uint8_t)len, type,
                  (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                  (uint8_t)(id >> 8), (uint8_t)id};
  duro_buf_append(b, h, sizeof(h));
}

static void put_u32(duro_buf_t *b, uint32_t v) {
  uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  duro_buf_append(b, p, 4);
}

static void test_put_bytes(void **state) {
  (void)state;
  duro_buf_t b = DURO_BUF_INIT;
  duro_link_put_head(&b, DURO_LINK_DATA, 0x01020304u, 0x10);
  static const uint8_t want[] = {0, 0, 0, 0x15, DURO_LINK_DATA, 1, 2, 3, 4};
  assert_int_equal(b.len, DURO_LINK_HEAD);
  assert_memory_equal(b.data, want, sizeof(want));
  duro_buf_free(&b);

  uint32_t ids[] = {7, 0xa0b0c0d0u};
  duro_link_put_cast(&b, ids, 2, 3);
  static const uint8_t cast[] = {
      0,    0,    0,    5 + 4 + 8 + 3,        /* len */
      DURO_LINK_CAST,                          /* type */
      0,    0,    0,    0,                     /* id: 0 */
      0,    0,    0,    2,                     /* 2 ids */
      0,    0,    0,    7,                     /* 7 */
      0xa0, 0xb0, 0xc0, 0xd0};                 /* 0xa0b0c0d0 */
  assert_int_equal(b.len, sizeof(cast));
  assert_memory_equal(b.data, cast, sizeof(cast));
  duro_buf_free(&b);
}

/* Reads the one message in b, which must take all of it. */
static void read_one(const duro_buf_t *b, duro_link_msg_t *m) {
  assert_int_equal(duro_link_next(b->data, b->len, m), (long)b->len);
}

static void test_roundtrip(void **state) {
  (void)state;
  static const uint32_t ids[] = {0, 1, 0xffffffffu};
  for (size_t i = 0; i < 3; i++) {
    duro_link_msg_t m;
    duro_buf_t b = DURO_BUF_INIT;
    put_msg(&b, DURO_LINK_OPEN, ids[i], request, sizeof(request) - 1);
    read_one(&b, &m);
    assert_int_equal(m.type, DURO_LINK_OPEN);
    assert_int_equal(m.id, ids[i]);
    assert_int_equal(m.nids, 0);
    assert_null(m.ids);
    assert_int_equal(m.len, sizeof(request) - 1);
    assert_ptr_equal(m.data, b.data + DURO_LINK_HEAD);
    assert_memory_equal(m.data, request, m.len);
    duro_buf_free(&b);

    put_msg(&b, DURO_LINK_DATA, ids[i], frame, sizeof(frame));
    read_one(&b, &m);
    assert_int_equal(m.type, DURO_LINK_DATA);
    assert_int_equal(m.id, ids[i]);
    assert_int_equal(m.len, sizeof(frame));
    assert_memory_equal(m.data, frame, sizeof(frame));
    duro_buf_free(&b);

    put_msg(&b, DURO_LINK_DATA, ids[i], NULL, 0); /* an empty DATA */
    read_one(&b, &m);
    assert_int_equal(m.type, DURO_LINK_DATA);
    assert_int_equal(m.len, 0);
    duro_buf_free(&b);

    put_msg(&b, DURO_LINK_END, ids[i], NULL, 0);
    assert_int_equal(b.len, DURO_LINK_HEAD);
    read_one(&b, &m);
    assert_int_equal(m.type, DURO_LINK_END);
    assert_int_equal(m.id, ids[i]);
    assert_int_equal(m.len, 0);
    duro_buf_free(&b);
  }
}

static void test_cast_roundtrip(void **state) {
  (void)state;
  duro_link_msg_t m;
  duro_buf_t b = DURO_BUF_INIT;
  uint32_t one = 42;
  put_cast(&b, &one, 1, frame, sizeof(frame));
  read_one(&b, &m);
  assert_int_equal(m.type, DURO_LINK_CAST);
  assert_int_equal(m.id, 0);
  assert_int_equal(m.nids, 1);
  assert_int_equal(duro_link_cast_id(&m, 0), 42);
  assert_int_equal(m.len, sizeof(frame));
  assert_memory_equal(m.data, frame, sizeof(frame));
  duro_buf_free(&b);

  /* three ids, the message at an odd offset: the ids are unaligned */
  uint32_t three[] = {1, 0x00ff00ffu, 0xffffffffu};
  duro_buf_append(&b, "x", 1);
  put_cast(&b, three, 3, frame, sizeof(frame));
  assert_int_equal(duro_link_next(b.data + 1, b.len - 1, &m),
                   (long)b.len - 1);
  assert_int_equal(m.nids, 3);
  for (uint32_t i = 0; i < 3; i++)
    assert_int_equal(duro_link_cast_id(&m, i), three[i]);
  assert_ptr_equal(m.ids, b.data + 1 + DURO_LINK_HEAD + 4);
  assert_ptr_equal(m.data, m.ids + 12);
  assert_int_equal(m.len, sizeof(frame));
  assert_memory_equal(m.data, frame, sizeof(frame));
  duro_buf_free(&b);

  /* ids and no data after them */
  put_cast(&b, three, 2, NULL, 0);
  read_one(&b, &m);
  assert_int_equal(m.nids, 2);
  assert_int_equal(m.len, 0);
  assert_int_equal(duro_link_cast_id(&m, 1), three[1]);
  duro_buf_free(&b);
}

/* A message followed by more takes only its own bytes. */
static void test_takes_only_its_own(void **state) {
  (void)state;
  duro_link_msg_t m;
  duro_buf_t b = DURO_BUF_INIT;
  put_msg(&b, DURO_LINK_DATA, 9, frame, sizeof(frame));
  size_t first = b.len;
  put_msg(&b, DURO_LINK_END, 9, NULL, 0);
  duro_buf_append(&b, "\0\0", 2); /* and the start of a third */
  assert_int_equal(duro_link_next(b.data, b.len, &m), (long)first);
  assert_int_equal(m.type, DURO_LINK_DATA);
  assert_int_equal(m.len, sizeof(frame));
  assert_int_equal(duro_link_next(b.data + first, b.len - first, &m),
                   DURO_LINK_HEAD);
  assert_int_equal(m.type, DURO_LINK_END);
  assert_int_equal(
      duro_link_next(b.data + first + DURO_LINK_HEAD, 2, &m), 0);
  duro_buf_free(&b);
}

/* A stream of one message of each kind. */
static void make_stream(duro_buf_t *b, size_t ends[5]) {
  uint32_t ids[] = {1, 2, 3};
  put_msg(b, DURO_LINK_OPEN, 1, request, sizeof(request) - 1);
  ends[0] = b->len;
  put_msg(b, DURO_LINK_DATA, 1, frame, sizeof(frame));
  ends[1] = b->len;
  put_cast(b, ids, 3, frame, sizeof(frame));
  ends[2] = b->len;
  put_msg(b, DURO_LINK_DATA, 2, NULL, 0);
  ends[3] = b->len;
  put_msg(b, DURO_LINK_END, 1, NULL, 0);
  ends[4] = b->len;
}

static void test_need_more_every_prefix(void **state) {
  (void)state;
  duro_buf_t b = DURO_BUF_INIT;
  size_t ends[5];
  make_stream(&b, ends);
  size_t start = 0;
  for (size_t i = 0; i < 5; i++) {
    duro_link_msg_t m;
    size_t n = ends[i] - start;
    for (size_t k = 0; k < n; k++)
      assert_int_equal(duro_link_next(b.data + start, k, &m), 0);
    assert_int_equal(duro_link_next(b.data + start, n, &m), (long)n);
    start = ends[i];
  }
  duro_buf_free(&b);
}

/* The stream split in two at every offset, read as link.c's entry side
 * reads: append, take whole messages, drop them. */
static void test_split_everywhere(void **state) {
  (void)state;
  duro_buf_t s = DURO_BUF_INIT;
  size_t ends[5];
  make_stream(&s, ends);
  static const uint8_t types[] = {DURO_LINK_OPEN, DURO_LINK_DATA,
                                  DURO_LINK_CAST, DURO_LINK_DATA,
                                  DURO_LINK_END};
  for (size_t cut = 0; cut <= s.len; cut++) {
    duro_buf_t in = DURO_BUF_INIT;
    size_t got = 0;
    const size_t parts[2][2] = {{0, cut}, {cut, s.len}};
    for (int p = 0; p < 2; p++) {
      duro_buf_append(&in, s.data + parts[p][0], parts[p][1] - parts[p][0]);
      size_t off = 0;
      while (off < in.len) {
        duro_link_msg_t m;
        long n = duro_link_next(in.data + off, in.len - off, &m);
        assert_true(n >= 0);
        if (n == 0)
          break;
        assert_true(got < 5);
        assert_int_equal(m.type, types[got]);
        assert_int_equal((size_t)n,
                         ends[got] - (got ? ends[got - 1] : 0));
        got++;
        off += (size_t)n;
      }
      duro_buf_consume(&in, off);
    }
    assert_int_equal(got, 5);
    assert_int_equal(in.len, 0);
    duro_buf_free(&in);
  }
  duro_buf_free(&s);
}

/* duro_link_next over all of b must fail. */
static void assert_eproto(const duro_buf_t *b) {
  duro_link_msg_t m;
  assert_int_equal(duro_link_next(b->data, b->len, &m), DURO_EPROTO);
}

static void test_unknown_type(void **state) {
  (void)state;
  static const uint8_t types[] = {0, 5, 255};
  for (size_t i = 0; i < sizeof(types); i++) {
    duro_buf_t b = DURO_BUF_INIT;
    put_msg(&b, types[i], 1, frame, sizeof(frame));
    assert_eproto(&b);
    duro_buf_free(&b);
    put_msg(&b, types[i], 1, NULL, 0);
    assert_eproto(&b);
    duro_buf_free(&b);
  }
}

static void test_bad_length(void **state) {
  (void)state;
  duro_link_msg_t m;
  /* under the head: known from the length field alone */
  for (uint32_t len = 0; len < DURO_LINK_HEAD - 4; len++) {
    duro_buf_t b = DURO_BUF_INIT;
    put_raw(&b, len, DURO_LINK_DATA, 1);
    assert_eproto(&b);
    assert_int_equal(duro_link_next(b.data, 4, &m), DURO_EPROTO);
    duro_buf_free(&b);
  }
  /* over the bound: the same, before any of the body came */
  static const uint32_t over[] = {DURO_LINK_MAX_BODY + 5 + 1,
                                  DURO_LINK_MAX_BODY + 5 + 1000,
                                  0x7fffffffu, 0xfffffffbu, 0xffffffffu};
  for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
    duro_buf_t b = DURO_BUF_INIT;
    put_raw(&b, over[i], DURO_LINK_DATA, 1);
    assert_eproto(&b);
    assert_int_equal(duro_link_next(b.data, 4, &m), DURO_EPROTO);
    duro_buf_free(&b);
  }
  /* the bound itself is a message still to come */
  duro_buf_t b = DURO_BUF_INIT;
  put_raw(&b, DURO_LINK_MAX_BODY + 5, DURO_LINK_DATA, 1);
  assert_int_equal(duro_link_next(b.data, b.len, &m), 0);
  duro_buf_free(&b);
  duro_link_put_head(&b, DURO_LINK_DATA, 1, DURO_LINK_MAX_BODY);
  assert_int_equal(duro_link_next(b.data, b.len, &m), 0);
  duro_buf_free(&b);
}

static void test_end_with_body(void **state) {
  (void)state;
  duro_buf_t b = DURO_BUF_INIT;
  put_msg(&b, DURO_LINK_END, 1, "x", 1);
  assert_eproto(&b);
  duro_buf_free(&b);
  put_msg(&b, DURO_LINK_END, 1, frame, sizeof(frame));
  assert_eproto(&b);
  duro_buf_free(&b);
}

static void test_bad_cast(void **state) {
  (void)state;
  duro_buf_t b = DURO_BUF_INIT;
  /* no room for the count: bodies of 0 to 3 bytes */
  for (uint32_t n = 0; n < 4; n++) {
    put_raw(&b, 5 + n, DURO_LINK_CAST, 0);
    duro_buf_append(&b, "\0\0\0", n);
    assert_eproto(&b);
    duro_buf_free(&b);
  }
  /* 0 ids, with and without data after */
  put_cast(&b, NULL, 0, NULL, 0);
  assert_eproto(&b);
  duro_buf_free(&b);
  put_cast(&b, NULL, 0, frame, sizeof(frame));
  assert_eproto(&b);
  duro_buf_free(&b);
  /* two ids announced, room for one (with data, and without) */
  put_raw(&b, 5 + 4 + 4, DURO_LINK_CAST, 0);
  put_u32(&b, 2);
  put_u32(&b, 1);
  assert_eproto(&b);
  duro_buf_free(&b);
  put_raw(&b, 5 + 4 + 7, DURO_LINK_CAST, 0);
  put_u32(&b, 2);
  put_u32(&b, 1);
  duro_buf_append(&b, "abc", 3);
  assert_eproto(&b);
  duro_buf_free(&b);
  /* counts whose size in bytes does not fit in 32 bits */
  static const uint32_t huge[] = {0x40000000u, 0x40000001u, 0xffffffffu};
  for (size_t i = 0; i < 3; i++) {
    put_raw(&b, 5 + 4 + 8, DURO_LINK_CAST, 0);
    put_u32(&b, huge[i]);
    put_u32(&b, 1);
    put_u32(&b, 2);
    assert_eproto(&b);
    duro_buf_free(&b);
  }
  /* and the count that exactly fits is fine */
  duro_link_msg_t m;
  put_raw(&b, 5 + 4 + 8, DURO_LINK_CAST, 0);
  put_u32(&b, 2);
  put_u32(&b, 1);
  put_u32(&b, 2);
  assert_int_equal(duro_link_next(b.data, b.len, &m), (long)b.len);
  assert_int_equal(m.nids, 2);
  assert_int_equal(m.len, 0);
  duro_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_bytes),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_cast_roundtrip),
      cmocka_unit_test(test_takes_only_its_own),
      cmocka_unit_test(test_need_more_every_prefix),
      cmocka_unit_test(test_split_everywhere),
      cmocka_unit_test(test_unknown_type),
      cmocka_unit_test(test_bad_length),
      cmocka_unit_test(test_end_with_body),
      cmocka_unit_test(test_bad_cast),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
