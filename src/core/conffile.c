/*
 * conffile.c: see conffile.h.
 *
 * Design notes.
 * - The file is parsed whole (core/jsonc) and then applied key by key to
 *   the caller's scratch config; the sections go through the options table
 *   (core/options.h), the wrangler keys through the small loaders below.
 * - cJSON keeps no positions, so the messages about "classes" entries find
 *   their line with value_line, a small scanner over the raw text.
 */
#include "core/conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/devvars.h"
#include "core/err.h"
#include "core/jsonc.h"
#include "core/options.h"
#include "core/str.h"

/* Config files larger than this are refused rather than slurped. */
#define MAX_FILE_BYTES (16u << 20)

/* An EINVAL with its message in err. */
#define fail(err, errlen, ...)                                                 \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

/*
 * Reads a whole file into a NUL-terminated allocation (*data, freed by the
 * caller; *len excludes the NUL). Returns 0 or a negative errno (-ENOENT for
 * a missing file, -EFBIG past MAX_FILE_BYTES).
 */
static int read_file(const char *path, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return -EISDIR;
  }
  duro_buf_t b = DURO_BUF_INIT;
  for (;;) {
    uint8_t *p = duro_buf_reserve(&b, 4096);
    ssize_t n = read(fd, p, b.cap - b.len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = -errno;
      close(fd);
      duro_buf_free(&b);
      return e;
    }
    if (n == 0)
      break;
    b.len += (size_t)n;
    if (b.len > MAX_FILE_BYTES) {
      close(fd);
      duro_buf_free(&b);
      return -EFBIG;
    }
  }
  close(fd);
  *duro_buf_reserve(&b, 1) = '\0';
  *data = (char *)b.data;
  *len = b.len;
  return 0;
}

typedef struct {
  const char *path; /* for messages */
  char *err;
  size_t errlen;
  duro_conffile_info_t *info;
  const char *text; /* the raw file, for line numbers; may be NULL */
  size_t text_len;
} file_ctx_t;

static int valid_binding_name(const char *s) {
  if (!*s)
    return 0;
  for (const char *p = s; *p; p++) {
    int up = *p >= 'A' && *p <= 'Z';
    int digit = *p >= '0' && *p <= '9';
    if (!(up || *p == '_' || (digit && p != s)))
      return 0;
  }
  return 1;
}

static int load_vars(file_ctx_t *fc, duro_config_t *c, const cJSON *vars) {
  if (!cJSON_IsObject(vars))
    return fail(fc->err, fc->errlen, "%s: \"vars\" must be an object",
                fc->path);
  for (const cJSON *v = vars->child; v; v = v->next) {
    if (!cJSON_IsString(v))
      return fail(fc->err, fc->errlen,
                  "%s: vars.%.64s must be a string (other JSON values are "
                  "not supported)",
                  fc->path, v->string);
    duro_config__set_var(c, v->string, v->valuestring);
  }
  return 0;
}

static const char *opt_string(const cJSON *obj, const char *key, int *bad) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it || cJSON_IsNull(it))
    return NULL;
  if (!cJSON_IsString(it)) {
    *bad = 1;
    return NULL;
  }
  return it->valuestring;
}

static int load_bindings(file_ctx_t *fc, duro_config_t *c, const cJSON *dobj) {
  if (!cJSON_IsObject(dobj))
    return fail(fc->err, fc->errlen,
                "%s: \"durable_objects\" must be an object", fc->path);
  fc->info->has_durable_objects = 1;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(dobj, "bindings");
  if (!arr)
    return 0;
  if (!cJSON_IsArray(arr))
    return fail(fc->err, fc->errlen,
                "%s: durable_objects.bindings must be an array", fc->path);
  int idx = 0;
  for (const cJSON *b = arr->child; b; b = b->next, idx++) {
    if (!cJSON_IsObject(b))
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d] must be an object",
                  fc->path, idx);
    int bad = 0;
    const char *name = opt_string(b, "name", &bad);
    if (!name || bad)
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d].name must be a string",
                  fc->path, idx);
    if (!valid_binding_name(name))
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d]: binding name '%.64s' "
                  "must match [A-Z_][A-Z0-9_]*",
                  fc->path, idx, name);
    if (duro_config_binding(c, name))
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d]: duplicate binding name "
                  "'%s'",
                  fc->path, idx, name);
    const char *cls = opt_string(b, "class_name", &bad);
    if (!cls || !*cls || bad)
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d] (%s): class_name must be "
                  "a non-empty string",
                  fc->path, idx, name);
    const char *script = opt_string(b, "script_name", &bad);
    if (bad || (script && !*script))
      return fail(fc->err, fc->errlen,
                  "%s: durable_objects.bindings[%d] (%s): script_name must "
                  "be a non-empty string",
                  fc->path, idx, name);
    duro_config__add_binding(c, name, cls, script);
  }
  return 0;
}

/* ---- the "classes" array ---------------------------------------------- */

/* Skips blanks, newlines (counted into *line) and comments from i on. */
static size_t skip_blank(const char *t, size_t n, size_t i, int *line) {
  while (i < n) {
    if (t[i] == '\n') {
      (*line)++;
      i++;
    } else if (t[i] == ' ' || t[i] == '\t' || t[i] == '\r') {
      i++;
    } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '/') {
      while (i < n && t[i] != '\n')
        i++;
    } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
      for (i += 2; i < n && !(t[i] == '*' && i + 1 < n && t[i + 1] == '/'); i++)
        if (t[i] == '\n')
          (*line)++;
      i += 2;
    } else {
      break;
    }
  }
  return i;
}

/* t[i] is a quote: the index just past the closing one. */
static size_t skip_string(const char *t, size_t n, size_t i) {
  for (i++; i < n && t[i] != '"'; i++)
    if (t[i] == '\\')
      i++;
  return i + 1;
}

/*
 * The 1-based line of element idx of the array under the top-level key
 * `key` in the raw (already parsed, so well-formed) text, or of the key
 * itself when idx < 0 or the value is not an array; 0 when not found.
 * cJSON keeps no positions, so messages about a value's type find their
 * line with this small scanner over strings, comments and nesting.
 */
static int value_line(const char *t, size_t n, const char *key, int idx) {
  size_t klen = strlen(key), i = 0; /* C string: a literal key */
  int line = 1, depth = 0;
  if (!t)
    return 0;
  while ((i = skip_blank(t, n, i, &line)) < n) {
    char c = t[i];
    if (c != '"') {
      if (c == '{' || c == '[')
        depth++;
      else if (c == '}' || c == ']')
        depth--;
      i++;
      continue;
    }
    size_t s = i;
    i = skip_string(t, n, i);
    int key_line = line;
    size_t j = skip_blank(t, n, i, &line);
    if (depth != 1 || j >= n || t[j] != ':' || i - s - 2 != klen ||
        memcmp(t + s + 1, key, klen) != 0) {
      continue;
    }
    if (idx < 0)
      return key_line;
    j = skip_blank(t, n, j + 1, &line);
    if (j >= n || t[j] != '[')
      return key_line;
    j++;
    for (int k = 0, d = 0;;) {
      j = skip_blank(t, n, j, &line);
      if (j >= n)
        return key_line;
      if (d == 0 && k == idx && t[j] != ']')
        return line;
      char ch = t[j];
      if (ch == '"') {
        j = skip_string(t, n, j);
        continue;
      }
      if (ch == '{' || ch == '[')
        d++;
      else if ((ch == '}' || ch == ']') && d-- == 0)
        return key_line;
      else if (ch == ',' && d == 0)
        k++;
      j++;
    }
  }
  return 0;
}

/* fail() with "FILE:LINE: " (or "FILE: " when the line is unknown). */
__attribute__((format(printf, 3, 4))) static int
fail_at(file_ctx_t *fc, int line, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  /* A message cut short (DURO_E2BIG) is still the message to show. */
  if (duro_vfmt(msg, sizeof(msg), fmt, ap) == DURO_EINVAL)
    msg[0] = '\0';
  va_end(ap);
  if (line > 0)
    return fail(fc->err, fc->errlen, "%s:%d: %s", fc->path, line, msg);
  return fail(fc->err, fc->errlen, "%s: %s", fc->path, msg);
}

/* A library path relative to the config file's directory, newly
 * allocated; absolute paths stay as they are. */
static char *resolve_library(const char *config_path, const char *lib) {
  if (lib[0] == '/')
    return duro_strdup(lib);
  while (lib[0] == '.' && lib[1] == '/')
    lib += 2;
  const char *slash = NULL;
  if (config_path)
    slash = strrchr(config_path, '/'); /* C string: the config's path */
  size_t dirlen = slash ? (size_t)(slash - config_path) : 1;
  const char *dir = slash ? config_path : "."; /* "/duro.jsonc": "" */
  size_t liblen = strlen(lib); /* C string: a cJSON valuestring */
  char *out = duro_malloc(dirlen + 1 + liblen + 1);
  memcpy(out, dir, dirlen);
  out[dirlen] = '/';
  memcpy(out + dirlen + 1, lib, liblen + 1);
  return out;
}

/* "classes": [{"class_name": "Counter", "library": "./libcounter.so"}] */
static int load_classes(file_ctx_t *fc, duro_config_t *c, const cJSON *arr) {
  if (!cJSON_IsArray(arr))
    return fail_at(fc, value_line(fc->text, fc->text_len, "classes", -1),
                   "\"classes\" must be an array of {\"class_name\": ..., "
                   "\"library\": ...}");
  int idx = 0;
  for (const cJSON *e = arr->child; e; e = e->next, idx++) {
    int line = value_line(fc->text, fc->text_len, "classes", idx);
    if (!cJSON_IsObject(e))
      return fail_at(fc, line,
                     "classes[%d] must be an object with class_name and "
                     "library",
                     idx);
    for (const cJSON *k = e->child; k; k = k->next)
      if (strcmp(k->string, "class_name") != 0 &&
          strcmp(k->string, "library") != 0)
        return fail_at(fc, line,
                       "classes[%d]: unknown key '%.64s' (expected "
                       "class_name and library)",
                       idx, k->string);
    int bad = 0;
    const char *name = opt_string(e, "class_name", &bad);
    if (!name || !*name || bad)
      return fail_at(fc, line,
                     "classes[%d].class_name must be a non-empty string", idx);
    const char *lib = opt_string(e, "library", &bad);
    if (!lib || !*lib || bad)
      return fail_at(fc, line,
                     "classes[%d] (%.64s): library must be a non-empty string "
                     "(a path to a shared object)",
                     idx, name);
    for (size_t i = 0; i < c->nclass_libs; i++)
      if (strcmp(c->class_libs[i].class_name, name) == 0)
        return fail_at(fc, line,
                       "classes[%d]: class '%.64s' is listed twice (also "
                       "classes[%zu])",
                       idx, name, i);
    c->class_libs = duro_realloc(c->class_libs,
                                 (c->nclass_libs + 1) * sizeof(*c->class_libs));
    duro_class_lib_t *cl = &c->class_libs[c->nclass_libs++];
    cl->class_name = duro_strdup(name);
    cl->library = resolve_library(c->config_path, lib);
  }
  return 0;
}

/* The section s of the file, when present, into its struct in c. */
static int load_section(file_ctx_t *fc, duro_config_t *c,
                        const duro_config_section_t *s, const cJSON *root) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, s->name);
  if (!it)
    return 0;
  void *st = s == &duro_config_limits_section ? (void *)&c->limits
                                              : duro_config_add_section(c, s);
  return duro_options_load(s, st, it, fc->path, fc->err, fc->errlen);
}

/*
 * Applies the parsed file to c: name, vars, bindings, dev.port (into
 * fc->info), the sections and "classes". Unknown top-level keys are
 * ignored: wrangler files carry many (main, compatibility_date, ...).
 */
static int load_tree(file_ctx_t *fc, duro_config_t *c,
                     const duro_config_schema_t *schema, const cJSON *root) {
  if (!cJSON_IsObject(root))
    return fail(fc->err, fc->errlen, "%s:1:1: the top level must be an object",
                fc->path);
  const cJSON *it;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "name"))) {
    if (!cJSON_IsString(it) || !*it->valuestring)
      return fail(fc->err, fc->errlen,
                  "%s: \"name\" must be a non-empty string", fc->path);
    duro_free(c->name);
    c->name = duro_strdup(it->valuestring);
  }
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "vars")) &&
      load_vars(fc, c, it) < 0)
    return DURO_EINVAL;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "durable_objects")) &&
      load_bindings(fc, c, it) < 0)
    return DURO_EINVAL;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "dev"))) {
    if (!cJSON_IsObject(it))
      return fail(fc->err, fc->errlen, "%s: \"dev\" must be an object",
                  fc->path);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "port");
    unsigned long long port;
    if (p) {
      if (!duro_options_json_uint(p, 1, 65535, &port))
        return fail(fc->err, fc->errlen,
                    "%s: dev.port must be a port number (1-65535)", fc->path);
      fc->info->dev_port = (int)port;
    }
  }
  if (load_section(fc, c, &duro_config_limits_section, root) < 0)
    return DURO_EINVAL;
  for (size_t i = 0; schema && schema->sections && schema->sections[i]; i++)
    if (load_section(fc, c, schema->sections[i], root) < 0)
      return DURO_EINVAL;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "classes")) &&
      load_classes(fc, c, it) < 0)
    return DURO_EINVAL;
  return 0;
}

int duro_conffile_load(duro_config_t *c, const duro_config_schema_t *schema,
                       const char *path, duro_conffile_info_t *info, char *err,
                       size_t errlen) {
  file_ctx_t ctx, *fc = &ctx;
  memset(fc, 0, sizeof(*fc));
  fc->info = info;
  int explicit_path = path != NULL;
  if (!path)
    path = DURO_DEFAULT_CONFIG;
  char *text;
  size_t len;
  int rc = read_file(path, &text, &len);
  if (rc == -ENOENT && !explicit_path)
    return 0;
  if (rc < 0)
    return fail(err, errlen, "duro: cannot read config file '%s': %s", path,
                strerror(-rc));
  c->config_path = duro_strdup(path);
  /* Messages say "duro.jsonc:3:7", as an editor would, not "./duro.jsonc". */
  while (path[0] == '.' && path[1] == '/' && path[2])
    path += 2;
  fc->path = path;
  fc->err = err;
  fc->errlen = errlen;

  cJSON *root = NULL;
  char jerr[192];
  rc = duro_jsonc_parse(text, len, &root, jerr, sizeof(jerr));
  if (rc < 0) {
    duro_free(text);
    return fail(err, errlen, "%s:%s", path, jerr);
  }
  fc->text = text;
  fc->text_len = len;
  rc = load_tree(fc, c, schema, root);
  fc->text = NULL;
  duro_free(text);
  cJSON_Delete(root);
  return rc;
}

static void devvar_cb(const char *key, const char *value, void *data) {
  duro_config__set_var(data, key, value);
}

int duro_conffile_load_dev_vars(duro_config_t *c, char *err, size_t errlen) {
  char path[4096];
  const char *slash = NULL;
  if (c->config_path)
    slash = strrchr(c->config_path, '/'); /* C string: the config's path */
  int n = slash ? duro_fmt(path, sizeof(path), "%.*s/.dev.vars",
                           (int)(slash - c->config_path), c->config_path)
                : duro_fmt(path, sizeof(path), ".dev.vars");
  if (n < 0)
    return fail(err, errlen, "duro: config path too long");
  char *text;
  size_t len;
  int rc = read_file(path, &text, &len);
  if (rc == -ENOENT)
    return 0;
  if (rc < 0)
    return fail(err, errlen, "duro: cannot read '%s': %s", path, strerror(-rc));
  rc = duro_devvars_parse_named(path, text, len, devvar_cb, c, err, errlen);
  duro_free(text);
  return rc;
}
