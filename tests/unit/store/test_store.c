/*
 * test_store.c: unit tests for the SQLite storage worker (src/store).
 *
 * Each test gets a fresh temporary directory (mkdtemp, removed afterwards),
 * its own uv loop and an open store, and drives the loop with uv_run until
 * the callbacks it waits for have fired. To make group commit
 * deterministic, a test first queues a duro_store_run job that blocks the
 * worker on a semaphore, queues its batches, then releases the worker, which
 * then finds all of them queued at once.
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
#include <sqlite3.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "store/db.h"
#include "store/store.h"

typedef struct {
  char dir[64];
  char path[128];
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

static void open_store(fx_t *fx, int full) {
  char err[256];
  int rc = duro_store_open(&fx->loop, fx->path, full, &fx->s, err, sizeof(err));
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

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/duro-store-XXXXXX");
  if (!mkdtemp(fx->dir))
    return -1;
  snprintf(fx->path, sizeof(fx->path), "%s/duro.db", fx->dir);
  if (uv_loop_init(&fx->loop) != 0)
    return -1;
  open_store(fx, 1);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (fx->s)
    close_store(fx);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&fx->loop);
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
  free(fx);
  return rc == 0 ? 0 : -1;
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
  assert_int_equal(access(fx->path, F_OK), 0);
  open_store(fx, 0); /* reopening an existing file works too */
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

/* Counts the object's kv rows, on the worker. */
static int count_work(duro_store_db_t *h, void *arg) {
  sqlite3 *db = duro_store__sqlite(h);
  count_ctx_t *c = arg;
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

static int open_tx_work(duro_store_db_t *h, void *arg) {
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

  duro_store_run(fx->s, trigger_work, on_status, &r);
  run_until(&fx->loop, &r.done);
  assert_int_equal(r.status, 0);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_put_load_sorted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_all, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ops_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alarms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_durability, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_ordering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_open_transaction, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_failing_batch_in_group, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_object_id, setup, teardown),
  };
  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
