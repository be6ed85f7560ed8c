/*
 * test_buf.c: chunks and buffers (src/core/buf.c), in particular a block
 * built with headroom becoming a chunk without a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chunk_adopt),
      cmocka_unit_test(test_buf_to_chunk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
