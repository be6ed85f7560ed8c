/*
 * test_cmdline.c: unit tests for core/cmdline: what argv parses into (before
 * any file or the environment is consulted), that --help and --version stop
 * parsing without printing, and the flags part of the help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
#include "core/cmdline.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

static int parse(duro_cmdline_t *cl, char *err, size_t errlen,
                 const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "duro";
  for (; *args && argc < 31; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  err[0] = '\0';
  return duro_cmdline_parse(cl, argc, argv, err, errlen);
}

#define PARSE(cl, err, ...)                                                    \
  parse((cl), (err), sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

#define EXPECT_ERROR(want, ...)                                                \
  do {                                                                         \
    duro_cmdline_t c_;                                                         \
    char e_[256];                                                              \
    int rc_ = PARSE(&c_, e_, __VA_ARGS__);                                     \
    if (rc_ != DURO_EINVAL || strcmp(e_, (want)) != 0)                         \
      fail_msg("rc %d, error \"%s\", wanted \"%s\"", rc_, e_, (want));         \
  } while (0)

static void test_nothing_given(void **state) {
  duro_cmdline_t cl;
  char err[256];
  assert_int_equal(PARSE(&cl, err, "backend"), 0);
  assert_string_equal(cl.role, "backend");
  assert_int_equal(cl.role_bit, DURO_ROLE_BACKEND);
  assert_int_equal(cl.port, -1);
  assert_int_equal(cl.frontend_port, -1);
  assert_int_equal(cl.mode, -1);
  assert_int_equal(cl.log_level, -1);
  assert_null(cl.backend);
  assert_null(cl.host);
  assert_null(cl.data);
  assert_null(cl.config);
  assert_int_equal(cl.seen, 0);
  assert_int_equal(cl.help, 0);
  assert_int_equal(cl.version, 0);
}

static void test_values(void **state) {
  duro_cmdline_t cl;
  char err[256];
  assert_int_equal(PARSE(&cl, err, "--port=0", "--mode", "test", "dev",
                         "--frontend-port", "65535", "--log-level=debug",
                         "--data", "/d", "--config=c.jsonc", "--host", "::1"),
                   0);
  assert_string_equal(cl.role, "dev");
  assert_int_equal(cl.port, 0);
  assert_int_equal(cl.frontend_port, 65535);
  assert_int_equal(cl.mode, DURO_MODE_TEST);
  assert_int_equal(cl.log_level, DURO_LOG_DEBUG);
  assert_string_equal(cl.data, "/d");
  assert_string_equal(cl.config, "c.jsonc");
  assert_string_equal(cl.host, "::1");

  /* The value after a flag may start with '-', but not with "--". */
  assert_int_equal(
      PARSE(&cl, err, "frontend", "--host", "-x", "--backend", "http://b:1//"),
      0);
  assert_string_equal(cl.host, "-x");
  assert_string_equal(cl.backend, "http://b:1//"); /* trimmed by config.c */
  assert_int_equal(cl.role_bit, DURO_ROLE_FRONTEND);
}

static void test_help_and_version_stop(void **state) {
  duro_cmdline_t cl;
  char err[256];
  /* Nothing after --help is looked at, and nothing is printed. */
  assert_int_equal(PARSE(&cl, err, "backend", "--help", "--bogus", "x"), 0);
  assert_int_equal(cl.help, 1);
  assert_string_equal(cl.help_role, "backend");
  assert_int_equal(cl.version, 0);
  assert_int_equal(PARSE(&cl, err, "--help", "dev"), 0);
  assert_null(cl.help_role);
  assert_int_equal(PARSE(&cl, err, "frontend", "-h"), 0);
  assert_int_equal(cl.help, 1);
  assert_string_equal(cl.help_role, "frontend");
  assert_int_equal(PARSE(&cl, err, "help", "--port=x"), 0);
  assert_int_equal(cl.help, 1);
  assert_null(cl.help_role);
  assert_int_equal(PARSE(&cl, err, "--version", "--help"), 0);
  assert_int_equal(cl.version, 1);
  assert_int_equal(cl.help, 0);
  /* A flag that does not apply to the role is not checked then. */
  assert_int_equal(
      PARSE(&cl, err, "backend", "--frontend-port", "1", "--version"), 0);
  assert_int_equal(cl.version, 1);
  /* Errors before --help still count. */
  EXPECT_ERROR("duro: --port: 'x' is not a port number (0-65535)", "--port",
               "x", "--help");
}

static void test_errors(void **state) {
  EXPECT_ERROR("duro: no role given (expected dev, backend or frontend; see "
               "duro --help)",
               "--port", "1");
  EXPECT_ERROR("duro: unknown role 'serve' (expected dev, backend or "
               "frontend; see duro --help)",
               "serve");
  EXPECT_ERROR("duro: unexpected argument 'x' (see duro --help)", "dev", "x");
  EXPECT_ERROR("duro: unknown flag '--tokn' (see duro --help)", "dev",
               "--tokn=SECRET");
  EXPECT_ERROR("duro: unknown flag '-v' (see duro --help)", "dev", "-v");
  EXPECT_ERROR("duro: --version takes no value", "--version=1");
  EXPECT_ERROR("duro: --data needs a value (--data DIR)", "dev", "--data");
  EXPECT_ERROR("duro: --frontend-port applies only to dev, not frontend",
               "frontend", "--frontend-port", "1");
  EXPECT_ERROR("duro: --backend applies only to frontend, not backend",
               "--backend", "http://x:1", "backend");
  EXPECT_ERROR("duro: --backend: expected an http:// or https:// URL such "
               "as http://127.0.0.1:8787",
               "frontend", "--backend", "http:///x");
  EXPECT_ERROR("duro: --backend: expected an http:// or https:// URL such "
               "as http://127.0.0.1:8787",
               "frontend", "--backend", "https://");
  EXPECT_ERROR("duro: --backend-ca applies only to frontend, not dev",
               "dev", "--backend-ca", "ca.pem");
  EXPECT_ERROR("duro: unknown mode 'prod' (expected development, test or "
               "production)",
               "dev", "--mode=prod");
  EXPECT_ERROR("duro: unknown log level 'loud' (expected error, warn, info "
               "or debug)",
               "dev", "--log-level", "loud");
}

static void test_usage_and_modes(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_cmdline_usage(&b, NULL);
  *duro_buf_reserve(&b, 1) = '\0';
  const char *u = (const char *)b.data;
  assert_non_null(strstr(u, "usage: duro <role> [flags]\n"));
  assert_non_null(strstr(u, "\nroles:\n  dev        backend and frontend"));
  assert_non_null(strstr(u, "\n  --frontend-port N    (dev) the frontend's"));
  assert_non_null(strstr(u, "\n  --backend URL        (frontend) the "));
  assert_null(strstr(u, "settings")); /* the sections are config.c's */
  duro_buf_free(&b);

  duro_cmdline_usage(&b, "dev");
  *duro_buf_reserve(&b, 1) = '\0';
  u = (const char *)b.data;
  assert_non_null(strstr(u, "usage: duro dev [flags]\n"));
  assert_null(strstr(u, "roles:"));
  assert_null(strstr(u, "--backend"));
  assert_non_null(strstr(u, "\n  --frontend-port N    the frontend's"));
  duro_buf_free(&b);

  assert_int_equal(duro_cmdline_mode("production"), DURO_MODE_PRODUCTION);
  assert_int_equal(duro_cmdline_mode("Production"), -1);
  assert_string_equal(duro_cmdline_mode_name(DURO_MODE_TEST), "test");
  assert_string_equal(duro_cmdline_mode_name(3), "unknown");
  assert_string_equal(duro_cmdline_mode_name(-1), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nothing_given),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_help_and_version_stop),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_usage_and_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
