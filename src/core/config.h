/*
 * config.h: duro's configuration: command line, duro.jsonc, .dev.vars and
 * the environment, resolved into one duro_config_t at startup.
 *
 * Sources, lowest precedence first:
 *   built-in defaults
 *   < the config file (wrangler-style JSONC: name, vars,
 *     durable_objects.bindings, dev.port; duro's own settings in "duro";
 *     "classes": classes from shared libraries)
 *   < .dev.vars beside the config file (vars only)
 *   < the environment (vars only: every var already known, plus NODE_ENV
 *     and the DURO_*_SECRET / DURO_SYNC_TOKEN well-known names)
 *   < command-line flags.
 *
 * One static table describes the settings of the "duro" section (name,
 * type, default, bounds, doc, field); it drives parsing, validation and the
 * --help text, so a new limit is one line in config.c plus a struct field.
 * A second table does the same for command-line flags.
 *
 * Loading is all or nothing: everything is parsed and validated into a
 * scratch config first, and an error leaves the caller's struct empty. The
 * module never logs and never exits; it returns a one-line message (which
 * starts with "duro: " or with "FILE:LINE[:COL]: ") and the caller prints it
 * to stderr and exits 2. Startup only, not thread-safe (reads getenv).
 */
#ifndef DURO_CORE_CONFIG_H
#define DURO_CORE_CONFIG_H

#include <stddef.h>

#ifndef DURO_VERSION
#define DURO_VERSION "0.0.0-dev"
#endif

#define DURO_DEFAULT_BACKEND_PORT 8787
#define DURO_DEFAULT_FRONTEND_PORT 5173
#define DURO_DEFAULT_HOST "127.0.0.1"
#define DURO_DEFAULT_DATA_DIR "./.duro"
#define DURO_DEFAULT_CONFIG "./duro.jsonc"

typedef enum {
  DURO_MODE_DEVELOPMENT,
  DURO_MODE_TEST,
  DURO_MODE_PRODUCTION
} duro_mode_t;

/* One durable_objects.bindings entry. script_name may be NULL (the class
 * lives in this process). */
typedef struct {
  char *name;
  char *class_name;
  char *script_name;
} duro_binding_t;

typedef struct {
  char *key;
  char *value;
} duro_var_t;

/* One "classes" entry: a class loaded from a shared library (see
 * src/objects/loader.h and docs/objects.md). */
typedef struct {
  char *class_name;
  char *library;  /* as written, resolved against the config file's
                     directory when relative */
} duro_class_lib_t;

/* The "duro" section of the config file; see the options table in config.c
 * (or `duro --help`) for meaning, defaults and bounds of each field. */
typedef struct duro_limits {
  size_t max_header_bytes, max_body_bytes, ws_max_message_bytes,
      ws_send_queue_bytes;
  unsigned header_timeout_ms, idle_timeout_ms, ws_ping_interval_ms,
      ws_pong_timeout_ms, object_idle_ms, alarm_max_retries, max_connections;
  int durability_full; /* 1: SQLite synchronous=FULL, 0: NORMAL */
  /* per-client rate limits (net/ratelimit.h); rate_limit is resolved at
   * load: "auto" becomes on in production, off otherwise */
  int rate_limit;      /* DURO_RATE_LIMIT_* */
  int rate_limit_exempt_loopback;
  unsigned rate_limit_connections_per_s, rate_limit_connections_burst,
      rate_limit_messages_per_s, rate_limit_messages_burst;
} duro_limits_t;

enum { DURO_RATE_LIMIT_OFF, DURO_RATE_LIMIT_ON, DURO_RATE_LIMIT_AUTO };

/* The "sync" section: the LiveStore sync backend (docs/livestore.md).
 * Secrets may also come from the environment or .dev.vars: DURO_SYNC_TOKEN
 * (accepted authToken values, comma-separated) and DURO_SYNC_SECRET (the
 * HS256 key for signed tokens). */
typedef enum {
  DURO_SYNC_AUTH_AUTO = 0, /* tokens and/or secret if configured, else
                              open in development/test, refused in
                              production */
  DURO_SYNC_AUTH_TOKEN,    /* payload.authToken must be a listed token */
  DURO_SYNC_AUTH_HS256,    /* payload.authToken must be an HS256 JWT */
  DURO_SYNC_AUTH_NONE,     /* accept any payload, knowingly */
} duro_sync_auth_t;

typedef struct duro_sync_config {
  duro_sync_auth_t auth;
  char **tokens;           /* from the file; the environment adds more */
  size_t ntokens;
  int cors;                /* answer OPTIONS, add Access-Control-* */
  char *webhook;           /* http:// URL to POST accepted batches to */
  size_t max_message_bytes;
} duro_sync_config_t;

typedef struct duro_config {
  char *role;          /* "dev", "backend" or "frontend" */
  duro_mode_t mode;
  char *host;          /* listen address */
  int port;            /* the role's port; in dev, the backend's */
  int frontend_port;   /* dev: the frontend's port; frontend: == port;
                          backend: 0 */
  char *backend_url;   /* frontend: where the backend is; NULL otherwise */
  char *data_dir;
  char *config_path;   /* the path actually read, or NULL when defaults */
  char *name;          /* config "name", default "duro" */
  int log_level;       /* DURO_LOG_* from core/log.h, default info */
  duro_var_t *vars;    /* merged vars, in first-seen order, keys unique */
  size_t nvars;
  duro_binding_t *bindings;
  size_t nbindings;
  duro_class_lib_t *class_libs; /* the "classes" array, in order */
  size_t nclass_libs;
  duro_limits_t limits;
  duro_sync_config_t sync;
} duro_config_t;

/*
 * Parses argv (argv[0] is the program name and is ignored), reads the
 * config file and .dev.vars, merges the environment and resolves the mode.
 *
 * Returns 0 with cfg filled (free it with duro_config_free); 1 when --help
 * or --version was requested and the text was written to stdout (cfg is
 * empty); DURO_EINVAL with a one-line message (no trailing newline) in err
 * on any error (cfg is empty). cfg's previous contents are not freed.
 * Strings in cfg are owned by cfg.
 *
 * Afterwards the NODE_ENV var always holds the resolved mode's name (it is
 * set or rewritten when the mode came from --mode, the dev role or the
 * default), so code reading the var and code reading cfg->mode agree.
 */
int duro_config_load(duro_config_t *cfg, int argc, char **argv, char *err,
                     size_t errlen);

/* Frees everything cfg owns and zeroes it; safe on a zeroed or freed cfg. */
void duro_config_free(duro_config_t *cfg);

/* The merged value of var key (borrowed from cfg), or NULL when unset. */
const char *duro_config_var(const duro_config_t *cfg, const char *key);

/* The binding called name (borrowed from cfg), or NULL. */
const duro_binding_t *duro_config_binding(const duro_config_t *cfg,
                                          const char *name);

/* "development", "test" or "production"; never NULL. */
const char *duro_mode_name(duro_mode_t m);

/* Fills *limits with the defaults of the options table. */
void duro_limits_defaults(duro_limits_t *limits);

/*
 * Writes the --help text (roles, flags, and the settings of the "duro"
 * section, all generated from the tables) to a newly allocated string the
 * caller frees. role NULL lists every flag; "dev", "backend" or "frontend"
 * lists only the flags that role accepts.
 */
char *duro_config_usage(const char *role);

#endif
