/*
 * config.c: see config.h. The orchestrator: the command line
 * (core/cmdline.c), then the files (core/conffile.c), then the
 * environment, then the flags again for what they decide; and the "duro"
 * section's rows, core's own settings.
 *
 * Design notes.
 * - duro_config_load_schema builds a scratch duro_config_t and only copies
 *   it out when every source parsed and validated, so the caller never sees
 *   a half applied config. Errors are formatted once, where they are found.
 * - Core reads one variable by name, NODE_ENV (the mode); every other
 *   well-known name, every built-in binding and every section but "duro"
 *   comes from the caller's schema.
 * - Flags never echo a value that could be a secret; only names, ports,
 *   modes and levels are quoted back.
 */
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/cmdline.h"
#include "core/conffile.h"
#include "core/err.h"
#include "core/log.h"
#include "core/options.h"
#include "core/str.h"

/* ---- the "duro" section ------------------------------------------------- */

/* Index = the stored value of durability_full. */
static const char *const durability_choices[] = {"normal", "full", NULL};
/* Index = DURO_RATE_LIMIT_*. */
static const char *const rate_limit_choices[] = {"off", "on", "auto", NULL};
static const char *const loopback_choices[] = {"limit", "exempt", NULL};

#define LIM(field) offsetof(duro_limits_t, field)
#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)

static const duro_option_t limit_rows[] = {
    DURO_ROW("max_header_bytes", DURO_OPT_SIZE, 16 * KiB, 1 * KiB, 1 * MiB,
             NULL, LIM(max_header_bytes),
             "request line plus headers; a larger request gets 431"),
    DURO_ROW("max_body_bytes", DURO_OPT_SIZE, 1 * MiB, 1 * KiB, 1 * GiB, NULL,
             LIM(max_body_bytes), "request body; a larger one gets 413"),
    DURO_ROW("ws_max_message_bytes", DURO_OPT_SIZE, 1 * MiB, 1 * KiB, 1 * GiB,
             NULL, LIM(ws_max_message_bytes),
             "WebSocket message after reassembly; larger closes with 1009"),
    DURO_ROW("ws_deflate", DURO_OPT_BOOL, 1, 0, 1, NULL, LIM(ws_deflate),
             "permessage-deflate for clients that offer it (each message on "
             "its own; a broadcast compressed once for all)"),
    DURO_ROW("ws_deflate_min_bytes", DURO_OPT_SIZE, 256, 0, 1 * GiB, NULL,
             LIM(ws_deflate_min_bytes),
             "smaller messages go uncompressed"),
    DURO_ROW(
        "ws_send_queue_bytes", DURO_OPT_SIZE, 4 * MiB, 64 * KiB, 1 * GiB, NULL,
        LIM(ws_send_queue_bytes),
        "per-socket bound on queued output (bytes plus 32 per queued frame); "
        "slower readers are disconnected"),
    DURO_ROW("header_timeout_ms", DURO_OPT_MS, 10000, 100, 3600000, NULL,
             LIM(header_timeout_ms),
             "time allowed for a request's headers to arrive"),
    DURO_ROW("idle_timeout_ms", DURO_OPT_MS, 60000, 100, 86400000, NULL,
             LIM(idle_timeout_ms), "HTTP keep-alive idle time before closing"),
    DURO_ROW("ws_ping_interval_ms", DURO_OPT_MS, 30000, 1000, 3600000, NULL,
             LIM(ws_ping_interval_ms), "a WebSocket quiet this long is pinged"),
    DURO_ROW(
        "ws_pong_timeout_ms", DURO_OPT_MS, 60000, 1000, 3600000, NULL,
        LIM(ws_pong_timeout_ms),
        "dead-peer timeout: a socket silent this long after a ping is closed"),
    DURO_ROW("object_idle_ms", DURO_OPT_MS, 30000, 100, 86400000, NULL,
             LIM(object_idle_ms),
             "an object instance idle this long is evicted from memory"),
    DURO_ROW("alarm_max_retries", DURO_OPT_UINT, 6, 0, 100, NULL,
             LIM(alarm_max_retries),
             "retries of a failing alarm handler before the alarm is dropped"),
    DURO_ROW("durability", DURO_OPT_CHOICE, 1, 0, 1, durability_choices,
             LIM(durability_full),
             "SQLite synchronous setting: full (fsync each commit) or normal"),
    DURO_ROW("max_connections", DURO_OPT_UINT, 100000, 1, 10000000, NULL,
             LIM(max_connections), "open client connections"),
    DURO_ROW("flush_gather_us", DURO_OPT_UINT, 1000, 0, 100000, NULL,
             LIM(flush_gather_us),
             "while requests keep arriving (50 us apart at most), hold their "
             "fan-outs up to this many microseconds so that they leave in one "
             "write per socket (requesters get their answers at once); while "
             "the writes are behind, up to 8 times it; 0: write after every "
             "loop turn"),
    DURO_ROW("io_uring", DURO_OPT_BOOL, 1, 0, 1, NULL, LIM(io_uring),
             "write each pass's sockets with one io_uring submission instead "
             "of one writev each (Linux; writev where io_uring is refused)"),
    DURO_ROW("rate_limit", DURO_OPT_CHOICE, DURO_RATE_LIMIT_AUTO, 0, 2,
             rate_limit_choices, LIM(rate_limit),
             "per-client rate limits below; auto: on in production, off in "
             "development and test"),
    DURO_ROW(
        "rate_limit_connections_per_s", DURO_OPT_UINT, 20, 0, 1000000, NULL,
        LIM(rate_limit_connections_per_s),
        "new connections a second per client IP (IPv6: per /64); over it: 429 "
        "(0: no limit)"),
    DURO_ROW("rate_limit_connections_burst", DURO_OPT_UINT, 60, 1, 1000000,
             NULL, LIM(rate_limit_connections_burst),
             "connections a client may open at once before the rate applies"),
    DURO_ROW(
        "rate_limit_messages_per_s", DURO_OPT_UINT, 200, 0, 1000000, NULL,
        LIM(rate_limit_messages_per_s),
        "WebSocket messages a second per client IP, all its sockets together; "
        "over it: close 1008 (0: no limit)"),
    DURO_ROW("rate_limit_messages_burst", DURO_OPT_UINT, 1000, 1, 1000000, NULL,
             LIM(rate_limit_messages_burst),
             "messages a client may send at once before the rate applies"),
    DURO_ROW(
        "rate_limit_loopback", DURO_OPT_CHOICE, 1, 0, 1, loopback_choices,
        LIM(rate_limit_exempt_loopback),
        "exempt: clients on 127.0.0.0/8 and ::1 are not limited (a frontend or "
        "proxy on this host speaks for many users)"),
};

const duro_config_section_t duro_config_limits_section = {
    .name = "duro",
    .size = sizeof(duro_limits_t),
    .rows = limit_rows,
    .nrows = sizeof(limit_rows) / sizeof(limit_rows[0]),
    .help_title = "settings of its \"duro\" object, e.g. \"duro\": "
                  "{\"max_body_bytes\": 1048576}",
    .list_unknown = 0,
};

void duro_limits_defaults(duro_limits_t *limits) {
  memset(limits, 0, sizeof(*limits));
  duro_options_defaults(&duro_config_limits_section, limits);
}

/* ---- small helpers ------------------------------------------------------ */

/* An EINVAL with its message in err. */
#define fail(err, errlen, ...)                                                 \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

const char *duro_mode_name(duro_mode_t m) {
  return duro_cmdline_mode_name((int)m);
}

void duro_config__set_var(duro_config_t *c, const char *key,
                          const char *value) {
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

void duro_config__add_binding(duro_config_t *c, const char *name,
                              const char *class_name, const char *script_name) {
  c->bindings =
      duro_realloc(c->bindings, (c->nbindings + 1) * sizeof(*c->bindings));
  duro_binding_t *b = &c->bindings[c->nbindings++];
  b->name = duro_strdup(name);
  b->class_name = duro_strdup(class_name);
  b->script_name = script_name ? duro_strdup(script_name) : NULL;
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
  duro_free(cfg->tls_cert_arg);
  duro_free(cfg->tls_key_arg);
  duro_free(cfg->backend_ca_arg);
  duro_free(cfg->postgres_arg);
  duro_free(cfg->advertise_arg);
  duro_free(cfg->node_id_arg);
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
  duro_options_free(&duro_config_limits_section, &cfg->limits);
  for (size_t i = 0; i < cfg->nparts; i++) {
    duro_options_free(cfg->parts[i].section, cfg->parts[i].data);
    duro_free(cfg->parts[i].data);
  }
  duro_free(cfg->parts);
  memset(cfg, 0, sizeof(*cfg));
}

void *duro_config_section(const duro_config_t *cfg,
                          const duro_config_section_t *s) {
  for (size_t i = 0; i < cfg->nparts; i++)
    if (cfg->parts[i].section == s)
      return cfg->parts[i].data;
  return NULL;
}

void *duro_config_add_section(duro_config_t *cfg,
                              const duro_config_section_t *s) {
  void *data = duro_config_section(cfg, s);
  if (data)
    return data;
  data = duro_calloc(1, s->size);
  duro_options_defaults(s, data);
  cfg->parts = duro_realloc(cfg->parts, (cfg->nparts + 1) * sizeof(*cfg->parts));
  cfg->parts[cfg->nparts++] = (duro_config_part_t){s, data};
  return data;
}

/* ---- usage -------------------------------------------------------------- */

char *duro_config_usage(const duro_config_schema_t *schema, const char *role) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_cmdline_usage(&b, role);
  duro_buf_printf(&b, "\nconfig file (" DURO_DEFAULT_CONFIG
                      ", JSON with comments, wrangler keys):\n"
                      "  name, vars, durable_objects.bindings, dev.port\n"
                      "  classes: [{\"class_name\": ..., \"library\": "
                      "\"./libx.so\"}] loads classes written in C\n"
                      "    (paths relative to the config file; see "
                      "docs/objects.md)\n"
                      "  .dev.vars beside it (KEY=VALUE) overrides vars; the "
                      "environment overrides both\n");
  duro_options_usage(&duro_config_limits_section, &b);
  for (size_t i = 0; schema && schema->sections && schema->sections[i]; i++)
    duro_options_usage(schema->sections[i], &b);
  *duro_buf_reserve(&b, 1) = '\0';
  return (char *)b.data;
}

static void print_usage(const duro_config_schema_t *schema, const char *role) {
  char *u = duro_config_usage(schema, role);
  fputs(u, stdout);
  fflush(stdout);
  duro_free(u);
}

/* ---- the environment ---------------------------------------------------- */

/* Environment over every known var, then NODE_ENV and the schema's names. */
static void merge_env(duro_config_t *c, const duro_config_schema_t *schema) {
  const char *v;
  for (size_t i = 0; i < c->nvars; i++) {
    if ((v = getenv(c->vars[i].key))) {
      duro_free(c->vars[i].value);
      c->vars[i].value = duro_strdup(v);
    }
  }
  if ((v = getenv("NODE_ENV")))
    duro_config__set_var(c, "NODE_ENV", v);
  for (size_t l = 0; schema && schema->env_vars && schema->env_vars[l]; l++) {
    const char *const *names = schema->env_vars[l];
    for (size_t i = 0; names[i]; i++)
      if ((v = getenv(names[i])))
        duro_config__set_var(c, names[i], v);
  }
}

/* ---- putting it together ------------------------------------------------ */

int duro_config_load_schema(duro_config_t *cfg,
                            const duro_config_schema_t *schema, int argc,
                            char **argv, char *err, size_t errlen) {
  duro_config_t c;
  duro_cmdline_t cli;
  duro_conffile_info_t file;
  memset(cfg, 0, sizeof(*cfg));
  memset(&c, 0, sizeof(c));
  memset(&file, 0, sizeof(file));
  if (err && errlen)
    err[0] = '\0';

  if (duro_cmdline_parse(&cli, argc, argv, err, errlen) < 0)
    return DURO_EINVAL;
  if (cli.help) {
    print_usage(schema, cli.help_role);
    return 1;
  }
  if (cli.version) {
    printf("duro %s\n", DURO_VERSION);
    fflush(stdout);
    return 1;
  }

  c.role = duro_strdup(cli.role);
  c.name = duro_strdup("duro");
  c.log_level = cli.log_level >= 0 ? cli.log_level : DURO_LOG_INFO;
  c.log_json = cli.log_format == 1;
  duro_limits_defaults(&c.limits);
  for (size_t i = 0; schema && schema->sections && schema->sections[i]; i++)
    duro_config_add_section(&c, schema->sections[i]);

  if (duro_conffile_load(&c, schema, cli.config, &file, err, errlen) < 0)
    goto fail;
  if (!file.has_durable_objects && schema && schema->bindings)
    for (const duro_config_builtin_t *b = schema->bindings; b->name; b++)
      duro_config__add_binding(&c, b->name, b->class_name, NULL);
  if (duro_conffile_load_dev_vars(&c, err, errlen) < 0)
    goto fail;
  merge_env(&c, schema);

  /* Mode: --mode > role dev > NODE_ENV > production. */
  const char *node_env = duro_config_var(&c, "NODE_ENV");
  if (cli.mode >= 0) {
    c.mode = (duro_mode_t)cli.mode;
  } else if (cli.role_bit == DURO_ROLE_DEV) {
    c.mode = DURO_MODE_DEVELOPMENT;
  } else if (node_env) {
    int m = duro_cmdline_mode(node_env);
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
    duro_config__set_var(&c, "NODE_ENV", duro_mode_name(c.mode));
  /* Rate limits guard a public server; locally they only get in the way
   * of reloads and tests. */
  if (c.limits.rate_limit == DURO_RATE_LIMIT_AUTO)
    c.limits.rate_limit = c.mode == DURO_MODE_PRODUCTION ? DURO_RATE_LIMIT_ON
                                                         : DURO_RATE_LIMIT_OFF;

  int backend_port = file.dev_port ? file.dev_port : DURO_DEFAULT_BACKEND_PORT;
  c.admin_port = cli.admin_port;
  c.tls_cert_arg = cli.tls_cert ? duro_strdup(cli.tls_cert) : NULL;
  c.tls_key_arg = cli.tls_key ? duro_strdup(cli.tls_key) : NULL;
  c.backend_ca_arg = cli.backend_ca ? duro_strdup(cli.backend_ca) : NULL;
  c.postgres_arg = cli.postgres ? duro_strdup(cli.postgres) : NULL;
  c.advertise_arg = cli.advertise ? duro_strdup(cli.advertise) : NULL;
  c.node_id_arg = cli.node_id ? duro_strdup(cli.node_id) : NULL;
  c.host = duro_strdup(cli.host ? cli.host : DURO_DEFAULT_HOST);
  c.data_dir = duro_strdup(cli.data ? cli.data : DURO_DEFAULT_DATA_DIR);
  switch (cli.role_bit) {
  case DURO_ROLE_DEV:
    c.port = cli.port >= 0 ? cli.port : backend_port;
    c.frontend_port =
        cli.frontend_port >= 0 ? cli.frontend_port : DURO_DEFAULT_FRONTEND_PORT;
    if (c.port == c.frontend_port && c.port != 0) {
      fail(err, errlen,
           "duro: the backend and frontend ports are both %d (use --port "
           "and --frontend-port)",
           c.port);
      goto fail;
    }
    break;
  case DURO_ROLE_BACKEND:
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
