/*
 * test_log.c: core/log.c's two formats, read back from stderr.
 *
 * - Text: "<time> <level> " then "object NS(NAME): " for an object's line
 *   and "REMOTE: " for a peer's, then the message.
 * - JSON: one object per line, "time", "level", "msg" and the fields that
 *   are set; quotes, backslashes and control characters escaped, invalid
 *   UTF-8 replaced by U+FFFD, valid UTF-8 kept; a message of control
 *   characters too long for the line is cut inside the string, so the
 *   line still closes as JSON.
 * - The level filter: a line above the level is not written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

static char out[65536];

/* Runs fn with stderr sent to a temporary file; its text into out. */
static void capture(void (*fn)(void)) {
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  dup2(fileno(tmp), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(out, 1, sizeof(out) - 1, tmp);
  out[n] = '\0';
  fclose(tmp);
}

static void write_lines(void) {
  duro_log_fields_t obj = {.ns = "COUNTER", .object = "a\"b"};
  duro_log_fields_t peer = {.remote = "127.0.0.1:4000"};
  duro_log_with(DURO_LOG_WARN, &obj, "reset: %d", 7);
  duro_log_with(DURO_LOG_WARN, &peer, "slow reader");
  duro_log_info("plain \\ \"q\" \x01 caf\xc3\xa9 bad\xff end");
  duro_log_debug("not shown at info");
}

static void test_text(void **state) {
  duro_log_json = 0;
  duro_log_level = DURO_LOG_INFO;
  capture(write_lines);
  assert_non_null(strstr(out, " warn  object COUNTER(a\"b): reset: 7\n"));
  assert_non_null(strstr(out, " warn  127.0.0.1:4000: slow reader\n"));
  assert_null(strstr(out, "not shown"));
}

static void test_json(void **state) {
  duro_log_json = 1;
  duro_log_level = DURO_LOG_INFO;
  capture(write_lines);
  duro_log_json = 0;
  char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  assert_int_equal(strncmp(l1, "{\"time\":\"", 9), 0);
  assert_non_null(strstr(l1, "\",\"level\":\"warn\",\"msg\":\"reset: 7\","
                             "\"namespace\":\"COUNTER\",\"object\":\"a\\\"b\"}\n"));
  assert_non_null(strstr(l2, "\"msg\":\"slow reader\",\"remote\":\"127.0.0.1:4000\"}\n"));
  assert_non_null(strstr(
      l3, "\"level\":\"info\",\"msg\":\"plain \\\\ \\\"q\\\" \\u0001 caf\xc3\xa9 "
          "bad\\ufffd end\"}\n"));
  assert_null(strstr(out, "not shown"));
}

static void write_long(void) {
  char msg[3000];
  memset(msg, '\x02', sizeof(msg) - 1);
  msg[sizeof(msg) - 1] = '\0';
  duro_log_fields_t f = {.ns = "N", .object = "o"};
  duro_log_with(DURO_LOG_ERROR, &f, "%s", msg);
}

static void test_json_long_line_still_closes(void **state) {
  duro_log_json = 1;
  capture(write_long);
  duro_log_json = 0;
  size_t n = strlen(out);
  assert_true(n > 1000);
  static const char end[] = "...\",\"namespace\":\"N\",\"object\":\"o\"}\n";
  assert_string_equal(out + n - (sizeof(end) - 1), end);
  assert_int_equal(strchr(out, '\n'), out + n - 1); /* one line */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_json_long_line_still_closes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
