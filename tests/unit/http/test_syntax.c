/*
 * test_syntax.c: the strict head and chunked-body scans
 * (src/http/syntax.c).
 *
 * Table-driven: each input is checked whole, split at every offset into
 * two calls and fed byte by byte; all three must agree on the verdict and
 * on where the head or body ends. Every input lives in an exact-size
 * allocation, so a read past its length trips ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/syntax.h"

/* Feeds in[0..n) in pieces of the given sizes (0: the rest). Returns the
 * bytes that belong to the head/body, or DURO_EPROTO. */
typedef long (*scan_fn)(void *st, const uint8_t *p, size_t n,
                        const char **why);

static long head_scan(void *st, const uint8_t *p, size_t n, const char **w) {
  return duro_head_scan(st, p, n, w);
}
static long chunk_scan(void *st, const uint8_t *p, size_t n, const char **w) {
  return duro_chunked_scan(st, p, n, w);
}

/* Scans s split after `cut` bytes (cut 0: whole; cut SIZE_MAX: byte by
 * byte). Returns the consumed length or DURO_EPROTO. */
static long scan_split(int chunked, const char *s, size_t n, size_t cut) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  duro_head_scan_t hs;
  duro_chunked_t cs;
  duro_head_scan_init(&hs);
  duro_chunked_init(&cs);
  void *st = chunked ? (void *)&cs : (void *)&hs;
  scan_fn fn = chunked ? chunk_scan : head_scan;
  const char *why = NULL;
  long total = 0;
  size_t off = 0;
  while (off < n) {
    size_t piece = cut == SIZE_MAX ? 1 : cut && off == 0 ? cut : n - off;
    if (piece > n - off)
      piece = n - off;
    long k = fn(st, copy + off, piece, &why);
    if (k < 0) {
      assert_non_null(why);
      free(copy);
      return k;
    }
    total += k;
    off += piece;
    if ((size_t)k < piece)
      break; /* ended inside this piece */
    if (chunked ? duro_chunked_done(&cs) : hs.done)
      break;
  }
  free(copy);
  return total;
}

/* Every split must give the same answer as the whole. */
static void check(int chunked, const char *s, long want) {
  size_t n = strlen(s);
  assert_int_equal(scan_split(chunked, s, n, 0), want);
  assert_int_equal(scan_split(chunked, s, n, SIZE_MAX), want);
  for (size_t cut = 1; cut < n; cut++)
    assert_int_equal(scan_split(chunked, s, n, cut), want);
}

#define BAD DURO_EPROTO

static void test_head_good(void **state) {
  const char *h = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  check(0, h, (long)strlen(h));
  /* the scan stops at the head's end: a body after it is not looked at */
  const char *body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\n\r\x01";
  check(0, body, (long)strlen(body) - 3);
  /* empty lines before the request line are allowed (RFC 9112 2.2) */
  check(0, "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 31);
  /* every tchar may be in a name; a value may hold spaces and colons */
  const char *t = "GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: a b:c\r\n\r\n";
  check(0, t, (long)strlen(t));
  /* not done yet: everything consumed */
  check(0, "GET / HTTP/1.1\r\nHost: x\r\n", 25);
  /* control bytes in values are http-parser's to refuse, not the scan's */
  const char *ctl = "GET / HTTP/1.1\r\nX: a\001b\r\n\r\n";
  check(0, ctl, (long)strlen(ctl));
}

static void test_head_bad(void **state) {
  static const char *const bad[] = {
      "GET / HTTP/1.1\nHost: x\r\n\r\n",       /* bare LF */
      "GET / HTTP/1.1\r\nHost: x\n\r\n",       /* bare LF */
      "GET / HTTP/1.1\r\nHost: x\r\n\n",       /* bare LF ends the head */
      "GET / HTTP/1.1\rHost: x\r\n\r\n",       /* bare CR */
      "GET / HTTP/1.1\r\n Host: x\r\n\r\n",    /* obs-fold */
      "GET / HTTP/1.1\r\n\tHost: x\r\n\r\n",   /* obs-fold */
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",    /* space before the colon */
      "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",    /* space in a name */
      "GET / HTTP/1.1\r\nHo\tst: x\r\n\r\n",   /* tab in a name */
      "GET / HTTP/1.1\r\nHo(st: x\r\n\r\n",    /* a separator in a name */
      "GET / HTTP/1.1\r\n: x\r\n\r\n",         /* no name */
      "GET / HTTP/1.1\r\nHost x\r\n\r\n",      /* no colon */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    check(0, bad[i], BAD);
  /* NUL anywhere in the head */
  static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
  assert_int_equal(scan_split(0, nul, sizeof(nul) - 1, 0), BAD);
}

static void test_chunked_good(void **state) {
  const char *b = "2\r\n{}\r\n0\r\n\r\n";
  check(1, b, (long)strlen(b));
  /* extensions, whitespace before them, upper-case hex, trailers */
  const char *e = "A ;a=b;c\r\n0123456789\r\n0;x=\"q \\\" s\"\r\nT: 1\r\n"
                  "U:\r\n\r\n";
  check(1, e, (long)strlen(e));
  /* the scan stops at the body's end: the next request is not looked at */
  const char *next = "0\r\n\r\nGET / HTTP/1.1\n";
  check(1, next, 5);
  /* chunk data may hold any bytes, CR and LF included */
  const char *data = "4\r\n\r\n\n\r\r\n0\r\n\r\n";
  check(1, data, (long)strlen(data));
  /* 16 hex digits are still a size (it is the body limit's to refuse) */
  check(1, "0000000000000000\r\n\r\n", 20);
  /* not done: all consumed */
  check(1, "5\r\nab", 5);
}

static void test_chunked_bad(void **state) {
  static const char *const bad[] = {
      "2\r\n{}\r\n0\r\n\n",           /* the last chunk's line: bare LF */
      "2\r\n{}\r\n0\r\n\rX",          /* CR then not LF */
      "2;ext\nX\r\n{}\r\n0\r\n\r\n",  /* bare LF in an extension */
      "2\rX{}\r\n0\r\n\r\n",          /* size line ended by a bare CR */
      "2\n{}\r\n0\r\n\r\n",           /* size line ended by a bare LF */
      "2\r\n{}\n0\r\n\r\n",           /* data not followed by CR LF */
      "2\r\n{}XX0\r\n\r\n",           /* data not followed by CR LF */
      "2\r\n{}\r\r0\r\n\r\n",         /* CR CR */
      "\r\n",                         /* no size */
      "g\r\n",                        /* not hex */
      "-1\r\n",                       /* not hex */
      "2x\r\n",                       /* a byte after the size */
      "00000000000000002\r\n",        /* 17 digits */
      "2;e=\001\r\n",                 /* a control byte in an extension */
      "2;e=\177\r\n",                 /* DEL in an extension */
      "0\r\nX-T: 1\n\r\n",            /* bare LF in a trailer */
      "0\r\nX-T: 1\r\r\n",            /* bare CR in a trailer */
      "0\r\n X-T: 1\r\n\r\n",         /* obs-fold in the trailers */
      "0\r\nX T: 1\r\n\r\n",          /* space in a trailer name */
      "0\r\nX-T : 1\r\n\r\n",         /* space before the colon */
      "0\r\nX-T\r\n\r\n",             /* no colon */
      "0\r\n:1\r\n\r\n",              /* no name */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    check(1, bad[i], BAD);
}

static void test_tchar(void **state) {
  int n = 0;
  for (int b = 0; b < 256; b++)
    n += duro_http_tchar((uint8_t)b);
  assert_int_equal(n, 26 + 26 + 10 + 15); /* RFC 9110 5.6.2 */
  assert_false(duro_http_tchar(' '));
  assert_false(duro_http_tchar(':'));
  assert_false(duro_http_tchar(0x80));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_head_good),    cmocka_unit_test(test_head_bad),
      cmocka_unit_test(test_chunked_good), cmocka_unit_test(test_chunked_bad),
      cmocka_unit_test(test_tchar),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
