/*
 * test_handshake.c: the opening handshake checks (src/ws/handshake.c).
 *
 * Sec-WebSocket-Accept against the RFC 6455 example, key validation, the
 * status each bad upgrade request gets, header token matching, and client
 * key generation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ws/handshake.h"

/* The status duro_ws_check_upgrade answers (0: acceptable), checking
 * that its return value agrees. */
static int check_upgrade(duro_ws_hdr_t u, duro_ws_hdr_t c, duro_ws_hdr_t v,
                         duro_ws_hdr_t k, const char **reason) {
  int status = -1;
  int rc = duro_ws_check_upgrade(u, c, v, k, &status, reason);
  assert_int_equal(rc, status ? DURO_EPROTO : 0);
  return status;
}

static duro_ws_hdr_t H(const char *s) {
  duro_ws_hdr_t h = {s, s ? strlen(s) : 0};
  return h;
}

static void test_accept_key_rfc_example(void **state) {
  char out[29];
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  memset(out, 'x', sizeof(out));
  assert_int_equal(duro_ws_accept_key(key, strlen(key), out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  /* Not NUL-terminated: the bytes after the key are ignored. */
  char buf[40];
  memcpy(buf, "dGhlIHNhbXBsZSBub25jZQ==garbage", 31);
  assert_int_equal(duro_ws_accept_key(buf, 24, out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  /* Surrounding whitespace is ignored. */
  const char *padded = " \tdGhlIHNhbXBsZSBub25jZQ== ";
  assert_int_equal(duro_ws_accept_key(padded, strlen(padded), out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  /* A second known pair (from the Autobahn / ws test suites). */
  key = "x3JJHMbDL1EzLkh9GBhXDw==";
  assert_int_equal(duro_ws_accept_key(key, strlen(key), out), 0);
  assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_accept_key_invalid(void **state) {
  static const char *bad[] = {
      "",
      "dGhlIHNhbXBsZSBub25jZQ=",    /* 23 */
      "dGhlIHNhbXBsZSBub25jZQ===",  /* 25 */
      "dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
      "dGhlIHNhbXBsZSBub25jZQAA",   /* 24 chars but 18 bytes */
      "dGhlIHNhbXBsZSBub25jZ===",   /* 15 bytes */
      "dGhlIHNhbXBsZSBub2!jZQ==",   /* bad character */
      "dGhlIHNhbXBsZSBub2 jZQ==",   /* inner space */
      "dGhlIHNhbXBsZSBub25jZQ=A",
      "========================",
  };
  char out[29];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(out, 'x', sizeof(out));
    if (duro_ws_accept_key(bad[i], strlen(bad[i]), out) != DURO_EINVAL)
      fail_msg("key \"%s\" should be rejected", bad[i]);
    assert_int_equal(out[0], 'x'); /* out untouched */
  }
  assert_int_equal(duro_ws_accept_key(NULL, 0, out), DURO_EINVAL);
}

static void test_has_token(void **state) {
  static const struct {
    const char *value;
    const char *token;
    int want;
  } t[] = {
      {"Upgrade", "upgrade", 1},
      {"upgrade", "upgrade", 1},
      {"UPGRADE", "upgrade", 1},
      {"keep-alive, Upgrade", "upgrade", 1},
      {"Upgrade, keep-alive", "upgrade", 1},
      {"keep-alive,Upgrade", "upgrade", 1},
      {"  keep-alive ,\t upgrade\t ", "upgrade", 1},
      {",,upgrade,,", "upgrade", 1},
      {"upgrades", "upgrade", 0},
      {"upgrad", "upgrade", 0},
      {"keep-alive", "upgrade", 0},
      {"keep-alive upgrade", "upgrade", 0},
      {"", "upgrade", 0},
      {",", "upgrade", 0},
      {"   ", "upgrade", 0},
      {"websocket", "websocket", 1},
      {"WebSocket", "websocket", 1},
      {"h2c, websocket", "websocket", 1},
      {"upgrade", "", 0},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    int got = duro_http_header_has_token(t[i].value, strlen(t[i].value),
                                         t[i].token);
    if (got != t[i].want)
      fail_msg("\"%s\" has \"%s\": want %d, got %d", t[i].value, t[i].token,
               t[i].want, got);
  }
  /* Only len bytes are looked at. */
  assert_int_equal(duro_http_header_has_token("close, upgrade", 5, "upgrade"),
                   0);
  assert_int_equal(duro_http_header_has_token("upgradex", 7, "upgrade"), 1);
  assert_int_equal(duro_http_header_has_token(NULL, 0, "upgrade"), 0);
}

static void test_check_upgrade(void **state) {
  static const struct {
    const char *name;
    const char *upgrade, *connection, *version, *key;
    int status;
  } t[] = {
      {"valid", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", 0},
      {"valid, mixed case and lists", "WebSocket", "keep-alive, Upgrade",
       " 13 ", "dGhlIHNhbXBsZSBub25jZQ==", 0},
      {"no upgrade header", NULL, "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==",
       426},
      {"upgrade to h2c", "h2c", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==",
       426},
      {"no connection header", "websocket", NULL, "13",
       "dGhlIHNhbXBsZSBub25jZQ==", 400},
      {"connection keep-alive", "websocket", "keep-alive", "13",
       "dGhlIHNhbXBsZSBub25jZQ==", 400},
      {"no version", "websocket", "Upgrade", NULL, "dGhlIHNhbXBsZSBub25jZQ==",
       426},
      {"version 8", "websocket", "Upgrade", "8", "dGhlIHNhbXBsZSBub25jZQ==",
       426},
      {"version 130", "websocket", "Upgrade", "130",
       "dGhlIHNhbXBsZSBub25jZQ==", 426},
      {"version list", "websocket", "Upgrade", "13, 8",
       "dGhlIHNhbXBsZSBub25jZQ==", 426},
      {"no key", "websocket", "Upgrade", "13", NULL, 400},
      {"empty key", "websocket", "Upgrade", "13", "", 400},
      {"short key", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZQ==", 400},
      {"bad key", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ!=",
       400},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    const char *reason = "unset";
    int got = check_upgrade(H(t[i].upgrade), H(t[i].connection),
                                    H(t[i].version), H(t[i].key), &reason);
    if (got != t[i].status)
      fail_msg("%s: want %d, got %d", t[i].name, t[i].status, got);
    if (got)
      assert_true(reason && reason[0]);
    else
      assert_null(reason);
  }
  /* reason may be NULL. */
  assert_int_equal(check_upgrade(H("websocket"), H("upgrade"),
                                         H("12"), H(NULL), NULL),
                   426);
}

static void test_client_key(void **state) {
  char a[25], b[25], acc[29];
  duro_ws_client_key(a);
  duro_ws_client_key(b);
  assert_int_equal(strlen(a), 24);
  assert_string_not_equal(a, b);
  /* Our own keys pass our own checks. */
  assert_int_equal(duro_ws_accept_key(a, 24, acc), 0);
  assert_int_equal(strlen(acc), 28);
  assert_int_equal(check_upgrade(H("websocket"), H("Upgrade"),
                                         H("13"), H(a), NULL),
                   0);
}

/* Checks an answer copied into an exact-size allocation (a read past its
 * end trips ASan); returns what duro_ws_check_answer returns. */
static int answer(const char *text, const char *key, int *status,
                  const char **why) {
  size_t n = strlen(text);
  char *copy = malloc(n ? n : 1);
  memcpy(copy, text, n);
  int rc = duro_ws_check_answer(copy, n, key, status, why);
  free(copy);
  return rc;
}

/* A relay that passed a permessage-deflate offer on takes one
 * permessage-deflate answer and hands its value on; without the offer,
 * or with any other extension, the answer is refused. */
static void test_check_answer_ext(void **state) {
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  const char *with = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: "
                     "permessage-deflate; server_no_context_takeover\r\n\r\n";
  int status;
  const char *why;
  duro_ws_hdr_t ext;
  size_t n = strlen(with);
  assert_int_equal(duro_ws_check_answer_ext(with, n, key, 1, &ext, &status, &why),
                   (int)n);
  assert_non_null(ext.ptr);
  assert_int_equal(ext.len, strlen("permessage-deflate; server_no_context_takeover"));
  assert_memory_equal(ext.ptr, "permessage-deflate; server_no_context_takeover", ext.len);
  assert_int_equal(duro_ws_check_answer_ext(with, n, key, 0, &ext, &status, &why),
                   DURO_EPROTO);
  assert_null(ext.ptr);
  assert_int_equal(duro_ws_check_answer(with, n, key, &status, &why), DURO_EPROTO);
  const char *other = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: "
                      "permessage-deflatex\r\n\r\n";
  assert_int_equal(duro_ws_check_answer_ext(other, strlen(other), key, 1, &ext,
                                            &status, &why),
                   DURO_EPROTO);
}

static void test_check_answer(void **state) {
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  int status;
  const char *why;
  assert_int_equal(answer(ok, key, &status, &why), (int)strlen(ok));
  assert_int_equal(status, 101);
  /* every prefix is "not yet", never a read past the bytes given */
  size_t n = strlen(ok);
  for (size_t i = 0; i < n; i++) {
    char *copy = malloc(i ? i : 1);
    memcpy(copy, ok, i);
    assert_int_equal(duro_ws_check_answer(copy, i, key, &status, &why),
                     DURO_AGAIN);
    free(copy);
  }
  /* frames after the head are not part of it */
  char with_frame[512];
  snprintf(with_frame, sizeof(with_frame), "%s\x81\x02hi", ok);
  assert_int_equal(answer(with_frame, key, &status, &why), (int)n);
  /* no reason phrase, OWS around values, other headers, case */
  assert_true(answer("HTTP/1.1 101 \r\nupgrade:WebSocket\r\nX: y\r\n"
                     "connection: keep-alive, upgrade\r\nsec-websocket-accept:"
                     "  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n",
                     key, &status, &why) > 0);

  static const struct {
    const char *text;
    int status;
  } bad[] = {
      {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 403},
      {"HTTP/1.1 200 OK\r\n\r\n", 200},
      {"HTTP/2 101\r\n\r\n", 0},
      {"HTTP/1.1 1o1 x\r\n\r\n", 0},
      {"HTTP/1.1 1010 x\r\n\r\n", 0},
      {"garbage\r\n\r\n", 0},
      {"\r\n\r\n", 0},
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       101}, /* no accept */
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
       101}, /* wrong accept */
      {"HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       101}, /* no Upgrade */
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       101}, /* no Connection */
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       101}, /* two */
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
       "Sec-WebSocket-Protocol: chat\r\n\r\n",
       101}, /* a subprotocol we did not offer */
      {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       " Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       101}, /* obs-fold */
      {"HTTP/1.1 101 x\r\nSec-WebSocket-Accept:\r\n\r\n", 101},
      {"HTTP/1.1 101 x\r\nNo colon\r\n\r\n", 101},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    why = NULL;
    assert_int_equal(answer(bad[i].text, key, &status, &why), DURO_EPROTO);
    assert_int_equal(status, bad[i].status);
    assert_non_null(why);
  }
  /* a bare LF is refused at once, before the head could be complete */
  assert_int_equal(answer("HTTP/1.1 101 x\n", key, &status, &why),
                   DURO_EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_key_rfc_example),
      cmocka_unit_test(test_accept_key_invalid),
      cmocka_unit_test(test_has_token),
      cmocka_unit_test(test_check_upgrade),
      cmocka_unit_test(test_client_key),
      cmocka_unit_test(test_check_answer),
      cmocka_unit_test(test_check_answer_ext),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
