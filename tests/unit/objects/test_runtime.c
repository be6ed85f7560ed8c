/*
 * test_runtime.c: the object runtime against a real SQLite file: id
 * derivation, storage get/put/delete/list, persistence across a restart,
 * eviction and rebuild, alarms, stub calls and the output gate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/log.h"
#include "net/conn.h"
#include "ws/frame.h"
#include "http/http.h"
#include "objects/kvmap.h"
#include "objects/runtime.h"
#include "store/store.h"

/* ---- fixture ------------------------------------------------------------------ */

typedef struct fixture {
  char dir[64];
  char db[96];
  uv_loop_t loop;
  duro_store_t *store;
  duro_runtime_t *rt;
  duro_config_t cfg;
} fixture_t;

static duro_binding_t bindings[2] = {
    {"T", "TestClass", NULL},
    {"PEER", "PeerClass", NULL},
};

/* what the test class saw and did */
static int fetches, inits, alarms_fired, teardowns, peer_saw_durable;
static char last_alarm[32];
static char scratch[512];
static size_t scratch_len;
static int stub_status;
static int list_count;

static void start(fixture_t *f) {
  uv_loop_init(&f->loop);
  char err[256];
  assert_int_equal(duro_store_open(&f->loop, f->db, 1, &f->store, err,
                                   sizeof(err)), 0);
  f->rt = duro_runtime_new(&f->loop, f->store, &f->cfg);
}

static void store_closed(void *data) { *(int *)data = 1; }

static void stop(fixture_t *f) {
  int done = 0;
  /* the store first: its last callbacks still reach the runtime */
  duro_store_close(f->store, store_closed, &done);
  while (!done)
    uv_run(&f->loop, UV_RUN_ONCE);
  duro_runtime_free(f->rt);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* Runs the loop until cond or about 3 s. */
#define RUN_UNTIL(f, cond)                                                    \
  do {                                                                        \
    for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                            \
      uv_run(&(f)->loop, UV_RUN_NOWAIT);                                      \
      usleep(1000);                                                           \
    }                                                                         \
    assert_true(cond);                                                        \
  } while (0)

/* ---- the test classes ------------------------------------------------------------ */

static int list_cb(const void *k, size_t kl, const void *v, size_t vl,
                   void *ud) {
  duro_buf_t *b = ud;
  duro_buf_append(b, k, kl);
  duro_buf_append(b, ",", 1);
  list_count++;
  return 0;
}

static void on_peer_done(duro_object_t *o, void *state,
                         const duro_response_t *res, void *ud) {
  stub_status = res->status;
  memcpy(scratch, res->body, res->body_len < 511 ? res->body_len : 511);
  scratch_len = res->body_len;
}

static int t_init(duro_object_t *o, void *state) {
  inits++;
  return 0;
}

static int t_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  size_t plen;
  const char *p = duro_request_path(req, &plen);
  fetches++;
  if (strncmp(p, "/ws", plen) == 0) {
    /* tags and attachment from the query: "a" sockets and "b" sockets */
    size_t ql;
    const char *q = duro_request_query(req, &ql);
    const char *tags[2] = {"all", q};
    char tagbuf[16];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)ql, q);
    tags[1] = tagbuf;
    duro_accept_websocket(req, tags, 2, tagbuf, strlen(tagbuf));
    return 0;
  }
  if (strncmp(p, "/put", plen) == 0) {
    duro_storage_put(o, "b", 1, "2", 1);
    duro_storage_put(o, "a", 1, "1", 1);
    duro_storage_put(o, "ab", 2, "3", 1);
    duro_storage_put(o, "c", 1, "4", 1);
  } else if (strncmp(p, "/list", plen) == 0) {
    duro_buf_t b = DURO_BUF_INIT;
    duro_list_opts_t opts = {0};
    list_count = 0;
    duro_storage_list(o, NULL, list_cb, &b); /* a,ab,b,c */
    opts.prefix = "a";
    opts.prefix_len = 1;
    duro_storage_list(o, &opts, list_cb, &b); /* a,ab */
    memset(&opts, 0, sizeof(opts));
    opts.start = "ab";
    opts.start_len = 2;
    opts.end = "c";
    opts.end_len = 1;
    duro_storage_list(o, &opts, list_cb, &b); /* ab,b */
    memset(&opts, 0, sizeof(opts));
    opts.reverse = 1;
    opts.limit = 2;
    duro_storage_list(o, &opts, list_cb, &b); /* c,b */
    memcpy(scratch, b.data, b.len);
    scratch_len = b.len;
    duro_buf_free(&b);
  } else if (strncmp(p, "/get", plen) == 0) {
    const void *v;
    size_t vl;
    scratch_len = 0;
    if (duro_storage_get(o, "a", 1, &v, &vl) == 0) {
      memcpy(scratch, v, vl);
      scratch_len = vl;
    }
  } else if (strncmp(p, "/delete", plen) == 0) {
    assert_int_equal(duro_storage_delete(o, "a", 1), 1);
    assert_int_equal(duro_storage_delete(o, "zz", 2), 0);
  } else if (strncmp(p, "/alarm", plen) == 0) {
    assert_int_equal(duro_alarm_set(o, "tick", duro_now_ms() + 50), 0);
    int64_t due;
    assert_int_equal(duro_alarm_get(o, "tick", &due), 0);
  } else if (strncmp(p, "/gate", plen) == 0) {
    duro_storage_put(o, "gate", 4, "open", 4);
    duro_stub_fetch(o, "PEER", "p", "GET", "/check", NULL, 0, NULL, 0,
                    on_peer_done, NULL);
  } else if (strncmp(p, "/byid", plen) == 0) {
    char id[65];
    assert_int_equal(duro_id_from_name(o, "PEER", "p", id), 0);
    assert_int_equal(duro_id_from_name(o, "NOPE", "p", id), -ENOENT);
    assert_int_equal(duro_stub_fetch_id(o, "PEER", "xyz", "GET", "/", NULL, 0,
                                        NULL, 0, NULL, NULL), -EINVAL);
    duro_stub_fetch_id(o, "PEER", id, "GET", "/check", NULL, 0, NULL, 0,
                       on_peer_done, NULL);
  } else if (strncmp(p, "/alarmfail", plen) == 0) {
    assert_int_equal(duro_alarm_set(o, "retry", duro_now_ms()), 0);
  } else if (strncmp(p, "/fail", plen) == 0) {
    duro_storage_put(o, "failed", 6, "yes", 3);
    return -22;
  }
  return duro_respond(req, 200, NULL, "ok", 2);
}

static int alarm_failures;

static int t_alarm(duro_object_t *o, void *state, const char *name) {
  if (strcmp(name, "retry") == 0 && alarm_failures < 2) {
    alarm_failures++;
    return -5; /* retried with backoff */
  }
  alarms_fired++;
  snprintf(last_alarm, sizeof(last_alarm), "%s", name);
  return 0;
}

static void t_teardown(duro_object_t *o, void *state) { teardowns++; }

/* "count <tag>": answers how many sockets carry the tag and this socket's
 * attachment; "to <tag> <text>": sends text to the sockets with the tag. */
static int t_ws_message(duro_object_t *o, void *state, duro_socket_t *s,
                        int is_text, const void *data, size_t len) {
  char msg[128];
  snprintf(msg, sizeof(msg), "%.*s", (int)len, (const char *)data);
  if (strncmp(msg, "count ", 6) == 0) {
    int n = 0;
    for (duro_socket_t *it = duro_socket_next(o, NULL, msg + 6); it;
         it = duro_socket_next(o, it, msg + 6))
      n++;
    size_t alen;
    const char *att = duro_socket_attachment(s, &alen);
    char out[128];
    int k = snprintf(out, sizeof(out), "%d %.*s %d", n, (int)alen, att,
                     duro_socket_has_tag(s, "all"));
    duro_socket_send(s, 1, out, (size_t)k);
  } else if (strncmp(msg, "to ", 3) == 0) {
    char *sp = strchr(msg + 3, ' ');
    if (!sp)
      return -22;
    *sp = '\0';
    duro_broadcast(o, msg + 3, NULL, 1, sp + 1, strlen(sp + 1));
  }
  return 0;
}

static const duro_class_t test_class = {
    DURO_CLASS_INIT,
    .name = "TestClass",
    .init = t_init,
    .fetch = t_fetch,
    .alarm = t_alarm,
    .teardown = t_teardown,
    .ws_message = t_ws_message,
};

static const char *g_db_path;

/* The peer reads the database with its own connection: if the caller's
 * write is on disk when the stub call arrives, the output gate held it. */
static int peer_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  sqlite3 *db;
  sqlite3_stmt *st;
  peer_saw_durable = 0;
  if (sqlite3_open_v2(g_db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = CAST('gate' AS BLOB)",
                         -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      peer_saw_durable = 1;
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  /* a counter in storage: the same object answers by name and by id */
  const void *v;
  size_t vl;
  char n[16] = "0";
  if (duro_storage_get(o, "n", 1, &v, &vl) == 0 && vl < sizeof(n)) {
    memcpy(n, v, vl);
    n[vl] = '\0';
  }
  snprintf(n, sizeof(n), "%d", atoi(n) + 1);
  duro_storage_put(o, "n", 1, n, strlen(n));
  char body[32];
  int len = snprintf(body, sizeof(body), "peer %s", n);
  return duro_respond(req, 201, NULL, body, (size_t)len);
}

static const duro_class_t peer_class = {
    DURO_CLASS_INIT,
    .name = "PeerClass",
    .fetch = peer_fetch,
};

static void fetch(fixture_t *f, const char *name, const char *path) {
  duro_http_req_t *req = duro_http_req_new("POST", path, strlen(path), NULL,
                                           0, NULL, 0);
  int before = fetches;
  duro_runtime_fetch(f->rt, "T", 1, name, strlen(name), req, path,
                     strlen(path));
  RUN_UNTIL(f, fetches > before);
  /* let the commit and the release happen */
  for (int i = 0; i < 20; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(500);
  }
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/duro-objects-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->db, sizeof(f->db), "%s/duro.db", f->dir);
  g_db_path = f->db;
  duro_limits_defaults(&f->cfg.limits);
  f->cfg.limits.object_idle_ms = 1;
  f->cfg.bindings = bindings;
  f->cfg.nbindings = 2;
  fetches = inits = alarms_fired = teardowns = peer_saw_durable = 0;
  stub_status = 0;
  start(f);
  char err[128];
  assert_int_equal(duro_runtime_register(f->rt, &test_class), 0);
  assert_int_equal(duro_runtime_register(f->rt, &peer_class), 0);
  assert_int_equal(duro_runtime_register(f->rt, &peer_class), -EEXIST);
  assert_int_equal(duro_runtime_bind(f->rt, err, sizeof(err)), 0);
  duro_runtime_start(f->rt);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  stop(f);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static void restart(fixture_t *f) {
  stop(f);
  start(f);
  char err[128];
  duro_runtime_register(f->rt, &test_class);
  duro_runtime_register(f->rt, &peer_class);
  assert_int_equal(duro_runtime_bind(f->rt, err, sizeof(err)), 0);
  duro_runtime_start(f->rt);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_id_from_name(void **state) {
  char a[65], b[65], c[65];
  duro_object_id_from_name("NS", 2, "global", 6, a);
  duro_object_id_from_name("NS", 2, "global", 6, b);
  duro_object_id_from_name("NS2", 3, "global", 6, c);
  assert_int_equal(strlen(a), 64);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  for (int i = 0; i < 64; i++)
    assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
  /* ("ab","c") and ("a","bc") differ */
  duro_object_id_from_name("ab", 2, "c", 1, a);
  duro_object_id_from_name("a", 1, "bc", 2, b);
  assert_string_not_equal(a, b);
  /* stable forever: SHA-256 of "duro-object-v1:" NS NUL name, checked
   * with sha256sum */
  duro_object_id_from_name("MESSAGE_COORDINATOR", 19, "global", 6, a);
  assert_string_equal(
      a, "51fa3ef5fe577961edf69a2ac52a7188adf409155099189c07b6c3840d34293a");
}

static void test_kvmap(void **state) {
  duro_kvmap_t m = {0};
  duro_kvmap_put(&m, "b", 1, "1", 1);
  duro_kvmap_put(&m, "a", 1, "2", 1);
  duro_kvmap_put(&m, "a\0x", 3, "3", 1);
  duro_kvmap_put(&m, "", 0, "4", 1);
  assert_int_equal(m.n, 4);
  assert_int_equal(m.e[0].key_len, 0);
  assert_memory_equal(m.e[1].key, "a", 1);
  assert_int_equal(m.e[2].key_len, 3);
  assert_true(duro_kvmap_find(&m, "a\0x", 3) == 2);
  duro_kvmap_put(&m, "a", 1, "22", 2);
  assert_int_equal(m.n, 4);
  assert_int_equal(m.e[1].value_len, 2);
  assert_int_equal(duro_kvmap_delete(&m, "a", 1), 1);
  assert_int_equal(duro_kvmap_delete(&m, "a", 1), 0);
  assert_true(duro_kvmap_find(&m, "a", 1) < 0);
  duro_kvmap_clear(&m);
  assert_int_equal(m.n, 0);
}

static void test_storage_roundtrip_and_restart(void **state) {
  fixture_t *f = *state;
  fetch(f, "one", "/put");
  fetch(f, "one", "/list");
  assert_int_equal(list_count, 10);
  assert_memory_equal(scratch, "a,ab,b,c,a,ab,ab,b,c,b,", scratch_len);
  fetch(f, "one", "/get");
  assert_memory_equal(scratch, "1", scratch_len);
  assert_int_equal(inits, 1);

  restart(f);
  fetch(f, "one", "/get");
  assert_int_equal(scratch_len, 1);
  assert_memory_equal(scratch, "1", 1);
  fetch(f, "one", "/delete");
  fetch(f, "one", "/get");
  assert_int_equal(scratch_len, 0);
  restart(f);
  fetch(f, "one", "/list");
  assert_memory_equal(scratch, "ab,b,c,ab,ab,b,c,b,", scratch_len);
}

/* Renames the kv table with a connection of the test's own, so that the
 * store's loads fail (SQLITE_ERROR: no such table) until it is back. */
static void rename_kv(const char *from, const char *to) {
  sqlite3 *db;
  char sql[96];
  snprintf(sql, sizeof(sql), "ALTER TABLE %s RENAME TO %s", from, to);
  assert_int_equal(sqlite3_open(g_db_path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static uint64_t load_failures(fixture_t *f) {
  duro_runtime_stats_t st;
  duro_runtime_stats(f->rt, &st);
  return st.load_failures;
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

/* Runs the loop until the nth load failure; returns when it was seen. */
static uint64_t until_failure(fixture_t *f, uint64_t nth) {
  RUN_UNTIL(f, load_failures(f) >= nth);
  assert_int_equal(load_failures(f), nth); /* not two at once */
  return now_ms();
}

/* A load that fails is retried after 100 ms, then 200 ms, doubling, not
 * at once; the request waiting meanwhile is served once a load succeeds;
 * a later failure starts again at 100 ms. */
static void test_failed_load_retries_with_backoff(void **state) {
  fixture_t *f = *state;
  int level = duro_log_level;
  duro_log_level = -1; /* the expected errors */
  rename_kv("kv", "kv_away");
  duro_http_req_t *req = duro_http_req_new("GET", "/", 1, NULL, 0, NULL, 0);
  int before = fetches;
  duro_runtime_fetch(f->rt, "T", 1, "lf", 2, req, "/", 1);
  uint64_t t1 = until_failure(f, 1);
  uint64_t t2 = until_failure(f, 2);
  uint64_t t3 = until_failure(f, 3);
  assert_int_equal(fetches, before); /* the request waits */
  assert_true(t2 - t1 >= 80);        /* 100 ms */
  assert_true(t3 - t2 >= 180);       /* 200 ms */
  rename_kv("kv_away", "kv");
  RUN_UNTIL(f, fetches > before); /* the retry after 400 ms succeeds */
  assert_int_equal(load_failures(f), 3);

  /* evicted, then loaded again after another failure: 100 ms again */
  duro_runtime_stats_t st;
  RUN_UNTIL(f, (duro_runtime_stats(f->rt, &st), st.live_objects == 0));
  rename_kv("kv", "kv_away");
  req = duro_http_req_new("GET", "/", 1, NULL, 0, NULL, 0);
  before = fetches;
  duro_runtime_fetch(f->rt, "T", 1, "lf", 2, req, "/", 1);
  t1 = until_failure(f, 4);
  rename_kv("kv_away", "kv");
  RUN_UNTIL(f, fetches > before);
  t2 = now_ms();
  assert_true(t2 - t1 >= 80);
  assert_true(t2 - t1 < 500); /* the first delay, not the fourth (800) */
  duro_log_level = level;
}

static void test_eviction_rebuilds_from_storage(void **state) {
  fixture_t *f = *state;
  fetch(f, "ev", "/put");
  duro_runtime_stats_t st;
  duro_runtime_stats(f->rt, &st);
  assert_int_equal(st.live_objects, 1);
  /* idle limit is 1 ms; the sweep runs every second */
  RUN_UNTIL(f, (duro_runtime_stats(f->rt, &st), st.live_objects == 0));
  assert_int_equal(teardowns, 1);
  fetch(f, "ev", "/get");
  assert_memory_equal(scratch, "1", 1);
  assert_int_equal(inits, 2);
}

static void test_alarm_fires_and_survives_restart(void **state) {
  fixture_t *f = *state;
  fetch(f, "al", "/alarm");
  RUN_UNTIL(f, alarms_fired == 1);
  assert_string_equal(last_alarm, "tick");
  /* set again, restart before it is due: it fires after the restart */
  fetch(f, "al", "/alarm");
  restart(f);
  RUN_UNTIL(f, alarms_fired == 2);
}

static void test_output_gate_holds_stub_until_durable(void **state) {
  fixture_t *f = *state;
  fetch(f, "g", "/gate");
  RUN_UNTIL(f, stub_status != 0);
  assert_int_equal(stub_status, 201);
  assert_memory_equal(scratch, "peer 1", 6);
  assert_int_equal(peer_saw_durable, 1);
  stub_status = 0;
  fetch(f, "g", "/byid");
  RUN_UNTIL(f, stub_status != 0);
  assert_memory_equal(scratch, "peer 2", 6);
}

static void test_failing_alarm_is_retried(void **state) {
  fixture_t *f = *state;
  alarm_failures = 0;
  fetch(f, "ar", "/alarmfail");
  /* fails at once, then after 1 s, then succeeds after 2 s more */
  for (int i = 0; i < 6000 && alarms_fired == 0; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  assert_int_equal(alarm_failures, 2);
  assert_int_equal(alarms_fired, 1);
  assert_string_equal(last_alarm, "retry");
}

static void test_failed_event_discards_writes(void **state) {
  fixture_t *f = *state;
  fetch(f, "f", "/put");
  fetch(f, "f", "/fail");
  fetch(f, "f", "/list");
  /* the failed event's write is gone and the object was rebuilt */
  assert_memory_equal(scratch, "a,ab,b,c,", 9);
  restart(f);
  fetch(f, "f", "/list");
  assert_memory_equal(scratch, "a,ab,b,c,", 9);
}

/* Two commits of one object fail together: the object is reset and
 * loaded once, not once per failure (two loads in flight would fill its
 * map twice, or queue it twice for a retry). */
static void test_failed_commits_reload_once(void **state) {
  fixture_t *f = *state;
  fetch(f, "fc", "/put");
  int level = duro_log_level;
  duro_log_level = -1; /* the expected errors */
  int td = teardowns;
  rename_kv("kv", "kv_away");
  /* two events in one turn: two commits in flight, failing together */
  int before = fetches;
  for (int i = 0; i < 2; i++) {
    duro_http_req_t *req =
        duro_http_req_new("POST", "/put", 4, NULL, 0, NULL, 0);
    duro_runtime_fetch(f->rt, "T", 1, "fc", 2, req, "/put", 4);
  }
  RUN_UNTIL(f, fetches == before + 2);
  until_failure(f, 1);
  /* the retry is 100 ms away: nothing else may fail meanwhile */
  for (int i = 0; i < 60; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  assert_int_equal(load_failures(f), 1);
  assert_int_equal(teardowns, td + 1);
  rename_kv("kv_away", "kv");
  fetch(f, "fc", "/list");
  assert_int_equal(list_count, 10);
  assert_memory_equal(scratch, "a,ab,b,c,a,ab,ab,b,c,b,", scratch_len);
  assert_int_equal(load_failures(f), 1);
  duro_log_level = level;
}

/* ---- sockets over real TCP ------------------------------------------------------ */

static duro_runtime_t *g_rt;
static duro_http_opts_t g_http_opts;

static void accept_http(duro_listener_t *l, duro_conn_t *c) {
  duro_http_attach(c, &g_http_opts);
}

static void route_to_test(duro_http_req_t *req, void *data) {
  duro_runtime_fetch(g_rt, "T", 1, "sock", 4, req, "/ws", 3);
}

/* A blocking WebSocket client in its own thread while the loop runs. */
typedef struct client {
  int port;
  const char *tag;
  int fd;
} client_t;

static int ws_open(int port, const char *tag) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    return -1;
  char req[256];
  int n = snprintf(req, sizeof(req),
                   "GET /ws?%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                   tag);
  if (write(fd, req, (size_t)n) != n)
    return -1;
  char buf[512];
  size_t got = 0;
  while (got < sizeof(buf) - 1) { /* read the 101 head byte by byte */
    if (read(fd, buf + got, 1) != 1)
      return -1;
    got++;
    if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
      break;
  }
  buf[got] = '\0';
  return strstr(buf, " 101 ") ? fd : -1;
}

static void ws_send_text(int fd, const char *text) {
  uint8_t frame[256];
  const uint8_t mask[4] = {1, 2, 3, 4};
  size_t len = strlen(text);
  size_t h = duro_ws_write_header(frame, DURO_WS_OP_TEXT, 1, len, mask);
  memcpy(frame + h, text, len);
  duro_ws_mask(frame + h, len, mask, 0);
  assert_int_equal(write(fd, frame, h + len), (ssize_t)(h + len));
}

/* Reads one small unmasked text frame into out. */
static int ws_read_text(int fd, char *out, size_t cap) {
  uint8_t h[2];
  if (read(fd, h, 2) != 2)
    return -1;
  size_t len = h[1] & 127;
  if (len >= cap)
    return -1;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, out + got, len - got);
    if (n <= 0)
      return -1;
    got += (size_t)n;
  }
  out[len] = '\0';
  return (int)len;
}

static char replies[3][64];

static void *client_thread(void *arg) {
  int port = *(int *)arg;
  int a1 = ws_open(port, "a"), a2 = ws_open(port, "a"), b = ws_open(port, "b");
  if (a1 < 0 || a2 < 0 || b < 0)
    return NULL;
  ws_send_text(b, "count a");
  ws_read_text(b, replies[0], sizeof(replies[0]));
  ws_send_text(a1, "count all");
  ws_read_text(a1, replies[1], sizeof(replies[1]));
  ws_send_text(b, "to a hello a");
  ws_read_text(a2, replies[2], sizeof(replies[2]));
  close(a1);
  close(a2);
  close(b);
  return NULL;
}

static void test_sockets_tags_and_attachments(void **state) {
  fixture_t *f = *state;
  g_rt = f->rt;
  duro_net_t net;
  duro_listener_t l;
  g_http_opts = (duro_http_opts_t){.handler = route_to_test,
                                  .max_header_bytes = 16384,
                                  .max_body_bytes = 65536,
                                  .header_timeout_s = 10,
                                  .idle_timeout_s = 10};
  char err[128];
  duro_net_init(&net, &f->loop, 100, 1 << 20);
  assert_int_equal(duro_listener_start(&l, &net, "127.0.0.1", 0, accept_http,
                                       NULL, err, sizeof(err)), 0);
  int port = duro_listener_port(&l);
  pthread_t th;
  memset(replies, 0, sizeof(replies));
  pthread_create(&th, NULL, client_thread, &port);
  RUN_UNTIL(f, replies[2][0] != 0);
  pthread_join(th, NULL);
  assert_string_equal(replies[0], "2 b 1");   /* two "a" sockets; mine is "b" */
  assert_string_equal(replies[1], "3 a 1");   /* all three carry "all" */
  assert_string_equal(replies[2], "hello a"); /* sent to the "a" sockets */
  /* the closes reach the object, which forgets the sockets */
  duro_runtime_stats_t st;
  RUN_UNTIL(f, (duro_runtime_stats(f->rt, &st), st.sockets == 0));
  duro_listener_stop(&l);
  duro_net_close(&net);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Engines above the runtime keep per-runtime state in its slots, each
 * under a key of their own; the slots are few, and emptied ones reused. */
static void test_runtime_slots(void **state) {
  fixture_t *f = *state;
  static const char keys[DURO_RUNTIME_SLOTS + 1] = {0};
  int values[DURO_RUNTIME_SLOTS + 1];
  assert_null(duro_runtime_slot(f->rt, &keys[0]));
  for (int i = 0; i < DURO_RUNTIME_SLOTS; i++)
    assert_int_equal(duro_runtime_set_slot(f->rt, &keys[i], &values[i]), 0);
  assert_int_equal(
      duro_runtime_set_slot(f->rt, &keys[DURO_RUNTIME_SLOTS], &values[0]),
      DURO_ENOSPC);
  assert_null(duro_runtime_slot(f->rt, &keys[DURO_RUNTIME_SLOTS]));
  for (int i = 0; i < DURO_RUNTIME_SLOTS; i++)
    assert_ptr_equal(duro_runtime_slot(f->rt, &keys[i]), &values[i]);
  /* replacing keeps the slot; emptying frees it for another key */
  assert_int_equal(duro_runtime_set_slot(f->rt, &keys[1], &values[2]), 0);
  assert_ptr_equal(duro_runtime_slot(f->rt, &keys[1]), &values[2]);
  assert_int_equal(duro_runtime_set_slot(f->rt, &keys[1], NULL), 0);
  assert_null(duro_runtime_slot(f->rt, &keys[1]));
  assert_int_equal(
      duro_runtime_set_slot(f->rt, &keys[DURO_RUNTIME_SLOTS], &values[4]), 0);
  assert_ptr_equal(duro_runtime_slot(f->rt, &keys[DURO_RUNTIME_SLOTS]),
                   &values[4]);
  assert_ptr_equal(duro_runtime_slot(f->rt, &keys[0]), &values[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_runtime_slots, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_commits_reload_once, setup,
                                      teardown),
      cmocka_unit_test(test_id_from_name),
      cmocka_unit_test(test_kvmap),
      cmocka_unit_test_setup_teardown(test_storage_roundtrip_and_restart,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_eviction_rebuilds_from_storage,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_alarm_fires_and_survives_restart,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_output_gate_holds_stub_until_durable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_event_discards_writes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_failing_alarm_is_retried, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sockets_tags_and_attachments,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_load_retries_with_backoff,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
