/*
 * test_str.c: the length-bounded text helpers (src/core/str.c) and the
 * bearer secret (src/http/bearer.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "http/bearer.h"

static void test_fmt(void **state) {
  char b[8];
  assert_int_equal(duro_fmt(b, sizeof(b), "%d", 1234567), 7);
  assert_string_equal(b, "1234567");
  /* one more byte does not fit: an error, and still a terminated prefix */
  assert_int_equal(duro_fmt(b, sizeof(b), "%d", 12345678), DURO_E2BIG);
  assert_string_equal(b, "1234567");
  assert_int_equal(duro_fmt(b, 0, "x"), DURO_E2BIG);
  assert_int_equal(duro_fmt(b, sizeof(b), "%s", ""), 0);
}

static void test_parse_u64(void **state) {
  uint64_t v = 7;
  assert_int_equal(duro_parse_u64("0", 1, 10, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(duro_parse_u64("86400xyz", 5, UINT64_MAX, &v), 0);
  assert_int_equal(v, 86400); /* only the length given is read */
  assert_int_equal(duro_parse_u64("9999999999999999999", 19, UINT64_MAX, &v),
                   0);
  assert_int_equal(v, 9999999999999999999ull);
  static const char *const bad[] = {"", "+1", "-1", " 1", "1 ", "0x10",
                                    "1e3", "1.0"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(duro_parse_u64(bad[i], strlen(bad[i]), UINT64_MAX, &v),
                     DURO_EINVAL);
  assert_int_equal(duro_parse_u64("11", 2, 10, &v), DURO_E2BIG);
  assert_int_equal(duro_parse_u64("12345678901234567890", 20, UINT64_MAX, &v),
                   DURO_E2BIG);
}

static void test_memcaseeq_byte_in(void **state) {
  assert_true(duro_memcaseeq("Bearer ", 7, "bEARER ", 7));
  assert_false(duro_memcaseeq("Bearer", 6, "Bearer ", 7));
  assert_true(duro_memcaseeq("", 0, "", 0));
  assert_true(duro_byte_in(",:[]", 4, ':'));
  assert_false(duro_byte_in(",:[]", 4, '\0')); /* strchr would say yes */
}

static void test_bearer(void **state) {
  char err[200];
  char *big = malloc(DURO_BEARER_SECRET_MAX + 2);
  memset(big, 'a', DURO_BEARER_SECRET_MAX + 1);
  big[DURO_BEARER_SECRET_MAX + 1] = '\0';
  assert_int_equal(duro_bearer_check("S", big, err, sizeof(err)), DURO_EINVAL);
  assert_non_null(strstr(err, "1 to 1024 bytes"));
  big[DURO_BEARER_SECRET_MAX] = '\0';
  assert_int_equal(duro_bearer_check("S", big, err, sizeof(err)), 0);
  assert_int_equal(duro_bearer_check("S", "a b", err, sizeof(err)),
                   DURO_EINVAL);
  assert_int_equal(duro_bearer_check("S", "a\r\nb", err, sizeof(err)),
                   DURO_EINVAL);
  assert_int_equal(duro_bearer_check("S", "caf\xc3\xa9", err, sizeof(err)),
                   DURO_EINVAL);
  assert_int_equal(duro_bearer_check("S", "", err, sizeof(err)), DURO_EINVAL);

  /* any length up to the maximum matches exactly */
  char *h = duro_bearer_header(big);
  size_t hl = strlen(h);
  assert_int_equal(hl, 7 + DURO_BEARER_SECRET_MAX);
  assert_true(duro_bearer_matches(h, hl, big, DURO_BEARER_SECRET_MAX));
  h[hl - 1] = 'b';
  assert_false(duro_bearer_matches(h, hl, big, DURO_BEARER_SECRET_MAX));
  assert_false(duro_bearer_matches(h, hl - 1, big, DURO_BEARER_SECRET_MAX));
  h[0] = 'b'; /* the scheme is case-insensitive */
  h[hl - 1] = 'a';
  assert_true(duro_bearer_matches(h, hl, big, DURO_BEARER_SECRET_MAX));
  assert_false(duro_bearer_matches(NULL, 0, big, DURO_BEARER_SECRET_MAX));
  assert_false(duro_bearer_matches("Basic xyz", 9, "xyz", 3));
  assert_false(duro_bearer_matches("Bearer ", 7, "x", 1));
  duro_free(h);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fmt),
      cmocka_unit_test(test_parse_u64),
      cmocka_unit_test(test_memcaseeq_byte_in),
      cmocka_unit_test(test_bearer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
