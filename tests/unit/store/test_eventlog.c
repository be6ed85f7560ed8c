/*
 * test_eventlog.c: the LiveStore event logs (store/eventlog.h) on both
 * engines, through the store's module jobs as the sync engine runs them:
 * appends and their checks (backendId, parent, chain, undecodable text)
 * with nothing left behind by a refused one, reads of ranges and pages, a
 * store created by its first read, and the data surviving a reopen. Each
 * test runs against a real SQLite file in a temporary directory (names
 * ending in _sqlite) and against a fresh PostgreSQL database on the server
 * named by DURO_TEST_POSTGRES (_pg; see pg_fixture.h, and without it they
 * fail). The PostgreSQL ones run last.
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
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/eventlog.h"
#include "store/store.h"

#include "pg_fixture.h"

enum { ENGINE_SQLITE, ENGINE_PG };

typedef struct {
  int engine;
  char dir[64];    /* SQLite: the temporary directory */
  char path[128];  /* SQLite: the database file */
  char dbname[64]; /* PostgreSQL: the test's database */
  char *conninfo;  /* PostgreSQL: the store's conninfo (that database) */
  uv_loop_t loop;
  duro_store_t *s;
} fx_t;

static void run_until(uv_loop_t *loop, const int *flag) {
  while (!*flag)
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !*flag)
      fail_msg("loop ran out of work before the callback fired");
}

static int try_open(fx_t *fx, char *err, size_t errlen) {
  return fx->engine == ENGINE_PG
             ? duro_store_open_postgres(&fx->loop, fx->conninfo, 0, &fx->s, err,
                                        errlen)
             : duro_store_open(&fx->loop, fx->path, 0, &fx->s, err, errlen);
}

static void open_store(fx_t *fx) {
  char err[256];
  int rc = try_open(fx, err, sizeof(err));
  if (rc != 0)
    fail_msg("open: %s (%s)", err, duro_err_name(rc));
}

static void on_flag(void *data) { *(int *)data = 1; }

static void close_store(fx_t *fx) {
  int closed = 0;
  duro_store_close(fx->s, on_flag, &closed);
  fx->s = NULL;
  run_until(&fx->loop, &closed);
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int rc = 0;
  if (!fx)
    return 0;
  if (fx->s)
    close_store(fx);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  uv_loop_close(&fx->loop);
  if (fx->engine == ENGINE_PG) {
    if (fx->dbname[0] && pgt_drop_db(fx->dbname, NULL) != 0)
      rc = -1;
    free(fx->conninfo);
  } else if (fx->dir[0]) {
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    char p[400];
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      snprintf(p, sizeof(p), "%s/%s", fx->dir, e->d_name);
      unlink(p);
    }
    if (d)
      closedir(d);
    rmdir(fx->dir);
  }
  free(fx);
  return rc;
}

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
  if (uv_loop_init(&fx->loop) != 0) {
    free(fx);
    *state = NULL;
    return -1;
  }
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/duro-evlog-XXXXXX");
  if (!mkdtemp(fx->dir)) {
    fx->dir[0] = 0;
    return setup_failed(state, "mkdtemp failed", 0);
  }
  snprintf(fx->path, sizeof(fx->path), "%s/duro.db", fx->dir);
  int rc = try_open(fx, err, sizeof(err));
  return rc ? setup_failed(state, err, rc) : 0;
}

/* A fresh database with the store open on it. */
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
  int rc = try_open(fx, err, sizeof(err));
  return rc ? setup_failed(state, err, rc) : 0;
}

/* ---- running the calls as module jobs ------------------------------------------ */

typedef struct {
  int done;
  int status;
} job_t;

static void job_done(int status, void *arg) {
  job_t *j = *(job_t **)arg;
  j->status = status;
  j->done = 1;
}

typedef struct {
  job_t *job; /* first: job_done reads it */
  duro_evlog_append_t *a;
} append_arg_t;

static int append_work(duro_store_db_t *db, void *arg) {
  duro_evlog_append(db, ((append_arg_t *)arg)->a);
  return 0;
}

static void append(fx_t *fx, duro_evlog_append_t *a) {
  job_t j = {0};
  append_arg_t arg = {&j, a};
  duro_store_run(fx->s, append_work, job_done, &arg);
  run_until(&fx->loop, &j.done);
  assert_int_equal(j.status, 0); /* no transaction was left open */
}

/* What a read saw, row by row. */
typedef struct {
  int64_t seq[64];
  int64_t parent[64];
  char name[64][16];
  int args_null[64];
  size_t n;
  size_t stop_after; /* 0: never stop */
} rows_t;

static int on_row(void *ud, const duro_evlog_row_t *r) {
  rows_t *rows = ud;
  assert_true(rows->n < 64);
  rows->seq[rows->n] = r->seq;
  rows->parent[rows->n] = r->parent;
  snprintf(rows->name[rows->n], sizeof(rows->name[0]), "%.*s", (int)r->name.n,
           r->name.p);
  rows->args_null[rows->n] = r->args.p == NULL;
  assert_int_equal(r->created_at.n, 24);
  assert_int_equal(r->client_id.n, 2);
  rows->n++;
  return rows->stop_after && rows->n == rows->stop_after;
}

typedef struct {
  job_t *job;
  duro_evlog_read_t *r;
} read_arg_t;

static int read_work(duro_store_db_t *db, void *arg) {
  duro_evlog_read(db, ((read_arg_t *)arg)->r);
  return 0;
}

static void read_log(fx_t *fx, duro_evlog_read_t *r, rows_t *rows) {
  job_t j = {0};
  read_arg_t arg = {&j, r};
  r->row = on_row;
  r->ud = rows;
  duro_store_run(fx->s, read_work, job_done, &arg);
  run_until(&fx->loop, &j.done);
  assert_int_equal(j.status, 0);
}

static duro_evlog_text_t text(const char *s) {
  duro_evlog_text_t t = {s, strlen(s)};
  return t;
}

/* n events numbered from first, each the child of the one before. */
static void chain(duro_evlog_event_t *ev, int64_t first, size_t n) {
  for (size_t i = 0; i < n; i++)
    ev[i] = (duro_evlog_event_t){
        .seq = first + (int64_t)i,
        .parent = first + (int64_t)i - 1,
        .name = text(i % 2 ? "v1.Odd" : "v1.Even"),
        .args = i % 2 ? text("{\"x\":1}") : (duro_evlog_text_t){NULL, 0},
        .client_id = text("c1"),
        .session_id = text("s1"),
    };
}

static const char created_at[] = "2026-12-04T10:15:30.123Z";

static duro_evlog_append_t append_of(const duro_evlog_key_t *k,
                                     const duro_evlog_event_t *ev, size_t n) {
  return (duro_evlog_append_t){
      .key = k, .events = ev, .n = n, .created_at = created_at};
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_table_name(void **state) {
  duro_evlog_key_t a, b;
  duro_evlog_key_init(&a, "todo app/1", 10);
  duro_evlog_key_init(&b, "todo app_1", 10);
  assert_int_equal(strncmp(a.table, "eventlog_7_todo_app_1_", 22), 0);
  assert_int_equal(strlen(a.table), 22 + 16);
  assert_string_not_equal(a.table, b.table); /* same sanitised name */
  assert_string_equal(a.store_id, "todo app/1");
  duro_evlog_key_free(&a);
  duro_evlog_key_free(&b);
}

static void test_append_and_read(void **state) {
  fx_t *fx = *state;
  duro_evlog_key_t k;
  duro_evlog_key_init(&k, "store/a", 7);
  duro_evlog_event_t ev[10];
  chain(ev, 1, 3);
  duro_evlog_append_t a = append_of(&k, ev, 3);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_OK);
  assert_int_equal(a.head, 3);
  assert_int_equal(strlen(a.backend_id_out), DURO_EVLOG_BACKEND_ID_LEN);
  char bid[DURO_EVLOG_BACKEND_ID_LEN + 1];
  memcpy(bid, a.backend_id_out, sizeof(bid));

  /* The next batch continues the chain; the backendId matches. */
  chain(ev, 4, 2);
  a = append_of(&k, ev, 2);
  a.backend_id = bid;
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_OK);
  assert_int_equal(a.head, 5);
  assert_string_equal(a.backend_id_out, bid);

  /* Everything, in order, text as stored. */
  rows_t rows = {0};
  duro_evlog_read_t r = {.key = &k, .after = 0, .end = -1, .max_rows = 100};
  read_log(fx, &r, &rows);
  assert_int_equal(r.result, DURO_EVLOG_OK);
  assert_int_equal(r.head, 5);
  assert_int_equal(r.end_out, 5);
  assert_string_equal(r.backend_id_out, bid);
  assert_int_equal(rows.n, 5);
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(rows.seq[i], (int64_t)i + 1);
    assert_int_equal(rows.parent[i], (int64_t)i);
  }
  assert_string_equal(rows.name[0], "v1.Even");
  assert_true(rows.args_null[0]);
  assert_false(rows.args_null[1]);

  /* A range: after 1, up to 4, at most 2 rows; and a stop from the
   * callback after the first. */
  memset(&rows, 0, sizeof(rows));
  r = (duro_evlog_read_t){.key = &k, .after = 1, .end = 4, .max_rows = 2};
  read_log(fx, &r, &rows);
  assert_int_equal(r.end_out, 4);
  assert_int_equal(rows.n, 2);
  assert_int_equal(rows.seq[0], 2);
  assert_int_equal(rows.seq[1], 3);
  memset(&rows, 0, sizeof(rows));
  rows.stop_after = 1;
  r = (duro_evlog_read_t){.key = &k, .after = 0, .end = -1, .max_rows = 100};
  read_log(fx, &r, &rows);
  assert_int_equal(rows.n, 1);

  /* An end past the head is cut to it; nothing after the head. */
  memset(&rows, 0, sizeof(rows));
  r = (duro_evlog_read_t){.key = &k, .after = 5, .end = 99, .max_rows = 100};
  read_log(fx, &r, &rows);
  assert_int_equal(r.result, DURO_EVLOG_OK);
  assert_int_equal(r.end_out, 5);
  assert_int_equal(rows.n, 0);

  /* Another backendId: MISMATCH, no rows. */
  memset(&rows, 0, sizeof(rows));
  r = (duro_evlog_read_t){
      .key = &k, .backend_id = "nope", .after = 0, .end = -1, .max_rows = 9};
  read_log(fx, &r, &rows);
  assert_int_equal(r.result, DURO_EVLOG_MISMATCH);
  assert_string_equal(r.backend_id_out, bid);
  assert_int_equal(rows.n, 0);
  duro_evlog_key_free(&k);
}

/* Every refusal leaves the log as it was: the next good batch still
 * continues at the old head. */
static void test_refusals(void **state) {
  fx_t *fx = *state;
  duro_evlog_key_t k;
  duro_evlog_key_init(&k, "refusals", 8);
  duro_evlog_event_t ev[10];
  chain(ev, 1, 2);
  duro_evlog_append_t a = append_of(&k, ev, 2);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_OK);

  /* A parent that is not the head. */
  chain(ev, 5, 1);
  a = append_of(&k, ev, 1);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_AHEAD);
  assert_int_equal(a.head, 2);

  /* Another backendId (checked before the parent). */
  a = append_of(&k, ev, 1);
  a.backend_id = "someone-else";
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_MISMATCH);

  /* Not a chain: 3, then 5. */
  chain(ev, 3, 2);
  ev[1].seq = 5;
  a = append_of(&k, ev, 2);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_BROKEN);
  assert_non_null(strstr(a.err, "not a chain"));

  /* Text the caller could not decode, in the second event: the first is
   * not kept either. */
  chain(ev, 3, 2);
  ev[1].invalid = 1;
  a = append_of(&k, ev, 2);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_BROKEN);
  assert_non_null(strstr(a.err, "event 1"));

  rows_t rows = {0};
  duro_evlog_read_t r = {.key = &k, .after = 0, .end = -1, .max_rows = 100};
  read_log(fx, &r, &rows);
  assert_int_equal(r.head, 2);
  assert_int_equal(rows.n, 2);

  chain(ev, 3, 1);
  a = append_of(&k, ev, 1);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_OK);
  assert_int_equal(a.head, 3);
  duro_evlog_key_free(&k);
}

/* Stores are apart even when their ids sanitise alike; a store's first
 * read creates it (empty, with its backendId), and the logs survive a
 * reopen of the database. */
static void test_stores_and_reopen(void **state) {
  fx_t *fx = *state;
  duro_evlog_key_t k1, k2;
  duro_evlog_key_init(&k1, "a b", 3);
  duro_evlog_key_init(&k2, "a/b", 3);
  rows_t rows = {0};
  duro_evlog_read_t r = {.key = &k2, .after = 0, .end = -1, .max_rows = 10};
  read_log(fx, &r, &rows);
  assert_int_equal(r.result, DURO_EVLOG_OK);
  assert_int_equal(r.head, 0);
  assert_int_equal(rows.n, 0);
  char bid2[DURO_EVLOG_BACKEND_ID_LEN + 1];
  memcpy(bid2, r.backend_id_out, sizeof(bid2));
  assert_int_equal(strlen(bid2), DURO_EVLOG_BACKEND_ID_LEN);

  duro_evlog_event_t ev[4];
  chain(ev, 1, 4);
  duro_evlog_append_t a = append_of(&k1, ev, 4);
  append(fx, &a);
  assert_int_equal(a.result, DURO_EVLOG_OK);
  assert_string_not_equal(a.backend_id_out, bid2);
  char bid1[DURO_EVLOG_BACKEND_ID_LEN + 1];
  memcpy(bid1, a.backend_id_out, sizeof(bid1));

  close_store(fx);
  open_store(fx);
  memset(&rows, 0, sizeof(rows));
  r = (duro_evlog_read_t){.key = &k1, .after = 2, .end = -1, .max_rows = 10};
  read_log(fx, &r, &rows);
  assert_int_equal(r.head, 4);
  assert_string_equal(r.backend_id_out, bid1);
  assert_int_equal(rows.n, 2);
  assert_int_equal(rows.seq[0], 3);
  memset(&rows, 0, sizeof(rows));
  r = (duro_evlog_read_t){.key = &k2, .after = 0, .end = -1, .max_rows = 10};
  read_log(fx, &r, &rows);
  assert_int_equal(r.head, 0);
  assert_string_equal(r.backend_id_out, bid2);
  duro_evlog_key_free(&k1);
  duro_evlog_key_free(&k2);
}

#define ON_SQLITE(f) {#f "_sqlite", f, setup_sqlite, teardown, NULL}
#define ON_PG(f) {#f "_pg", f, setup_pg, teardown, NULL}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_name),
      ON_SQLITE(test_append_and_read),
      ON_SQLITE(test_refusals),
      ON_SQLITE(test_stores_and_reopen),
      /* Last: until the engine serves eventlog.h, these may abort. */
      ON_PG(test_append_and_read),
      ON_PG(test_refusals),
      ON_PG(test_stores_and_reopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
