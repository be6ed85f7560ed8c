/*
 * test_config.c: unit tests for core/jsonc, core/devvars and core/config.
 *
 * The parsers are driven by tables (good and bad inputs, expected values or
 * "LINE:COL: message"), and each good JSONC input is also fed through a
 * buffer that is not NUL-terminated. The loader tests run in a fresh temp
 * directory (mkdtemp, chdir) with the relevant environment cleared, write
 * duro.jsonc / .dev.vars there, and call duro_config_load with a built argv.
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
#include "core/config.h"
#include "sync/options.h"
#include "core/devvars.h"
#include "core/err.h"
#include "core/jsonc.h"
#include "core/log.h"

static char repo_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

/* Parses text as JSONC through an exact-size heap copy (no NUL after it). */
static int jsonc(const char *text, cJSON **out, char *err, size_t errlen) {
  size_t len = strlen(text);
  char *copy = duro_malloc(len ? len : 1);
  memcpy(copy, text, len);
  int rc = duro_jsonc_parse(copy, len, out, err, errlen);
  duro_free(copy);
  return rc;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static const char *env_names[] = {
    "NODE_ENV",       "DURO_INTERNAL_SECRET", "DURO_SESSION_SECRET",
    "DURO_SYNC_TOKEN", "DURO_SYNC_SECRET",    "A_VAR",
    "B_VAR",          "C_VAR",                "ONLY_ENV",
};

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  return remove(path);
}

static int setup_dir(void **state) {
  for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
    unsetenv(env_names[i]);
  snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/duro-test-config-XXXXXX");
  if (!mkdtemp(tmp_dir) || chdir(tmp_dir) != 0)
    return -1;
  return 0;
}

static int teardown_dir(void **state) {
  if (chdir(repo_dir) != 0)
    return -1;
  nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
    unsetenv(env_names[i]);
  return 0;
}

/* Loads a config from a NULL-terminated argument list after "duro". */
static int load_args(duro_config_t *cfg, char *err, size_t errlen,
                     const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "duro";
  for (; *args && argc < 31; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  err[0] = '\0';
  return duro_config_load(cfg, argc, argv, err, errlen);
}

#define LOAD(cfg, err, ...)                                                   \
  load_args((cfg), (err), sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

/* Loads expecting an error whose message contains want. */
#define EXPECT_ERROR(want, ...)                                               \
  do {                                                                        \
    duro_config_t c_;                                                         \
    char e_[256];                                                             \
    int rc_ = LOAD(&c_, e_, __VA_ARGS__);                                     \
    if (rc_ != DURO_EINVAL || !strstr(e_, (want)))                            \
      fail_msg("rc %d, error \"%s\", wanted \"%s\"", rc_, e_, (want));        \
    assert_null(c_.role);                                                     \
    assert_int_equal(c_.nvars, 0);                                            \
  } while (0)

/* Runs the loader with stdout captured into out (NUL-terminated). */
static int load_capturing(const char *const *args, char *out, size_t outlen) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/stdout.txt", tmp_dir);
  fflush(stdout);
  int saved = dup(1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  duro_config_t cfg;
  char err[256];
  int rc = load_args(&cfg, err, sizeof(err), args);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(out, 1, outlen - 1, f);
  out[n] = '\0';
  fclose(f);
  return rc;
}

/* ---- jsonc -------------------------------------------------------------- */

static void test_jsonc_comments_and_commas(void **state) {
  const char *text =
      "// header // with /* inside\n"
      "{\n"
      "  /* block\n     comment */ \"url\": \"http://x//y\",\n"
      "  \"glob\": \"/* not a comment */\", // trailing\n"
      "  \"esc\": \"quote \\\" // still string\",\n"
      "  \"list\": [1, 2, 3, ],\n"
      "  \"nested\": {\"a\": [ {\"b\": true,}, ], },\n"
      "}\n"
      "/* tail comment */\n";
  cJSON *root = NULL;
  char err[128];
  assert_int_equal(jsonc(text, &root, err, sizeof(err)), 0);
  assert_non_null(root);
  assert_string_equal(cJSON_GetObjectItem(root, "url")->valuestring,
                      "http://x//y");
  assert_string_equal(cJSON_GetObjectItem(root, "glob")->valuestring,
                      "/* not a comment */");
  assert_string_equal(cJSON_GetObjectItem(root, "esc")->valuestring,
                      "quote \" // still string");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "list")), 3);
  cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nested"), "a");
  assert_int_equal(cJSON_GetArraySize(a), 1);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "b")));
  cJSON_Delete(root);

  /* A string ending in an escaped backslash must not swallow the comment. */
  assert_int_equal(jsonc("{\"p\": \"C:\\\\\" /* c */}", &root, err,
                         sizeof(err)),
                   0);
  assert_string_equal(cJSON_GetObjectItem(root, "p")->valuestring, "C:\\");
  cJSON_Delete(root);

  /* A byte-order mark is skipped. */
  assert_int_equal(jsonc("\xEF\xBB\xBF{\"a\":1}", &root, err, sizeof(err)), 0);
  cJSON_Delete(root);
}

static void test_jsonc_errors(void **state) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"{\"a\":1 \"b\":2}", "1:8: expected ',' or '}'"},
      {"{\n  \"a\": 1\n  \"b\": 2\n}", "3:3: expected ',' or '}'"},
      {"[1 2]", "1:4: expected ',' or ']'"},
      {"{\"a\" 1}", "1:6: expected ':'"},
      {"{1:2}", "1:2: expected a string key or '}'"},
      {"{\"a\":}", "1:6: expected a value"},
      {"[,]", "1:2: expected a value or ']'"},
      {"[1,,2]", "1:4: expected a value"},
      {"{\"a\":1,,}", "1:8: expected a string key"},
      {"{", "1:2: unexpected end of input"},
      {"", "1:1: unexpected end of input"},
      {"// only a comment\n", "2:1: unexpected end of input"},
      {"{\"a\":\"abc", "1:6: unterminated string"},
      {"{} x", "1:4: unexpected text after the top-level value"},
      {"{\"a\": tru}", "1:7: invalid value"},
      {"{\"a\":[1}", "1:8: expected ',' or ']'"},
      {"/* never closed\n{}", "1:1: unterminated comment"},
      {"{\n  // fine\n  \"x\": [1,\n     2 3]}", "4:8: expected ',' or ']'"},
      /* Comments keep columns: the error is where the user sees it. */
      {"{/* c */ \"a\" /* c */ 1}", "1:22: expected ':'"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cJSON *root = (cJSON *)1;
    char err[128] = "";
    int rc = jsonc(cases[i].text, &root, err, sizeof(err));
    if (rc != DURO_EINVAL || strcmp(err, cases[i].want) != 0)
      fail_msg("case %zu: rc %d, got \"%s\", wanted \"%s\"", i, rc, err,
               cases[i].want);
    assert_null(root);
  }

  /* A NUL byte is refused, with its position. */
  cJSON *root;
  char err[64];
  assert_int_equal(duro_jsonc_parse("{\"a\":\n \0}", 9, &root, err,
                                    sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "2:2: NUL byte in input");
  /* A tiny error buffer truncates but terminates. */
  char small[4];
  assert_int_equal(jsonc("[1 2]", &root, small, sizeof(small)), DURO_EINVAL);
  assert_string_equal(small, "1:4");
}

/* Every prefix of a valid document parses or fails cleanly. */
static void test_jsonc_prefixes(void **state) {
  const char *text = "{\"a\": [1, /* x */ \"s//\", {\"b\": null,},], // c\n}";
  size_t len = strlen(text);
  for (size_t n = 0; n <= len; n++) {
    cJSON *root = NULL;
    char err[128];
    int rc = duro_jsonc_parse(text, n, &root, err, sizeof(err));
    if (n == len) {
      assert_int_equal(rc, 0);
    } else if (rc == 0) {
      fail_msg("prefix %zu parsed", n);
    } else {
      assert_non_null(strchr(err, ':'));
    }
    cJSON_Delete(root);
  }
}

/* ---- devvars ------------------------------------------------------------ */

typedef struct {
  char keys[16][32];
  char values[16][64];
  int n;
} collected_t;

static void collect(const char *key, const char *value, void *data) {
  collected_t *c = data;
  assert_true(c->n < 16);
  snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
  snprintf(c->values[c->n], sizeof(c->values[0]), "%s", value);
  c->n++;
}

static void test_devvars_good(void **state) {
  const char *text = "# comment\n"
                     "\n"
                     "PLAIN=value\n"
                     "  SPACED  =   padded value   \n"
                     "export EXPORTED=1\r\n"
                     "SINGLE='it''s # kept'\n"
                     "SQ='a # b \\n'  # comment\n"
                     "DQ=\"line1\\nline2 \\\"q\\\" \\\\ \\x\"\n"
                     "EMPTY=\n"
                     "INLINE=abc # comment\n"
                     "HASH=abc#def\n"
                     "export=is a key\n"
                     "_u9=\"\"\n"
                     "\t# indented comment\n"
                     "LAST=no newline";
  collected_t c = {0};
  char err[64];
  /* 'it''s' is a quoted 'it' followed by text: not allowed. */
  assert_int_equal(duro_devvars_parse(text, strlen(text), collect, &c, err,
                                      sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "line 6: unexpected text after the closing quote");
  assert_int_equal(c.n, 3);

  const char *fixed = strstr(text, "SQ=");
  const char *head = "PLAIN=value\n  SPACED  =   padded value   \n"
                     "export EXPORTED=1\r\n";
  static const char *want[][2] = {
      {"PLAIN", "value"},
      {"SPACED", "padded value"},
      {"EXPORTED", "1"},
      {"SQ", "a # b \\n"},
      {"DQ", "line1\nline2 \"q\" \\ \\x"},
      {"EMPTY", ""},
      {"INLINE", "abc"},
      {"HASH", "abc#def"},
      {"export", "is a key"},
      {"_u9", ""},
      {"LAST", "no newline"},
  };
  char joined[1024];
  snprintf(joined, sizeof(joined), "%s%s", head, fixed);
  memset(&c, 0, sizeof(c));
  /* Parse through an exact-size copy: no NUL after the last byte. */
  size_t len = strlen(joined);
  char *copy = duro_malloc(len);
  memcpy(copy, joined, len);
  assert_int_equal(duro_devvars_parse(copy, len, collect, &c, err,
                                      sizeof(err)),
                   0);
  duro_free(copy);
  assert_int_equal(c.n, sizeof(want) / sizeof(want[0]));
  for (int i = 0; i < c.n; i++) {
    assert_string_equal(c.keys[i], want[i][0]);
    assert_string_equal(c.values[i], want[i][1]);
  }
}

static void test_devvars_bad(void **state) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"OK=1\nNOEQUALS\n", "line 2: expected KEY=VALUE"},
      {"=value", "line 1: empty key"},
      {"  = value", "line 1: empty key"},
      {"1KEY=x", "line 1: invalid key (must match [A-Za-z_][A-Za-z0-9_]*)"},
      {"MY-KEY=x", "line 1: invalid key (must match [A-Za-z_][A-Za-z0-9_]*)"},
      {"A B=x", "line 1: invalid key (must match [A-Za-z_][A-Za-z0-9_]*)"},
      {"\n\nK=\"open", "line 3: unterminated double-quoted value"},
      {"K='open", "line 1: unterminated single-quoted value"},
      {"K=\"a\" b", "line 1: unexpected text after the closing quote"},
      {"K=\"ends with backslash\\\"", "line 1: unterminated double-quoted value"},
      {"export ", "line 1: expected KEY=VALUE"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    collected_t c = {0};
    char err[128] = "";
    int rc = duro_devvars_parse(cases[i].text, strlen(cases[i].text), collect,
                                &c, err, sizeof(err));
    if (rc != DURO_EINVAL || strcmp(err, cases[i].want) != 0)
      fail_msg("case %zu: rc %d, got \"%s\", wanted \"%s\"", i, rc, err,
               cases[i].want);
  }
  collected_t c = {0};
  char err[64];
  assert_int_equal(duro_devvars_parse("A=1\nB=x\0y\n", 10, collect, &c, err,
                                      sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "line 2: NUL byte in line");
  assert_int_equal(c.n, 1);
  assert_int_equal(duro_devvars_parse_named("dir/.dev.vars", "\nX", 2, collect,
                                            &c, err, sizeof(err)),
                   DURO_EINVAL);
  assert_string_equal(err, "dir/.dev.vars:2: expected KEY=VALUE");
}

/* ---- loader ------------------------------------------------------------- */

static void test_defaults_without_file(void **state) {
  duro_config_t cfg;
  char err[256];
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_string_equal(cfg.role, "backend");
  assert_null(cfg.config_path);
  assert_int_equal(cfg.mode, DURO_MODE_PRODUCTION);
  assert_string_equal(duro_config_var(&cfg, "NODE_ENV"), "production");
  assert_int_equal(cfg.port, 8787);
  assert_int_equal(cfg.frontend_port, 0);
  assert_null(cfg.backend_url);
  assert_string_equal(cfg.host, "127.0.0.1");
  assert_string_equal(cfg.data_dir, "./.duro");
  assert_string_equal(cfg.name, "duro");
  assert_int_equal(cfg.log_level, DURO_LOG_INFO);
  assert_int_equal(cfg.nbindings, 5);
  static const char *want[][2] = {{"TEST_DO", "TestDurableObject"},
                                  {"MESSAGE_COORDINATOR", "MessageCoordinator"},
                                  {"COUNTDOWN_TIMER", "CountdownTimer"},
                                  {"ROOMS", "Room"},
                                  {"LIVESTORE_SYNC", "SyncBackend"}};
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(cfg.bindings[i].name, want[i][0]);
    assert_string_equal(cfg.bindings[i].class_name, want[i][1]);
    assert_null(cfg.bindings[i].script_name);
  }
  assert_int_equal(cfg.limits.max_header_bytes, 16384);
  assert_int_equal(cfg.limits.max_body_bytes, 1048576);
  assert_int_equal(cfg.limits.ws_max_message_bytes, 1048576);
  assert_int_equal(cfg.limits.ws_send_queue_bytes, 4194304);
  assert_int_equal(cfg.limits.header_timeout_ms, 10000);
  assert_int_equal(cfg.limits.idle_timeout_ms, 60000);
  assert_int_equal(cfg.limits.ws_ping_interval_ms, 30000);
  assert_int_equal(cfg.limits.ws_pong_timeout_ms, 60000);
  assert_int_equal(cfg.limits.object_idle_ms, 30000);
  assert_int_equal(cfg.limits.alarm_max_retries, 6);
  assert_int_equal(cfg.limits.durability_full, 1);
  assert_int_equal(cfg.limits.max_connections, 100000);
  duro_config_free(&cfg);
  assert_null(cfg.vars);
  duro_config_free(&cfg); /* twice is harmless */

  /* A file without durable_objects keeps the built-in bindings. */
  write_file("duro.jsonc", "{\"name\": \"x\"}");
  assert_int_equal(LOAD(&cfg, err, "frontend"), 0);
  assert_string_equal(cfg.config_path, "./duro.jsonc");
  assert_int_equal(cfg.nbindings, 5);
  assert_int_equal(cfg.port, 5173);
  assert_int_equal(cfg.frontend_port, 5173);
  assert_string_equal(cfg.backend_url, "http://127.0.0.1:8787");
  duro_config_free(&cfg);
}

static void test_checked_in_config(void **state) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/duro.jsonc", repo_dir);
  if (access(path, R_OK) != 0)
    skip();
  duro_config_t cfg;
  char err[256];
  assert_int_equal(LOAD(&cfg, err, "backend", "--config", path), 0);
  assert_string_equal(cfg.name, "duro-backend");
  assert_int_equal(cfg.mode, DURO_MODE_PRODUCTION);
  assert_int_equal(cfg.port, 8787);
  assert_int_equal(cfg.nbindings, 5);
  assert_non_null(duro_config_binding(&cfg, "ROOMS"));
  assert_string_equal(duro_config_binding(&cfg, "ROOMS")->class_name, "Room");
  assert_string_equal(duro_config_binding(&cfg, "LIVESTORE_SYNC")->class_name,
                      "SyncBackend");
  assert_int_equal(duro_sync_config_mut(&cfg)->auth, DURO_SYNC_AUTH_AUTO);
  assert_int_equal(duro_sync_config_mut(&cfg)->cors, 1);
  duro_config_free(&cfg);
  /* duro dev over the same file is development. */
  assert_int_equal(LOAD(&cfg, err, "dev", "--config", path), 0);
  assert_int_equal(cfg.mode, DURO_MODE_DEVELOPMENT);
  assert_string_equal(duro_config_var(&cfg, "NODE_ENV"), "development");
  duro_config_free(&cfg);
}

static void test_var_precedence(void **state) {
  write_file("duro.jsonc", "{\"vars\": {\"A_VAR\": \"file\", \"B_VAR\": "
                           "\"file\", \"C_VAR\": \"file\",\n"
                           "\"D_VAR\": \"file\"}}");
  write_file(".dev.vars", "B_VAR=devvars\nC_VAR=devvars\nE_VAR=devvars\n");
  setenv("C_VAR", "env", 1);
  setenv("DURO_SESSION_SECRET", "s3cret", 1);
  setenv("ONLY_ENV", "not a var", 1);
  duro_config_t cfg;
  char err[256];
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_string_equal(duro_config_var(&cfg, "A_VAR"), "file");
  assert_string_equal(duro_config_var(&cfg, "B_VAR"), "devvars");
  assert_string_equal(duro_config_var(&cfg, "C_VAR"), "env");
  assert_string_equal(duro_config_var(&cfg, "D_VAR"), "file");
  assert_string_equal(duro_config_var(&cfg, "E_VAR"), "devvars");
  assert_string_equal(duro_config_var(&cfg, "DURO_SESSION_SECRET"), "s3cret");
  assert_null(duro_config_var(&cfg, "ONLY_ENV"));
  assert_null(duro_config_var(&cfg, "DURO_SYNC_TOKEN"));
  duro_config_free(&cfg);

  /* .dev.vars is looked up beside the config file, not in the cwd. */
  assert_int_equal(mkdir("sub", 0700), 0);
  write_file("sub/app.jsonc", "{\"vars\": {\"A_VAR\": \"sub\"}}");
  write_file("sub/.dev.vars", "A_VAR=sub-devvars\n");
  assert_int_equal(LOAD(&cfg, err, "backend", "--config", "sub/app.jsonc"), 0);
  assert_string_equal(cfg.config_path, "sub/app.jsonc");
  assert_string_equal(duro_config_var(&cfg, "A_VAR"), "sub-devvars");
  assert_null(duro_config_var(&cfg, "B_VAR"));
  duro_config_free(&cfg);

  /* Without a config file, .dev.vars in the cwd still applies. */
  unlink("duro.jsonc");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_string_equal(duro_config_var(&cfg, "B_VAR"), "devvars");
  assert_null(duro_config_var(&cfg, "A_VAR"));
  duro_config_free(&cfg);

  /* A malformed .dev.vars names the file and the line. */
  write_file(".dev.vars", "OK=1\nnot a var line\n");
  EXPECT_ERROR(".dev.vars:2: expected KEY=VALUE", "backend");

  /* Non-string vars are refused, naming the key. */
  write_file(".dev.vars", "");
  write_file("duro.jsonc", "{\"vars\": {\"PORTISH\": 8080}}");
  EXPECT_ERROR("duro.jsonc: vars.PORTISH must be a string", "backend");
}

static void test_mode_resolution(void **state) {
  duro_config_t cfg;
  char err[256];
  write_file("duro.jsonc", "{\"vars\": {\"NODE_ENV\": \"production\"}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_PRODUCTION);
  duro_config_free(&cfg);

  /* dev role beats the file. */
  assert_int_equal(LOAD(&cfg, err, "dev"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_DEVELOPMENT);
  assert_string_equal(duro_config_var(&cfg, "NODE_ENV"), "development");
  duro_config_free(&cfg);

  /* .dev.vars beats the file. */
  write_file(".dev.vars", "NODE_ENV=development\n");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_DEVELOPMENT);
  duro_config_free(&cfg);

  /* The environment beats .dev.vars. */
  setenv("NODE_ENV", "test", 1);
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_TEST);
  assert_string_equal(duro_mode_name(cfg.mode), "test");
  duro_config_free(&cfg);

  /* --mode beats everything, and the var follows. */
  assert_int_equal(LOAD(&cfg, err, "dev", "--mode", "production"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_PRODUCTION);
  assert_string_equal(duro_config_var(&cfg, "NODE_ENV"), "production");
  duro_config_free(&cfg);

  /* An unknown NODE_ENV is an error when it decides the mode... */
  setenv("NODE_ENV", "staging", 1);
  EXPECT_ERROR("NODE_ENV is 'staging'", "backend");
  /* ...but not when something stronger does. */
  assert_int_equal(LOAD(&cfg, err, "backend", "--mode=test"), 0);
  assert_int_equal(cfg.mode, DURO_MODE_TEST);
  duro_config_free(&cfg);

  assert_string_equal(duro_mode_name(DURO_MODE_DEVELOPMENT), "development");
  assert_string_equal(duro_mode_name((duro_mode_t)42), "unknown");
}

static void test_flags(void **state) {
  duro_config_t cfg;
  char err[256];
  write_file("duro.jsonc", "{\"dev\": {\"port\": 9100}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.port, 9100);
  duro_config_free(&cfg);

  assert_int_equal(LOAD(&cfg, err, "backend", "--port", "9000", "--host",
                        "0.0.0.0", "--data=/var/lib/duro", "--log-level",
                        "debug"),
                   0);
  assert_int_equal(cfg.port, 9000);
  assert_string_equal(cfg.host, "0.0.0.0");
  assert_string_equal(cfg.data_dir, "/var/lib/duro");
  assert_int_equal(cfg.log_level, DURO_LOG_DEBUG);
  duro_config_free(&cfg);

  /* Flags may come before the role; the last one wins. */
  assert_int_equal(LOAD(&cfg, err, "--port=1", "--port=65535", "dev",
                        "--frontend-port", "6000"),
                   0);
  assert_string_equal(cfg.role, "dev");
  assert_int_equal(cfg.port, 65535);
  assert_int_equal(cfg.frontend_port, 6000);
  duro_config_free(&cfg);

  /* The frontend finds the backend at dev.port unless told. */
  assert_int_equal(LOAD(&cfg, err, "frontend"), 0);
  assert_string_equal(cfg.backend_url, "http://127.0.0.1:9100");
  duro_config_free(&cfg);
  assert_int_equal(LOAD(&cfg, err, "frontend", "--backend",
                        "http://10.0.0.2:8787/", "--port", "8080"),
                   0);
  assert_string_equal(cfg.backend_url, "http://10.0.0.2:8787");
  assert_int_equal(cfg.port, 8080);
  duro_config_free(&cfg);
}

static void test_flag_errors(void **state) {
  EXPECT_ERROR("duro: unknown flag '--prot' (see duro --help)", "backend",
               "--prot", "1");
  EXPECT_ERROR("duro: unknown flag '--tokn'", "backend", "--tokn=SECRET");
  EXPECT_ERROR("duro: unknown flag '-p'", "backend", "-p", "1");
  EXPECT_ERROR("duro: --port needs a value", "backend", "--port");
  EXPECT_ERROR("duro: --port needs a value", "backend", "--port=");
  EXPECT_ERROR("duro: --port needs a value", "backend", "--port", "--host",
               "x");
  EXPECT_ERROR("duro: --port: 'abc' is not a port number", "backend",
               "--port", "abc");
  EXPECT_ERROR("is not a port number", "backend", "--port", "-1");
  EXPECT_ERROR("is not a port number", "backend", "--port", "65536");
  EXPECT_ERROR("is not a port number", "backend", "--port", "-1");
  EXPECT_ERROR("is not a port number", "backend", "--port", "80x");
  EXPECT_ERROR("is not a port number", "dev", "--frontend-port",
               "99999999999999999999");
  EXPECT_ERROR("duro: unknown role 'serve'", "serve");
  EXPECT_ERROR("duro: no role given", "--port", "1");
  EXPECT_ERROR("duro: unexpected argument 'extra'", "dev", "extra");
  EXPECT_ERROR("duro: unknown mode 'prod'", "backend", "--mode", "prod");
  EXPECT_ERROR("duro: unknown log level 'loud'", "backend", "--log-level",
               "loud");
  EXPECT_ERROR("duro: --frontend-port applies only to dev, not backend",
               "backend", "--frontend-port", "1234");
  EXPECT_ERROR("duro: --backend applies only to frontend, not dev", "dev",
               "--backend", "http://x:1");
  EXPECT_ERROR("expected an http:// or https:// URL", "frontend", "--backend",
               "x:1");
  EXPECT_ERROR("duro: --help takes no value", "--help=1");
  EXPECT_ERROR("ports are both 7000", "dev", "--port", "7000",
               "--frontend-port", "7000");

  /* Config file problems. */
  EXPECT_ERROR("duro: cannot read config file 'missing.jsonc': No such file",
               "backend", "--config", "missing.jsonc");
  EXPECT_ERROR("duro: cannot read config file '.'", "backend", "--config",
               ".");
  write_file("duro.jsonc", "{\n  \"name\": \"x\"\n  \"vars\": {}\n}\n");
  EXPECT_ERROR("duro.jsonc:3:3: expected ',' or '}'", "backend");
  write_file("duro.jsonc", "[1]");
  EXPECT_ERROR("duro.jsonc:1:1: the top level must be an object", "backend");
  write_file("duro.jsonc", "{\"dev\": {\"port\": 70000}}");
  EXPECT_ERROR("duro.jsonc: dev.port must be a port number", "backend");
  write_file("duro.jsonc", "{\"dev\": {\"port\": 80.5}}");
  EXPECT_ERROR("duro.jsonc: dev.port must be a port number", "backend");
  write_file("duro.jsonc", "{\"name\": 5}");
  EXPECT_ERROR("duro.jsonc: \"name\" must be a non-empty string", "backend");
}

static void test_bindings(void **state) {
  duro_config_t cfg;
  char err[256];
  write_file("duro.jsonc",
             "{\"durable_objects\": {\"bindings\": [\n"
             "  {\"name\": \"A_1\", \"class_name\": \"A\"},\n"
             "  {\"name\": \"_B\", \"class_name\": \"B\", \"script_name\": "
             "\"duro-backend\", \"environment\": \"x\"},\n"
             "]}, \"main\": \"src/index.ts\", \"migrations\": []}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.nbindings, 2);
  assert_string_equal(cfg.bindings[0].name, "A_1");
  assert_null(cfg.bindings[0].script_name);
  assert_string_equal(cfg.bindings[1].script_name, "duro-backend");
  assert_null(duro_config_binding(&cfg, "TEST_DO"));
  duro_config_free(&cfg);

  /* An explicit empty list means no bindings. */
  write_file("duro.jsonc", "{\"durable_objects\": {\"bindings\": []}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.nbindings, 0);
  duro_config_free(&cfg);

  static const struct {
    const char *json, *want;
  } bad[] = {
      {"[{\"name\": \"lower\", \"class_name\": \"X\"}]",
       "binding name 'lower' must match [A-Z_][A-Z0-9_]*"},
      {"[{\"name\": \"9LIVES\", \"class_name\": \"X\"}]",
       "binding name '9LIVES'"},
      {"[{\"name\": \"\", \"class_name\": \"X\"}]", "binding name ''"},
      {"[{\"name\": \"A-B\", \"class_name\": \"X\"}]", "binding name 'A-B'"},
      {"[{\"name\": \"A\", \"class_name\": \"X\"}, {\"name\": \"A\", "
       "\"class_name\": \"Y\"}]",
       "bindings[1]: duplicate binding name 'A'"},
      {"[{\"name\": \"A\", \"class_name\": \"\"}]",
       "bindings[0] (A): class_name must be a non-empty string"},
      {"[{\"name\": \"A\"}]", "class_name must be a non-empty string"},
      {"[{\"class_name\": \"X\"}]", "bindings[0].name must be a string"},
      {"[{\"name\": \"A\", \"class_name\": \"X\", \"script_name\": 1}]",
       "script_name must be a non-empty string"},
      {"[\"A\"]", "bindings[0] must be an object"},
      {"{}", "durable_objects.bindings must be an array"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[512];
    snprintf(text, sizeof(text), "{\"durable_objects\": {\"bindings\": %s}}",
             bad[i].json);
    write_file("duro.jsonc", text);
    int rc = LOAD(&cfg, err, "backend");
    if (rc != DURO_EINVAL || !strstr(err, bad[i].want))
      fail_msg("case %zu: rc %d, got \"%s\", wanted \"%s\"", i, rc, err,
               bad[i].want);
  }
}

static void test_duro_section(void **state) {
  duro_config_t cfg;
  char err[256];
  write_file("duro.jsonc",
             "{\"duro\": {\"max_body_bytes\": 2048, \"durability\": "
             "\"normal\", \"ws_pong_timeout_ms\": 5000, "
             "\"alarm_max_retries\": 0, \"max_connections\": 1000000},"
             " \"unknown_top_level\": {\"anything\": [1]}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(cfg.limits.max_body_bytes, 2048);
  assert_int_equal(cfg.limits.durability_full, 0);
  assert_int_equal(cfg.limits.ws_pong_timeout_ms, 5000);
  assert_int_equal(cfg.limits.alarm_max_retries, 0);
  assert_int_equal(cfg.limits.max_connections, 1000000);
  assert_int_equal(cfg.limits.max_header_bytes, 16384);
  duro_config_free(&cfg);

  write_file("duro.jsonc", "{\"duro\": {\"max_bdy_bytes\": 1}}");
  EXPECT_ERROR("duro.jsonc: unknown setting duro.max_bdy_bytes (see duro "
               "--help)",
               "backend");
  write_file("duro.jsonc", "{\"duro\": {\"max_body_bytes\": 10}}");
  EXPECT_ERROR("duro.max_body_bytes must be an integer in 1024..1073741824",
               "backend");
  write_file("duro.jsonc", "{\"duro\": {\"max_body_bytes\": \"1M\"}}");
  EXPECT_ERROR("duro.max_body_bytes must be an integer", "backend");
  write_file("duro.jsonc", "{\"duro\": {\"idle_timeout_ms\": 1000.5}}");
  EXPECT_ERROR("duro.idle_timeout_ms must be an integer", "backend");
  write_file("duro.jsonc", "{\"duro\": {\"durability\": \"off\"}}");
  EXPECT_ERROR("duro.durability must be \"normal\" or \"full\"", "backend");
  write_file("duro.jsonc", "{\"duro\": [1]}");
  EXPECT_ERROR("\"duro\" must be an object", "backend");
}

static void test_sync_section(void **state) {
  duro_config_t cfg;
  char err[256];
  /* Defaults without a "sync" section. */
  write_file("duro.jsonc", "{}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(duro_sync_config_mut(&cfg)->auth, DURO_SYNC_AUTH_AUTO);
  assert_int_equal(duro_sync_config_mut(&cfg)->cors, 1);
  assert_null(duro_sync_config_mut(&cfg)->webhook);
  assert_int_equal(duro_sync_config_mut(&cfg)->ntokens, 0);
  assert_int_equal(duro_sync_config_mut(&cfg)->max_message_bytes, 1048576);
  duro_config_free(&cfg);

  write_file("duro.jsonc",
             "{\"sync\": {\"auth\": \"token\", \"tokens\": [\"a\", \"b c\"],"
             " \"cors\": false, \"webhook\": \"http://127.0.0.1:9/h\","
             " \"max_message_bytes\": 4096}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(duro_sync_config_mut(&cfg)->auth, DURO_SYNC_AUTH_TOKEN);
  assert_int_equal(duro_sync_config_mut(&cfg)->ntokens, 2);
  assert_string_equal(duro_sync_config_mut(&cfg)->tokens[1], "b c");
  assert_int_equal(duro_sync_config_mut(&cfg)->cors, 0);
  assert_string_equal(duro_sync_config_mut(&cfg)->webhook, "http://127.0.0.1:9/h");
  assert_int_equal(duro_sync_config_mut(&cfg)->max_message_bytes, 4096);
  duro_config_free(&cfg);
  assert_null(cfg.parts); /* the section's strings went with it */
  assert_null(duro_config_section(&cfg, &duro_sync_section));

  write_file("duro.jsonc", "{\"sync\": {\"auth\": \"none\"}}");
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_int_equal(duro_sync_config_mut(&cfg)->auth, DURO_SYNC_AUTH_NONE);
  duro_config_free(&cfg);

  write_file("duro.jsonc", "{\"sync\": {\"auth\": \"jwt\"}}");
  EXPECT_ERROR("sync.auth must be", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"tokens\": \"abc\"}}");
  EXPECT_ERROR("sync.tokens must be an array of strings", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"tokens\": [\"\"]}}");
  EXPECT_ERROR("sync.tokens must hold non-empty strings", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"cors\": 1}}");
  EXPECT_ERROR("sync.cors must be true or false", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"webhook\": \"https://x\"}}");
  EXPECT_ERROR("sync.webhook must be an http:// URL", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"max_message_bytes\": 10}}");
  EXPECT_ERROR("sync.max_message_bytes must be an integer", "backend");
  write_file("duro.jsonc", "{\"sync\": {\"secret\": \"x\"}}");
  EXPECT_ERROR("unknown setting sync.secret", "backend");
  write_file("duro.jsonc", "{\"sync\": []}");
  EXPECT_ERROR("\"sync\" must be an object", "backend");

  /* The environment token reaches the merged vars. */
  write_file("duro.jsonc", "{}");
  setenv("DURO_SYNC_TOKEN", "t1, t2", 1);
  assert_int_equal(LOAD(&cfg, err, "backend"), 0);
  assert_string_equal(duro_config_var(&cfg, "DURO_SYNC_TOKEN"), "t1, t2");
  duro_config_free(&cfg);
  unsetenv("DURO_SYNC_TOKEN");
}

static void test_help_and_version(void **state) {
  char out[16384];
  assert_int_equal(load_capturing((const char *const[]){"--help", NULL}, out,
                                  sizeof(out)),
                   1);
  /* Generated from the tables: every flag, every setting. */
  static const char *want[] = {
      "usage: duro <role> [flags]", "--port N", "--frontend-port N",
      "--backend URL", "--config FILE", "--mode MODE", "--log-level LEVEL",
      "max_header_bytes", "max_body_bytes", "ws_max_message_bytes",
      "ws_send_queue_bytes", "header_timeout_ms", "idle_timeout_ms",
      "ws_ping_interval_ms", "ws_pong_timeout_ms", "object_idle_ms",
      "alarm_max_retries", "durability", "max_connections",
      "16384 (bytes, 1024..1048576)", "full (one of normal, full)"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (!strstr(out, want[i]))
      fail_msg("help lacks \"%s\"", want[i]);

  assert_int_equal(load_capturing((const char *const[]){"help", NULL}, out,
                                  sizeof(out)),
                   1);
  assert_non_null(strstr(out, "usage: duro <role>"));

  /* Per-role help lists only that role's flags. */
  assert_int_equal(load_capturing((const char *const[]){"backend", "--help",
                                                         NULL},
                                  out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, "usage: duro backend [flags]"));
  assert_null(strstr(out, "--frontend-port"));
  assert_non_null(strstr(out, "--port"));

  assert_int_equal(load_capturing((const char *const[]){"-h", NULL}, out,
                                  sizeof(out)),
                   1);
  assert_non_null(strstr(out, "usage:"));

  assert_int_equal(load_capturing((const char *const[]){"--version", NULL},
                                  out, sizeof(out)),
                   1);
  assert_string_equal(out, "duro " DURO_VERSION "\n");

  /* Help wins over a missing config file: it never reads one. */
  assert_int_equal(load_capturing((const char *const[]){"dev", "--config",
                                                         "nope.jsonc",
                                                         "--help", NULL},
                                  out, sizeof(out)),
                   1);
}

int main(void) {
  if (!getcwd(repo_dir, sizeof(repo_dir)))
    return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jsonc_comments_and_commas),
      cmocka_unit_test(test_jsonc_errors),
      cmocka_unit_test(test_jsonc_prefixes),
      cmocka_unit_test(test_devvars_good),
      cmocka_unit_test(test_devvars_bad),
      T(test_defaults_without_file),
      T(test_checked_in_config),
      T(test_var_precedence),
      T(test_mode_resolution),
      T(test_flags),
      T(test_flag_errors),
      T(test_bindings),
      T(test_duro_section),
      T(test_sync_section),
      T(test_help_and_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
