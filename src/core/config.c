/*
 * config.c: see config.h.
 *
 * Design notes.
 * - Two tables drive everything: `options` (the "duro" section of the config
 *   file: parsing, bounds, defaults, help text) and `flags` (the command
 *   line). Roles are a third, tiny table. Nothing else lists option names.
 * - duro_config_load builds a scratch duro_config_t and only copies it out
 *   when every source parsed and validated, so the caller never sees a half
 *   applied config. Errors are formatted once, where they are found.
 * - Messages name the source: "duro: ..." for the command line,
 *   "FILE:LINE:COL: ..." for JSONC syntax, "FILE: key ..." for config
 *   semantics (cJSON keeps no positions), "FILE:LINE: ..." for .dev.vars.
 * - Flags never echo a value that could be a secret; only names, ports,
 *   modes and levels are quoted back.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/devvars.h"
#include "core/err.h"
#include "core/jsonc.h"
#include "core/log.h"
#include "core/str.h"

/* Config files larger than this are refused rather than slurped. */
#define MAX_FILE_BYTES (16u << 20)

/* ---- the options table ("duro" section of the config file) ------------ */

typedef enum { OPT_SIZE, OPT_UINT, OPT_MS, OPT_CHOICE } opt_type_t;

typedef struct {
  const char *name;
  opt_type_t type;
  unsigned long long def, min, max; /* OPT_CHOICE: indexes into choices */
  const char *const *choices;       /* OPT_CHOICE: names by stored value */
  size_t offset;                    /* into duro_limits_t */
  const char *doc;
} option_t;

/* Index = the stored value of durability_full. */
static const char *const durability_choices[] = {"normal", "full", NULL};
/* Index = DURO_RATE_LIMIT_*. */
static const char *const rate_limit_choices[] = {"off", "on", "auto", NULL};
static const char *const loopback_choices[] = {"limit", "exempt", NULL};

#define LIM(field) offsetof(duro_limits_t, field)
#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)

static const option_t options[] = {
    {"max_header_bytes", OPT_SIZE, 16 * KiB, 1 * KiB, 1 * MiB, NULL,
     LIM(max_header_bytes),
     "request line plus headers; a larger request gets 431"},
    {"max_body_bytes", OPT_SIZE, 1 * MiB, 1 * KiB, 1 * GiB, NULL,
     LIM(max_body_bytes), "request body; a larger one gets 413"},
    {"ws_max_message_bytes", OPT_SIZE, 1 * MiB, 1 * KiB, 1 * GiB, NULL,
     LIM(ws_max_message_bytes),
     "WebSocket message after reassembly; larger closes with 1009"},
    {"ws_send_queue_bytes", OPT_SIZE, 4 * MiB, 64 * KiB, 1 * GiB, NULL,
     LIM(ws_send_queue_bytes),
     "per-socket bound on queued output (bytes plus 32 per queued frame); "
     "slower readers are disconnected"},
    {"header_timeout_ms", OPT_MS, 10000, 100, 3600000, NULL,
     LIM(header_timeout_ms), "time allowed for a request's headers to arrive"},
    {"idle_timeout_ms", OPT_MS, 60000, 100, 86400000, NULL,
     LIM(idle_timeout_ms), "HTTP keep-alive idle time before closing"},
    {"ws_ping_interval_ms", OPT_MS, 30000, 1000, 3600000, NULL,
     LIM(ws_ping_interval_ms), "a WebSocket quiet this long is pinged"},
    {"ws_pong_timeout_ms", OPT_MS, 60000, 1000, 3600000, NULL,
     LIM(ws_pong_timeout_ms),
     "dead-peer timeout: a socket silent this long after a ping is closed"},
    {"object_idle_ms", OPT_MS, 30000, 100, 86400000, NULL,
     LIM(object_idle_ms),
     "an object instance idle this long is evicted from memory"},
    {"alarm_max_retries", OPT_UINT, 6, 0, 100, NULL, LIM(alarm_max_retries),
     "retries of a failing alarm handler before the alarm is dropped"},
    {"durability", OPT_CHOICE, 1, 0, 1, durability_choices,
     LIM(durability_full),
     "SQLite synchronous setting: full (fsync each commit) or normal"},
    {"max_connections", OPT_UINT, 100000, 1, 10000000, NULL,
     LIM(max_connections), "open client connections"},
    {"rate_limit", OPT_CHOICE, DURO_RATE_LIMIT_AUTO, 0, 2, rate_limit_choices,
     LIM(rate_limit),
     "per-client rate limits below; auto: on in production, off in "
     "development and test"},
    {"rate_limit_connections_per_s", OPT_UINT, 20, 0, 1000000, NULL,
     LIM(rate_limit_connections_per_s),
     "new connections a second per client IP (IPv6: per /64); over it: 429 "
     "(0: no limit)"},
    {"rate_limit_connections_burst", OPT_UINT, 60, 1, 1000000, NULL,
     LIM(rate_limit_connections_burst),
     "connections a client may open at once before the rate applies"},
    {"rate_limit_messages_per_s", OPT_UINT, 200, 0, 1000000, NULL,
     LIM(rate_limit_messages_per_s),
     "WebSocket messages a second per client IP, all its sockets together; "
     "over it: close 1008 (0: no limit)"},
    {"rate_limit_messages_burst", OPT_UINT, 1000, 1, 1000000, NULL,
     LIM(rate_limit_messages_burst),
     "messages a client may send at once before the rate applies"},
    {"rate_limit_loopback", OPT_CHOICE, 1, 0, 1, loopback_choices,
     LIM(rate_limit_exempt_loopback),
     "exempt: clients on 127.0.0.0/8 and ::1 are not limited (a frontend or "
     "proxy on this host speaks for many users)"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void option_store(duro_limits_t *l, const option_t *o,
                         unsigned long long v) {
  char *field = (char *)l + o->offset;
  switch (o->type) {
  case OPT_SIZE:
    *(size_t *)(void *)field = (size_t)v;
    break;
  case OPT_UINT:
  case OPT_MS:
    *(unsigned *)(void *)field = (unsigned)v;
    break;
  case OPT_CHOICE:
    *(int *)(void *)field = (int)v;
    break;
  }
}

void duro_limits_defaults(duro_limits_t *limits) {
  memset(limits, 0, sizeof(*limits));
  for (size_t i = 0; i < NOPTIONS; i++)
    option_store(limits, &options[i], options[i].def);
}

static const option_t *option_find(const char *name) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strcmp(options[i].name, name) == 0)
      return &options[i];
  return NULL;
}

/* ---- roles and the flags table ------------------------------------------ */

enum { R_DEV = 1, R_BACKEND = 2, R_FRONTEND = 4, R_ALL = 7 };

static const struct {
  const char *name;
  unsigned bit;
  const char *doc;
} roles[] = {
    {"dev", R_DEV, "backend and frontend in one process, mode development"},
    {"backend", R_BACKEND, "hosts the Durable Objects (default port 8787)"},
    {"frontend", R_FRONTEND,
     "serves the pages, reaches the backend over HTTP (default port 5173)"},
};

#define NROLES (sizeof(roles) / sizeof(roles[0]))

typedef enum {
  F_PORT,
  F_FRONTEND_PORT,
  F_BACKEND,
  F_HOST,
  F_DATA,
  F_CONFIG,
  F_MODE,
  F_LOG_LEVEL,
  F_HELP,
  F_VERSION,
} flag_id_t;

typedef struct {
  const char *name;    /* without the leading "--" */
  const char *metavar; /* NULL: takes no value */
  flag_id_t id;
  unsigned roles;
  const char *doc;
} flag_t;

static const flag_t flags[] = {
    {"port", "N", F_PORT, R_ALL,
     "the role's port (backend 8787, frontend 5173; dev: the backend's)"},
    {"frontend-port", "N", F_FRONTEND_PORT, R_DEV,
     "the frontend's port (default 5173)"},
    {"backend", "URL", F_BACKEND, R_FRONTEND,
     "the backend's URL (default http://127.0.0.1:<dev.port or 8787>)"},
    {"host", "ADDR", F_HOST, R_ALL,
     "listen address (default " DURO_DEFAULT_HOST ")"},
    {"data", "DIR", F_DATA, R_ALL,
     "data directory (default " DURO_DEFAULT_DATA_DIR ")"},
    {"config", "FILE", F_CONFIG, R_ALL,
     "config file (default " DURO_DEFAULT_CONFIG ", optional)"},
    {"mode", "MODE", F_MODE, R_ALL,
     "development, test or production (dev: development; else NODE_ENV, "
     "else production)"},
    {"log-level", "LEVEL", F_LOG_LEVEL, R_ALL,
     "error, warn, info or debug (default info)"},
    {"help", NULL, F_HELP, R_ALL, "print this help and exit"},
    {"version", NULL, F_VERSION, R_ALL, "print the version and exit"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static const char *const mode_names[] = {"development", "test", "production"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Variables taken from the environment even when no file mentions them. */
static const char *const env_vars[] = {
    "NODE_ENV",          "DURO_INTERNAL_SECRET",      "DURO_SESSION_SECRET",
    "DURO_SYNC_TOKEN",   "DURO_SYNC_SECRET",          "DURO_LOGIN_SECRET",
    "DURO_ALLOWED_ORIGINS", "DURO_SESSION_TTL", "DURO_SESSION_ON_PAGE_LOAD",
    "VITE_WS_HOST",      "VITE_WS_PATH",
};

/* Built-in bindings: the seed's backend worker. */
static const struct {
  const char *name, *class_name;
} builtin_bindings[] = {
    {"TEST_DO", "TestDurableObject"},
    {"MESSAGE_COORDINATOR", "MessageCoordinator"},
    {"COUNTDOWN_TIMER", "CountdownTimer"},
    {"ROOMS", "Room"},
    {"LIVESTORE_SYNC", "SyncBackend"},
};

/* ---- small helpers ------------------------------------------------------ */

/* An EINVAL with its message in err. */
#define fail(err, errlen, ...)                                                 \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

static int lookup(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], s) == 0)
      return (int)i;
  return -1;
}

const char *duro_mode_name(duro_mode_t m) {
  return (unsigned)m < 3 ? mode_names[m] : "unknown";
}

/* Parses a decimal port number, 0..65535 (0: any free port, which the log
 * line announces); -1 when s is anything else. */
static int parse_port(const char *s) {
  long v = 0;
  if (!*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    v = v * 10 + (*s - '0');
    if (v > 65535)
      return -1;
  }
  return (int)v;
}

static void set_var(duro_config_t *c, const char *key, const char *value) {
  for (size_t i = 0; i < c->nvars; i++) {
    if (strcmp(c->vars[i].key, key) == 0) {
      duro_free(c->vars[i].value);
      c->vars[i].value = duro_strdup(value);
      return;
    }
  }
  c->vars = duro_realloc(c->vars, (c->nvars + 1) * sizeof(*c->vars));
  c->vars[c->nvars].key = duro_strdup(key);
  c->vars[c->nvars].value = duro_strdup(value);
  c->nvars++;
}

static void add_binding(duro_config_t *c, const char *name,
                        const char *class_name, const char *script_name) {
  c->bindings =
      duro_realloc(c->bindings, (c->nbindings + 1) * sizeof(*c->bindings));
  duro_binding_t *b = &c->bindings[c->nbindings++];
  b->name = duro_strdup(name);
  b->class_name = duro_strdup(class_name);
  b->script_name = script_name ? duro_strdup(script_name) : NULL;
}

static void replace(char **slot, const char *s) {
  duro_free(*slot);
  *slot = s ? duro_strdup(s) : NULL;
}

const char *duro_config_var(const duro_config_t *cfg, const char *key) {
  for (size_t i = 0; i < cfg->nvars; i++)
    if (strcmp(cfg->vars[i].key, key) == 0)
      return cfg->vars[i].value;
  return NULL;
}

const duro_binding_t *duro_config_binding(const duro_config_t *cfg,
                                          const char *name) {
  for (size_t i = 0; i < cfg->nbindings; i++)
    if (strcmp(cfg->bindings[i].name, name) == 0)
      return &cfg->bindings[i];
  return NULL;
}

void duro_config_free(duro_config_t *cfg) {
  duro_free(cfg->role);
  duro_free(cfg->host);
  duro_free(cfg->backend_url);
  duro_free(cfg->data_dir);
  duro_free(cfg->config_path);
  duro_free(cfg->name);
  for (size_t i = 0; i < cfg->nvars; i++) {
    duro_free(cfg->vars[i].key);
    duro_free(cfg->vars[i].value);
  }
  duro_free(cfg->vars);
  for (size_t i = 0; i < cfg->nbindings; i++) {
    duro_free(cfg->bindings[i].name);
    duro_free(cfg->bindings[i].class_name);
    duro_free(cfg->bindings[i].script_name);
  }
  duro_free(cfg->bindings);
  for (size_t i = 0; i < cfg->nclass_libs; i++) {
    duro_free(cfg->class_libs[i].class_name);
    duro_free(cfg->class_libs[i].library);
  }
  duro_free(cfg->class_libs);
  for (size_t i = 0; i < cfg->sync.ntokens; i++)
    duro_free(cfg->sync.tokens[i]);
  duro_free(cfg->sync.tokens);
  duro_free(cfg->sync.webhook);
  memset(cfg, 0, sizeof(*cfg));
}

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

/* ---- usage -------------------------------------------------------------- */

static const char *role_list(unsigned mask, char *out, size_t outlen) {
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < NROLES; i++) {
    if (!(mask & roles[i].bit))
      continue;
    int w = duro_fmt(out + n, outlen - n, "%s%s", n ? ", " : "", roles[i].name);
    if (w < 0)
      break;
    n += (size_t)w;
  }
  return out;
}

char *duro_config_usage(const char *role) {
  duro_buf_t b = DURO_BUF_INIT;
  unsigned mask = R_ALL;
  for (size_t i = 0; role && i < NROLES; i++)
    if (strcmp(roles[i].name, role) == 0)
      mask = roles[i].bit;

  if (mask == R_ALL) {
    duro_buf_printf(&b, "usage: duro <role> [flags]\n"
                        "       duro --help | --version\n\nroles:\n");
    for (size_t i = 0; i < NROLES; i++)
      duro_buf_printf(&b, "  %-10s %s\n", roles[i].name, roles[i].doc);
  } else {
    duro_buf_printf(&b, "usage: duro %s [flags]\n", role);
  }

  duro_buf_printf(&b, "\nflags (--flag VALUE or --flag=VALUE):\n");
  for (size_t i = 0; i < NFLAGS; i++) {
    const flag_t *f = &flags[i];
    if (!(f->roles & mask))
      continue;
    /* "  %-20s " over "--name METAVAR", written straight into b. */
    size_t start = b.len;
    duro_buf_printf(&b, "  --%s%s%s", f->name, f->metavar ? " " : "",
                    f->metavar ? f->metavar : "");
    size_t w = b.len - start - 2;
    duro_buf_printf(&b, "%*s ", w < 20 ? (int)(20 - w) : 0, "");
    if (mask == R_ALL && f->roles != R_ALL) {
      char list[48];
      duro_buf_printf(&b, "(%s) ", role_list(f->roles, list, sizeof(list)));
    }
    duro_buf_printf(&b, "%s\n", f->doc);
  }

  duro_buf_printf(&b,
                  "\nconfig file (" DURO_DEFAULT_CONFIG
                  ", JSON with comments, wrangler keys):\n"
                  "  name, vars, durable_objects.bindings, dev.port\n"
                  "  classes: [{\"class_name\": ..., \"library\": "
                  "\"./libx.so\"}] loads classes written in C\n"
                  "    (paths relative to the config file; see "
                  "docs/objects.md)\n"
                  "  .dev.vars beside it (KEY=VALUE) overrides vars; the "
                  "environment overrides both\n"
                  "\nsettings of its \"duro\" object, e.g. "
                  "\"duro\": {\"max_body_bytes\": 1048576}:\n");
  for (size_t i = 0; i < NOPTIONS; i++) {
    const option_t *o = &options[i];
    duro_buf_printf(&b, "  %-28s ", o->name);
    if (o->type == OPT_CHOICE) {
      duro_buf_printf(&b, "%s (one of %s, %s%s%s)", o->choices[o->def],
                      o->choices[0], o->choices[1], o->choices[2] ? ", " : "",
                      o->choices[2] ? o->choices[2] : "");
    } else {
      static const char *const units[] = {"bytes", "count", "ms"};
      duro_buf_printf(&b, "%llu (%s, %llu..%llu)", o->def, units[o->type],
                      o->min, o->max);
    }
    duro_buf_printf(&b, "\n  %-28s %s\n", "", o->doc);
  }
  duro_buf_printf(
      &b,
      "\nsettings of the \"sync\" section (LiveStore sync, docs/livestore.md):\n"
      "  auth                   \"auto\" (default), \"token\", \"hs256\" or "
      "\"none\"\n"
      "  tokens                 accepted authToken values (also "
      "DURO_SYNC_TOKEN, comma-separated)\n"
      "  cors                   true (default): OPTIONS and Access-Control-* "
      "headers\n"
      "  webhook                http:// URL receiving each accepted batch\n"
      "  max_message_bytes      1048576 (default): larger requests get "
      "UnknownError\n"
      "  DURO_SYNC_SECRET (environment) is the HS256 key for signed tokens; "
      "production\n  refuses to start without a check unless auth is "
      "\"none\".\n");
  *duro_buf_reserve(&b, 1) = '\0';
  return (char *)b.data;
}

/* ---- command line ------------------------------------------------------- */

typedef struct {
  const char *role;
  unsigned role_bit;
  int port, frontend_port;  /* -1: not given (0 is a valid choice) */
  const char *backend, *host, *data, *config;
  int mode, log_level;      /* -1: not given */
  unsigned seen;            /* bit i: flags[i] was given */
  int exit_early;           /* 1: help or version printed */
} cli_t;

static int print_usage(const char *role) {
  char *u = duro_config_usage(role);
  fputs(u, stdout);
  fflush(stdout);
  duro_free(u);
  return 1;
}

static const flag_t *flag_find(const char *name, size_t len) {
  for (size_t i = 0; i < NFLAGS; i++)
    if (duro_cstr_eq(flags[i].name, name, len))
      return &flags[i];
  return NULL;
}

static int apply_flag(cli_t *cli, const flag_t *f, const char *v, char *err,
                      size_t errlen) {
  int n;
  switch (f->id) {
  case F_PORT:
  case F_FRONTEND_PORT:
    if ((n = parse_port(v)) < 0)
      return fail(err, errlen,
                  "duro: --%s: '%.16s' is not a port number (0-65535)",
                  f->name, v);
    if (f->id == F_PORT)
      cli->port = n;
    else
      cli->frontend_port = n;
    return 0;
  case F_BACKEND:
    if (strncmp(v, "http://", 7) != 0 || v[7] == '\0' || v[7] == '/')
      return fail(err, errlen,
                  "duro: --backend: expected an http:// URL such as "
                  "http://127.0.0.1:8787");
    cli->backend = v;
    return 0;
  case F_HOST:
    cli->host = v;
    return 0;
  case F_DATA:
    cli->data = v;
    return 0;
  case F_CONFIG:
    cli->config = v;
    return 0;
  case F_MODE:
    if ((cli->mode = lookup(mode_names, 3, v)) < 0)
      return fail(err, errlen,
                  "duro: unknown mode '%.32s' (expected development, test "
                  "or production)",
                  v);
    return 0;
  case F_LOG_LEVEL:
    if ((cli->log_level = lookup(level_names, 4, v)) < 0)
      return fail(err, errlen,
                  "duro: unknown log level '%.32s' (expected error, warn, "
                  "info or debug)",
                  v);
    return 0;
  case F_HELP:
    cli->exit_early = print_usage(cli->role);
    return 0;
  case F_VERSION:
    printf("duro %s\n", DURO_VERSION);
    fflush(stdout);
    cli->exit_early = 1;
    return 0;
  }
  return 0;
}

/*
 * Parses argv into cli. Returns 0 (cli->exit_early set when help or version
 * was printed) or DURO_EINVAL with a message. The role may come before or
 * after the flags; "help" in place of a role prints the usage.
 */
static int parse_cli(cli_t *cli, int argc, char **argv, char *err,
                     size_t errlen) {
  memset(cli, 0, sizeof(*cli));
  cli->mode = cli->log_level = -1;
  cli->port = cli->frontend_port = -1;
  for (int i = 1; i < argc && !cli->exit_early; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (cli->role)
        return fail(err, errlen, "duro: unexpected argument '%.32s' (see "
                                 "duro --help)", a);
      if (strcmp(a, "help") == 0) {
        cli->exit_early = print_usage(NULL);
        break;
      }
      for (size_t r = 0; r < NROLES; r++) {
        if (strcmp(roles[r].name, a) == 0) {
          cli->role = roles[r].name;
          cli->role_bit = roles[r].bit;
        }
      }
      if (!cli->role)
        return fail(err, errlen,
                    "duro: unknown role '%.32s' (expected dev, backend or "
                    "frontend; see duro --help)",
                    a);
      continue;
    }
    if (strcmp(a, "-h") == 0) {
      cli->exit_early = print_usage(cli->role);
      break;
    }
    size_t alen = strlen(a); /* C string: an argv element */
    const char *name = a + 2, *eq = memchr(a, '=', alen);
    const flag_t *f = NULL;
    if (strncmp(a, "--", 2) == 0)
      f = flag_find(name, (size_t)((eq ? eq : a + alen) - name));
    if (!f) {
      /* Quote the name only: "--tokn=SECRET" must not echo the secret. */
      size_t n = eq ? (size_t)(eq - a) : alen;
      return fail(err, errlen, "duro: unknown flag '%.*s' (see duro --help)",
                  (int)(n > 40 ? 40 : n), a);
    }
    const char *v = NULL;
    if (!f->metavar) {
      if (eq)
        return fail(err, errlen, "duro: --%s takes no value", f->name);
    } else if (eq) {
      v = eq + 1;
    } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
      v = argv[++i];
    }
    if (f->metavar && (!v || !*v))
      return fail(err, errlen, "duro: --%s needs a value (--%s %s)", f->name,
                  f->name, f->metavar);
    if (apply_flag(cli, f, v, err, errlen) < 0)
      return DURO_EINVAL;
    cli->seen |= 1u << (f - flags);
  }
  if (cli->exit_early)
    return 0;
  if (!cli->role)
    return fail(err, errlen,
                "duro: no role given (expected dev, backend or frontend; see "
                "duro --help)");
  for (size_t i = 0; i < NFLAGS; i++) {
    const flag_t *f = &flags[i];
    char list[48];
    if ((cli->seen & (1u << i)) && !(f->roles & cli->role_bit))
      return fail(err, errlen, "duro: --%s applies only to %s, not %s",
                  f->name, role_list(f->roles, list, sizeof(list)), cli->role);
  }
  return 0;
}

/* ---- the config file ---------------------------------------------------- */

typedef struct {
  const char *path; /* for messages */
  char *err;
  size_t errlen;
  int dev_port;     /* dev.port, 0 when absent */
  int has_durable_objects;
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

/* True when item is a JSON number holding an integer in [min, max]. */
static int json_uint(const cJSON *item, unsigned long long min,
                     unsigned long long max, unsigned long long *out) {
  if (!cJSON_IsNumber(item))
    return 0;
  double d = item->valuedouble;
  if (!(d >= (double)min && d <= (double)max))
    return 0;
  unsigned long long v = (unsigned long long)d;
  if ((double)v != d)
    return 0;
  *out = v;
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
    set_var(c, v->string, v->valuestring);
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
  fc->has_durable_objects = 1;
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
    add_binding(c, name, cls, script);
  }
  return 0;
}

/* ---- the "classes" array -------------------------------------------------- */

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
      for (i += 2; i < n && !(t[i] == '*' && i + 1 < n && t[i + 1] == '/');
           i++)
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

static int load_duro_section(file_ctx_t *fc, duro_config_t *c,
                             const cJSON *sec) {
  if (!cJSON_IsObject(sec))
    return fail(fc->err, fc->errlen, "%s: \"duro\" must be an object",
                fc->path);
  for (const cJSON *it = sec->child; it; it = it->next) {
    const option_t *o = option_find(it->string);
    if (!o)
      return fail(fc->err, fc->errlen,
                  "%s: unknown setting duro.%.64s (see duro --help)",
                  fc->path, it->string);
    unsigned long long v;
    if (o->type == OPT_CHOICE) {
      int k = cJSON_IsString(it)
                  ? lookup(o->choices, (size_t)o->max + 1, it->valuestring)
                  : -1;
      if (k < 0 && o->choices[2])
        return fail(fc->err, fc->errlen,
                    "%s: duro.%s must be \"%s\", \"%s\" or \"%s\"", fc->path,
                    o->name, o->choices[0], o->choices[1], o->choices[2]);
      if (k < 0)
        return fail(fc->err, fc->errlen,
                    "%s: duro.%s must be \"%s\" or \"%s\"", fc->path, o->name,
                    o->choices[0], o->choices[1]);
      v = (unsigned long long)k;
    } else if (!json_uint(it, o->min, o->max, &v)) {
      return fail(fc->err, fc->errlen,
                  "%s: duro.%s must be an integer in %llu..%llu", fc->path,
                  o->name, o->min, o->max);
    }
    option_store(&c->limits, o, v);
  }
  return 0;
}

static const char *const sync_auth_names[] = {"auto", "token", "hs256",
                                              "none"};

/* The "sync" section; see duro_sync_config_t. */
static int load_sync_section(file_ctx_t *fc, duro_config_t *c,
                             const cJSON *sec) {
  if (!cJSON_IsObject(sec))
    return fail(fc->err, fc->errlen, "%s: \"sync\" must be an object",
                fc->path);
  for (const cJSON *it = sec->child; it; it = it->next) {
    const char *k = it->string;
    if (strcmp(k, "auth") == 0) {
      int m = cJSON_IsString(it) ? lookup(sync_auth_names, 4, it->valuestring)
                                 : -1;
      if (m < 0)
        return fail(fc->err, fc->errlen,
                    "%s: sync.auth must be \"auto\", \"token\", "
                    "\"hs256\" or \"none\"",
                    fc->path);
      c->sync.auth = (duro_sync_auth_t)m;
    } else if (strcmp(k, "tokens") == 0) {
      if (!cJSON_IsArray(it))
        return fail(fc->err, fc->errlen,
                    "%s: sync.tokens must be an array of strings", fc->path);
      for (const cJSON *t = it->child; t; t = t->next) {
        if (!cJSON_IsString(t) || !*t->valuestring)
          return fail(fc->err, fc->errlen,
                      "%s: sync.tokens must hold non-empty strings",
                      fc->path);
        c->sync.tokens = duro_realloc(
            c->sync.tokens, (c->sync.ntokens + 1) * sizeof(char *));
        c->sync.tokens[c->sync.ntokens++] = duro_strdup(t->valuestring);
      }
    } else if (strcmp(k, "cors") == 0) {
      if (!cJSON_IsBool(it))
        return fail(fc->err, fc->errlen, "%s: sync.cors must be true or false",
                    fc->path);
      c->sync.cors = cJSON_IsTrue(it);
    } else if (strcmp(k, "webhook") == 0) {
      if (cJSON_IsNull(it)) {
        replace(&c->sync.webhook, NULL);
        continue;
      }
      if (!cJSON_IsString(it) || strncmp(it->valuestring, "http://", 7) != 0 ||
          !it->valuestring[7] || it->valuestring[7] == '/')
        return fail(fc->err, fc->errlen,
                    "%s: sync.webhook must be an http:// URL such as "
                    "http://127.0.0.1:9000/hook",
                    fc->path);
      replace(&c->sync.webhook, it->valuestring);
    } else if (strcmp(k, "max_message_bytes") == 0) {
      unsigned long long v;
      if (!json_uint(it, 1 * KiB, 1 * GiB, &v))
        return fail(fc->err, fc->errlen,
                    "%s: sync.max_message_bytes must be an integer in "
                    "1024..1073741824",
                    fc->path);
      c->sync.max_message_bytes = (size_t)v;
    } else {
      return fail(fc->err, fc->errlen,
                  "%s: unknown setting sync.%.64s (expected auth, tokens, "
                  "cors, webhook or max_message_bytes)",
                  fc->path, k);
    }
  }
  return 0;
}

/*
 * Applies the parsed file to c: name, vars, bindings, dev.port (into
 * fc->dev_port) and the duro section. Unknown top-level keys are ignored:
 * wrangler files carry many (main, compatibility_date, migrations, ...).
 */
static int load_tree(file_ctx_t *fc, duro_config_t *c, const cJSON *root) {
  if (!cJSON_IsObject(root))
    return fail(fc->err, fc->errlen, "%s:1:1: the top level must be an object",
                fc->path);
  const cJSON *it;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "name"))) {
    if (!cJSON_IsString(it) || !*it->valuestring)
      return fail(fc->err, fc->errlen,
                  "%s: \"name\" must be a non-empty string", fc->path);
    replace(&c->name, it->valuestring);
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
      if (!json_uint(p, 1, 65535, &port))
        return fail(fc->err, fc->errlen,
                    "%s: dev.port must be a port number (1-65535)", fc->path);
      fc->dev_port = (int)port;
    }
  }
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "duro")) &&
      load_duro_section(fc, c, it) < 0)
    return DURO_EINVAL;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "sync")) &&
      load_sync_section(fc, c, it) < 0)
    return DURO_EINVAL;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "classes")) &&
      load_classes(fc, c, it) < 0)
    return DURO_EINVAL;
  return 0;
}

/*
 * Reads and applies the config file. path is the explicit --config value or
 * NULL for the default, whose absence is not an error. Sets c->config_path
 * when a file was read.
 */
static int load_file(file_ctx_t *fc, duro_config_t *c, const char *path,
                     char *err, size_t errlen) {
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
  rc = load_tree(fc, c, root);
  fc->text = NULL;
  duro_free(text);
  cJSON_Delete(root);
  return rc;
}

static void devvar_cb(const char *key, const char *value, void *data) {
  set_var(data, key, value);
}

/* Reads .dev.vars from the config file's directory (or the current one). */
static int load_dev_vars(duro_config_t *c, char *err, size_t errlen) {
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
    return fail(err, errlen, "duro: cannot read '%s': %s", path,
                strerror(-rc));
  rc = duro_devvars_parse_named(path, text, len, devvar_cb, c, err, errlen);
  duro_free(text);
  return rc;
}

/* Environment over every known var, then the well-known names. */
static void merge_env(duro_config_t *c) {
  const char *v;
  for (size_t i = 0; i < c->nvars; i++) {
    if ((v = getenv(c->vars[i].key))) {
      duro_free(c->vars[i].value);
      c->vars[i].value = duro_strdup(v);
    }
  }
  for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
    if ((v = getenv(env_vars[i])))
      set_var(c, env_vars[i], v);
}

/* ---- putting it together ------------------------------------------------ */

int duro_config_load(duro_config_t *cfg, int argc, char **argv, char *err,
                     size_t errlen) {
  duro_config_t c;
  cli_t cli;
  file_ctx_t fc;
  memset(cfg, 0, sizeof(*cfg));
  memset(&c, 0, sizeof(c));
  memset(&fc, 0, sizeof(fc));
  if (err && errlen)
    err[0] = '\0';

  if (parse_cli(&cli, argc, argv, err, errlen) < 0)
    return DURO_EINVAL;
  if (cli.exit_early)
    return 1;

  c.role = duro_strdup(cli.role);
  c.name = duro_strdup("duro");
  c.log_level = cli.log_level >= 0 ? cli.log_level : DURO_LOG_INFO;
  duro_limits_defaults(&c.limits);
  c.sync.cors = 1;
  c.sync.max_message_bytes = 1 * MiB;

  if (load_file(&fc, &c, cli.config, err, errlen) < 0)
    goto fail;
  if (!fc.has_durable_objects)
    for (size_t i = 0; i < sizeof(builtin_bindings) / sizeof(builtin_bindings[0]); i++)
      add_binding(&c, builtin_bindings[i].name, builtin_bindings[i].class_name,
                  NULL);
  if (load_dev_vars(&c, err, errlen) < 0)
    goto fail;
  merge_env(&c);

  /* Mode: --mode > role dev > NODE_ENV > production. */
  const char *node_env = duro_config_var(&c, "NODE_ENV");
  if (cli.mode >= 0) {
    c.mode = (duro_mode_t)cli.mode;
  } else if (cli.role_bit == R_DEV) {
    c.mode = DURO_MODE_DEVELOPMENT;
  } else if (node_env) {
    int m = lookup(mode_names, 3, node_env);
    if (m < 0) {
      fail(err, errlen,
           "duro: NODE_ENV is '%.32s' (expected development, test or "
           "production)",
           node_env);
      goto fail;
    }
    c.mode = (duro_mode_t)m;
  } else {
    c.mode = DURO_MODE_PRODUCTION;
  }
  if (!node_env || strcmp(node_env, duro_mode_name(c.mode)) != 0)
    set_var(&c, "NODE_ENV", duro_mode_name(c.mode));
  /* Rate limits guard a public server; locally they only get in the way
   * of reloads and tests. */
  if (c.limits.rate_limit == DURO_RATE_LIMIT_AUTO)
    c.limits.rate_limit = c.mode == DURO_MODE_PRODUCTION ? DURO_RATE_LIMIT_ON
                                                         : DURO_RATE_LIMIT_OFF;

  int backend_port = fc.dev_port ? fc.dev_port : DURO_DEFAULT_BACKEND_PORT;
  c.host = duro_strdup(cli.host ? cli.host : DURO_DEFAULT_HOST);
  c.data_dir = duro_strdup(cli.data ? cli.data : DURO_DEFAULT_DATA_DIR);
  switch (cli.role_bit) {
  case R_DEV:
    c.port = cli.port >= 0 ? cli.port : backend_port;
    c.frontend_port = cli.frontend_port >= 0 ? cli.frontend_port
                                             : DURO_DEFAULT_FRONTEND_PORT;
    if (c.port == c.frontend_port && c.port != 0) {
      fail(err, errlen,
           "duro: the backend and frontend ports are both %d (use --port "
           "and --frontend-port)",
           c.port);
      goto fail;
    }
    break;
  case R_BACKEND:
    c.port = cli.port >= 0 ? cli.port : backend_port;
    break;
  default: {
    c.port = c.frontend_port =
        cli.port >= 0 ? cli.port : DURO_DEFAULT_FRONTEND_PORT;
    if (cli.backend) {
      size_t n = strlen(cli.backend); /* C string: the --backend value */
      while (n > 8 && cli.backend[n - 1] == '/')
        n--;
      c.backend_url = duro_strndup(cli.backend, n);
    } else {
      char url[64];
      if (duro_fmt(url, sizeof(url), "http://127.0.0.1:%d", backend_port) < 0) {
        fail(err, errlen, "duro: cannot form the backend URL");
        goto fail;
      }
      c.backend_url = duro_strdup(url);
    }
    break;
  }
  }

  *cfg = c;
  return 0;

fail:
  duro_config_free(&c);
  return DURO_EINVAL;
}
