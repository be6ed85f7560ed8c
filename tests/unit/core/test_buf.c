/*
 * test_buf.c: chunks and buffers (src/core/buf.c), in particular a block
 * built with headroom becoming a chunk without a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"

static void test_chunk_adopt(void **state) {
  uint8_t *mem = duro_malloc(DURO_CHUNK_HEADROOM + 5);
  memcpy(mem + DURO_CHUNK_HEADROOM, "hello", 5);
  duro_chunk_t *c = duro_chunk_adopt(mem, 5);
  assert_ptr_equal((void *)c, (void *)mem);
  assert_ptr_equal(c->data, mem + DURO_CHUNK_HEADROOM); /* no copy */
  assert_int_equal(c->refs, 1);
  assert_int_equal(c->len, 5);
  assert_memory_equal(c->data, "hello", 5);
  duro_chunk_ref(c);
  duro_chunk_unref(c);
  assert_int_equal(c->refs, 1);
  duro_chunk_unref(c); /* frees mem: ASan and valgrind see a leak otherwise */
}

static void test_buf_to_chunk(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_append(&b, "abc", 3);
  duro_chunk_t *c = duro_buf_to_chunk(&b);
  assert_int_equal(c->len, 3);
  assert_memory_equal(c->data, "abc", 3);
  assert_int_equal(b.len, 0);
  duro_chunk_unref(c);
  duro_buf_free(&b);
}

/* Every integer the same as printf writes it, the extremes included. */
static void test_append_i64(void **state) {
  static const int64_t vals[] = {0, 1, -1, 9, 10, -10, 99, 100, 4000,
                                 1234567890123LL, INT64_MAX, INT64_MIN,
                                 INT64_MIN + 1};
  duro_buf_t b = DURO_BUF_INIT, want = DURO_BUF_INIT;
  for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
    duro_buf_append_i64(&b, vals[i]);
    duro_buf_append(&b, ",", 1);
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld,", (long long)vals[i]);
    duro_buf_append(&want, tmp, (size_t)n);
  }
  assert_int_equal(b.len, want.len);
  assert_memory_equal(b.data, want.data, b.len);
  duro_buf_free(&b);
  duro_buf_free(&want);
}

/* printf into the room there is, and across growth: the text is whole
 * either way. */
static void test_printf_fits_and_grows(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_printf(&b, "%s-%d", "ab", 7); /* no room yet */
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "ab-7", 4);
  size_t cap = b.cap;
  duro_buf_printf(&b, "%d", 12); /* fits */
  assert_int_equal(b.cap, cap);
  char big[600];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  duro_buf_printf(&b, "<%s>", big); /* does not fit: grows */
  assert_int_equal(b.len, 6 + 601);
  assert_memory_equal(b.data, "ab-712<xxx", 10);
  assert_int_equal(b.data[b.len - 1], '>');
  duro_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chunk_adopt),
      cmocka_unit_test(test_buf_to_chunk),
      cmocka_unit_test(test_append_i64),
      cmocka_unit_test(test_printf_fits_and_grows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
