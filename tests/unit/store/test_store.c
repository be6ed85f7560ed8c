/*
 * test_store.c: unit tests for the storage worker (src/store) on both
 * engines: SQLite, and PostgreSQL (the server named by DURO_TEST_POSTGRES,
 * see pg_fixture.h; without it the PostgreSQL tests fail).
 *
 * Each test gets its own uv loop and an open store: for SQLite in a fresh
 * temporary directory (mkdtemp, removed afterwards), for PostgreSQL in a
 * fresh database (created before the test, dropped after it). The
 * engine-neutral tests are the same functions run with either fixture
 * (their names end in _sqlite or _pg); a few are one engine's own. They
 * drive the loop with uv_run until the callbacks they wait for have fired.
 * To make group commit deterministic, a test first queues a duro_store_run
 * job that blocks the worker on a semaphore, queues its batches, then
 * releases the worker, which then finds all of them queued at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "store/db.h"
#include "store/store.h"

#include "pg_fixture.h"

enum { ENGINE_SQLITE, ENGINE_PG };

typedef struct {
  int engine;
  char dir[64];    /* SQLite: the temporary directory */
  char path[128];  /* SQLite: the database file */
  char dbname[64]; /* PostgreSQL: the test's database */
  char role[80];   /* PostgreSQL: a role the test made ("" if none) */
  char *conninfo;  /* PostgreSQL: the store's conninfo (that database) */
  PGconn *pg;      /* PostgreSQL: the test's own connection to it */
  uv_loop_t loop;
  duro_store_t *s;
} fx_t;

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* Runs the loop until *flag is set; fails if the loop runs dry first. */
static void run_until(uv_loop_t *loop, const int *flag) {
  while (!*flag) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !*flag)
      fail_msg("loop ran out of work before the callback fired");
  }
}

static void make_id(char out[65], unsigned n) {
  snprintf(out, 65, "%064x", n);
}

/* Opens the fixture's store; full is SQLite's synchronous FULL (PostgreSQL
 * always waits for its durable COMMIT). 0, or the code with err filled. */
static int try_open(fx_t *fx, int full, char *err, size_t errlen) {
  return fx->engine == ENGINE_PG
             ? duro_store_open_postgres(&fx->loop, fx->conninfo, 0, &fx->s, err,
                                        errlen)
             : duro_store_open(&fx->loop, fx->path, full, &fx->s, err, errlen);
}

static void open_store(fx_t *fx, int full) {
  char err[256];
  int rc = try_open(fx, full, err, sizeof(err));
  if (rc != 0)
    fail_msg("open: %s (%s)", err, duro_err_name(rc));
  assert_non_null(fx->s);
}

static void on_flag(void *data) { *(int *)data = 1; }

static void close_store(fx_t *fx) {
  int closed = 0;
  duro_store_close(fx->s, on_flag, &closed);
  fx->s = NULL;
  run_until(&fx->loop, &closed);
}

static int teardown(void **state);

/* A setup that failed cleans up what it made (cmocka runs no teardown). */
static int setup_failed(void **state, const char *why, int rc) {
  fprintf(stderr, "setup: %s%s%s\n", why, rc ? ": " : "",
          rc ? duro_err_name(rc) : "");
  teardown(state);
  *state = NULL;
  return -1;
}

static int setup_sqlite(void **state) {
  char err[256] = "";
  fx_t *fx = calloc(1, sizeof(*fx));
  fx->engine = ENGINE_SQLITE;
  *state = fx;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/duro-store-XXXXXX");
  if (!mkdtemp(fx->dir)) {
    fx->dir[0] = 0;
    return setup_failed(state, "mkdtemp failed", 0);
  }
  snprintf(fx->path, sizeof(fx->path), "%s/duro.db", fx->dir);
  if (uv_loop_init(&fx->loop) != 0) {
    free(fx);
    *state = NULL;
    return -1;
  }
  int rc = try_open(fx, 1, err, sizeof(err));
  return rc ? setup_failed(state, err, rc) : 0;
}

/* A fresh database, the store open on it, and the test's own connection
 * to it (opened after the store, so the schema is there). */
static int setup_pg(void **state) {
  char err[256] = "";
  fx_t *fx = calloc(1, sizeof(*fx));
  fx->engine = ENGINE_PG;
  *state = fx;
  if (uv_loop_init(&fx->loop) != 0) {
    free(fx);
    *state = NULL;
    return -1;
  }
  if (pgt_create_db(fx->dbname, &fx->conninfo) != 0)
    return setup_failed(state, "no test database (see above)", 0);
  int rc = try_open(fx, 1, err, sizeof(err));
  if (rc != 0)
    return setup_failed(state, err, rc);
  fx->pg = pgt_connect(fx->conninfo);
  return fx->pg ? 0 : setup_failed(state, "no test connection", 0);
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int rc = 0;
  if (!fx)
    return 0;
  if (fx->s)
    close_store(fx);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&fx->loop);
  if (fx->engine == ENGINE_PG) {
    if (fx->pg)
      PQfinish(fx->pg);
    if (fx->dbname[0] && pgt_drop_db(fx->dbname, fx->role) != 0)
      rc = -1;
    free(fx->conninfo);
  } else if (fx->dir[0]) {
    DIR *d = opendir(fx->dir);
    if (d) {
      struct dirent *e;
      char p[512];
      while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        snprintf(p, sizeof(p), "%s/%s", fx->dir, e->d_name);
        unlink(p);
      }
      closedir(d);
    }
    rmdir(fx->dir);
  }
  free(fx);
  return rc == 0 ? 0 : -1;
}

/* The test's own connection runs sql (must succeed). */
static void pg_exec_ok(fx_t *fx, const char *sql) {
  assert_int_equal(fx->engine, ENGINE_PG);
  if (pgt_exec(fx->pg, sql) != 0)
    fail_msg("%s failed (see above)", sql);
}

typedef struct {
  int done;
  int status;
} result_t;

static void on_commit(int status, void *data) {
  result_t *r = data;
  r->status = status;
  r->done = 1;
}

static int commit_sync(fx_t *fx, duro_store_batch_t *b) {
  result_t r = {0, 0};
  duro_store_commit(fx->s, b, on_commit, &r);
  assert_int_equal(r.done, 0); /* never synchronous */
  run_until(&fx->loop, &r.done);
  return r.status;
}

typedef struct {
  int done;
  int status;
  duro_kv_t *kv;
  size_t n;
} kv_result_t;

static void on_kv(int status, duro_kv_t *kv, size_t n, void *data) {
  kv_result_t *r = data;
  r->status = status;
  r->kv = kv;
  r->n = n;
  r->done = 1;
}

static kv_result_t load_sync(fx_t *fx, const char *id) {
  kv_result_t r = {0, 0, NULL, 0};
  duro_store_load_kv(fx->s, id, on_kv, &r);
  assert_int_equal(r.done, 0);
  run_until(&fx->loop, &r.done);
  return r;
}

/* Finds key in a loaded set; returns its index or -1. */
static int find_key(const kv_result_t *r, const void *key, size_t klen) {
  for (size_t i = 0; i < r->n; i++)
    if (r->kv[i].key_len == klen && memcmp(r->kv[i].key, key, klen) == 0)
      return (int)i;
  return -1;
}

static void assert_value(const kv_result_t *r, const char *key,
                         const char *val) {
  int i = find_key(r, key, strlen(key));
  if (i < 0)
    fail_msg("key %s missing", key);
  assert_int_equal(r->kv[i].value_len, strlen(val));
  assert_memory_equal(r->kv[i].value, val, strlen(val));
}

typedef struct {
  int done;
  int status;
  duro_alarm_row_t *rows;
  size_t n;
} alarm_result_t;

static void on_alarms(int status, duro_alarm_row_t *rows, size_t n,
                      void *data) {
  alarm_result_t *r = data;
  r->status = status;
  r->rows = rows;
  r->n = n;
  r->done = 1;
}

static alarm_result_t load_alarms_sync(fx_t *fx) {
  alarm_result_t r = {0, 0, NULL, 0};
  duro_store_load_alarms(fx->s, on_alarms, &r);
  run_until(&fx->loop, &r.done);
  return r;
}

/* A run job that holds the worker until the test posts the semaphore. */
static int gate_work(duro_store_db_t *h, void *arg) {
  uv_sem_wait(arg);
  return 0;
}

static void gate_done(int status, void *arg) {}

typedef struct {
  int *order;
  int *statuses;
  int count;
} seq_t;

typedef struct {
  seq_t *seq;
  int id;
} seq_item_t;

static void on_seq(int status, void *data) {
  seq_item_t *it = data;
  it->seq->order[it->seq->count] = it->id;
  it->seq->statuses[it->seq->count] = status;
  it->seq->count++;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_open_close(void **state) {
  fx_t *fx = *state;
  uint64_t tx = 99, nb = 99;
  duro_store_stats(fx->s, &tx, &nb);
  assert_int_equal(tx, 0);
  assert_int_equal(nb, 0);
  close_store(fx);
  if (fx->engine == ENGINE_PG) {
    /* The schema is there, at version 1, and empty. */
    assert_int_equal(pgt_scalar(fx->pg,
                                "SELECT value::int FROM duro_meta "
                                "WHERE key = 'schema_version'",
                                NULL),
                     1);
    assert_int_equal(pgt_scalar(fx->pg,
                                "SELECT (SELECT count(*) FROM duro_objects) + "
                                "(SELECT count(*) FROM duro_kv) + "
                                "(SELECT count(*) FROM duro_alarms)",
                                NULL),
                     0);
  } else {
    assert_int_equal(access(fx->path, F_OK), 0);
  }
  open_store(fx, 0); /* reopening an existing database works too */
  duro_store_stats(fx->s, &tx, &nb);
  assert_int_equal(tx, 0);
}

static void test_open_failure(void **state) {
  fx_t *fx = *state;
  char path[256], err[256];
  duro_store_t *s = (duro_store_t *)1;
  snprintf(path, sizeof(path), "%s/no/such/dir/duro.db", fx->dir);
  int rc = duro_store_open(&fx->loop, path, 1, &s, err, sizeof(err));
  assert_true(rc < 0);
  assert_null(s);
  assert_true(strlen(err) > 0);
  assert_null(strchr(err, '\n'));

  /* A database from a newer build is refused. */
  close_store(fx);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE meta SET value = 2 WHERE key = "
                                "'schema_version'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  rc = duro_store_open(&fx->loop, fx->path, 1, &s, err, sizeof(err));
  assert_int_equal(rc, DURO_ENOTSUP);
  assert_non_null(strstr(err, "schema version 2"));
}

static void test_put_load_sorted(void **state) {
  fx_t *fx = *state;
  char id[65], other[65];
  make_id(id, 1);
  make_id(other, 2);
  static const struct {
    const char *k;
    size_t len;
  } keys[] = {
      {"b", 1},     {"a\0b", 3},    {"a", 1},    {"\0", 1},
      {"\0\0", 2},  {"\xff", 1},    {"a\0", 2},  {"", 0},
      {"\x7f\x80", 2},
  };
  /* The same keys in ascending memcmp order (a prefix sorts first). */
  static const int expect[] = {7, 3, 4, 2, 6, 1, 0, 8, 5};
  const size_t nkeys = sizeof(keys) / sizeof(keys[0]);

  duro_store_batch_t *b = duro_store_batch_new(id, "ROOM", "lobby");
  assert_true(duro_store_batch_empty(b));
  for (size_t i = 0; i < nkeys; i++) {
    uint8_t val[4] = {0, (uint8_t)i, 0, 0xff};
    duro_store_batch_put(b, keys[i].k, keys[i].len, val, sizeof(val));
  }
  assert_false(duro_store_batch_empty(b));
  assert_int_equal(commit_sync(fx, b), 0);

  /* A big value and an empty value on another object stay apart. */
  size_t big_len = 300 * 1024;
  uint8_t *big = malloc(big_len);
  for (size_t i = 0; i < big_len; i++)
    big[i] = (uint8_t)(i * 7);
  b = duro_store_batch_new(other, "ROOM", NULL);
  duro_store_batch_put(b, "big", 3, big, big_len);
  duro_store_batch_put(b, "empty", 5, "", 0);
  assert_int_equal(commit_sync(fx, b), 0);

  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, nkeys);
  for (size_t i = 0; i < nkeys; i++) {
    int k = expect[i];
    assert_int_equal(r.kv[i].key_len, keys[k].len);
    assert_memory_equal(r.kv[i].key, keys[k].k, keys[k].len);
    uint8_t val[4] = {0, (uint8_t)k, 0, 0xff};
    assert_int_equal(r.kv[i].value_len, 4);
    assert_memory_equal(r.kv[i].value, val, 4);
    if (i > 0) { /* and the order really is memcmp order */
      size_t a = r.kv[i - 1].key_len, c = r.kv[i].key_len;
      int cmp = memcmp(r.kv[i - 1].key, r.kv[i].key, a < c ? a : c);
      assert_true(cmp < 0 || (cmp == 0 && a < c));
    }
  }
  duro_store_kv_free(r.kv, r.n);

  r = load_sync(fx, other);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.kv[0].key_len, 3);
  assert_int_equal(r.kv[0].value_len, big_len);
  assert_memory_equal(r.kv[0].value, big, big_len);
  assert_int_equal(r.kv[1].value_len, 0);
  duro_store_kv_free(r.kv, r.n);
  free(big);

  /* An object with no data loads as empty. */
  char none[65];
  make_id(none, 3);
  r = load_sync(fx, none);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, 0);
  duro_store_kv_free(r.kv, r.n);
}

static void test_delete(void **state) {
  fx_t *fx = *state;
  char id[65];
  make_id(id, 10);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", "x");
  duro_store_batch_put(b, "k1", 2, "v1", 2);
  duro_store_batch_put(b, "k2", 2, "v2", 2);
  duro_store_batch_put(b, "k\0", 2, "v3", 2);
  assert_int_equal(commit_sync(fx, b), 0);

  b = duro_store_batch_new(id, "NS", "x");
  duro_store_batch_delete(b, "k1", 2);
  duro_store_batch_delete(b, "k", 1);         /* not "k\0" */
  duro_store_batch_delete(b, "missing", 7);   /* no error */
  duro_store_batch_put(b, "k2", 2, "v2b", 3); /* overwrite */
  assert_int_equal(commit_sync(fx, b), 0);

  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, 2);
  assert_int_equal(find_key(&r, "k1", 2), -1);
  assert_true(find_key(&r, "k\0", 2) >= 0);
  assert_value(&r, "k2", "v2b");
  duro_store_kv_free(r.kv, r.n);
}

static void test_delete_all(void **state) {
  fx_t *fx = *state;
  char a[65], z[65];
  make_id(a, 20);
  make_id(z, 21);
  duro_store_batch_t *b = duro_store_batch_new(a, "NS", "a");
  duro_store_batch_put(b, "k1", 2, "v", 1);
  duro_store_batch_put(b, "k2", 2, "v", 1);
  duro_store_batch_set_alarm(b, "alarm", 1000);
  assert_int_equal(commit_sync(fx, b), 0);
  b = duro_store_batch_new(z, "NS", "z");
  duro_store_batch_put(b, "k1", 2, "vz", 2);
  duro_store_batch_set_alarm(b, "alarm", 2000);
  assert_int_equal(commit_sync(fx, b), 0);

  b = duro_store_batch_new(a, "NS", "a");
  duro_store_batch_delete_all(b);
  assert_int_equal(commit_sync(fx, b), 0);

  kv_result_t r = load_sync(fx, a);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, 0);
  duro_store_kv_free(r.kv, r.n);
  r = load_sync(fx, z);
  assert_int_equal(r.n, 1);
  assert_value(&r, "k1", "vz");
  duro_store_kv_free(r.kv, r.n);

  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.status, 0);
  assert_int_equal(al.n, 1);
  assert_string_equal(al.rows[0].object_id, z);
  assert_int_equal(al.rows[0].due_ms, 2000);
  duro_store_alarms_free(al.rows, al.n);
}

static void test_ops_order(void **state) {
  fx_t *fx = *state;
  char id[65];
  make_id(id, 30);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "gone", 4, "v", 1);
  duro_store_batch_delete(b, "gone", 4); /* put then delete: absent */
  duro_store_batch_delete(b, "back", 4);
  duro_store_batch_put(b, "back", 4, "v", 1); /* delete then put: present */
  duro_store_batch_put(b, "twice", 5, "first", 5);
  duro_store_batch_put(b, "twice", 5, "second", 6); /* last put wins */
  assert_int_equal(commit_sync(fx, b), 0);
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.n, 2);
  assert_int_equal(find_key(&r, "gone", 4), -1);
  assert_value(&r, "back", "v");
  assert_value(&r, "twice", "second");
  duro_store_kv_free(r.kv, r.n);

  /* delete_all then put: only the new key (and the new alarm) remain. */
  b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_set_alarm(b, "old", 5);
  duro_store_batch_put(b, "older", 5, "v", 1);
  duro_store_batch_delete_all(b);
  duro_store_batch_put(b, "new", 3, "n", 1);
  duro_store_batch_set_alarm(b, "fresh", 7);
  assert_int_equal(commit_sync(fx, b), 0);
  r = load_sync(fx, id);
  assert_int_equal(r.n, 1);
  assert_value(&r, "new", "n");
  duro_store_kv_free(r.kv, r.n);
  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.n, 1);
  assert_string_equal(al.rows[0].alarm_name, "fresh");
  assert_int_equal(al.rows[0].due_ms, 7);
  duro_store_alarms_free(al.rows, al.n);
}

static void test_alarms(void **state) {
  fx_t *fx = *state;
  char room[65], timer[65];
  make_id(room, 40);
  make_id(timer, 41);

  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.status, 0);
  assert_int_equal(al.n, 0);
  duro_store_alarms_free(al.rows, al.n);

  duro_store_batch_t *b = duro_store_batch_new(room, "ROOM", "lobby");
  duro_store_batch_set_alarm(b, "a1", 100);
  duro_store_batch_set_alarm(b, "a2", 50);
  assert_int_equal(commit_sync(fx, b), 0);
  b = duro_store_batch_new(timer, "TIMER", NULL);
  duro_store_batch_set_alarm(b, "x", 200);
  assert_int_equal(commit_sync(fx, b), 0);
  b = duro_store_batch_new(room, "ROOM", "lobby");
  duro_store_batch_set_alarm(b, "a1", 300); /* overwrite */
  duro_store_batch_delete_alarm(b, "a2");
  duro_store_batch_delete_alarm(b, "never-set");
  duro_store_batch_set_alarm(b, "neg", -5);
  assert_int_equal(commit_sync(fx, b), 0);

  al = load_alarms_sync(fx);
  assert_int_equal(al.status, 0);
  assert_int_equal(al.n, 3);
  /* Ordered by due time. */
  assert_string_equal(al.rows[0].object_id, room);
  assert_string_equal(al.rows[0].alarm_name, "neg");
  assert_int_equal(al.rows[0].due_ms, -5);
  assert_string_equal(al.rows[1].object_id, timer);
  assert_string_equal(al.rows[1].namespace_name, "TIMER");
  assert_null(al.rows[1].object_name);
  assert_string_equal(al.rows[1].alarm_name, "x");
  assert_int_equal(al.rows[1].due_ms, 200);
  assert_string_equal(al.rows[2].namespace_name, "ROOM");
  assert_string_equal(al.rows[2].object_name, "lobby");
  assert_string_equal(al.rows[2].alarm_name, "a1");
  assert_int_equal(al.rows[2].due_ms, 300);
  duro_store_alarms_free(al.rows, al.n);

  /* A later batch that knows the name fills in a row made from an id. */
  b = duro_store_batch_new(timer, "TIMER", "named-later");
  duro_store_batch_set_alarm(b, "x", 201);
  assert_int_equal(commit_sync(fx, b), 0);
  al = load_alarms_sync(fx);
  assert_int_equal(al.n, 3);
  assert_string_equal(al.rows[1].object_name, "named-later");
  duro_store_alarms_free(al.rows, al.n);
}

#define GROUP_N 600

static void test_group_commit(void **state) {
  fx_t *fx = *state;
  static int order[GROUP_N], statuses[GROUP_N];
  static seq_item_t items[GROUP_N];
  seq_t seq = {order, statuses, 0};
  uv_sem_t gate;
  uint64_t tx0, nb0, tx1, nb1;
  char id[65];

  duro_store_stats(fx->s, &tx0, &nb0);
  assert_int_equal(uv_sem_init(&gate, 0), 0);
  duro_store_run(fx->s, gate_work, gate_done, &gate);
  for (int i = 0; i < GROUP_N; i++) {
    make_id(id, 1000 + (unsigned)i % 7); /* several objects */
    duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
    char key[16];
    int klen = snprintf(key, sizeof(key), "k%04d", i);
    duro_store_batch_put(b, key, (size_t)klen, &i, sizeof(i));
    items[i].seq = &seq;
    items[i].id = i;
    duro_store_commit(fx->s, b, on_seq, &items[i]);
  }
  uv_sem_post(&gate);
  while (seq.count < GROUP_N)
    assert_int_not_equal(uv_run(&fx->loop, UV_RUN_ONCE), 0);
  uv_sem_destroy(&gate);

  for (int i = 0; i < GROUP_N; i++) {
    assert_int_equal(order[i], i);
    assert_int_equal(statuses[i], 0);
  }
  duro_store_stats(fx->s, &tx1, &nb1);
  assert_int_equal(nb1 - nb0, GROUP_N);
  assert_true(tx1 - tx0 < nb1 - nb0);
  /* All were queued when the worker woke: groups of 256, 256 and 88. */
  assert_int_equal(tx1 - tx0, 3);
  /* ... which the batches-per-transaction buckets show: 88 in (64, 128],
   * the two full groups in (128, 256]; their sum is every transaction */
  uint64_t sizes[DURO_STORE_GROUP_BUCKETS], tx2, nb2, all = 0;
  duro_store_group_sizes(fx->s, sizes, &tx2, &nb2);
  assert_int_equal(tx2, tx1);
  assert_int_equal(nb2, nb1);
  assert_true(sizes[7] >= 1);
  assert_true(sizes[8] >= 2);
  assert_int_equal(duro_store_group_bounds[8], 256);
  for (size_t i = 0; i < DURO_STORE_GROUP_BUCKETS; i++)
    all += sizes[i];
  assert_int_equal(all, tx2);

  size_t total = 0;
  for (unsigned o = 0; o < 7; o++) {
    make_id(id, 1000 + o);
    kv_result_t r = load_sync(fx, id);
    assert_int_equal(r.status, 0);
    total += r.n;
    duro_store_kv_free(r.kv, r.n);
  }
  assert_int_equal(total, GROUP_N);
}

static void test_durability(void **state) {
  fx_t *fx = *state;
  char id[65];
  make_id(id, 50);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", "d");
  duro_store_batch_put(b, "full", 4, "1", 1);
  duro_store_batch_set_alarm(b, "wake", 42);
  assert_int_equal(commit_sync(fx, b), 0);
  close_store(fx);

  open_store(fx, 0); /* NORMAL this time */
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.n, 1);
  assert_value(&r, "full", "1");
  duro_store_kv_free(r.kv, r.n);
  b = duro_store_batch_new(id, "NS", "d");
  duro_store_batch_put(b, "normal", 6, "2", 1);
  assert_int_equal(commit_sync(fx, b), 0);
  close_store(fx);

  open_store(fx, 1);
  r = load_sync(fx, id);
  assert_int_equal(r.n, 2);
  assert_value(&r, "full", "1");
  assert_value(&r, "normal", "2");
  duro_store_kv_free(r.kv, r.n);
  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.n, 1);
  assert_string_equal(al.rows[0].object_name, "d");
  assert_int_equal(al.rows[0].due_ms, 42);
  duro_store_alarms_free(al.rows, al.n);

  if (fx->engine == ENGINE_PG) {
    /* Another session sees exactly what was committed. */
    assert_int_equal(pgt_scalar(fx->pg,
                                "SELECT count(*) FROM duro_kv "
                                "WHERE object_id = $1",
                                id),
                     2);
    assert_int_equal(pgt_scalar(fx->pg,
                                "SELECT due_ms FROM duro_alarms "
                                "WHERE object_id = $1 AND name = 'wake'",
                                id),
                     42);
    return;
  }
  /* The file really is in WAL mode. */
  close_store(fx);
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

typedef struct {
  char id[65];
  int *log;
  int *nlog;
  int tag;
} count_ctx_t;

/* Counts the object's kv rows, on the worker, with the store's own
 * connection. */
static int count_work(duro_store_db_t *h, void *arg) {
  count_ctx_t *c = arg;
  PGconn *pg = duro_store__pg(h);
  if (pg)
    return (int)pgt_scalar(pg,
                           "SELECT count(*) FROM duro_kv WHERE object_id = $1",
                           c->id);
  sqlite3 *db = duro_store__sqlite(h);
  sqlite3_stmt *st;
  int n = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kv WHERE object_id = ?", -1,
                         &st, NULL) != SQLITE_OK)
    return DURO_EIO;
  sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void count_done(int status, void *arg) {
  count_ctx_t *c = arg;
  c->log[(*c->nlog)++] = c->tag * 100 + status;
}

typedef struct {
  int *log;
  int *nlog;
  int tag;
} tag_ctx_t;

static void tag_commit(int status, void *data) {
  tag_ctx_t *t = data;
  assert_int_equal(status, 0);
  t->log[(*t->nlog)++] = t->tag;
}

static void test_run_ordering(void **state) {
  fx_t *fx = *state;
  int log[8], nlog = 0;
  count_ctx_t c1 = {{0}, log, &nlog, 1}, c2 = {{0}, log, &nlog, 2};
  tag_ctx_t ta = {log, &nlog, 7}, tb = {log, &nlog, 8};
  char id[65];
  make_id(id, 60);
  memcpy(c1.id, id, 65);
  memcpy(c2.id, id, 65);

  duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "a", 1, "1", 1);
  duro_store_commit(fx->s, b, tag_commit, &ta);
  duro_store_run(fx->s, count_work, count_done, &c1);
  b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "b", 1, "2", 1);
  duro_store_batch_put(b, "c", 1, "3", 1);
  duro_store_commit(fx->s, b, tag_commit, &tb);
  duro_store_run(fx->s, count_work, count_done, &c2);
  assert_int_equal(nlog, 0);
  while (nlog < 4)
    assert_int_not_equal(uv_run(&fx->loop, UV_RUN_ONCE), 0);
  /* commit A, run sees 1 row, commit B, run sees 3 rows. */
  assert_int_equal(log[0], 7);
  assert_int_equal(log[1], 101);
  assert_int_equal(log[2], 8);
  assert_int_equal(log[3], 203);
}

/* Leaves a transaction open on the store's own connection. */
static int open_tx_work(duro_store_db_t *h, void *arg) {
  PGconn *pg = duro_store__pg(h);
  if (pg) {
    PGresult *r = PQexec(pg, "BEGIN; INSERT INTO duro_objects(id, namespace) "
                             "VALUES('leak', 'NS')");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
  }
  sqlite3 *db = duro_store__sqlite(h);
  return sqlite3_exec(db,
                      "BEGIN; INSERT INTO objects(id, namespace) "
                      "VALUES('leak', 'NS')",
                      NULL, NULL, NULL) == SQLITE_OK
             ? 0
             : -1;
}

static void on_status(int status, void *data) {
  result_t *r = data;
  r->status = status;
  r->done = 1;
}

static int count_leak_work(duro_store_db_t *h, void *arg) {
  PGconn *pg = duro_store__pg(h);
  if (pg) /* the store's connection: in no transaction any more */
    return PQtransactionStatus(pg) != PQTRANS_IDLE
               ? -2
               : (int)pgt_scalar(pg,
                                 "SELECT count(*) FROM duro_objects "
                                 "WHERE id = 'leak'",
                                 NULL);
  sqlite3 *db = duro_store__sqlite(h);
  sqlite3_stmt *st;
  int n = -1;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM objects WHERE id = 'leak'", -1,
                     &st, NULL);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void test_run_open_transaction(void **state) {
  fx_t *fx = *state;
  int level = duro_log_level;
  result_t r = {0, 0};
  duro_log_level = -1; /* the expected error line */
  duro_store_run(fx->s, open_tx_work, on_status, &r);
  run_until(&fx->loop, &r.done);
  duro_log_level = level;
  assert_int_equal(r.status, DURO_EIO);

  /* The store still commits, and the leaked insert was rolled back. */
  char id[65];
  make_id(id, 70);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "k", 1, "v", 1);
  assert_int_equal(commit_sync(fx, b), 0);
  r.done = 0;
  duro_store_run(fx->s, count_leak_work, on_status, &r);
  run_until(&fx->loop, &r.done);
  assert_int_equal(r.status, 0);
}

static int trigger_work(duro_store_db_t *h, void *arg) {
  sqlite3 *db = duro_store__sqlite(h);
  return sqlite3_exec(db,
                      "CREATE TRIGGER boom BEFORE INSERT ON kv "
                      "WHEN NEW.key = x'ff' BEGIN SELECT RAISE(ABORT, 'boom'); "
                      "END",
                      NULL, NULL, NULL) == SQLITE_OK
             ? 0
             : DURO_EIO;
}

static void test_failing_batch_in_group(void **state) {
  fx_t *fx = *state;
  int order[3], statuses[3];
  seq_t seq = {order, statuses, 0};
  seq_item_t items[3] = {{&seq, 0}, {&seq, 1}, {&seq, 2}};
  result_t r = {0, 0};
  uv_sem_t gate;
  uint64_t tx0, nb0, tx1, nb1;
  char good1[65], bad[65], good2[65];
  make_id(good1, 80);
  make_id(bad, 81);
  make_id(good2, 82);

  if (fx->engine == ENGINE_PG) {
    /* The same trigger, from the test's own session. */
    pg_exec_ok(fx, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql "
                   "AS $$ BEGIN IF NEW.key = '\\xff'::bytea THEN "
                   "RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$");
    pg_exec_ok(fx, "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON duro_kv "
                   "FOR EACH ROW EXECUTE FUNCTION boom()");
  } else {
    duro_store_run(fx->s, trigger_work, on_status, &r);
    run_until(&fx->loop, &r.done);
    assert_int_equal(r.status, 0);
  }
  duro_store_stats(fx->s, &tx0, &nb0);

  assert_int_equal(uv_sem_init(&gate, 0), 0);
  duro_store_run(fx->s, gate_work, gate_done, &gate);
  duro_store_batch_t *b = duro_store_batch_new(good1, "NS", NULL);
  duro_store_batch_put(b, "g1", 2, "v", 1);
  duro_store_commit(fx->s, b, on_seq, &items[0]);
  b = duro_store_batch_new(bad, "NS", "bad");
  duro_store_batch_put(b, "first", 5, "v", 1);
  duro_store_batch_set_alarm(b, "al", 9);
  duro_store_batch_put(b, "\xff", 1, "v", 1);
  duro_store_commit(fx->s, b, on_seq, &items[1]);
  b = duro_store_batch_new(good2, "NS", NULL);
  duro_store_batch_put(b, "g2", 2, "v", 1);
  duro_store_commit(fx->s, b, on_seq, &items[2]);

  int level = duro_log_level;
  duro_log_level = -1; /* the expected warning and error lines */
  uv_sem_post(&gate);
  while (seq.count < 3)
    assert_int_not_equal(uv_run(&fx->loop, UV_RUN_ONCE), 0);
  duro_log_level = level;
  uv_sem_destroy(&gate);

  assert_int_equal(order[0], 0);
  assert_int_equal(order[1], 1);
  assert_int_equal(order[2], 2);
  assert_int_equal(statuses[0], 0);
  assert_int_equal(statuses[1], DURO_EIO);
  assert_int_equal(statuses[2], 0);
  duro_store_stats(fx->s, &tx1, &nb1);
  assert_int_equal(nb1 - nb0, 2);
  assert_int_equal(tx1 - tx0, 2);

  kv_result_t kv = load_sync(fx, good1);
  assert_int_equal(kv.n, 1);
  duro_store_kv_free(kv.kv, kv.n);
  kv = load_sync(fx, good2);
  assert_int_equal(kv.n, 1);
  duro_store_kv_free(kv.kv, kv.n);
  kv = load_sync(fx, bad); /* nothing of the bad batch was applied */
  assert_int_equal(kv.status, 0);
  assert_int_equal(kv.n, 0);
  duro_store_kv_free(kv.kv, kv.n);
  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.n, 0);
  duro_store_alarms_free(al.rows, al.n);
}

typedef struct {
  fx_t *fx;
  int commits;
  int statuses[16];
  int late_status;
  int late_done;
  int closed;
} close_ctx_t;

static void late_commit(int status, void *data) {
  close_ctx_t *c = data;
  assert_int_equal(c->closed, 0);
  c->late_status = status;
  c->late_done = 1;
}

static void drain_commit(int status, void *data) {
  close_ctx_t *c = data;
  assert_int_equal(c->closed, 0);
  c->statuses[c->commits++] = status;
  if (c->commits == 10) {
    /* Queued after close: cancelled, but still called back. */
    char id[65];
    make_id(id, 99);
    duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
    duro_store_batch_put(b, "late", 4, "v", 1);
    duro_store_commit(c->fx->s, b, late_commit, c);
  }
}

static void on_close_ctx(void *data) {
  close_ctx_t *c = data;
  assert_int_equal(c->commits, 10);
  assert_int_equal(c->late_done, 1);
  c->closed = 1;
}

static void test_close_drains(void **state) {
  fx_t *fx = *state;
  close_ctx_t c;
  memset(&c, 0, sizeof(c));
  c.fx = fx;
  char id[65];
  make_id(id, 90);
  for (int i = 0; i < 10; i++) {
    duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
    char key[8];
    int klen = snprintf(key, sizeof(key), "k%d", i);
    duro_store_batch_put(b, key, (size_t)klen, "v", 1);
    duro_store_commit(fx->s, b, drain_commit, &c);
  }
  duro_store_t *s = fx->s;
  duro_store_close(s, on_close_ctx, &c);
  run_until(&fx->loop, &c.closed);
  fx->s = NULL;
  for (int i = 0; i < 10; i++)
    assert_int_equal(c.statuses[i], 0);
  assert_int_equal(c.late_status, DURO_ECANCELED);

  open_store(fx, 1);
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.n, 10);
  duro_store_kv_free(r.kv, r.n);
  make_id(id, 99);
  r = load_sync(fx, id);
  assert_int_equal(r.n, 0);
  duro_store_kv_free(r.kv, r.n);
}

static void test_invalid_object_id(void **state) {
  fx_t *fx = *state;
  static const char *bad[] = {
      "short",
      "ABCDEF0000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000000000000000000000000000000000000000000g",
      "00000000000000000000000000000000000000000000000000000000000000000",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    duro_store_batch_t *b = duro_store_batch_new(bad[i], "NS", NULL);
    duro_store_batch_put(b, "k", 1, "v", 1);
    assert_int_equal(commit_sync(fx, b), DURO_EINVAL);
    kv_result_t r = load_sync(fx, bad[i]);
    assert_int_equal(r.status, DURO_EINVAL);
    assert_null(r.kv);
    assert_int_equal(r.n, 0);
  }
  /* A batch that is never submitted is freed by its owner. */
  char id[65];
  make_id(id, 5);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", "n");
  duro_store_batch_put(b, "k", 1, "v", 1);
  duro_store_batch_set_alarm(b, "a", 1);
  duro_store_batch_free(b);
  duro_store_batch_free(NULL);
  uint64_t tx, nb;
  duro_store_stats(fx->s, &tx, &nb);
  assert_int_equal(tx, 0);
  assert_int_equal(nb, 0);
}

/* Alarms due at the same time: by object id, then by name, both in byte
 * order (as SQLite's BINARY compares; a locale's collation must not
 * matter). */
static void test_alarm_ties(void **state) {
  fx_t *fx = *state;
  char lo[65], hi[65];
  make_id(lo, 0x9);  /* ...09 */
  make_id(hi, 0xa0); /* ...a0: a letter, after every digit */
  duro_store_batch_t *b = duro_store_batch_new(hi, "NS", NULL);
  duro_store_batch_set_alarm(b, "a", 10);
  duro_store_batch_set_alarm(b, "early", 9);
  assert_int_equal(commit_sync(fx, b), 0);
  b = duro_store_batch_new(lo, "NS", NULL);
  static const char *names[] = {"b", "\xc3\xa9", "a", "B", "_", "a b", "ab"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    duro_store_batch_set_alarm(b, names[i], 10);
  assert_int_equal(commit_sync(fx, b), 0);

  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.status, 0);
  assert_int_equal(al.n, 9);
  static const struct {
    int hi;
    const char *name;
    int64_t due;
  } want[] = {{1, "early", 9}, {0, "B", 10},  {0, "_", 10},
              {0, "a", 10},    {0, "a b", 10}, {0, "ab", 10},
              {0, "b", 10},    {0, "\xc3\xa9", 10}, {1, "a", 10}};
  for (size_t i = 0; i < al.n; i++) {
    if (strcmp(al.rows[i].alarm_name, want[i].name) != 0 ||
        strcmp(al.rows[i].object_id, want[i].hi ? hi : lo) != 0 ||
        al.rows[i].due_ms != want[i].due)
      fail_msg("alarm %zu: expected (%lld, %s, '%s'), got (%lld, %s, '%s')",
               i, (long long)want[i].due, want[i].hi ? "hi" : "lo",
               want[i].name, (long long)al.rows[i].due_ms,
               strcmp(al.rows[i].object_id, hi) == 0 ? "hi" : "lo",
               al.rows[i].alarm_name);
  }
  duro_store_alarms_free(al.rows, al.n);
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rnd(uint64_t *x) {
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * 0x2545F4914F6CDD1DULL;
}

typedef struct {
  uint8_t *k;
  size_t klen;
  uint8_t *v;
  size_t vlen;
} blob_t;

static int blob_cmp(const void *pa, const void *pb) {
  const blob_t *a = pa, *b = pb;
  size_t n = a->klen < b->klen ? a->klen : b->klen;
  int c = n ? memcmp(a->k, b->k, n) : 0;
  if (c)
    return c;
  return a->klen < b->klen ? -1 : a->klen > b->klen;
}

#define BLOBS 200

/* Random binary keys and values (NUL bytes, every byte value, lengths 0
 * to a few KiB, one 1 MiB value) come back byte for byte, in memcmp key
 * order, through two commits and a reopen. On PostgreSQL, another
 * session reads the same bytes from duro_kv. */
static void test_binary_exact(void **state) {
  fx_t *fx = *state;
  static blob_t bl[BLOBS];
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  size_t n = 0;
  char id[65];
  make_id(id, 0xb10b);

  while (n < BLOBS) {
    blob_t *e = &bl[n];
    /* The first few: the empty key, NULs, 0xff, and a 1 MiB value. */
    static const struct {
      const char *k;
      size_t len;
    } fixed[] = {{"", 0}, {"\0", 1}, {"\0\0", 2}, {"\xff\xff", 2}, {"\x80", 1}};
    if (n < 5) {
      e->klen = fixed[n].len;
      e->k = malloc(e->klen + 1);
      memcpy(e->k, fixed[n].k, e->klen);
    } else {
      e->klen = 1 + rnd(&x) % (n % 10 == 0 ? 600 : 12);
      e->k = malloc(e->klen);
      for (size_t j = 0; j < e->klen; j++)
        e->k[j] = (uint8_t)(rnd(&x) % 4 == 0 ? 0 : rnd(&x));
    }
    int dup = 0;
    for (size_t j = 0; j < n && !dup; j++)
      dup = bl[j].klen == e->klen && memcmp(bl[j].k, e->k, e->klen) == 0;
    if (dup) {
      free(e->k);
      continue;
    }
    e->vlen = n == 3 ? 1024 * 1024 : rnd(&x) % (n % 7 == 0 ? 5000 : 40);
    e->v = malloc(e->vlen + 1);
    for (size_t j = 0; j < e->vlen; j++)
      e->v[j] = (uint8_t)(j % 3 == 0 ? 0 : rnd(&x));
    n++;
  }
  /* Two batches: the first half, then the rest. */
  for (size_t half = 0; half < 2; half++) {
    duro_store_batch_t *b = duro_store_batch_new(id, "BIN", "blobs");
    for (size_t i = half * BLOBS / 2; i < (half + 1) * BLOBS / 2; i++)
      duro_store_batch_put(b, bl[i].k, bl[i].klen, bl[i].v, bl[i].vlen);
    assert_int_equal(commit_sync(fx, b), 0);
  }
  close_store(fx);
  open_store(fx, 1);

  qsort(bl, BLOBS, sizeof(bl[0]), blob_cmp);
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, BLOBS);
  for (size_t i = 0; i < BLOBS; i++) {
    if (r.kv[i].key_len != bl[i].klen ||
        (bl[i].klen && memcmp(r.kv[i].key, bl[i].k, bl[i].klen) != 0))
      fail_msg("key %zu: expected %zu bytes, got %zu bytes or other bytes",
               i, bl[i].klen, r.kv[i].key_len);
    assert_int_equal(r.kv[i].value_len, bl[i].vlen);
    if (bl[i].vlen)
      assert_memory_equal(r.kv[i].value, bl[i].v, bl[i].vlen);
  }
  duro_store_kv_free(r.kv, r.n);

  if (fx->engine == ENGINE_PG) {
    /* The bytes in the table are the bytes (binary results, no text
     * encoding between). */
    const char *params[1] = {id};
    PGresult *res = PQexecParams(fx->pg,
                                 "SELECT key, value FROM duro_kv WHERE "
                                 "object_id = $1 ORDER BY key",
                                 1, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
      fail_msg("select: %s", PQerrorMessage(fx->pg));
    assert_int_equal(PQntuples(res), BLOBS);
    for (int i = 0; i < BLOBS; i++) {
      assert_int_equal(PQgetlength(res, i, 0), bl[i].klen);
      assert_memory_equal(PQgetvalue(res, i, 0), bl[i].k, bl[i].klen);
      assert_int_equal(PQgetlength(res, i, 1), bl[i].vlen);
      assert_memory_equal(PQgetvalue(res, i, 1), bl[i].v, bl[i].vlen);
    }
    PQclear(res);
  }
  for (size_t i = 0; i < BLOBS; i++) {
    free(bl[i].k);
    free(bl[i].v);
  }
}

/* ---- PostgreSQL's own ------------------------------------------------- */

/* A failed open: the code, no store, and one line of reason. */
static void assert_open_fails(fx_t *fx, const char *conninfo, int want,
                              const char *needle, double max_s, char *err,
                              size_t errlen) {
  duro_store_t *s = (duro_store_t *)1;
  uint64_t t0 = uv_hrtime();
  err[0] = 0;
  int rc = duro_store_open_postgres(&fx->loop, conninfo, 0, &s, err, errlen);
  double took = (double)(uv_hrtime() - t0) / 1e9;
  if (rc == 0) {
    int closed = 0;
    duro_store_close(s, on_flag, &closed);
    run_until(&fx->loop, &closed);
    fail_msg("open of '%s' succeeded; expected %s", conninfo,
             duro_err_name(want));
  }
  if (want && rc != want)
    fail_msg("open of '%s': expected %s, got %s (%s)", conninfo,
             duro_err_name(want), duro_err_name(rc), err);
  assert_null(s);
  if (!err[0])
    fail_msg("open of '%s' failed with %s but gave no reason", conninfo,
             duro_err_name(rc));
  if (strchr(err, '\n'))
    fail_msg("the reason is not one line: '%s'", err);
  if (needle && !strcasestr(err, needle))
    fail_msg("the reason '%s' does not mention '%s'", err, needle);
  if (took > max_s)
    fail_msg("open of '%s' took %.1f s (at most %.1f expected)", conninfo,
             took, max_s);
}

/* A store's data survives its close and is there on the next open, also
 * when the conninfo is a postgresql:// URL. */
static void test_pg_reopen(void **state) {
  fx_t *fx = *state;
  char id[65], err[256];
  make_id(id, 0x7e0);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", "kept");
  duro_store_batch_put(b, "k", 1, "v1", 2);
  duro_store_batch_set_alarm(b, "al", 77);
  assert_int_equal(commit_sync(fx, b), 0);
  close_store(fx);

  /* The same database as a URL (host, port and user percent-encoded). */
  char url[1024];
  size_t len = (size_t)snprintf(url, sizeof(url), "postgresql:///%s?",
                                fx->dbname);
  static const char *kws[] = {"host", "port", "user"};
  for (size_t i = 0; i < 3; i++) {
    char *v = pgt_conninfo_get(fx->conninfo, kws[i]);
    if (!v)
      continue;
    len += (size_t)snprintf(url + len, sizeof(url) - len, "%s%s=",
                            url[len - 1] == '?' ? "" : "&", kws[i]);
    for (const char *c = v; *c && len + 4 < sizeof(url); c++)
      len += (size_t)snprintf(url + len, sizeof(url) - len,
                              (*c >= 'a' && *c <= 'z') ||
                                      (*c >= 'A' && *c <= 'Z') ||
                                      (*c >= '0' && *c <= '9')
                                  ? "%c"
                                  : "%%%02X",
                              (unsigned char)*c);
    free(v);
  }
  int rc = duro_store_open_postgres(&fx->loop, url, 0, &fx->s, err, sizeof(err));
  if (rc != 0)
    fail_msg("open of %s: %s (%s)", url, err, duro_err_name(rc));
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, 1);
  assert_value(&r, "k", "v1");
  duro_store_kv_free(r.kv, r.n);
  b = duro_store_batch_new(id, "NS", "kept");
  duro_store_batch_put(b, "k", 1, "v2", 2);
  assert_int_equal(commit_sync(fx, b), 0);
  close_store(fx);

  open_store(fx, 1);
  r = load_sync(fx, id);
  assert_int_equal(r.n, 1);
  assert_value(&r, "k", "v2");
  duro_store_kv_free(r.kv, r.n);
  alarm_result_t al = load_alarms_sync(fx);
  assert_int_equal(al.n, 1);
  assert_string_equal(al.rows[0].object_name, "kept");
  assert_string_equal(al.rows[0].alarm_name, "al");
  assert_int_equal(al.rows[0].due_ms, 77);
  duro_store_alarms_free(al.rows, al.n);
}

/* A database from a newer build is refused, and left as it was. */
static void test_pg_newer_schema(void **state) {
  fx_t *fx = *state;
  char err[256];
  close_store(fx);
  pg_exec_ok(fx, "UPDATE duro_meta SET value = '99' "
                 "WHERE key = 'schema_version'");
  assert_open_fails(fx, fx->conninfo, DURO_ENOTSUP, "99", 10, err,
                    sizeof(err));
  assert_int_equal(pgt_scalar(fx->pg,
                              "SELECT value::int FROM duro_meta "
                              "WHERE key = 'schema_version'",
                              NULL),
                   99);
  pg_exec_ok(fx, "UPDATE duro_meta SET value = '1' "
                 "WHERE key = 'schema_version'");
  open_store(fx, 1);
}

/* A port on 127.0.0.1, bound (so nobody else takes it); listening and
 * never accepting if listening, else refusing connections. */
static int test_port(int listening, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  if (listening)
    assert_int_equal(listen(fd, 8), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* No server there: DURO_EIO at once, with libpq's reason; a conninfo
 * libpq cannot parse fails too. */
static void test_pg_refused(void **state) {
  fx_t *fx = *state;
  char ci[256], err[512];
  int port;
  int fd = test_port(0, &port);
  snprintf(ci, sizeof(ci),
           "host=127.0.0.1 port=%d user=postgres dbname=postgres", port);
  assert_open_fails(fx, ci, DURO_EIO, "refused", 5, err, sizeof(err));
  close(fd);
  assert_open_fails(fx, "no_such_keyword=1", 0, "no_such_keyword", 5, err,
                    sizeof(err));
  assert_open_fails(fx, "postgresql://[::1", 0, NULL, 5, err, sizeof(err));
}

/* A server that accepts the TCP connection and never answers: the open
 * gives up after connect_timeout, 5 s by default, or what the conninfo
 * says. */
static void test_pg_unresponsive(void **state) {
  fx_t *fx = *state;
  char ci[256], err[512];
  int port;
  int fd = test_port(1, &port);
  snprintf(ci, sizeof(ci),
           "host=127.0.0.1 port=%d user=postgres dbname=postgres "
           "connect_timeout=2",
           port);
  assert_open_fails(fx, ci, DURO_EIO, "timeout", 4.5, err, sizeof(err));
  snprintf(ci, sizeof(ci),
           "host=127.0.0.1 port=%d user=postgres dbname=postgres", port);
  assert_open_fails(fx, ci, DURO_EIO, "timeout", 8, err, sizeof(err));
  close(fd);
}

/* A wrong password over TCP: DURO_EIO with libpq's reason (the right one
 * gets in, so it is the password that was refused). */
static void test_pg_wrong_password(void **state) {
  fx_t *fx = *state;
  char sql[256], ci[512], err[512];
  snprintf(fx->role, sizeof(fx->role), "%s_pw", fx->dbname);
  snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN PASSWORD 'right-pw'",
           fx->role);
  pg_exec_ok(fx, sql);
  char *port = pgt_conninfo_get(fx->conninfo, "port");
  snprintf(ci, sizeof(ci),
           "host=127.0.0.1 port=%s user=%s dbname=%s password=right-pw",
           port ? port : "5432", fx->role, fx->dbname);
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK)
    fail_msg("the right password over 127.0.0.1 (port %s) was refused: %s"
             "(is the server listening on 127.0.0.1? tests/pg.sh sets that "
             "up)",
             port ? port : "5432", PQerrorMessage(c));
  PQfinish(c);
  snprintf(ci, sizeof(ci),
           "host=127.0.0.1 port=%s user=%s dbname=%s password=wrong-pw",
           port ? port : "5432", fx->role, fx->dbname);
  free(port);
  c = PQconnectdb(ci);
  int refused = PQstatus(c) != CONNECTION_OK;
  PQfinish(c);
  if (!refused)
    fail_msg("the server let a wrong password in over 127.0.0.1: it must "
             "want passwords there (tests/pg.sh's pg_hba does)");
  assert_open_fails(fx, ci, DURO_EIO, "password authentication failed", 5,
                    err, sizeof(err));
}

/* The store's connection is killed under it: at most the next job fails
 * (DURO_EIO, nothing applied), and the one after it works on a new
 * connection. */
static void test_pg_reconnect(void **state) {
  fx_t *fx = *state;
  char id[65];
  make_id(id, 0xdead);
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "before", 6, "v", 1);
  assert_int_equal(commit_sync(fx, b), 0);

  assert_int_equal(pgt_scalar(fx->pg,
                              "SELECT count(pg_terminate_backend(pid)) FROM "
                              "pg_stat_activity WHERE datname = $1 AND "
                              "pid <> pg_backend_pid()",
                              fx->dbname),
                   1);
  int level = duro_log_level;
  duro_log_level = -1; /* the expected error lines */
  b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "between", 7, "v", 1);
  int between = commit_sync(fx, b);
  b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, "after", 5, "v", 1);
  int after = commit_sync(fx, b);
  duro_log_level = level;
  if (between != 0 && between != DURO_EIO)
    fail_msg("the commit after the kill: expected 0 or DURO_EIO, got %s",
             duro_err_name(between));
  if (after != 0)
    fail_msg("the second commit after the kill: expected 0 (reconnected), "
             "got %s (the first got %s)",
             duro_err_name(after), duro_err_name(between));
  kv_result_t r = load_sync(fx, id);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.n, between == 0 ? 3 : 2);
  assert_true(find_key(&r, "before", 6) >= 0);
  assert_true(find_key(&r, "after", 5) >= 0);
  assert_int_equal(find_key(&r, "between", 7) >= 0, between == 0);
  duro_store_kv_free(r.kv, r.n);
}

/* An engine-neutral test, once on each engine. */
#define ON_BOTH(f)                                                           \
  {#f "_sqlite", f, setup_sqlite, teardown, NULL},                           \
      {#f "_pg", f, setup_pg, teardown, NULL}
#define ON_SQLITE(f) {#f "_sqlite", f, setup_sqlite, teardown, NULL}
#define ON_PG(f) {#f "_pg", f, setup_pg, teardown, NULL}

int main(void) {
  const struct CMUnitTest tests[] = {
      ON_BOTH(test_open_close),
      ON_SQLITE(test_open_failure),
      ON_BOTH(test_put_load_sorted),
      ON_BOTH(test_delete),
      ON_BOTH(test_delete_all),
      ON_BOTH(test_ops_order),
      ON_BOTH(test_alarms),
      ON_BOTH(test_alarm_ties),
      ON_BOTH(test_group_commit),
      ON_BOTH(test_durability),
      ON_BOTH(test_binary_exact),
      ON_BOTH(test_run_ordering),
      ON_BOTH(test_run_open_transaction),
      ON_BOTH(test_failing_batch_in_group),
      ON_BOTH(test_close_drains),
      ON_BOTH(test_invalid_object_id),
      ON_PG(test_pg_reopen),
      ON_PG(test_pg_newer_schema),
      ON_PG(test_pg_refused),
      ON_PG(test_pg_unresponsive),
      ON_PG(test_pg_wrong_password),
      ON_PG(test_pg_reconnect),
  };
  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
