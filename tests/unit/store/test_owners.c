/*
 * test_owners.c: nodes, owners and fenced commits (src/store/owners_pg.c,
 * the fence in src/store/postgres.c) with two stores, "nodes" A and B,
 * sharing one fresh PostgreSQL database (DURO_TEST_POSTGRES; without it
 * these tests fail, they never skip).
 *
 * - Leases: a live node id cannot register twice; renewing keeps it;
 *   once lapsed, renewing says so (DURO_ESTALE) and the id may register
 *   again.
 * - Claims: of two nodes claiming one object at the same moment exactly
 *   one wins, the other is told the winner; an owner's object passes to
 *   another node only once the owner's lease has ended, with the epoch one
 *   higher every time; a node whose lease lapsed cannot claim.
 * - Fencing: a batch fenced at the owner's epoch commits; once another
 *   node has claimed the object, the old owner's fenced batch fails with
 *   DURO_ESTALE and none of it applies, while in the same group another
 *   object's batch still commits.
 * - SQLite has no owners: DURO_ENOTSUP, and a fenced batch fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/owners.h"
#include "store/store.h"

#include "pg_fixture.h"

typedef struct fx {
  char dbname[64];
  char *conninfo;
  uv_loop_t loop;
  duro_store_t *a, *b;
} fx_t;

static void run_until(uv_loop_t *loop, const int *flag) {
  while (!*flag)
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !*flag)
      fail_msg("loop ran out of work before the callback fired");
}

static void on_flag(void *data) { *(int *)data = 1; }

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  *state = fx;
  uv_loop_init(&fx->loop);
  if (pgt_create_db(fx->dbname, &fx->conninfo) < 0)
    return -1;
  char err[256];
  if (duro_store_open_postgres(&fx->loop, fx->conninfo, 1, &fx->a, err,
                               sizeof(err)) < 0 ||
      duro_store_open_postgres(&fx->loop, fx->conninfo, 1, &fx->b, err,
                               sizeof(err)) < 0) {
    fprintf(stderr, "setup: %s\n", err);
    return -1;
  }
  duro_store_set_node(fx->a, "A");
  duro_store_set_node(fx->b, "B");
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (!fx)
    return 0;
  duro_store_t *stores[2] = {fx->a, fx->b};
  for (int i = 0; i < 2; i++)
    if (stores[i]) {
      int closed = 0;
      duro_store_close(stores[i], on_flag, &closed);
      run_until(&fx->loop, &closed);
    }
  uv_loop_close(&fx->loop);
  if (fx->conninfo)
    pgt_drop_db(fx->dbname, NULL);
  free(fx->conninfo);
  free(fx);
  return 0;
}

/* ---- one call of owners.h on a store's worker, waited for ------------- */

enum { REGISTER, RENEW, CLAIM, LOOKUP, RELEASE };

typedef struct call {
  int what;
  const char *node;
  const char *object;
  unsigned lease_ms;
  duro_owner_t owner;
  int rc;
  int done;
} call_t;

static int call_work(duro_store_db_t *db, void *arg) {
  call_t *c = arg;
  char why[256];
  switch (c->what) {
  case REGISTER:
    return duro_owners_register(db, c->node, "http://127.0.0.1:1",
                                c->lease_ms, why, sizeof(why));
  case RENEW:
    return duro_owners_renew(db, c->node, c->lease_ms);
  case CLAIM:
    return duro_owners_claim(db, c->node, c->object, &c->owner);
  case LOOKUP:
    return duro_owners_lookup(db, c->object, &c->owner);
  default:
    return duro_owners_release(db, c->node);
  }
}

static void call_done(int status, void *arg) {
  call_t *c = arg;
  c->rc = status;
  c->done = 1;
}

static void start(duro_store_t *s, call_t *c) {
  c->done = 0;
  duro_store_run(s, call_work, call_done, c);
}

static int call(fx_t *fx, duro_store_t *s, int what, const char *node,
                const char *object, unsigned lease_ms, duro_owner_t *out) {
  call_t c = {.what = what, .node = node, .object = object,
              .lease_ms = lease_ms};
  start(s, &c);
  run_until(&fx->loop, &c.done);
  if (out)
    *out = c.owner;
  return c.rc;
}

/* ---- commits -------------------------------------------------------------- */

typedef struct commit {
  int status;
  int done;
} commit_t;

static void on_commit(int status, void *data) {
  commit_t *c = data;
  c->status = status;
  c->done = 1;
}

static duro_store_batch_t *put(const char *id, const char *key,
                               const char *value, int64_t epoch) {
  duro_store_batch_t *b = duro_store_batch_new(id, "NS", NULL);
  duro_store_batch_put(b, key, strlen(key), value, strlen(value));
  duro_store_batch_fence(b, epoch);
  return b;
}

static int commit(fx_t *fx, duro_store_t *s, duro_store_batch_t *b) {
  commit_t c = {0};
  duro_store_commit(s, b, on_commit, &c);
  run_until(&fx->loop, &c.done);
  return c.status;
}

typedef struct load {
  int done, status;
  size_t n;
  char first_value[32];
} load_t;

static void on_load(int status, duro_kv_t *kv, size_t n, void *data) {
  load_t *l = data;
  l->status = status;
  l->n = n;
  if (n)
    snprintf(l->first_value, sizeof(l->first_value), "%.*s",
             (int)kv[0].value_len, (const char *)kv[0].value);
  duro_store_kv_free(kv, n);
  l->done = 1;
}

static load_t load(fx_t *fx, duro_store_t *s, const char *id) {
  load_t l = {0};
  duro_store_load_kv(s, id, on_load, &l);
  run_until(&fx->loop, &l.done);
  return l;
}

static const char X[] =
    "1111111111111111111111111111111111111111111111111111111111111111";
static const char Y[] =
    "2222222222222222222222222222222222222222222222222222222222222222";

/* ---- tests --------------------------------------------------------------- */

static void test_leases(void **state) {
  fx_t *fx = *state;
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 300, NULL), 0);
  /* a live id is taken, whoever asks */
  assert_int_equal(call(fx, fx->b, REGISTER, "A", NULL, 300, NULL),
                   DURO_EBUSY);
  assert_int_equal(call(fx, fx->a, RENEW, "A", NULL, 300, NULL), 0);
  usleep(450 * 1000);
  assert_int_equal(call(fx, fx->a, RENEW, "A", NULL, 300, NULL), DURO_ESTALE);
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->a, RENEW, "nobody", NULL, 300, NULL),
                   DURO_ESTALE);
}

static void test_claim_race_has_one_winner(void **state) {
  fx_t *fx = *state;
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->b, REGISTER, "B", NULL, 5000, NULL), 0);
  for (int round = 0; round < 20; round++) {
    char id[65];
    snprintf(id, sizeof(id), "%064x", 0x100 + round);
    call_t ca = {.what = CLAIM, .node = "A", .object = id};
    call_t cb = {.what = CLAIM, .node = "B", .object = id};
    start(fx->a, &ca); /* both workers at once */
    start(fx->b, &cb);
    run_until(&fx->loop, &ca.done);
    run_until(&fx->loop, &cb.done);
    assert_true((ca.rc == 1) != (cb.rc == 1)); /* exactly one winner */
    call_t *won = ca.rc == 1 ? &ca : &cb, *lost = ca.rc == 1 ? &cb : &ca;
    assert_int_equal(lost->rc, 0);
    assert_int_equal(won->owner.epoch, 1);
    assert_string_equal(lost->owner.node_id, won->node);
    assert_int_equal(lost->owner.epoch, 1);
    assert_true(lost->owner.live);
    assert_string_equal(lost->owner.advertise, "http://127.0.0.1:1");
  }
}

static void test_takeover_only_after_the_lease_ends(void **state) {
  fx_t *fx = *state;
  duro_owner_t o;
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->b, REGISTER, "B", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", X, 0, &o), 1);
  assert_int_equal(o.epoch, 1);
  assert_int_equal(call(fx, fx->b, CLAIM, "B", X, 0, &o), 0);
  assert_string_equal(o.node_id, "A");
  /* A hands over (a clean shutdown): B may claim at once, epoch 2 */
  assert_int_equal(call(fx, fx->a, RELEASE, "A", NULL, 0, NULL), 0);
  assert_int_equal(call(fx, fx->b, CLAIM, "B", X, 0, &o), 1);
  assert_int_equal(o.epoch, 2);
  /* A's lease is over: it can neither claim nor renew */
  assert_int_equal(call(fx, fx->a, CLAIM, "A", X, 0, &o), DURO_ESTALE);
  assert_int_equal(call(fx, fx->a, RENEW, "A", NULL, 5000, NULL),
                   DURO_ESTALE);
  /* A again (a new life); B's short lease lapses: A takes it at 3 */
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->b, RENEW, "B", NULL, 200, NULL), 0);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", X, 0, &o), 0);
  usleep(350 * 1000);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", X, 0, &o), 1);
  assert_int_equal(o.epoch, 3);
  assert_int_equal(call(fx, fx->a, LOOKUP, NULL, X, 0, &o), 0);
  assert_string_equal(o.node_id, "A");
  assert_int_equal(o.epoch, 3);
  assert_int_equal(call(fx, fx->a, LOOKUP, NULL, Y, 0, &o), DURO_ENOENT);
}

static void test_fenced_commits(void **state) {
  fx_t *fx = *state;
  duro_owner_t o;
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->b, REGISTER, "B", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", X, 0, &o), 1);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", Y, 0, &o), 1);
  assert_int_equal(commit(fx, fx->a, put(X, "k", "from A at 1", 1)), 0);
  /* a wrong epoch, or another node's batch, is refused at once */
  assert_int_equal(commit(fx, fx->a, put(X, "k", "wrong epoch", 2)),
                   DURO_ESTALE);
  assert_int_equal(commit(fx, fx->b, put(X, "k", "not B's", 1)), DURO_ESTALE);

  /* B takes X over; A does not know yet and commits at its old epoch,
   * in one group with a batch for Y, which A still owns */
  assert_int_equal(call(fx, fx->a, RELEASE, "A", NULL, 0, NULL), 0);
  assert_int_equal(call(fx, fx->b, CLAIM, "B", X, 0, &o), 1);
  assert_int_equal(o.epoch, 2);
  assert_int_equal(call(fx, fx->a, REGISTER, "A", NULL, 5000, NULL), 0);
  assert_int_equal(call(fx, fx->a, CLAIM, "A", Y, 0, &o), 1); /* Y: 2 */
  commit_t c1 = {0}, c2 = {0};
  duro_store_commit(fx->a, put(X, "k", "stale A", 1), on_commit, &c1);
  duro_store_commit(fx->a, put(Y, "k", "A owns Y", 2), on_commit, &c2);
  run_until(&fx->loop, &c1.done);
  run_until(&fx->loop, &c2.done);
  assert_int_equal(c1.status, DURO_ESTALE);
  assert_int_equal(c2.status, 0);

  load_t l = load(fx, fx->b, X);
  assert_int_equal(l.status, 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.first_value, "from A at 1"); /* nothing stale */
  assert_int_equal(commit(fx, fx->b, put(X, "k", "from B at 2", 2)), 0);
  l = load(fx, fx->a, X);
  assert_string_equal(l.first_value, "from B at 2");
  l = load(fx, fx->a, Y);
  assert_string_equal(l.first_value, "A owns Y");
}

static void test_sqlite_has_no_owners(void **state) {
  char dir[] = "/tmp/duro-test-owners-XXXXXX", path[128], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/duro.db", dir);
  fx_t fx = {0};
  uv_loop_init(&fx.loop);
  assert_int_equal(duro_store_open(&fx.loop, path, 0, &fx.a, err, sizeof(err)),
                   0);
  duro_store_set_node(fx.a, "A");
  assert_int_equal(call(&fx, fx.a, REGISTER, "A", NULL, 5000, NULL),
                   DURO_ENOTSUP);
  assert_int_equal(call(&fx, fx.a, CLAIM, "A", X, 0, NULL), DURO_ENOTSUP);
  assert_true(commit(&fx, fx.a, put(X, "k", "v", 1)) < 0);
  assert_int_equal(load(&fx, fx.a, X).n, 0);
  assert_int_equal(commit(&fx, fx.a, put(X, "k", "v", 0)), 0); /* unfenced */
  int closed = 0;
  duro_store_close(fx.a, on_flag, &closed);
  run_until(&fx.loop, &closed);
  uv_loop_close(&fx.loop);
  unlink(path);
  char side[160];
  snprintf(side, sizeof(side), "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", path);
  unlink(side);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_claim_race_has_one_winner, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_takeover_only_after_the_lease_ends,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fenced_commits, setup, teardown),
      cmocka_unit_test(test_sqlite_has_no_owners),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
