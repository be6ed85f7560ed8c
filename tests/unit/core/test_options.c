/*
 * test_options.c: unit tests for core/options (the options table) and for
 * the sections that use it: a test section with a row of every type, the
 * "duro" section (duro_config_limits_section) and the "sync" section of
 * src/sync/options.c, both directly and through duro_config_load_schema
 * with a schema of the test's own.
 *
 * Sections are fed parsed JSONC; the loader tests run in a fresh temp
 * directory (mkdtemp, chdir) and write duro.jsonc there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/conffile.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jsonc.h"
#include "core/options.h"
#include "admin/admin.h"
#include "cmd/schema.h"
#include "sync/options.h"

/* ---- a section with a row of every type --------------------------------- */

typedef struct {
  size_t bytes;
  unsigned count, ms;
  int pick, flag;
  char *label, *url;
  char **names;
  size_t nnames;
} test_struct_t;

static const char *const picks[] = {"one", "two", "three", "four", NULL};
static const char *const pair[] = {"no", "yes", NULL};

#define T(field) offsetof(test_struct_t, field)

static const duro_option_t test_rows[] = {
    DURO_ROW("bytes", DURO_OPT_SIZE, 4096, 1024, 65536, NULL, T(bytes),
             "a size"),
    DURO_ROW("count", DURO_OPT_UINT, 3, 0, 10, NULL, T(count), "a count"),
    DURO_ROW("ms", DURO_OPT_MS, 500, 100, 1000, NULL, T(ms), "a time"),
    DURO_ROW("pick", DURO_OPT_CHOICE, 2, 0, 3, picks, T(pick), "a choice"),
    DURO_ROW("flag", DURO_OPT_BOOL, 0, 0, 1, NULL, T(flag), "a switch"),
    {.name = "label",
     .type = DURO_OPT_STRING,
     .offset = T(label),
     .doc = "a name"},
    {.name = "url",
     .type = DURO_OPT_URL,
     .offset = T(url),
     .example = "http://127.0.0.1:1/x",
     .doc = "a hook"},
    {.name = "names",
     .type = DURO_OPT_STRINGS,
     .offset = T(names),
     .count_offset = T(nnames),
     .doc = "some names"},
};

static const duro_config_section_t test_section = {
    .name = "test",
    .size = sizeof(test_struct_t),
    .rows = test_rows,
    .nrows = sizeof(test_rows) / sizeof(test_rows[0]),
    .help_title = "settings of the \"test\" section",
    .help_footer = "  a footer line\n",
    .list_unknown = 1,
};

/* Parses json and loads it into st; returns the rc, the message in err. */
static int load_json(const duro_config_section_t *s, void *st, const char *json,
                     char *err, size_t errlen) {
  cJSON *root = NULL;
  char jerr[128];
  if (duro_jsonc_parse(json, strlen(json), &root, jerr, sizeof(jerr)) < 0)
    fail_msg("bad test JSON %s: %s", json, jerr);
  err[0] = '\0';
  int rc = duro_options_load(s, st, root, "f.jsonc", err, errlen);
  cJSON_Delete(root);
  return rc;
}

static void expect_error(const duro_config_section_t *s, void *st,
                         const char *json, const char *want) {
  char err[256];
  int rc = load_json(s, st, json, err, sizeof(err));
  if (rc != DURO_EINVAL || strcmp(err, want) != 0)
    fail_msg("%s: rc %d, got \"%s\", wanted \"%s\"", json, rc, err, want);
}

static void test_defaults_and_free(void **state) {
  test_struct_t t;
  memset(&t, 0xff, sizeof(t));
  duro_options_defaults(&test_section, &t);
  assert_int_equal(t.bytes, 4096);
  assert_int_equal(t.count, 3);
  assert_int_equal(t.ms, 500);
  assert_int_equal(t.pick, 2);
  assert_int_equal(t.flag, 0);
  assert_null(t.label);
  assert_null(t.url);
  assert_null(t.names);
  assert_int_equal(t.nnames, 0);
  duro_options_free(&test_section, &t); /* empty: harmless */
  assert_int_equal(t.bytes, 4096);      /* numbers are left alone */
  assert_non_null(duro_options_find(&test_section, "url"));
  assert_null(duro_options_find(&test_section, "URL"));
}

static void test_every_type_parses(void **state) {
  test_struct_t t;
  char err[256];
  duro_options_defaults(&test_section, &t);
  assert_int_equal(load_json(&test_section, &t,
                             "{\"bytes\": 65536, \"count\": 0, \"ms\": 100,"
                             " \"pick\": \"four\", \"flag\": true,"
                             " \"label\": \"x y\", \"url\": \"http://h:1/p\","
                             " \"names\": [\"a\", \"b\"]}",
                             err, sizeof(err)),
                   0);
  assert_int_equal(t.bytes, 65536);
  assert_int_equal(t.count, 0);
  assert_int_equal(t.ms, 100);
  assert_int_equal(t.pick, 3);
  assert_int_equal(t.flag, 1);
  assert_string_equal(t.label, "x y");
  assert_string_equal(t.url, "http://h:1/p");
  assert_int_equal(t.nnames, 2);
  assert_string_equal(t.names[1], "b");

  /* Lists append; strings are replaced; null clears strings and URLs. */
  assert_int_equal(load_json(&test_section, &t,
                             "{\"names\": [\"c\"], \"label\": \"z\","
                             " \"url\": null, \"flag\": false}",
                             err, sizeof(err)),
                   0);
  assert_int_equal(t.nnames, 3);
  assert_string_equal(t.names[2], "c");
  assert_string_equal(t.label, "z");
  assert_null(t.url);
  assert_int_equal(t.flag, 0);
  assert_int_equal(
      load_json(&test_section, &t, "{\"label\": null}", err, sizeof(err)), 0);
  assert_null(t.label);
  /* An empty object changes nothing. */
  assert_int_equal(load_json(&test_section, &t, "{}", err, sizeof(err)), 0);
  assert_int_equal(t.nnames, 3);
  duro_options_free(&test_section, &t);
  assert_null(t.names);
  assert_int_equal(t.nnames, 0);
}

static void test_bounds_and_types(void **state) {
  static const struct {
    const char *json, *want;
  } cases[] = {
      {"{\"bytes\": 1023}",
       "f.jsonc: test.bytes must be an integer in 1024..65536"},
      {"{\"bytes\": 65537}",
       "f.jsonc: test.bytes must be an integer in 1024..65536"},
      {"{\"bytes\": 2048.5}",
       "f.jsonc: test.bytes must be an integer in 1024..65536"},
      {"{\"bytes\": \"2k\"}",
       "f.jsonc: test.bytes must be an integer in 1024..65536"},
      {"{\"bytes\": null}",
       "f.jsonc: test.bytes must be an integer in 1024..65536"},
      {"{\"count\": -1}", "f.jsonc: test.count must be an integer in 0..10"},
      {"{\"count\": 11}", "f.jsonc: test.count must be an integer in 0..10"},
      {"{\"ms\": 99}", "f.jsonc: test.ms must be an integer in 100..1000"},
      {"{\"ms\": 1e9}", "f.jsonc: test.ms must be an integer in 100..1000"},
      {"{\"pick\": \"five\"}",
       "f.jsonc: test.pick must be \"one\", \"two\", \"three\" or \"four\""},
      {"{\"pick\": 1}",
       "f.jsonc: test.pick must be \"one\", \"two\", \"three\" or \"four\""},
      {"{\"pick\": \"ONE\"}",
       "f.jsonc: test.pick must be \"one\", \"two\", \"three\" or \"four\""},
      {"{\"flag\": 1}", "f.jsonc: test.flag must be true or false"},
      {"{\"flag\": \"true\"}", "f.jsonc: test.flag must be true or false"},
      {"{\"label\": \"\"}", "f.jsonc: test.label must be a non-empty string"},
      {"{\"label\": 5}", "f.jsonc: test.label must be a non-empty string"},
      {"{\"url\": \"https://x\"}",
       "f.jsonc: test.url must be an http:// URL such as "
       "http://127.0.0.1:1/x"},
      {"{\"url\": \"http://\"}",
       "f.jsonc: test.url must be an http:// URL such as "
       "http://127.0.0.1:1/x"},
      {"{\"url\": \"http:///p\"}",
       "f.jsonc: test.url must be an http:// URL such as "
       "http://127.0.0.1:1/x"},
      {"{\"url\": []}", "f.jsonc: test.url must be an http:// URL such as "
                        "http://127.0.0.1:1/x"},
      {"{\"names\": \"a\"}", "f.jsonc: test.names must be an array of strings"},
      {"{\"names\": null}", "f.jsonc: test.names must be an array of strings"},
      {"{\"names\": [\"a\", \"\"]}",
       "f.jsonc: test.names must hold non-empty strings"},
      {"{\"names\": [1]}", "f.jsonc: test.names must hold non-empty strings"},
      {"{\"nope\": 1}", "f.jsonc: unknown setting test.nope (expected bytes, "
                        "count, ms, pick, flag, label, url or names)"},
      {"[]", "f.jsonc: \"test\" must be an object"},
      {"5", "f.jsonc: \"test\" must be an object"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    test_struct_t t;
    duro_options_defaults(&test_section, &t);
    expect_error(&test_section, &t, cases[i].json, cases[i].want);
    duro_options_free(&test_section, &t);
  }
  /* The bounds themselves are accepted. */
  test_struct_t t;
  char err[256];
  duro_options_defaults(&test_section, &t);
  assert_int_equal(load_json(&test_section, &t,
                             "{\"bytes\": 1024, \"count\": 10, \"ms\": 1000}",
                             err, sizeof(err)),
                   0);
  assert_int_equal(t.bytes, 1024);
  assert_int_equal(t.count, 10);
  assert_int_equal(t.ms, 1000);
  /* Two choices read "a" or "b"; a one-row list names the row alone. */
  static const duro_option_t yn_rows[] = {
      DURO_ROW("yn", DURO_OPT_CHOICE, 1, 0, 1, pair, T(pick), "yes or no")};
  const duro_config_section_t yn = {
      .name = "test", .rows = yn_rows, .nrows = 1, .list_unknown = 1};
  expect_error(&yn, &t, "{\"yn\": \"maybe\"}",
               "f.jsonc: test.yn must be \"no\" or \"yes\"");
  expect_error(&yn, &t, "{\"x\": 1}",
               "f.jsonc: unknown setting test.x (expected yn)");
  /* A section that points at --help for unknown keys; long keys are cut. */
  duro_config_section_t quiet = test_section;
  quiet.list_unknown = 0;
  expect_error(&quiet, &t, "{\"nope\": 1}",
               "f.jsonc: unknown setting test.nope (see duro --help)");
  expect_error(&quiet, &t,
               "{\"k123456789k123456789k123456789k123456789k123456789k1234567"
               "89k123456789\": 1}",
               "f.jsonc: unknown setting test.k123456789k123456789k123456789"
               "k123456789k123456789k123456789k123 (see duro --help)");
  /* A message cut short by a small buffer still terminates. */
  char small[12];
  cJSON *root = NULL;
  assert_int_equal(
      duro_jsonc_parse("{\"nope\": 1}", 11, &root, err, sizeof(err)), 0);
  assert_int_equal(duro_options_load(&test_section, &t, root, "f.jsonc", small,
                                     sizeof(small)),
                   DURO_EINVAL);
  assert_string_equal(small, "f.jsonc: un");
  cJSON_Delete(root);
}

/* The help of a section: heading, two lines per row, footer. */
static void test_usage(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_options_usage(&test_section, &b);
  *duro_buf_reserve(&b, 1) = '\0';
  const char *want =
      "\nsettings of the \"test\" section:\n"
      "  bytes                        4096 (bytes, 1024..65536)\n"
      "                               a size\n"
      "  count                        3 (count, 0..10)\n"
      "                               a count\n"
      "  ms                           500 (ms, 100..1000)\n"
      "                               a time\n"
      "  pick                         three (one of one, two, three, four)\n"
      "                               a choice\n"
      "  flag                         false (true or false)\n"
      "                               a switch\n"
      "  label                        none (a non-empty string)\n"
      "                               a name\n"
      "  url                          none (an http:// URL such as "
      "http://127.0.0.1:1/x)\n"
      "                               a hook\n"
      "  names                        none (an array of non-empty strings)\n"
      "                               some names\n"
      "  a footer line\n";
  assert_string_equal((const char *)b.data, want);
  duro_buf_free(&b);
}

/* ---- the "duro" and "sync" sections ------------------------------------- */

static void test_limits_section(void **state) {
  const duro_config_section_t *s = &duro_config_limits_section;
  assert_string_equal(s->name, "duro");
  duro_limits_t l;
  duro_limits_defaults(&l);
  assert_int_equal(l.rate_limit, DURO_RATE_LIMIT_AUTO);
  assert_int_equal(l.rate_limit_exempt_loopback, 1);
  assert_int_equal(l.rate_limit_messages_burst, 1000);
  char err[256];
  assert_int_equal(load_json(s, &l,
                             "{\"rate_limit\": \"on\", \"rate_limit_loopback\":"
                             " \"limit\", \"ws_send_queue_bytes\": 65536}",
                             err, sizeof(err)),
                   0);
  assert_int_equal(l.rate_limit, DURO_RATE_LIMIT_ON);
  assert_int_equal(l.rate_limit_exempt_loopback, 0);
  assert_int_equal(l.ws_send_queue_bytes, 65536);
  expect_error(s, &l, "{\"rate_limit\": \"yes\"}",
               "f.jsonc: duro.rate_limit must be \"off\", \"on\" or \"auto\"");
  expect_error(s, &l, "{\"ws_send_queue_bytes\": 65535}",
               "f.jsonc: duro.ws_send_queue_bytes must be an integer in "
               "65536..1073741824");
  /* Every row's default is within its bounds. */
  for (size_t i = 0; i < s->nrows; i++) {
    const duro_option_t *o = &s->rows[i];
    if (o->def < o->min || o->def > o->max)
      fail_msg("duro.%s: default %llu outside %llu..%llu", o->name, o->def,
               o->min, o->max);
  }
}

static void test_sync_section_rows(void **state) {
  const duro_config_section_t *s = &duro_sync_section;
  duro_sync_config_t st;
  memset(&st, 0, sizeof(st));
  duro_sync_config_t *sy = &st;
  duro_options_defaults(s, sy);
  /* a config without the section reads the same defaults */
  duro_config_t none;
  memset(&none, 0, sizeof(none));
  assert_memory_equal(duro_sync_config(&none), &st, sizeof(st));
  assert_ptr_equal(duro_sync_config(NULL), duro_sync_config(&none));
  assert_int_equal(sy->auth, DURO_SYNC_AUTH_AUTO);
  assert_int_equal(sy->cors, 1);
  assert_null(sy->webhook);
  assert_int_equal(sy->ntokens, 0);
  assert_int_equal(sy->max_message_bytes, 1048576);

  char err[256];
  static const struct {
    const char *name;
    duro_sync_auth_t v;
  } auths[] = {{"auto", DURO_SYNC_AUTH_AUTO},
               {"token", DURO_SYNC_AUTH_TOKEN},
               {"hs256", DURO_SYNC_AUTH_HS256},
               {"none", DURO_SYNC_AUTH_NONE}};
  for (size_t i = 0; i < 4; i++) {
    char json[64];
    snprintf(json, sizeof(json), "{\"auth\": \"%s\"}", auths[i].name);
    assert_int_equal(load_json(s, sy, json, err, sizeof(err)), 0);
    assert_int_equal(sy->auth, auths[i].v);
  }
  assert_int_equal(load_json(s, sy,
                             "{\"tokens\": [\"a\"], \"tokens\": [\"b\"],"
                             " \"cors\": false, \"webhook\": "
                             "\"http://127.0.0.1:9/h\", \"max_message_bytes\":"
                             " 1024}",
                             err, sizeof(err)),
                   0);
  assert_int_equal(sy->ntokens, 2);
  assert_string_equal(sy->tokens[0], "a");
  assert_string_equal(sy->tokens[1], "b");
  assert_int_equal(sy->cors, 0);
  assert_string_equal(sy->webhook, "http://127.0.0.1:9/h");
  assert_int_equal(sy->max_message_bytes, 1024);
  assert_int_equal(load_json(s, sy,
                             "{\"webhook\": null, \"max_message_bytes\": "
                             "1073741824}",
                             err, sizeof(err)),
                   0);
  assert_null(sy->webhook);
  assert_int_equal(sy->max_message_bytes, 1073741824);

  /* The messages of the parser this table replaced, word for word. */
  static const struct {
    const char *json, *want;
  } bad[] = {
      {"{\"auth\": \"jwt\"}", "f.jsonc: sync.auth must be \"auto\", "
                              "\"token\", \"hs256\" or \"none\""},
      {"{\"auth\": true}", "f.jsonc: sync.auth must be \"auto\", \"token\", "
                           "\"hs256\" or \"none\""},
      {"{\"tokens\": \"abc\"}",
       "f.jsonc: sync.tokens must be an array of strings"},
      {"{\"tokens\": [\"\"]}",
       "f.jsonc: sync.tokens must hold non-empty strings"},
      {"{\"tokens\": [\"a\", 2]}",
       "f.jsonc: sync.tokens must hold non-empty strings"},
      {"{\"cors\": 1}", "f.jsonc: sync.cors must be true or false"},
      {"{\"cors\": null}", "f.jsonc: sync.cors must be true or false"},
      {"{\"webhook\": \"https://x\"}",
       "f.jsonc: sync.webhook must be an http:// URL such as "
       "http://127.0.0.1:9000/hook"},
      {"{\"webhook\": 80}", "f.jsonc: sync.webhook must be an http:// URL "
                            "such as http://127.0.0.1:9000/hook"},
      {"{\"max_message_bytes\": 1023}",
       "f.jsonc: sync.max_message_bytes must be an integer in "
       "1024..1073741824"},
      {"{\"max_message_bytes\": 1073741825}",
       "f.jsonc: sync.max_message_bytes must be an integer in "
       "1024..1073741824"},
      {"{\"max_message_bytes\": \"1M\"}",
       "f.jsonc: sync.max_message_bytes must be an integer in "
       "1024..1073741824"},
      {"{\"secret\": \"x\"}",
       "f.jsonc: unknown setting sync.secret (expected auth, tokens, cors, "
       "webhook or max_message_bytes)"},
      {"[]", "f.jsonc: \"sync\" must be an object"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_error(s, sy, bad[i].json, bad[i].want);
  duro_options_free(s, sy);
  assert_null(sy->tokens);
  assert_null(sy->webhook);

  /* The sync engine's environment names. */
  assert_string_equal(duro_sync_env_vars[0], "DURO_SYNC_TOKEN");
  assert_string_equal(duro_sync_env_vars[1], "DURO_SYNC_SECRET");
  assert_null(duro_sync_env_vars[2]);
}

/* ---- through the loader, with a schema of the test's own ---------------- */

static char repo_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  return remove(path);
}

static int setup_dir(void **state) {
  unsetenv("NODE_ENV");
  unsetenv("TEST_OPT_SECRET");
  unsetenv("DURO_SYNC_TOKEN");
  snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/duro-test-options-XXXXXX");
  if (!mkdtemp(tmp_dir) || chdir(tmp_dir) != 0)
    return -1;
  return 0;
}

static int teardown_dir(void **state) {
  if (chdir(repo_dir) != 0)
    return -1;
  nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  unsetenv("TEST_OPT_SECRET");
  unsetenv("DURO_SYNC_TOKEN");
  return 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* A section of a layer core has never heard of: the config holds its
 * struct, which only the layer knows. */
typedef struct extra {
  size_t limit;
  char *hook;
} extra_t;

static const duro_option_t over_sync_rows[] = {
    DURO_ROW("limit", DURO_OPT_SIZE, 2048, 1024, 4096, NULL,
             offsetof(extra_t, limit), "a limit"),
    {.name = "hook",
     .type = DURO_OPT_URL,
     .offset = offsetof(extra_t, hook),
     .doc = "a hook"},
};

static const duro_config_section_t over_sync = {
    .name = "extra",
    .size = sizeof(extra_t),
    .rows = over_sync_rows,
    .nrows = 2,
    .help_title = "settings of its \"extra\" object",
    .list_unknown = 0,
};

static const char *const test_env[] = {"TEST_OPT_SECRET", NULL};
static const char *const *const test_env_lists[] = {test_env, NULL};
static const duro_config_builtin_t test_bindings[] = {
    {"ONE", "One"}, {"TWO", "Two"}, {NULL, NULL}};
static const duro_config_section_t *const test_sections[] = {&over_sync, NULL};
static const duro_config_schema_t test_schema = {
    .env_vars = test_env_lists,
    .bindings = test_bindings,
    .sections = test_sections,
};

static int load(const duro_config_schema_t *schema, duro_config_t *cfg,
                char *err, size_t errlen) {
  char *argv[] = {"duro", "backend", NULL};
  err[0] = '\0';
  return duro_config_load_schema(cfg, schema, 2, argv, err, errlen);
}

static void test_loader_with_schema(void **state) {
  duro_config_t cfg;
  char err[256];
  setenv("TEST_OPT_SECRET", "s", 1);
  setenv("DURO_SYNC_TOKEN", "t", 1);
  write_file("duro.jsonc", "{\"extra\": {\"limit\": 4096, \"hook\": "
                           "\"http://h:1/\"}, \"sync\": {\"x\": 1}}");
  assert_int_equal(load(&test_schema, &cfg, err, sizeof(err)), 0);
  /* The schema's defaults, rows, environment names and bindings... */
  extra_t *extra = duro_config_section(&cfg, &over_sync);
  assert_non_null(extra);
  assert_int_equal(extra->limit, 4096);
  assert_string_equal(extra->hook, "http://h:1/");
  assert_null(duro_config_section(&cfg, &duro_sync_section));
  assert_string_equal(duro_config_var(&cfg, "TEST_OPT_SECRET"), "s");
  assert_int_equal(cfg.nbindings, 2);
  assert_string_equal(cfg.bindings[1].class_name, "Two");
  /* ...and nothing of the program's: "sync" is an unknown top-level key
   * here (ignored, as wrangler's are), DURO_SYNC_TOKEN an unknown name. */
  assert_null(duro_config_var(&cfg, "DURO_SYNC_TOKEN"));
  assert_null(duro_config_binding(&cfg, "TEST_DO"));
  assert_string_equal(duro_config_var(&cfg, "NODE_ENV"), "production");
  duro_config_free(&cfg); /* frees the hook through the section's rows */
  assert_null(duro_config_section(&cfg, &over_sync));

  write_file("duro.jsonc", "{\"extra\": {\"limit\": 9000}}");
  assert_int_equal(load(&test_schema, &cfg, err, sizeof(err)), DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: extra.limit must be an integer in "
                           "1024..4096");
  assert_null(cfg.role);
  write_file("duro.jsonc", "{\"extra\": {\"hook\": \"http://h/\", \"x\": 1}}");
  assert_int_equal(load(&test_schema, &cfg, err, sizeof(err)), DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: unknown setting extra.x (see duro "
                           "--help)");

  /* Without a schema: core alone, no bindings, no names but NODE_ENV. */
  write_file("duro.jsonc", "{\"sync\": {\"auth\": \"bogus\"}}");
  assert_int_equal(load(NULL, &cfg, err, sizeof(err)), 0);
  assert_int_equal(cfg.nbindings, 0);
  assert_int_equal(cfg.nparts, 0);
  assert_null(duro_config_section(&cfg, &duro_sync_section));
  assert_null(duro_config_var(&cfg, "TEST_OPT_SECRET"));
  assert_int_equal(cfg.limits.max_body_bytes, 1048576);
  duro_config_free(&cfg);

  /* The program's schema: the sync section and the layers' names. */
  write_file("duro.jsonc", "{\"sync\": {\"auth\": \"bogus\"}}");
  assert_int_equal(load(&duro_program_schema, &cfg, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "duro.jsonc: sync.auth must be \"auto\", "
                           "\"token\", \"hs256\" or \"none\"");
  write_file("duro.jsonc", "{}");
  assert_int_equal(load(&duro_program_schema, &cfg, err, sizeof(err)), 0);
  assert_string_equal(duro_config_var(&cfg, "DURO_SYNC_TOKEN"), "t");
  assert_null(duro_config_var(&cfg, "TEST_OPT_SECRET"));
  assert_int_equal(cfg.nbindings, 5);
  assert_int_equal(cfg.nparts, 4); /* sync, admin, tls and cluster */
  assert_int_equal(duro_sync_config(&cfg)->cors, 1);
  assert_ptr_equal(duro_sync_config(&cfg),
                   duro_config_section(&cfg, &duro_sync_section));
  duro_config_free(&cfg);
}

static void test_help_lists_sections(void **state) {
  char *u = duro_config_usage(&test_schema, NULL);
  const char *duro_at = strstr(u, "\nsettings of its \"duro\" object");
  const char *extra_at = strstr(u, "\nsettings of its \"extra\" object:\n"
                                   "  limit                        2048 "
                                   "(bytes, 1024..4096)\n");
  assert_non_null(duro_at);
  assert_non_null(extra_at);
  assert_true(duro_at < extra_at);
  assert_null(strstr(u, "\"sync\""));
  duro_free(u);

  /* The program's help lists the sync section from its rows. */
  u = duro_config_usage(&duro_program_schema, NULL);
  static const char *const want[] = {
      "\nsettings of the \"sync\" section (LiveStore sync, "
      "docs/livestore.md):\n  auth                         auto (one of auto, "
      "token, hs256, none)\n",
      "\n  tokens                       none (an array of non-empty strings)\n",
      "\n  cors                         true (true or false)\n",
      "\n  webhook                      none (an http:// URL such as "
      "http://127.0.0.1:9000/hook)\n",
      "\n  max_message_bytes            1048576 (bytes, 1024..1073741824)\n",
      "  DURO_SYNC_SECRET (environment) is the HS256 key",
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (!strstr(u, want[i]))
      fail_msg("help lacks \"%s\"", want[i]);
  assert_true(strstr(u, "settings of its \"duro\"") <
              strstr(u, "settings of the \"sync\""));
  duro_free(u);

  u = duro_config_usage(NULL, "backend");
  assert_non_null(strstr(u, "usage: duro backend [flags]"));
  assert_non_null(strstr(u, "max_header_bytes"));
  assert_null(strstr(u, "extra"));
  duro_free(u);
}

/* ---- the checked-in duro.jsonc and docs/configuration.md ---------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  duro_buf_t b = DURO_BUF_INIT;
  size_t n;
  do {
    n = fread(duro_buf_reserve(&b, 4096), 1, 4096, f);
    b.len += n;
  } while (n > 0);
  fclose(f);
  *duro_buf_reserve(&b, 1) = '\0';
  return (char *)b.data;
}

/* Every setting shown commented out in duro.jsonc, uncommented, is its
 * default (the "sync" webhook line is an example, not a default). */
static void test_checked_in_config_shows_defaults(void **state) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/duro.jsonc", repo_dir);
  char *text = slurp(path);
  if (!text)
    skip();
  duro_buf_t out = DURO_BUF_INIT;
  int shown = 0;
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    char *p = line;
    while (*p == ' ')
      p++;
    if (strncmp(p, "// \"", 4) == 0) {
      duro_buf_append(&out, line, (size_t)(p - line));
      duro_buf_append(&out, p + 3, len - (size_t)(p + 3 - line));
      shown++;
    } else {
      duro_buf_append(&out, line, len);
    }
    line += len;
  }
  *duro_buf_reserve(&out, 1) = '\0';
  free(text);
  write_file("uncommented.jsonc", (const char *)out.data);
  duro_buf_free(&out);

  duro_config_t c;
  duro_conffile_info_t info;
  char err[256];
  memset(&c, 0, sizeof(c));
  memset(&info, 0, sizeof(info));
  duro_limits_defaults(&c.limits);
  duro_config_add_section(&c, &duro_sync_section);
  duro_config_add_section(&c, &duro_admin_section);
  /* All but webhook and tokens, whose lines are examples; and admin.port. */
  assert_int_equal(shown, (int)(duro_config_limits_section.nrows + 3 + 2 + 1));
  if (duro_conffile_load(&c, &duro_program_schema, "uncommented.jsonc", &info,
                         err, sizeof(err)) < 0)
    fail_msg("%s", err);
  duro_limits_t want;
  duro_limits_defaults(&want);
  assert_memory_equal(&c.limits, &want, sizeof(want));
  assert_int_equal(duro_sync_config_mut(&c)->auth, DURO_SYNC_AUTH_AUTO);
  assert_int_equal(duro_sync_config_mut(&c)->cors, 1);
  assert_int_equal(duro_sync_config_mut(&c)->max_message_bytes, 1048576);
  assert_int_equal(duro_sync_config_mut(&c)->ntokens, 0);
  const duro_admin_config_t *ac = duro_config_section(&c, &duro_admin_section);
  assert_non_null(ac);
  assert_int_equal(ac->port, 0);
  duro_config_free(&c);
}

/* docs/configuration.md's tables give each row's default and bounds. */
static void test_docs_show_defaults(void **state) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/docs/configuration.md", repo_dir);
  char *doc = slurp(path);
  if (!doc)
    skip();
  const duro_config_section_t *const sections[] = {
      &duro_config_limits_section, &duro_sync_section, &duro_admin_section};
  for (size_t k = 0; k < 3; k++) {
    const duro_config_section_t *s = sections[k];
    for (size_t i = 0; i < s->nrows; i++) {
      const duro_option_t *o = &s->rows[i];
      char key[96], def[64], bounds[64];
      snprintf(key, sizeof(key), "\n| `%s` | ", o->name);
      const char *row = strstr(doc, key);
      if (!row) {
        fail_msg("docs/configuration.md lacks a row for %s.%s", s->name,
                 o->name);
        return;
      }
      const char *end = strchr(row + 1, '\n');
      size_t rowlen = end ? (size_t)(end - row) : strlen(row);
      char line[512];
      snprintf(line, sizeof(line), "%.*s", (int)rowlen, row);
      bounds[0] = '\0';
      switch (o->type) {
      case DURO_OPT_SIZE:
      case DURO_OPT_UINT:
      case DURO_OPT_MS:
        snprintf(def, sizeof(def), " | %llu | ", o->def);
        snprintf(bounds, sizeof(bounds), "%llu..%llu", o->min, o->max);
        break;
      case DURO_OPT_CHOICE:
        snprintf(def, sizeof(def), " | `\"%s\"` | ", o->choices[o->def]);
        break;
      case DURO_OPT_BOOL:
        snprintf(def, sizeof(def), " | `%s` | ", o->def ? "true" : "false");
        break;
      default:
        snprintf(def, sizeof(def), " | none | ");
        break;
      }
      if (!strstr(line, def) || !strstr(line, bounds))
        fail_msg("docs/configuration.md: \"%s\" lacks \"%s\" or \"%s\"", line,
                 def, bounds);
    }
  }
  free(doc);
}

int main(void) {
  if (!getcwd(repo_dir, sizeof(repo_dir)))
    return 1;
#define D(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_free),
      cmocka_unit_test(test_every_type_parses),
      cmocka_unit_test(test_bounds_and_types),
      cmocka_unit_test(test_usage),
      cmocka_unit_test(test_limits_section),
      cmocka_unit_test(test_sync_section_rows),
      D(test_loader_with_schema),
      D(test_help_lists_sections),
      D(test_checked_in_config_shows_defaults),
      D(test_docs_show_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
