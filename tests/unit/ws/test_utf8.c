/*
 * test_utf8.c: the incremental UTF-8 validator (src/ws/utf8.c).
 *
 * A table of valid and invalid sequences (overlongs, surrogates, code
 * points past U+10FFFF, truncations, stray continuation bytes), each also
 * fed split at every offset and byte by byte, and checks that the 8-byte
 * ASCII fast path does not skip a bad byte at any position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/utf8.h"

/* Whole-input outcomes: complete, invalid, or ends inside a character. */
enum { OK, BAD, PARTIAL };

struct utf8_case {
  const char *name;
  const char *bytes;
  size_t len;
  int want;
};

#define CASE(name, lit, want) {name, lit, sizeof(lit) - 1, want}

static const struct utf8_case cases[] = {
    CASE("empty", "", OK),
    CASE("ascii", "hello, world", OK),
    CASE("nul byte", "a\0b", OK),
    CASE("2-byte U+00E9", "\xc3\xa9", OK),
    CASE("2-byte min U+0080", "\xc2\x80", OK),
    CASE("2-byte max U+07FF", "\xdf\xbf", OK),
    CASE("3-byte min U+0800", "\xe0\xa0\x80", OK),
    CASE("3-byte U+20AC euro", "\xe2\x82\xac", OK),
    CASE("3-byte U+D7FF before surrogates", "\xed\x9f\xbf", OK),
    CASE("3-byte U+E000 after surrogates", "\xee\x80\x80", OK),
    CASE("3-byte U+FFFD", "\xef\xbf\xbd", OK),
    CASE("3-byte U+FFFF", "\xef\xbf\xbf", OK),
    CASE("4-byte min U+10000", "\xf0\x90\x80\x80", OK),
    CASE("4-byte emoji U+1F600", "\xf0\x9f\x98\x80", OK),
    CASE("4-byte max U+10FFFF", "\xf4\x8f\xbf\xbf", OK),
    CASE("mixed", "a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d", OK),
    CASE("Autobahn 6.2", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", OK),

    CASE("lone continuation 80", "\x80", BAD),
    CASE("lone continuation BF", "\xbf", BAD),
    CASE("continuation after ascii", "a\x80", BAD),
    CASE("C0 overlong", "\xc0\x80", BAD),
    CASE("C1 overlong", "\xc1\xbf", BAD),
    CASE("3-byte overlong of '/'", "\xe0\x80\xaf", BAD),
    CASE("3-byte overlong max", "\xe0\x9f\xbf", BAD),
    CASE("4-byte overlong", "\xf0\x80\x80\xaf", BAD),
    CASE("4-byte overlong max", "\xf0\x8f\xbf\xbf", BAD),
    CASE("surrogate U+D800", "\xed\xa0\x80", BAD),
    CASE("surrogate U+DFFF", "\xed\xbf\xbf", BAD),
    CASE("surrogate pair", "\xed\xa0\x80\xed\xb0\x80", BAD),
    CASE("U+110000", "\xf4\x90\x80\x80", BAD),
    CASE("F5 lead", "\xf5\x80\x80\x80", BAD),
    CASE("FF", "\xff", BAD),
    CASE("FE", "\xfe", BAD),
    CASE("2-byte lead then ascii", "\xc3" "a", BAD),
    CASE("3-byte cut by ascii", "\xe2\x82" "a", BAD),
    CASE("4-byte cut by lead", "\xf0\x9f\x98\xc3\xa9", BAD),
    CASE("bad after valid", "\xc3\xa9\xff\xc3\xa9", BAD),

    CASE("truncated 2-byte", "\xc3", PARTIAL),
    CASE("truncated 3-byte (1)", "\xe2", PARTIAL),
    CASE("truncated 3-byte (2)", "\xe2\x82", PARTIAL),
    CASE("truncated 4-byte (3)", "\xf0\x9f\x98", PARTIAL),
    CASE("ascii then truncated", "hello\xf4\x8f", PARTIAL),
};

static void check_state(const struct utf8_case *c, uint32_t st) {
  int got = st == DURO_UTF8_ACCEPT ? OK : st == DURO_UTF8_REJECT ? BAD : PARTIAL;
  if (got != c->want)
    fail_msg("%s: want %d, got %d (state %u)", c->name, c->want, got,
             (unsigned)st);
}

static void test_utf8_table(void **state) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct utf8_case *c = &cases[i];
    check_state(c, duro_utf8_validate(DURO_UTF8_ACCEPT,
                                      (const uint8_t *)c->bytes, c->len));
  }
}

static void test_utf8_split_everywhere(void **state) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct utf8_case *c = &cases[i];
    const uint8_t *b = (const uint8_t *)c->bytes;
    for (size_t cut = 0; cut <= c->len; cut++) {
      uint32_t st = duro_utf8_validate(DURO_UTF8_ACCEPT, b, cut);
      st = duro_utf8_validate(st, b + cut, c->len - cut);
      check_state(c, st);
    }
    uint32_t st = DURO_UTF8_ACCEPT;
    for (size_t j = 0; j < c->len; j++)
      st = duro_utf8_validate(st, b + j, 1);
    check_state(c, st);
  }
}

static void test_utf8_reject_sticky(void **state) {
  uint32_t st = duro_utf8_validate(DURO_UTF8_ACCEPT, (const uint8_t *)"\xff", 1);
  assert_int_equal(st, DURO_UTF8_REJECT);
  st = duro_utf8_validate(st, (const uint8_t *)"abc", 3);
  assert_int_equal(st, DURO_UTF8_REJECT);
  st = duro_utf8_validate(st, NULL, 0);
  assert_int_equal(st, DURO_UTF8_REJECT);
  assert_int_equal(duro_utf8_validate(DURO_UTF8_ACCEPT, NULL, 0),
                   DURO_UTF8_ACCEPT);
}

/* A long ASCII run with one bad byte (or one valid multibyte character) at
 * every position, at every start alignment: the word-at-a-time fast path
 * must neither skip a bad byte nor misjudge a good one. */
static void test_utf8_fast_path(void **state) {
  uint8_t buf[80];
  for (size_t align = 0; align < 8; align++) {
    for (size_t len = 0; len + align <= 64; len++) {
      memset(buf, 'x', sizeof(buf));
      assert_int_equal(duro_utf8_validate(DURO_UTF8_ACCEPT, buf + align, len),
                       DURO_UTF8_ACCEPT);
      for (size_t pos = 0; pos < len; pos++) {
        memset(buf, 'x', sizeof(buf));
        buf[align + pos] = 0x80;
        assert_int_equal(
            duro_utf8_validate(DURO_UTF8_ACCEPT, buf + align, len),
            DURO_UTF8_REJECT);
        if (pos + 2 <= len) {
          buf[align + pos] = 0xc3;
          buf[align + pos + 1] = 0xa9;
          assert_int_equal(
              duro_utf8_validate(DURO_UTF8_ACCEPT, buf + align, len),
              DURO_UTF8_ACCEPT);
        }
        if (pos + 1 == len) {
          buf[align + pos] = 0xc3;
          uint32_t st = duro_utf8_validate(DURO_UTF8_ACCEPT, buf + align, len);
          assert_int_not_equal(st, DURO_UTF8_ACCEPT);
          assert_int_not_equal(st, DURO_UTF8_REJECT);
        }
      }
    }
  }
}

/* Every code point round-trips: encode it and validate it; surrogates are
 * the only scalar-range values rejected. */
static void test_utf8_all_code_points(void **state) {
  uint8_t b[4];
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    size_t n;
    if (cp < 0x80) {
      b[0] = (uint8_t)cp;
      n = 1;
    } else if (cp < 0x800) {
      b[0] = (uint8_t)(0xc0 | cp >> 6);
      b[1] = (uint8_t)(0x80 | (cp & 0x3f));
      n = 2;
    } else if (cp < 0x10000) {
      b[0] = (uint8_t)(0xe0 | cp >> 12);
      b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
      b[2] = (uint8_t)(0x80 | (cp & 0x3f));
      n = 3;
    } else {
      b[0] = (uint8_t)(0xf0 | cp >> 18);
      b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
      b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
      b[3] = (uint8_t)(0x80 | (cp & 0x3f));
      n = 4;
    }
    uint32_t want = (cp >= 0xD800 && cp <= 0xDFFF) ? DURO_UTF8_REJECT
                                                   : DURO_UTF8_ACCEPT;
    uint32_t got = duro_utf8_validate(DURO_UTF8_ACCEPT, b, n);
    if (got != want)
      fail_msg("U+%04X: want %u, got %u", (unsigned)cp, (unsigned)want,
               (unsigned)got);
  }
}

/* A plain reference decoder (RFC 3629 table 3.1 style) for the exhaustive
 * test below: OK, BAD or PARTIAL for a whole byte string. */
static int reference(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c == 0xe0)
        lo = 0xa0;
      if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c == 0xf0)
        lo = 0x90;
      if (c == 0xf4)
        hi = 0x8f;
    } else {
      return BAD;
    }
    i++;
    for (size_t k = 0; k < need; k++, i++) {
      if (i == n)
        return PARTIAL;
      if (s[i] < lo || s[i] > hi)
        return BAD;
      lo = 0x80;
      hi = 0xbf;
    }
  }
  return OK;
}

/* Every byte string of length 1 to 3 against the reference decoder. */
static void test_utf8_exhaustive_short(void **state) {
  uint8_t b[3];
  for (size_t n = 1; n <= 3; n++) {
    for (uint32_t v = 0; v < (1u << (8 * n)); v++) {
      for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(v >> (8 * (n - 1 - k)));
      uint32_t st = duro_utf8_validate(DURO_UTF8_ACCEPT, b, n);
      int got = st == DURO_UTF8_ACCEPT   ? OK
                : st == DURO_UTF8_REJECT ? BAD
                                         : PARTIAL;
      int want = reference(b, n);
      if (got != want)
        fail_msg("%06x (len %zu): want %d, got %d", (unsigned)v, n, want,
                 got);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8_table),
      cmocka_unit_test(test_utf8_split_everywhere),
      cmocka_unit_test(test_utf8_reject_sticky),
      cmocka_unit_test(test_utf8_fast_path),
      cmocka_unit_test(test_utf8_all_code_points),
      cmocka_unit_test(test_utf8_exhaustive_short),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
