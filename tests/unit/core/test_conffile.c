/*
 * test_conffile.c: unit tests for core/conffile: the config file and
 * .dev.vars applied to a config on their own, without the command line or
 * the environment (those are core/config.c's; test_config.c covers the
 * whole). Runs in a fresh temp directory (mkdtemp, chdir).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conffile.h"
#include "core/config.h"
#include "core/err.h"
#include "core/options.h"
#include "sync/options.h"

static char repo_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  return remove(path);
}

static int setup_dir(void **state) {
  snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/duro-test-conffile-XXXXXX");
  if (!mkdtemp(tmp_dir) || chdir(tmp_dir) != 0)
    return -1;
  return 0;
}

static int teardown_dir(void **state) {
  if (chdir(repo_dir) != 0)
    return -1;
  nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static const duro_config_section_t *const sync_only[] = {&duro_sync_section,
                                                         NULL};
static const duro_config_schema_t sync_schema = {.sections = sync_only};

/* A scratch config as config.c makes it: defaults first. */
static void fresh(duro_config_t *c, const duro_config_schema_t *schema) {
  memset(c, 0, sizeof(*c));
  duro_limits_defaults(&c->limits);
  if (schema)
    duro_config_add_section(c, &duro_sync_section);
}

static int load(duro_config_t *c, const duro_config_schema_t *schema,
                const char *path, duro_conffile_info_t *info, char *err,
                size_t errlen) {
  fresh(c, schema);
  memset(info, 0, sizeof(*info));
  err[0] = '\0';
  return duro_conffile_load(c, schema, path, info, err, errlen);
}

static void test_no_file(void **state) {
  duro_config_t c;
  duro_conffile_info_t info;
  char err[256];
  /* The default file may be absent... */
  assert_int_equal(load(&c, NULL, NULL, &info, err, sizeof(err)), 0);
  assert_null(c.config_path);
  assert_int_equal(info.dev_port, 0);
  assert_int_equal(info.has_durable_objects, 0);
  duro_config_free(&c);
  /* ...an explicit one may not. */
  assert_int_equal(load(&c, NULL, "none.jsonc", &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro: cannot read config file 'none.jsonc': No "
                           "such file or directory");
  duro_config_free(&c);
}

static void test_file_applied(void **state) {
  duro_config_t c;
  duro_conffile_info_t info;
  char err[256];
  assert_int_equal(mkdir("d", 0700), 0);
  write_file("d/app.jsonc",
             "// a comment\n"
             "{\"name\": \"n\", \"vars\": {\"A\": \"1\"},\n"
             " \"durable_objects\": {},\n"
             " \"dev\": {\"port\": 9001},\n"
             " \"duro\": {\"max_body_bytes\": 2048},\n"
             " \"sync\": {\"cors\": false, \"tokens\": [\"x\"]},\n"
             " \"classes\": [{\"class_name\": \"K\", \"library\": "
             "\"lib/k.so\"}],\n"
             " \"main\": \"ignored.ts\"}\n");
  assert_int_equal(
      load(&c, &sync_schema, "./d/app.jsonc", &info, err, sizeof(err)), 0);
  assert_string_equal(c.config_path, "./d/app.jsonc");
  assert_string_equal(c.name, "n");
  assert_string_equal(duro_config_var(&c, "A"), "1");
  assert_int_equal(info.dev_port, 9001);
  assert_int_equal(info.has_durable_objects, 1);
  assert_int_equal(c.nbindings, 0);
  assert_int_equal(c.limits.max_body_bytes, 2048);
  assert_int_equal(duro_sync_config_mut(&c)->cors, 0);
  assert_int_equal(duro_sync_config_mut(&c)->ntokens, 1);
  assert_int_equal(c.nclass_libs, 1);
  assert_string_equal(c.class_libs[0].library, "./d/lib/k.so");

  /* .dev.vars beside the file; the last line of a key wins. */
  write_file("d/.dev.vars", "A=2\nB=3\nA=4\n");
  write_file(".dev.vars", "C=cwd\n");
  assert_int_equal(duro_conffile_load_dev_vars(&c, err, sizeof(err)), 0);
  assert_string_equal(duro_config_var(&c, "A"), "4");
  assert_string_equal(duro_config_var(&c, "B"), "3");
  assert_null(duro_config_var(&c, "C"));
  duro_config_free(&c);

  /* Without a file, .dev.vars comes from the current directory. */
  fresh(&c, NULL);
  assert_int_equal(duro_conffile_load_dev_vars(&c, err, sizeof(err)), 0);
  assert_string_equal(duro_config_var(&c, "C"), "cwd");
  duro_config_free(&c);
  write_file(".dev.vars", "C=1\n=2\n");
  fresh(&c, NULL);
  assert_int_equal(duro_conffile_load_dev_vars(&c, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, ".dev.vars:2: empty key");
  duro_config_free(&c);
}

static void test_sections_need_the_schema(void **state) {
  duro_config_t c;
  duro_conffile_info_t info;
  char err[256];
  /* Without the sync section in the schema, "sync" is just another
   * unknown top-level key. */
  write_file("duro.jsonc", "{\"sync\": {\"auth\": 5}}");
  assert_int_equal(load(&c, NULL, NULL, &info, err, sizeof(err)), 0);
  duro_config_free(&c);
  assert_int_equal(load(&c, &sync_schema, NULL, &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: sync.auth must be \"auto\", "
                           "\"token\", \"hs256\" or \"none\"");
  duro_config_free(&c);

  /* "duro" comes first, then the schema's sections, then "classes",
   * whatever the order in the file. */
  write_file("duro.jsonc", "{\"classes\": 1, \"sync\": {\"cors\": 0},\n"
                           " \"duro\": {\"durability\": 1}}");
  assert_int_equal(load(&c, &sync_schema, NULL, &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: duro.durability must be \"normal\" "
                           "or \"full\"");
  duro_config_free(&c);
  write_file("duro.jsonc", "{\"classes\": 1, \"sync\": {\"cors\": 0}}");
  assert_int_equal(load(&c, &sync_schema, NULL, &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: sync.cors must be true or false");
  duro_config_free(&c);
  write_file("duro.jsonc", "{\n\n  \"classes\": 1}");
  assert_int_equal(load(&c, &sync_schema, NULL, &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc:3: \"classes\" must be an array of "
                           "{\"class_name\": ..., \"library\": ...}");
  duro_config_free(&c);
}

static void test_syntax_positions(void **state) {
  duro_config_t c;
  duro_conffile_info_t info;
  char err[256];
  write_file("duro.jsonc", "{\n  \"a\": 1,\n  \"b\" 2\n}");
  assert_int_equal(load(&c, NULL, NULL, &info, err, sizeof(err)), DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc:3:7: expected ':'");
  duro_config_free(&c);
  write_file("duro.jsonc", "\"text\"");
  assert_int_equal(load(&c, NULL, "duro.jsonc", &info, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc:1:1: the top level must be an object");
  duro_config_free(&c);
}

int main(void) {
  if (!getcwd(repo_dir, sizeof(repo_dir)))
    return 1;
#define D(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
  const struct CMUnitTest tests[] = {
      D(test_no_file),
      D(test_file_applied),
      D(test_sections_need_the_schema),
      D(test_syntax_positions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
