/*
 * test_admin.c: where the admin listener listens (duro_admin_port), from
 * configurations loaded the way main loads them: --admin-port wins (0 is
 * a free port), then "admin": {"port"} (0: off), then 8788 for `duro dev`,
 * else none. Serving /metrics is tested end to end in
 * tests/integration/57-admin.test.mjs.
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

#include "admin/admin.h"
#include "cmd/schema.h"

/* Loads argv in a fresh directory holding jsonc as duro.jsonc (or none). */
static int port_for(const char *jsonc, int argc, char **argv, int *asked) {
  char dir[] = "/tmp/duro-test-admin-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(dir), 0);
  if (jsonc) {
    FILE *f = fopen("duro.jsonc", "w");
    fputs(jsonc, f);
    fclose(f);
  }
  duro_config_t cfg;
  char err[256];
  int rc = duro_config_load(&cfg, argc, argv, err, sizeof(err));
  if (rc != 0)
    fail_msg("%s", err);
  int port = duro_admin_port(&cfg, asked);
  duro_config_free(&cfg);
  unlink("duro.jsonc");
  assert_int_equal(chdir(cwd), 0);
  rmdir(dir);
  return port;
}

static void test_where_it_listens(void **state) {
  char *backend[] = {"duro", "backend", "--mode", "test"};
  char *dev[] = {"duro", "dev"};
  char *flag[] = {"duro", "backend", "--mode", "test", "--admin-port", "9100"};
  char *flag0[] = {"duro", "dev", "--admin-port", "0"};
  int asked;
  assert_int_equal(port_for(NULL, 4, backend, &asked), -1);
  assert_int_equal(port_for(NULL, 2, dev, &asked), DURO_ADMIN_DEV_PORT);
  assert_false(asked); /* dev's default: skipped when taken */
  assert_int_equal(port_for("{\"admin\": {\"port\": 9200}}", 4, backend, &asked),
                   9200);
  assert_true(asked);
  assert_int_equal(port_for("{\"admin\": {\"port\": 0}}", 4, backend, &asked), -1);
  assert_int_equal(port_for("{\"admin\": {\"port\": 9200}}", 6, flag, &asked),
                   9100);
  assert_true(asked);
  assert_int_equal(port_for(NULL, 4, flag0, &asked), 0);
  assert_true(asked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_where_it_listens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
