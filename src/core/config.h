/*
 * config.h: duro's configuration: command line, duro.jsonc, .dev.vars and
 * the environment, resolved into one duro_config_t at startup.
 *
 * Sources, lowest precedence first:
 *   built-in defaults
 *   < the config file (wrangler-style JSONC: name, vars,
 *     durable_objects.bindings, dev.port; duro's own settings in "duro";
 *     a section per layer that has settings, such as "sync"; "classes":
 *     classes from shared libraries)
 *   < .dev.vars beside the config file (vars only)
 *   < the environment (vars only: every var already known, plus NODE_ENV
 *     and the names the schema lists)
 *   < command-line flags.
 *
 * Core knows only its own settings. What the layers above add comes in a
 * duro_config_schema_t from the caller: the names of the environment
 * variables they read (secrets among them), the bindings a file without
 * "durable_objects" gets, and their sections of the options table
 * (core/options.h: one row per setting, which parses, bound-checks and
 * prints it in --help). The program's schema is duro_program_schema
 * (src/cmd/schema.h).
 *
 * The jobs are split: core/cmdline.c (argv), core/conffile.c (duro.jsonc
 * and .dev.vars), core/options.c (the table machinery), and config.c,
 * which puts them together in precedence order, merges the environment
 * and resolves the mode and the ports.
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

/* The "duro" section of the config file; see its rows in config.c (or
 * `duro --help`) for meaning, defaults and bounds of each field. */
typedef struct duro_limits {
  size_t max_header_bytes, max_body_bytes, ws_max_message_bytes,
      ws_send_queue_bytes, ws_deflate_min_bytes;
  int ws_deflate; /* permessage-deflate (ws/deflate.h) */
  unsigned header_timeout_ms, idle_timeout_ms, ws_ping_interval_ms,
      ws_pong_timeout_ms, object_idle_ms, alarm_max_retries, max_connections,
      flush_gather_us;
  int durability_full; /* 1: SQLite synchronous=FULL, 0: NORMAL */
  int io_uring;        /* batch sends through io_uring (net/batch.h) */
  /* per-client rate limits (net/ratelimit.h); rate_limit is resolved at
   * load: "auto" becomes on in production, off otherwise */
  int rate_limit;      /* DURO_RATE_LIMIT_* */
  int rate_limit_exempt_loopback;
  unsigned rate_limit_connections_per_s, rate_limit_connections_burst,
      rate_limit_messages_per_s, rate_limit_messages_burst;
} duro_limits_t;

enum { DURO_RATE_LIMIT_OFF, DURO_RATE_LIMIT_ON, DURO_RATE_LIMIT_AUTO };

struct duro_config_section; /* core/options.h */

/* One section of a layer above core (such as "sync"): its rows and its
 * struct, which the layer declares and reads (duro_config_section). */
typedef struct duro_config_part {
  const struct duro_config_section *section;
  void *data; /* owned: section->size bytes */
} duro_config_part_t;

typedef struct duro_config {
  char *role;          /* "dev", "backend" or "frontend" */
  duro_mode_t mode;
  char *host;          /* listen address */
  int port;            /* the role's port; in dev, the backend's */
  int frontend_port;   /* dev: the frontend's port; frontend: == port;
                          backend: 0 */
  int admin_port;      /* --admin-port; -1: not given (admin/admin.h) */
  char *tls_cert_arg, *tls_key_arg; /* --tls-cert, --tls-key, or NULL */
  char *backend_ca_arg; /* --backend-ca, or NULL */
  char *postgres_arg;   /* --postgres, or NULL */
  char *advertise_arg;  /* --advertise, or NULL */
  char *node_id_arg;    /* --node-id, or NULL */
  char *backend_url;   /* frontend: where the backend is; NULL otherwise */
  char *data_dir;
  char *config_path;   /* the path actually read, or NULL when defaults */
  char *name;          /* config "name", default "duro" */
  int log_level;       /* DURO_LOG_* from core/log.h, default info */
  int log_json;        /* --log-format json */
  duro_var_t *vars;    /* merged vars, in first-seen order, keys unique */
  size_t nvars;
  duro_binding_t *bindings;
  size_t nbindings;
  duro_class_lib_t *class_libs; /* the "classes" array, in order */
  size_t nclass_libs;
  duro_limits_t limits;
  /* The sections of the layers above core, in the schema's order. */
  duro_config_part_t *parts;
  size_t nparts;
} duro_config_t;

/* A binding that a config file without "durable_objects" gets. */
typedef struct duro_config_builtin {
  const char *name;
  const char *class_name;
} duro_config_builtin_t;

/*
 * What the layers above core add to the configuration; static data, owned
 * by the caller. Every member may be NULL.
 */
typedef struct duro_config_schema {
  /* Lists of environment variable names taken into the vars even when no
   * file mentions them (after NODE_ENV, which core reads itself); each
   * list and the list of lists are NULL-terminated. */
  const char *const *const *env_vars;
  /* The built-in bindings, in order, ended by an entry with a NULL name. */
  const duro_config_builtin_t *bindings;
  /* Sections of the config file after "duro", NULL-terminated; the
   * config holds a struct of each (duro_config_section). */
  const struct duro_config_section *const *sections;
} duro_config_schema_t;

/* The rows of the "duro" section (duro_limits_t), defined in config.c. */
extern const struct duro_config_section duro_config_limits_section;

/*
 * Parses argv (argv[0] is the program name and is ignored), reads the
 * config file and .dev.vars, merges the environment and resolves the mode,
 * with the settings, environment names and built-in bindings of schema
 * (NULL: core's alone).
 *
 * Returns 0 with cfg filled (free it with duro_config_free); 1 when --help
 * or --version was requested and the text was written to stdout (cfg is
 * empty); DURO_EINVAL with a one-line message (no trailing newline) in err
 * on any error (cfg is empty). cfg's previous contents are not freed.
 * Strings in cfg are owned by cfg; schema must outlive it.
 *
 * Afterwards the NODE_ENV var always holds the resolved mode's name (it is
 * set or rewritten when the mode came from --mode, the dev role or the
 * default), so code reading the var and code reading cfg->mode agree.
 */
int duro_config_load_schema(duro_config_t *cfg,
                            const duro_config_schema_t *schema, int argc,
                            char **argv, char *err, size_t errlen);

/*
 * duro_config_load_schema with the program's schema, duro_program_schema.
 * Defined above core, beside that schema (src/cmd/schema.c), so that
 * core names no layer; the unit tests and the fuzzer call it.
 */
int duro_config_load(duro_config_t *cfg, int argc, char **argv, char *err,
                     size_t errlen);

/* Frees everything cfg owns and zeroes it; safe on a zeroed or freed cfg. */
void duro_config_free(duro_config_t *cfg);

/* The struct of section s in cfg (borrowed from cfg; the layer that owns
 * s knows its type), or NULL when cfg has none: it was loaded with a
 * schema that does not list s, or built by hand without it. */
void *duro_config_section(const duro_config_t *cfg,
                          const struct duro_config_section *s);

/* For a config built by hand (tests, embedders; loading does this for
 * every section of the schema): gives cfg a struct of section s holding
 * its rows' defaults, unless it has one; returns the struct, which cfg
 * owns and duro_config_free frees. */
void *duro_config_add_section(duro_config_t *cfg,
                              const struct duro_config_section *s);

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
 * Writes the --help text (roles, flags, the config file's keys, and the
 * settings of the "duro" section and of schema's sections, all generated
 * from the tables) to a newly allocated string the caller frees. role NULL
 * lists every flag; "dev", "backend" or "frontend" lists only the flags
 * that role accepts. schema may be NULL.
 */
char *duro_config_usage(const duro_config_schema_t *schema, const char *role);

/* For core/conffile.c: sets var key (added in first-seen order, else
 * replaced), and appends a binding (script_name may be NULL). */
void duro_config__set_var(duro_config_t *c, const char *key,
                          const char *value);
void duro_config__add_binding(duro_config_t *c, const char *name,
                              const char *class_name,
                              const char *script_name);

#endif
