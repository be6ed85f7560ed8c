/*
 * test_loader.c: classes from shared libraries. Loads the fixture
 * libraries the Makefile builds from the C files of tests/fixtures (into
 * $(BUILD)/tests/fixtures/, beside this binary) and checks every start-up
 * error the loader reports: a missing file, a missing entry point, another
 * ABI (of the module, of a class, or handlers from a newer header), an
 * undefined duro_* symbol, duplicate names (with a built-in class, across
 * libraries, within one library) and a configured class the library does
 * not provide. Also the "classes" array of the config file: paths resolved
 * against the config's directory and FILE:LINE errors for wrong types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "objects/loader.h"
#include "objects/runtime.h"

static char fixtures[PATH_MAX + 16]; /* .../tests/fixtures */

typedef struct fixture {
  uv_loop_t loop;
  duro_config_t cfg;
  duro_runtime_t *rt;
  duro_loader_t loader;
  char paths[4][PATH_MAX + 64];
  duro_class_lib_t libs[4];
  char err[512];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  uv_loop_init(&f->loop);
  duro_limits_defaults(&f->cfg.limits);
  /* The runtime is only registered with: no store, never started. */
  f->rt = duro_runtime_new(&f->loop, NULL, &f->cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  duro_runtime_free(f->rt);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  duro_loader_close(&f->loader);
  assert_int_equal(f->loader.nhandles, 0);
  free(f);
  return 0;
}

/* Sets entry i of the configured classes to (class_name, lib<name>.so). */
static void entry(fixture_t *f, int i, const char *class_name,
                  const char *name) {
  snprintf(f->paths[i], sizeof(f->paths[i]), "%s/lib%s.so", fixtures, name);
  f->libs[i].class_name = (char *)class_name;
  f->libs[i].library = f->paths[i];
}

static int load(fixture_t *f, size_t n) {
  f->err[0] = '\0';
  return duro_loader_load(&f->loader, f->rt, f->libs, n, f->err,
                          sizeof(f->err));
}

/* The error starts "duro: <path of entry i>: " and contains want. */
static void expect_error(fixture_t *f, int i, const char *want) {
  char prefix[PATH_MAX + 80];
  snprintf(prefix, sizeof(prefix), "duro: %s: ", f->paths[i]);
  if (strncmp(f->err, prefix, strlen(prefix)) != 0 || !strstr(f->err, want))
    fail_msg("error \"%s\", wanted \"%s...%s\"", f->err, prefix, want);
}

static void test_loads_and_registers(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "FixtureA", "mod_two");
  entry(f, 1, "FixtureB", "mod_two");
  assert_int_equal(load(f, 2), 0);
  /* one library, opened once, both classes registered from it */
  assert_int_equal(f->loader.nhandles, 1);
  assert_string_equal(duro_runtime_class_origin(f->rt, "FixtureA"),
                      f->paths[0]);
  assert_string_equal(duro_runtime_class_origin(f->rt, "FixtureB"),
                      f->paths[1]);
  assert_null(duro_runtime_class_origin(f->rt, "Nope"));
}

static void test_missing_file(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "FixtureA", "does_not_exist");
  assert_int_equal(load(f, 1), DURO_ENOENT);
  expect_error(f, 0, "cannot load: ");
  assert_non_null(strstr(f->err, "No such file"));
  assert_int_equal(f->loader.nhandles, 0);
}

static void test_no_entry_point(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "Any", "mod_noentry");
  assert_int_equal(load(f, 1), DURO_EPROTO);
  expect_error(f, 0, "no entry point duro_module (is it built with duro.h");
}

static void test_module_of_another_abi(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "FromTheFuture", "mod_abi2");
  assert_int_equal(load(f, 1), DURO_EINVAL);
  expect_error(f, 0, "built for duro ABI 2, this duro has ABI 1");
  assert_null(duro_runtime_class_origin(f->rt, "FromTheFuture"));
}

static void test_class_of_another_abi(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "OddClass", "mod_class_abi");
  assert_int_equal(load(f, 1), DURO_EINVAL);
  expect_error(f, 0, "class 'OddClass' is built for duro ABI 7, this duro "
                     "has ABI 1");
}

static void test_class_from_newer_header(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "Newer", "mod_newer");
  assert_int_equal(load(f, 1), DURO_EINVAL);
  expect_error(f, 0, "class 'Newer' sets handlers this duro does not know");
}

static void test_undefined_duro_symbol(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "Undefined", "mod_undef");
  assert_int_equal(load(f, 1), DURO_ENOENT);
  expect_error(f, 0, "cannot load: ");
  assert_non_null(strstr(f->err, "duro_no_such_function"));
}

static const duro_class_t builtin_a = {DURO_CLASS_INIT, .name = "FixtureA"};

static void test_duplicate_of_builtin(void **state) {
  fixture_t *f = *state;
  assert_int_equal(duro_runtime_register(f->rt, &builtin_a), 0);
  entry(f, 0, "FixtureA", "mod_two");
  assert_int_equal(load(f, 1), DURO_EEXIST);
  expect_error(f, 0, "class 'FixtureA' is already registered (by built-in)");
}

static void test_duplicate_across_libraries(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "FixtureA", "mod_two");
  entry(f, 1, "FixtureA", "mod_clash");
  assert_int_equal(load(f, 2), DURO_EEXIST);
  char want[PATH_MAX + 200];
  snprintf(want, sizeof(want), "class 'FixtureA' is already registered (by %s)",
           f->paths[0]);
  expect_error(f, 1, want);
  /* the first library's class stays registered; both libraries are open */
  assert_string_equal(duro_runtime_class_origin(f->rt, "FixtureA"),
                      f->paths[0]);
  assert_int_equal(f->loader.nhandles, 2);
}

static void test_name_listed_twice(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "Twice", "mod_twice");
  assert_int_equal(load(f, 1), DURO_EEXIST);
  expect_error(f, 0, "lists class 'Twice' twice");
}

static void test_class_not_provided(void **state) {
  fixture_t *f = *state;
  entry(f, 0, "Counter", "mod_two");
  assert_int_equal(load(f, 1), DURO_ENOENT);
  expect_error(f, 0, "has no class 'Counter' (it provides 'FixtureA', "
                     "'FixtureB')");
}

static void test_check_class(void **state) {
  char err[256];
  duro_class_t c = {DURO_CLASS_INIT, .name = "C"};
  assert_int_equal(duro_runtime_check_class(&c, err, sizeof(err)), 0);
  c.struct_size = 0; /* a table written without DURO_CLASS_INIT */
  assert_int_equal(duro_runtime_check_class(&c, err, sizeof(err)),
                   DURO_EINVAL);
  assert_non_null(strstr(err, "DURO_CLASS_INIT"));
  c.struct_size = sizeof(c);
  c.name = "";
  assert_int_equal(duro_runtime_check_class(&c, err, sizeof(err)),
                   DURO_EINVAL);
  /* a newer header's longer table with its new handlers unset is fine */
  struct {
    duro_class_t c;
    void *more[2];
  } newer = {{DURO_CLASS_INIT, .name = "N"}, {NULL, NULL}};
  newer.c.struct_size = sizeof(newer);
  assert_int_equal(duro_runtime_check_class(&newer.c, err, sizeof(err)), 0);
}

/* ---- the "classes" array of the config file --------------------------------- */

static char tmp_dir[64];

static int load_config(duro_config_t *cfg, const char *text, char *err,
                       size_t errlen) {
  char path[128];
  snprintf(path, sizeof(path), "%s/duro.jsonc", tmp_dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
  char *argv[] = {"duro", "backend", "--config", path, NULL};
  return duro_config_load(cfg, 4, argv, err, errlen);
}

static void expect_config_error(const char *text, const char *want) {
  duro_config_t cfg;
  char err[512];
  int rc = load_config(&cfg, text, err, sizeof(err));
  if (rc != DURO_EINVAL || !strstr(err, want))
    fail_msg("rc %d, error \"%s\", wanted \"%s\"", rc, err, want);
}

static void test_config_classes(void **state) {
  duro_config_t cfg;
  char err[512];
  assert_int_equal(
      load_config(&cfg,
                  "{\n"
                  "  // classes written in C\n"
                  "  \"classes\": [\n"
                  "    {\"class_name\": \"Counter\", \"library\": "
                  "\"./examples/libcounter.so\"},\n"
                  "    {\"class_name\": \"Abs\", \"library\": \"/opt/x.so\"},\n"
                  "  ],\n"
                  "}\n",
                  err, sizeof(err)),
      0);
  assert_int_equal(cfg.nclass_libs, 2);
  assert_string_equal(cfg.class_libs[0].class_name, "Counter");
  char want[128];
  snprintf(want, sizeof(want), "%s/examples/libcounter.so", tmp_dir);
  assert_string_equal(cfg.class_libs[0].library, want);
  assert_string_equal(cfg.class_libs[1].library, "/opt/x.so");
  duro_config_free(&cfg);

  /* wrong types, each with the line it is on */
  expect_config_error("{\n  \"classes\": {}\n}\n",
                      "duro.jsonc:2: \"classes\" must be an array");
  expect_config_error("{\n\"classes\": [\n  {\"class_name\": \"A\", "
                      "\"library\": \"a.so\"},\n  \"B\"\n]}\n",
                      "duro.jsonc:4: classes[1] must be an object");
  expect_config_error("{\"classes\": [\n /* one */ {\n \"class_name\": 5, "
                      "\"library\": \"a.so\"}]}\n",
                      "duro.jsonc:2: classes[0].class_name must be a "
                      "non-empty string");
  expect_config_error("{\"classes\": [{\"class_name\": \"A\"}]}\n",
                      "duro.jsonc:1: classes[0] (A): library must be a "
                      "non-empty string");
  expect_config_error("{\"classes\": [{\"class_name\": \"A\", \"libary\": "
                      "\"a.so\"}]}\n",
                      "classes[0]: unknown key 'libary'");
  expect_config_error("{\"classes\": [{\"class_name\": \"A\", \"library\": "
                      "\"a.so\"},\n{\"class_name\": \"A\", \"library\": "
                      "\"b.so\"}]}\n",
                      "duro.jsonc:2: classes[1]: class 'A' is listed twice");
}

int main(void) {
  /* The fixtures sit in tests/fixtures/, one folder above this binary's. */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return 1;
  self[n] = '\0';
  *strrchr(self, '/') = '\0';
  snprintf(fixtures, sizeof(fixtures), "%s/../fixtures", self);
  snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/duro-loader-XXXXXX");
  if (!mkdtemp(tmp_dir))
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_loads_and_registers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_entry_point, setup, teardown),
      cmocka_unit_test_setup_teardown(test_module_of_another_abi, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_class_of_another_abi, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_class_from_newer_header, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_undefined_duro_symbol, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_of_builtin, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_across_libraries, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_name_listed_twice, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_class_not_provided, setup,
                                      teardown),
      cmocka_unit_test(test_check_class),
      cmocka_unit_test(test_config_classes),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char path[128];
  snprintf(path, sizeof(path), "%s/duro.jsonc", tmp_dir);
  unlink(path);
  rmdir(tmp_dir);
  return rc;
}
