/*
 * test_url.c: percent-decoding (src/core/url.c).
 *
 * - duro_hex_value: every hex digit in both cases, and the bytes just
 *   outside each range.
 * - duro_pct_decode: escapes in either case, '+' as a space only for
 *   form values, malformed escapes refused with DURO_EINVAL, a decoded
 *   NUL kept and counted, the result always NUL-terminated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/url.h"

static void test_hex_value_digits(void **state) {
  for (char c = '0'; c <= '9'; c++)
    assert_int_equal(duro_hex_value(c), c - '0');
  for (char c = 'a'; c <= 'f'; c++)
    assert_int_equal(duro_hex_value(c), c - 'a' + 10);
  for (char c = 'A'; c <= 'F'; c++)
    assert_int_equal(duro_hex_value(c), c - 'A' + 10);
}

static void test_hex_value_non_digits(void **state) {
  /* the neighbours of each range, and bytes no text would call hex */
  static const char bad[] = {'/', ':', '@', 'G', '`', 'g', 'x', ' ',
                             '%', '+', '\0', (char)0xff};
  for (size_t i = 0; i < sizeof(bad); i++)
    assert_int_equal(duro_hex_value(bad[i]), -1);
}

/* Decodes a C string into out (room for its length + 1). */
static long decode(const char *src, char *out, int form) {
  return duro_pct_decode(src, strlen(src), out, form);
}

static void test_decode_plain_text(void **state) {
  char out[32];
  memset(out, 'X', sizeof(out));
  assert_int_equal(decode("hello/world", out, 0), 11);
  assert_string_equal(out, "hello/world"); /* terminated, not 'X'-padded */
  memset(out, 'X', sizeof(out));
  assert_int_equal(decode("", out, 0), 0);
  assert_int_equal(out[0], '\0');
}

static void test_decode_escapes(void **state) {
  char out[32];
  assert_int_equal(decode("%41", out, 0), 1);
  assert_string_equal(out, "A");
  assert_int_equal(decode("a%2fb%2Fc", out, 0), 5); /* lower and upper hex */
  assert_string_equal(out, "a/b/c");
  assert_int_equal(decode("%e2%82%AC", out, 0), 3); /* a UTF-8 euro sign */
  assert_string_equal(out, "\xe2\x82\xac");
  assert_int_equal(decode("%25%32", out, 0), 2); /* decoded once only */
  assert_string_equal(out, "%2");
}

static void test_decode_plus(void **state) {
  char out[32];
  assert_int_equal(decode("a+b", out, 0), 3);
  assert_string_equal(out, "a+b"); /* a path keeps its '+' */
  assert_int_equal(decode("a+b", out, 1), 3);
  assert_string_equal(out, "a b"); /* a form value reads it as a space */
  assert_int_equal(decode("%2B+", out, 1), 2);
  assert_string_equal(out, "+ "); /* an escaped '+' stays a '+' */
}

static void test_decode_malformed(void **state) {
  static const char *const bad[] = {"%", "%4", "abc%", "abc%4", "%zz",
                                    "%4z", "%z4", "%%41", "ok%g0"};
  char out[32];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(decode(bad[i], out, 0), DURO_EINVAL);
  assert_int_equal(decode("%zz", out, 1), DURO_EINVAL);
}

static void test_decode_truncated_by_length(void **state) {
  /* the escape is whole in memory but cut by len: never read past len */
  char out[8];
  assert_int_equal(duro_pct_decode("%41", 2, out, 0), DURO_EINVAL);
  assert_int_equal(duro_pct_decode("x%41", 1, out, 0), 1);
  assert_string_equal(out, "x");
}

static void test_decode_keeps_nul(void **state) {
  char out[16];
  memset(out, 'X', sizeof(out));
  assert_int_equal(decode("a%00b", out, 0), 3);
  assert_memory_equal(out, "a\0b\0", 4); /* the NUL counts; then the end */
  assert_int_equal(decode("%00", out, 1), 1);
  assert_memory_equal(out, "\0\0", 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex_value_digits),
      cmocka_unit_test(test_hex_value_non_digits),
      cmocka_unit_test(test_decode_plain_text),
      cmocka_unit_test(test_decode_escapes),
      cmocka_unit_test(test_decode_plus),
      cmocka_unit_test(test_decode_malformed),
      cmocka_unit_test(test_decode_truncated_by_length),
      cmocka_unit_test(test_decode_keeps_nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
