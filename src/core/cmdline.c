/*
 * cmdline.c: see cmdline.h.
 *
 * Design notes.
 * - Two tables drive everything: `roles` and `flags`. Nothing else lists a
 *   flag name; `seen` records which rows were given so that flags that do
 *   not apply to the role are refused after the role is known (it may come
 *   last).
 * - Values are checked here when their syntax is all there is to check
 *   (ports, modes, levels, the backend URL's scheme); the rest is resolved
 *   by core/config.c.
 */
#include "core/cmdline.h"

#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/str.h"

#define fail(err, errlen, ...)                                                 \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

static const struct {
  const char *name;
  unsigned bit;
  const char *doc;
} roles[] = {
    {"dev", DURO_ROLE_DEV,
     "backend and frontend in one process, mode development"},
    {"backend", DURO_ROLE_BACKEND,
     "hosts the Durable Objects (default port 8787)"},
    {"frontend", DURO_ROLE_FRONTEND,
     "serves the pages, reaches the backend over HTTP (default port 5173)"},
};

#define NROLES (sizeof(roles) / sizeof(roles[0]))

typedef enum {
  F_PORT,
  F_FRONTEND_PORT,
  F_ADMIN_PORT,
  F_BACKEND,
  F_HOST,
  F_DATA,
  F_CONFIG,
  F_MODE,
  F_LOG_LEVEL,
  F_LOG_FORMAT,
  F_TLS_CERT,
  F_TLS_KEY,
  F_BACKEND_CA,
  F_POSTGRES,
  F_ADVERTISE,
  F_NODE_ID,
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
    {"port", "N", F_PORT, DURO_ROLE_ALL,
     "the role's port (backend 8787, frontend 5173; dev: the backend's)"},
    {"frontend-port", "N", F_FRONTEND_PORT, DURO_ROLE_DEV,
     "the frontend's port (default 5173)"},
    {"admin-port", "N", F_ADMIN_PORT, DURO_ROLE_ALL,
     "the admin listener's port: /metrics (0: any free port; dev: 8788; "
     "else off)"},
    {"backend", "URL", F_BACKEND, DURO_ROLE_FRONTEND,
     "the backend's URL, http:// or https:// (default "
     "http://127.0.0.1:<dev.port or 8787>)"},
    {"backend-ca", "FILE", F_BACKEND_CA, DURO_ROLE_FRONTEND,
     "CA certificates (PEM) an https backend's certificate must chain to "
     "(default: the system's)"},
    {"host", "ADDR", F_HOST, DURO_ROLE_ALL,
     "listen address (default " DURO_DEFAULT_HOST ")"},
    {"data", "DIR", F_DATA, DURO_ROLE_ALL,
     "data directory (default " DURO_DEFAULT_DATA_DIR ")"},
    {"config", "FILE", F_CONFIG, DURO_ROLE_ALL,
     "config file (default " DURO_DEFAULT_CONFIG ", optional)"},
    {"mode", "MODE", F_MODE, DURO_ROLE_ALL,
     "development, test or production (dev: development; else NODE_ENV, "
     "else production)"},
    {"log-level", "LEVEL", F_LOG_LEVEL, DURO_ROLE_ALL,
     "error, warn, info or debug (default info)"},
    {"log-format", "FORMAT", F_LOG_FORMAT, DURO_ROLE_ALL,
     "text or json (one object per line: time, level, msg and fields; "
     "default text)"},
    {"postgres", "CONNINFO", F_POSTGRES, DURO_ROLE_BACKEND,
     "storage on PostgreSQL instead of the data directory's SQLite (a "
     "libpq conninfo or postgres:// URL; also DURO_POSTGRES_URL)"},
    {"advertise", "URL", F_ADVERTISE, DURO_ROLE_BACKEND,
     "with --postgres: the http://host:port at which the other nodes reach "
     "this one (default http://HOST:PORT when HOST is an address)"},
    {"node-id", "NAME", F_NODE_ID, DURO_ROLE_BACKEND,
     "with --postgres: this node's name in the cluster (default: the "
     "advertised host:port)"},
    {"tls-cert", "FILE", F_TLS_CERT, DURO_ROLE_ALL,
     "certificate chain (PEM): the role's listeners speak TLS only (https, "
     "wss); SIGHUP reads it again"},
    {"tls-key", "FILE", F_TLS_KEY, DURO_ROLE_ALL,
     "the certificate's private key (PEM)"},
    {"help", NULL, F_HELP, DURO_ROLE_ALL, "print this help and exit"},
    {"version", NULL, F_VERSION, DURO_ROLE_ALL, "print the version and exit"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static const char *const mode_names[] = {"development", "test", "production"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

static int lookup(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], s) == 0)
      return (int)i;
  return -1;
}

const char *duro_cmdline_mode_name(int mode) {
  return mode >= 0 && mode < 3 ? mode_names[mode] : "unknown";
}

int duro_cmdline_mode(const char *s) { return lookup(mode_names, 3, s); }

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

void duro_cmdline_usage(duro_buf_t *b, const char *role) {
  unsigned mask = DURO_ROLE_ALL;
  for (size_t i = 0; role && i < NROLES; i++)
    if (strcmp(roles[i].name, role) == 0)
      mask = roles[i].bit;

  if (mask == DURO_ROLE_ALL) {
    duro_buf_printf(b, "usage: duro <role> [flags]\n"
                       "       duro --help | --version\n\nroles:\n");
    for (size_t i = 0; i < NROLES; i++)
      duro_buf_printf(b, "  %-10s %s\n", roles[i].name, roles[i].doc);
  } else {
    duro_buf_printf(b, "usage: duro %s [flags]\n", role);
  }

  duro_buf_printf(b, "\nflags (--flag VALUE or --flag=VALUE):\n");
  for (size_t i = 0; i < NFLAGS; i++) {
    const flag_t *f = &flags[i];
    if (!(f->roles & mask))
      continue;
    /* "  %-20s " over "--name METAVAR", written straight into b. */
    size_t start = b->len;
    duro_buf_printf(b, "  --%s%s%s", f->name, f->metavar ? " " : "",
                    f->metavar ? f->metavar : "");
    size_t w = b->len - start - 2;
    duro_buf_printf(b, "%*s ", w < 20 ? (int)(20 - w) : 0, "");
    if (mask == DURO_ROLE_ALL && f->roles != DURO_ROLE_ALL) {
      char list[48];
      duro_buf_printf(b, "(%s) ", role_list(f->roles, list, sizeof(list)));
    }
    duro_buf_printf(b, "%s\n", f->doc);
  }
}

static const flag_t *flag_find(const char *name, size_t len) {
  for (size_t i = 0; i < NFLAGS; i++)
    if (duro_cstr_eq(flags[i].name, name, len))
      return &flags[i];
  return NULL;
}

static int apply_flag(duro_cmdline_t *cl, const flag_t *f, const char *v,
                      char *err, size_t errlen) {
  int n;
  switch (f->id) {
  case F_PORT:
  case F_FRONTEND_PORT:
  case F_ADMIN_PORT:
    if ((n = parse_port(v)) < 0)
      return fail(err, errlen,
                  "duro: --%s: '%.16s' is not a port number (0-65535)", f->name,
                  v);
    if (f->id == F_PORT)
      cl->port = n;
    else if (f->id == F_FRONTEND_PORT)
      cl->frontend_port = n;
    else
      cl->admin_port = n;
    return 0;
  case F_BACKEND:
    if (!((strncmp(v, "http://", 7) == 0 && v[7] != '\0' && v[7] != '/') ||
          (strncmp(v, "https://", 8) == 0 && v[8] != '\0' && v[8] != '/')))
      return fail(err, errlen,
                  "duro: --backend: expected an http:// or https:// URL such "
                  "as http://127.0.0.1:8787");
    cl->backend = v;
    return 0;
  case F_HOST:
    cl->host = v;
    return 0;
  case F_DATA:
    cl->data = v;
    return 0;
  case F_CONFIG:
    cl->config = v;
    return 0;
  case F_MODE:
    if ((cl->mode = lookup(mode_names, 3, v)) < 0)
      return fail(err, errlen,
                  "duro: unknown mode '%.32s' (expected development, test "
                  "or production)",
                  v);
    return 0;
  case F_LOG_LEVEL:
    if ((cl->log_level = lookup(level_names, 4, v)) < 0)
      return fail(err, errlen,
                  "duro: unknown log level '%.32s' (expected error, warn, "
                  "info or debug)",
                  v);
    return 0;
  case F_LOG_FORMAT:
    if ((cl->log_format = lookup(format_names, 2, v)) < 0)
      return fail(err, errlen,
                  "duro: unknown log format '%.32s' (expected text or json)",
                  v);
    return 0;
  case F_TLS_CERT:
    cl->tls_cert = v;
    return 0;
  case F_BACKEND_CA:
    cl->backend_ca = v;
    return 0;
  case F_POSTGRES:
    if (!*v)
      return fail(err, errlen, "duro: --postgres: the conninfo is empty");
    cl->postgres = v;
    return 0;
  case F_ADVERTISE:
    if (!*v)
      return fail(err, errlen, "duro: --advertise: the URL is empty");
    cl->advertise = v;
    return 0;
  case F_NODE_ID:
    if (!*v)
      return fail(err, errlen, "duro: --node-id: the name is empty");
    cl->node_id = v;
    return 0;
  case F_TLS_KEY:
    cl->tls_key = v;
    return 0;
  case F_HELP:
    cl->help = 1;
    cl->help_role = cl->role;
    return 0;
  case F_VERSION:
    cl->version = 1;
    return 0;
  }
  return 0;
}

int duro_cmdline_parse(duro_cmdline_t *cl, int argc, char **argv, char *err,
                       size_t errlen) {
  memset(cl, 0, sizeof(*cl));
  cl->mode = cl->log_level = cl->log_format = -1;
  cl->port = cl->frontend_port = cl->admin_port = -1;
  for (int i = 1; i < argc && !cl->help && !cl->version; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (cl->role)
        return fail(err, errlen,
                    "duro: unexpected argument '%.32s' (see "
                    "duro --help)",
                    a);
      if (strcmp(a, "help") == 0) {
        cl->help = 1;
        break;
      }
      for (size_t r = 0; r < NROLES; r++) {
        if (strcmp(roles[r].name, a) == 0) {
          cl->role = roles[r].name;
          cl->role_bit = roles[r].bit;
        }
      }
      if (!cl->role)
        return fail(err, errlen,
                    "duro: unknown role '%.32s' (expected dev, backend or "
                    "frontend; see duro --help)",
                    a);
      continue;
    }
    if (strcmp(a, "-h") == 0) {
      cl->help = 1;
      cl->help_role = cl->role;
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
    if (apply_flag(cl, f, v, err, errlen) < 0)
      return DURO_EINVAL;
    cl->seen |= 1u << (f - flags);
  }
  if (cl->help || cl->version)
    return 0;
  if (!cl->role)
    return fail(err, errlen,
                "duro: no role given (expected dev, backend or frontend; see "
                "duro --help)");
  for (size_t i = 0; i < NFLAGS; i++) {
    const flag_t *f = &flags[i];
    char list[48];
    if ((cl->seen & (1u << i)) && !(f->roles & cl->role_bit))
      return fail(err, errlen, "duro: --%s applies only to %s, not %s", f->name,
                  role_list(f->roles, list, sizeof(list)), cl->role);
  }
  return 0;
}
