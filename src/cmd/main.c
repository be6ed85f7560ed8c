/*
 * main.c: the duro command. Parses the configuration, opens the store,
 * starts the object runtime and the role's listeners, and runs the loop
 * until SIGINT or SIGTERM, which drain gracefully: no new connections,
 * requests in flight answered (then their connections closed), sockets
 * closed with 1001, commits flushed, exit 0 within 5 s. A second signal
 * exits at once with status 1 (docs/durability.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "admin/admin.h"
#include "backend/backend.h"
#include "backend/cluster.h"
#include "backend/node.h"
#include "classes/classes.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/str.h"
#include "frontend/frontend.h"
#include "cmd/schema.h"
#include "frontend/tunnel.h"
#include "http/http.h"
#include "net/conn.h"
#include "net/tls.h"
#include "objects/loader.h"
#include "objects/runtime.h"
#include "store/store.h"
#include "sync/auth.h"

/* Shutdown: whatever is not done after the grace period is cut off, so
 * that with the storage close after it duro exits within 5 s. */
#define SHUTDOWN_GRACE_MS 3500
#define DRAIN_POLL_MS 20
/* A Ctrl-C on `make run` reaches duro twice, a few ms apart: from the
 * terminal (to the whole process group) and from make, which passes it on
 * to its children. Signals this close to the first are that same one. */
#define SIGNAL_ECHO_MS 100

typedef struct app {
  uv_loop_t *loop;
  duro_config_t cfg;
  duro_net_t net;
  duro_store_t *store;
  duro_runtime_t *rt;
  duro_backend_t backend;
  duro_node_t *node;   /* cluster mode: this node (backend/node.h) */
  int node_stopped;    /* teardown: its stop callback ran */
  duro_admin_t admin;
  int has_admin;
  int store_closed; /* teardown: the store's close callback ran */
  duro_frontend_t frontend;
  int has_backend, has_frontend;
  uv_signal_t sigint, sigterm, sigusr2, sighup;
  duro_tls_t *tls; /* the role's listeners speak TLS; NULL: plain */
  char *tls_cert;  /* its certificate's path */
  duro_tls_client_t *backend_tls; /* the frontend's trust in an https
                                     backend; NULL: http */
  uv_timer_t grace;
  uv_timer_t drain_poll; /* shutdown: waits for in-flight answers */
  int signals;
  uint64_t first_signal_ms;
  int runtime_drained;
  int finishing;
  int handles_up;
  duro_loader_t loader; /* classes from shared libraries */
} app_t;

static int mkdir_p(const char *path) {
  char tmp[4096];
  size_t n = strlen(path); /* C string: the data directory from the config */
  if (n == 0 || n >= sizeof(tmp))
    return -1;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
    return -1;
  return 0;
}

static void on_store_closed(void *data) {
  app_t *app = data;
  app->store = NULL;
  duro_log_info("storage closed; bye");
  uv_stop(app->loop);
}

static void close_store(void *data);

static void finish(app_t *app) {
  if (app->finishing) /* the grace period and the drain can both end it */
    return;
  app->finishing = 1;
  uv_timer_stop(&app->grace);
  uv_timer_stop(&app->drain_poll);
  if (app->node) { /* the lease goes first: others may claim at once */
    duro_node_t *n = app->node;
    app->node = NULL;
    duro_node_stop(n, close_store, app);
    return;
  }
  close_store(app);
}

static void close_store(void *data) {
  app_t *app = data;
  if (app->store) {
    duro_store_close(app->store, on_store_closed, app);
  } else {
    /* a frontend alone: close the sockets and stop */
    for (duro_conn_t *c = duro_net_next_conn(&app->net, NULL); c;
         c = duro_net_next_conn(&app->net, c))
      duro_conn_close_after_flush(c);
    uv_stop(app->loop);
  }
}

/* 1 while an HTTP connection still owes an answer, or any connection its
 * last bytes (a close frame); also tells idle keep-alive connections to
 * close (see duro_http_drain). */
static int answers_owed(app_t *app) {
  int owed = 0;
  for (duro_conn_t *c = duro_net_next_conn(&app->net, NULL); c;
       c = duro_net_next_conn(&app->net, c))
    owed |= duro_http_drain(c) || duro_conn_has_output(c);
  return owed;
}

/* Shutdown is done when the objects are idle (sockets closed with 1001,
 * commits durable) and every request in flight has been answered. */
static void check_drained(app_t *app) {
  if ((!app->rt || app->runtime_drained) && !answers_owed(app))
    finish(app);
}

static void on_drain_poll(uv_timer_t *t) { check_drained(t->data); }

static void on_runtime_drained(void *data) {
  app_t *app = data;
  app->runtime_drained = 1;
  check_drained(app);
}

static void on_grace_over(uv_timer_t *t) {
  app_t *app = t->data;
  duro_log_warn("shutdown grace period over; closing what is left");
  for (duro_conn_t *c = duro_net_next_conn(&app->net, NULL); c;
       c = duro_net_next_conn(&app->net, c))
    duro_conn_close(c);
  finish(app);
}

/* SIGHUP: the certificate and key read again (new connections get them;
 * a bad pair is refused and the old one kept). */
static void on_reload(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  char err[512];
  if (app->backend_tls &&
      duro_tls_client_reload(app->backend_tls, err, sizeof(err)) < 0)
    duro_log_error("SIGHUP: %s; keeping the trust in use", err);
  if (!app->tls)
    return;
  if (duro_tls_reload(app->tls, err, sizeof(err)) < 0)
    duro_log_error("SIGHUP: %s; keeping the certificate in use", err);
  else
    duro_log_info("SIGHUP: certificate and key read again");
}

/* A path of the "tls" section: relative to the config file's folder. */
static char *config_relative(const duro_config_t *cfg, const char *path) {
  const char *slash = cfg->config_path
                          ? strrchr(cfg->config_path, '/') /* C string: a path */
                          : NULL;
  if (path[0] == '/' || !slash)
    return duro_strdup(path);
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_append(&b, cfg->config_path, (size_t)(slash - cfg->config_path) + 1);
  duro_buf_append_str(&b, path);
  duro_buf_append(&b, "", 1);
  return (char *)b.data;
}

/* The role's certificate and key, when it has them: --tls-cert and
 * --tls-key, else the "tls" section. 0 (app->tls set, or no TLS asked
 * for), or -1 after saying why. */
static int start_tls(app_t *app) {
  const duro_config_t *cfg = &app->cfg;
  const duro_tls_config_t *tc = duro_config_section(cfg, &duro_tls_section);
  char *cert = cfg->tls_cert_arg ? duro_strdup(cfg->tls_cert_arg)
               : tc && tc->cert && *tc->cert ? config_relative(cfg, tc->cert)
                                             : NULL;
  char *key = cfg->tls_key_arg ? duro_strdup(cfg->tls_key_arg)
              : tc && tc->key && *tc->key ? config_relative(cfg, tc->key)
                                          : NULL;
  int rc = 0;
  char err[1024];
  if ((cert || key) && !(cert && key)) {
    fprintf(stderr, "duro: TLS needs a certificate and its key: --tls-cert "
                    "FILE --tls-key FILE (or \"tls\": {\"cert\", \"key\"})\n");
    rc = -1;
  } else if (cert && !(app->tls = duro_tls_new(cert, key, err, sizeof(err)))) {
    fprintf(stderr, "duro: %s\n", err);
    rc = -1;
  }
  app->tls_cert = rc == 0 ? cert : NULL;
  if (rc < 0)
    duro_free(cert);
  duro_free(key);
  return rc;
}

/* The frontend's trust in an https backend. dev's backend is this
 * process's own listener: its certificate is the anchor and no name needs
 * checking (the user's certificate need not name 127.0.0.1). Otherwise
 * --backend-ca, the "tls" section's backend_ca, or the system's store.
 * 0, or -1 after saying why. */
static int start_backend_trust(app_t *app, int dev) {
  const duro_config_t *cfg = &app->cfg;
  if (strncmp(cfg->backend_url, "https://", 8) != 0)
    return 0;
  const duro_tls_config_t *tc = duro_config_section(cfg, &duro_tls_section);
  char *ca = dev ? duro_strdup(app->tls_cert)
             : cfg->backend_ca_arg ? duro_strdup(cfg->backend_ca_arg)
             : tc && tc->backend_ca && *tc->backend_ca
                 ? config_relative(cfg, tc->backend_ca)
                 : NULL;
  char err[1024];
  app->backend_tls = duro_tls_client_new(ca, !dev, err, sizeof(err));
  duro_free(ca);
  if (!app->backend_tls) {
    fprintf(stderr, "duro: --backend %s: %s\n", cfg->backend_url, err);
    return -1;
  }
  return 0;
}

/* SIGUSR2: the network counters into the log (for benchmarks and
 * operators; `kill -USR2 PID`). */
static void on_counters(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  duro_net_log_counters(&app->net);
}

static void on_signal(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  uint64_t now = uv_hrtime() / 1000000;
  if (app->signals && now - app->first_signal_ms < SIGNAL_ECHO_MS)
    return;
  if (++app->signals > 1) {
    /* Commits already acknowledged are durable; the rest is lost, as in a
     * crash. Exit 1: this was not a clean shutdown. */
    duro_log_warn("second signal: exiting now");
    _exit(1);
  }
  app->first_signal_ms = now;
  duro_log_info("%s: shutting down (close %s, flush storage)",
                signum == SIGINT ? "SIGINT" : "SIGTERM",
                app->node ? "1012, hand the objects over" : "1001");
  if (app->has_frontend)
    duro_frontend_stop(&app->frontend);
  if (app->has_backend)
    duro_backend_stop(&app->backend);
  else if (app->has_frontend)
    duro_tunnel_going_away();
  if (app->has_admin)
    duro_admin_stop(&app->admin); /* (with a backend here, it sends the 1001) */
  uv_timer_start(&app->grace, on_grace_over, SHUTDOWN_GRACE_MS, 0);
  uv_timer_start(&app->drain_poll, on_drain_poll, DRAIN_POLL_MS,
                 DRAIN_POLL_MS);
  answers_owed(app); /* idle keep-alive connections close now */
  if (app->rt)
    duro_runtime_shutdown(app->rt, on_runtime_drained, app);
  else
    check_drained(app);
}

static void on_store_closed_on_error(void *data) {
  app_t *app = data;
  app->store_closed = 1;
}

static void on_node_stopped_on_error(void *data) {
  app_t *app = data;
  app->node_stopped = 1;
}

/* Frees whatever run() set up, in order: connections, the store (whose
 * last callbacks still reach the runtime), the runtime, the loop-wide
 * handles. Works after a clean stop and after a failed start. */
static void teardown(app_t *app) {
  if (app->net.loop)
    for (duro_conn_t *c = duro_net_next_conn(&app->net, NULL); c;
         c = duro_net_next_conn(&app->net, c))
      duro_conn_close(c);
  /* The signal handles first: while they are open the loop never runs
   * out of work, and the store's close below needs the loop to finish. */
  if (app->handles_up) {
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigusr2, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
    uv_close((uv_handle_t *)&app->grace, NULL);
    uv_close((uv_handle_t *)&app->drain_poll, NULL);
    app->handles_up = 0;
  }
  duro_frontend_stop(&app->frontend); /* no-ops unless listening */
  duro_backend_stop(&app->backend);
  if (app->has_admin)
    duro_admin_stop(&app->admin);
  app->has_admin = 0;
  if (app->node) { /* a start that failed after the node joined */
    duro_node_stop(app->node, on_node_stopped_on_error, app);
    app->node = NULL;
    while (!app->node_stopped)
      uv_run(app->loop, UV_RUN_ONCE);
  }
  if (app->store) {
    duro_store_close(app->store, on_store_closed_on_error, app);
    app->store = NULL;
    /* Until the store is closed, not until the loop runs out of work: after
     * a failed start the runtime's timers are still running. */
    while (!app->store_closed)
      uv_run(app->loop, UV_RUN_ONCE);
  }
  if (app->rt)
    duro_runtime_free(app->rt);
  if (app->net.loop)
    duro_net_close(&app->net);
  uv_run(app->loop, UV_RUN_DEFAULT);
  uv_loop_close(app->loop);
  /* Last: the runtime, freed above, ran the libraries' teardown code. */
  duro_loader_close(&app->loader);
}

/* The objects' storage: PostgreSQL when the cluster settings name one
 * (it needs DURO_INTERNAL_SECRET: its nodes speak the binding protocol to
 * each other), else SQLite in the data directory. 0, or -1 after saying
 * why. */
static int open_store(app_t *app) {
  const duro_config_t *cfg = &app->cfg;
  char err[1024];
  const char *pg = duro_cluster_postgres(cfg);
  if (pg) {
    const char *secret = duro_config_var(cfg, "DURO_INTERNAL_SECRET");
    if (!secret || !*secret) {
      fprintf(stderr, "duro: storage on PostgreSQL (cluster mode) needs "
                      "DURO_INTERNAL_SECRET; set it in the environment or in "
                      ".dev.vars\n");
      return -1;
    }
    if (duro_store_open_postgres(app->loop, pg, 1, &app->store, err,
                                 sizeof(err)) < 0) {
      fprintf(stderr, "duro: %s\n", err);
      return -1;
    }
    return 0;
  }
  if (mkdir_p(cfg->data_dir) < 0) {
    fprintf(stderr, "duro: cannot create data directory %s: %s\n",
            cfg->data_dir, strerror(errno));
    return -1;
  }
  char dbpath[4200];
  if (duro_fmt(dbpath, sizeof(dbpath), "%s/duro.db", cfg->data_dir) < 0) {
    fprintf(stderr, "duro: data directory path too long: %s\n", cfg->data_dir);
    return -1;
  }
  if (duro_store_open(app->loop, dbpath, cfg->limits.durability_full,
                      &app->store, err, sizeof(err)) < 0) {
    fprintf(stderr, "duro: %s: %s\n", dbpath, err);
    return -1;
  }
  return 0;
}

static int start_backend(app_t *app) {
  duro_config_t *cfg = &app->cfg;
  char err[512];
  const char *secret = duro_config_var(cfg, "DURO_INTERNAL_SECRET");
  if (cfg->mode == DURO_MODE_PRODUCTION && (!secret || !*secret)) {
    fprintf(stderr,
            "duro: production mode needs DURO_INTERNAL_SECRET (the bearer "
            "secret of the /_objects binding protocol); set it in the "
            "environment or in .dev.vars, or run with --mode development\n");
    return -1;
  }
  if (duro_sync_auth_check_config(cfg, err, sizeof(err)) < 0) {
    fprintf(stderr, "duro: %s\n", err);
    return -1;
  }
  if (open_store(app) < 0)
    return -1;
  app->rt = duro_runtime_new(app->loop, app->store, cfg);
  for (size_t i = 0; duro_builtin_classes[i]; i++)
    duro_runtime_register(app->rt, duro_builtin_classes[i]);
  if (duro_loader_load(&app->loader, app->rt, cfg->class_libs,
                       cfg->nclass_libs, err, sizeof(err)) < 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  if (duro_runtime_bind(app->rt, err, sizeof(err)) < 0) {
    fprintf(stderr, "duro: %s\n", err);
    return -1;
  }
  if (duro_backend_start(&app->backend, &app->net, app->rt, cfg, cfg->port,
                         err, sizeof(err)) < 0) {
    fprintf(stderr, "duro: cannot listen on %s\n", err);
    return -1;
  }
  app->backend.listener.tls = app->tls; /* before the loop accepts any */
  const char *pg = duro_cluster_postgres(cfg);
  if (pg && duro_node_start(&app->node, app->loop, app->rt, &app->backend,
                            cfg, pg, secret, err, sizeof(err)) < 0) {
    fprintf(stderr, "duro: %s\n", err);
    return -1;
  }
  duro_runtime_start(app->rt);
  if (!secret || !*secret)
    duro_log_warn("DURO_INTERNAL_SECRET is not set: /_objects accepts "
                  "loopback callers only, without a secret");
  duro_log_info("duro %s: backend on %s://%s:%d (mode %s, data %s)",
                DURO_VERSION, app->tls ? "https" : "http", cfg->host,
                duro_listener_port(&app->backend.listener),
                duro_mode_name(cfg->mode),
                duro_cluster_postgres(cfg) ? "on PostgreSQL" : cfg->data_dir);
  return 0;
}

/* The admin listener, when one is asked for (admin/admin.h). The one
 * `duro dev` opens by default is skipped with a warning when its port is
 * taken (another duro dev, say); one asked for must open. */
static int start_admin(app_t *app) {
  duro_config_t *cfg = &app->cfg;
  int asked;
  int port = duro_admin_port(cfg, &asked);
  if (port < 0)
    return 0;
  char err[512];
  if (duro_admin_start(&app->admin, &app->net, app->rt, cfg, port, err,
                       sizeof(err)) < 0) {
    if (!asked) {
      duro_log_warn("admin: not started: %s", err);
      return 0;
    }
    fprintf(stderr, "duro: admin: %s\n", err);
    return -1;
  }
  app->has_admin = 1;
  return 0;
}

static int run(app_t *app) {
  duro_config_t *cfg = &app->cfg;
  char err[512];
  const char *role = cfg->role;

  app->has_backend = strcmp(role, "frontend") != 0;
  app->has_frontend = strcmp(role, "backend") != 0;
  /* Signals first: a SIGTERM right after the "listening" log line must
   * already find its handler (it is acted on once the loop runs). */
  uv_signal_init(app->loop, &app->sigint);
  uv_signal_init(app->loop, &app->sigterm);
  app->sigint.data = app->sigterm.data = app;
  uv_signal_start(&app->sigint, on_signal, SIGINT);
  uv_signal_start(&app->sigterm, on_signal, SIGTERM);
  uv_signal_init(app->loop, &app->sigusr2);
  app->sigusr2.data = app;
  uv_signal_start(&app->sigusr2, on_counters, SIGUSR2);
  uv_unref((uv_handle_t *)&app->sigusr2);
  uv_signal_init(app->loop, &app->sighup);
  app->sighup.data = app;
  uv_signal_start(&app->sighup, on_reload, SIGHUP);
  uv_unref((uv_handle_t *)&app->sighup);
  uv_timer_init(app->loop, &app->grace);
  app->grace.data = app;
  uv_timer_init(app->loop, &app->drain_poll);
  app->drain_poll.data = app;
  signal(SIGPIPE, SIG_IGN);

  app->handles_up = 1;

  duro_net_init(&app->net, app->loop, cfg->limits.max_connections,
                cfg->limits.ws_send_queue_bytes);
  duro_net_limit_rate(&app->net, &cfg->limits);
  if (start_tls(app) < 0)
    return 1;
  duro_net_set_gather(&app->net, cfg->limits.flush_gather_us);
  char why[160];
  if (duro_net_use_io_uring(&app->net, cfg->limits.io_uring, why, sizeof(why)) < 0)
    duro_log_info("%s: writing with writev", why);
  if (app->has_backend && start_backend(app) < 0)
    return 1;
  if (app->has_frontend) {
    if (!app->has_backend && cfg->backend_url == NULL) {
      fprintf(stderr, "duro: the frontend needs --backend URL\n");
      return 1;
    }
    if (app->has_backend) {
      /* duro dev: the frontend reaches this process's backend over the
       * same binding protocol as across processes */
      char url[64];
      if (duro_fmt(url, sizeof(url), "%s://127.0.0.1:%d",
                   app->tls ? "https" : "http",
                   duro_listener_port(&app->backend.listener)) < 0) {
        fprintf(stderr, "duro: cannot form the backend's URL\n");
        return 1;
      }
      duro_free(cfg->backend_url);
      cfg->backend_url = duro_strdup(url);
    }
    if (start_backend_trust(app, app->has_backend) < 0)
      return 1;
    int port = app->has_backend ? cfg->frontend_port : cfg->port;
    if (duro_frontend_start(&app->frontend, &app->net, cfg, port,
                            app->backend_tls, err, sizeof(err)) < 0) {
      fprintf(stderr, "duro: frontend: %s\n", err);
      return 1;
    }
    app->frontend.listener.tls = app->tls;
    duro_log_info("duro %s: frontend on %s://%s:%d (mode %s, backend %s)",
                  DURO_VERSION, app->tls ? "https" : "http", cfg->host,
                  duro_listener_port(&app->frontend.listener),
                  duro_mode_name(cfg->mode), cfg->backend_url);
  }

  if (start_admin(app) < 0)
    return 1;

  uv_run(app->loop, UV_RUN_DEFAULT);
  return 0;
}

int main(int argc, char **argv) {
  app_t app;
  memset(&app, 0, sizeof(app));
  char err[1024];
  /* The program's settings, secrets and built-in bindings: each layer's
   * part of the configuration, put together in cmd/schema.c. */
  int rc = duro_config_load_schema(&app.cfg, &duro_program_schema, argc, argv,
                                   err, sizeof(err));
  if (rc == 1)
    return 0;
  if (rc < 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  duro_log_level = app.cfg.log_level;
  duro_log_json = app.cfg.log_json;
  app.loop = uv_default_loop();
  int code = run(&app);
  teardown(&app);
  duro_tls_free(app.tls); /* after every connection is gone */
  duro_tls_client_free(app.backend_tls);
  duro_free(app.tls_cert);
  duro_config_free(&app.cfg);
  return code;
}
