/*
 * test_client.c: the backend URL of the HTTP client (src/http/client.c).
 *
 * - duro_url_parse: http and https with their default ports, explicit
 *   ports, IPv6 literals, "localhost", a base path without its trailing
 *   slashes; refused: other schemes, a missing host, bad ports, names
 *   that would need a resolver.
 * - duro_url_write_request_line: the path under the base path, and the
 *   Host line with an IPv6 literal in brackets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/client.h"

static void test_parse_http_and_https(void **state) {
  duro_url_t u;
  char err[256];
  assert_int_equal(
      duro_url_parse("http://127.0.0.1:8787", &u, err, sizeof(err)), 0);
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 8787);
  assert_int_equal(u.https, 0);
  assert_string_equal(u.base_path, "");
  assert_int_equal(duro_url_parse("https://127.0.0.1", &u, err, sizeof(err)),
                   0);
  assert_int_equal(u.port, 443);
  assert_int_equal(u.https, 1);
  assert_null(u.tls); /* the user's to set */
  assert_int_equal(duro_url_parse("http://localhost", &u, err, sizeof(err)), 0);
  assert_int_equal(u.port, 80);
  assert_string_equal(u.host, "localhost");
  assert_int_equal(
      duro_url_parse("https://[::1]:9443/base//", &u, err, sizeof(err)), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 9443);
  assert_string_equal(u.base_path, "/base");
  assert_int_equal(u.addr.ss_family, AF_INET6);
}

static void test_parse_refusals(void **state) {
  duro_url_t u;
  char err[256];
  static const char *const bad[] = {
      "ftp://127.0.0.1",   "127.0.0.1:80",     "http://",
      "https://:443",      "http://1.2.3.4:0", "http://1.2.3.4:65536",
      "https://1.2.3.4:x", "http://[::1",      "https://example.com",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    assert_int_equal(duro_url_parse(bad[i], &u, err, sizeof(err)), DURO_EINVAL);
    assert_true(strstr(err, bad[i]) != NULL); /* the message names it */
  }
  assert_int_equal(duro_url_parse("https://example.com", &u, err, sizeof(err)),
                   DURO_EINVAL);
  assert_non_null(strstr(err, "IP address or localhost"));
}

static void test_request_line(void **state) {
  duro_url_t u;
  char err[256];
  duro_buf_t b = DURO_BUF_INIT;
  assert_int_equal(
      duro_url_parse("https://[::1]:9443/base", &u, err, sizeof(err)), 0);
  duro_url_write_request_line(&b, &u, "GET", "/x?y");
  assert_int_equal(b.len,
                   strlen("GET /base/x?y HTTP/1.1\r\nHost: [::1]:9443\r\n"));
  assert_memory_equal(b.data, "GET /base/x?y HTTP/1.1\r\nHost: [::1]:9443\r\n",
                      b.len);
  b.len = 0;
  assert_int_equal(duro_url_parse("http://127.0.0.1:1", &u, err, sizeof(err)),
                   0);
  duro_url_write_request_line(&b, &u, "POST", "/");
  assert_memory_equal(b.data, "POST / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n",
                      b.len);
  duro_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_http_and_https),
      cmocka_unit_test(test_parse_refusals),
      cmocka_unit_test(test_request_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
