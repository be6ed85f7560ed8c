/*
 * test_alarms.c: the alarm index of src/objects/alarms.c.
 *
 * - The heap: alarms come out in due order; an entry removed from the
 *   middle or moved (rescheduled) keeps the order; each entry always
 *   knows its own index; many random operations against a plain model.
 * - The index around it: alarms found by object and name, counted per
 *   object, taken when due (and then running: out of the heap, still in
 *   the index), put back for a retry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "objects/alarms.h"

/* ---- the heap --------------------------------------------------------------------- */

/* Every entry's heap_idx is its place, and no child is earlier than its
 * parent. */
static void check_heap(const duro_alarm_heap_t *h) {
  for (size_t i = 0; i < h->n; i++) {
    assert_int_equal(h->v[i]->heap_idx, i);
    if (i > 0)
      assert_true(h->v[(i - 1) / 2]->due <= h->v[i]->due);
  }
}

static alarm_ent_t *ent(int64_t due) {
  alarm_ent_t *a = calloc(1, sizeof(*a));
  a->due = due;
  a->heap_idx = DURO_ALARM_NOT_QUEUED;
  return a;
}

/* Pops everything; asserts non-decreasing order; returns how many. */
static size_t drain_in_order(duro_alarm_heap_t *h) {
  size_t n = 0;
  int64_t last = INT64_MIN;
  alarm_ent_t *a;
  while ((a = duro__alarm_heap_top(h))) {
    assert_true(a->due >= last);
    last = a->due;
    duro__alarm_heap_remove(h, a);
    assert_int_equal(a->heap_idx, DURO_ALARM_NOT_QUEUED);
    check_heap(h);
    n++;
  }
  return n;
}

static void test_heap_order(void **state) {
  static const int64_t dues[] = {50, 10, 40, 10, 90, 0, 70, 30, 20, 60};
  duro_alarm_heap_t h = {0};
  alarm_ent_t *e[10];
  assert_null(duro__alarm_heap_top(&h));
  for (int i = 0; i < 10; i++) {
    e[i] = ent(dues[i]);
    duro__alarm_heap_push(&h, e[i]);
    check_heap(&h);
  }
  assert_int_equal(duro__alarm_heap_top(&h)->due, 0);
  assert_ptr_equal(duro__alarm_heap_top(&h), e[5]);
  assert_int_equal(drain_in_order(&h), 10);
  for (int i = 0; i < 10; i++)
    free(e[i]);
  duro__alarm_heap_free(&h);
}

static void test_heap_delete_from_the_middle(void **state) {
  duro_alarm_heap_t h = {0};
  alarm_ent_t *e[32];
  for (int i = 0; i < 32; i++) {
    e[i] = ent((i * 37) % 32); /* 0..31, shuffled */
    duro__alarm_heap_push(&h, e[i]);
  }
  /* every third one, wherever it sits */
  for (int i = 0; i < 32; i += 3) {
    duro__alarm_heap_remove(&h, e[i]);
    assert_int_equal(e[i]->heap_idx, DURO_ALARM_NOT_QUEUED);
    check_heap(&h);
  }
  /* the last entry in the array, and the top */
  duro__alarm_heap_remove(&h, h.v[h.n - 1]);
  check_heap(&h);
  duro__alarm_heap_remove(&h, duro__alarm_heap_top(&h));
  check_heap(&h);
  assert_int_equal(drain_in_order(&h), 32 - 11 - 2);
  for (int i = 0; i < 32; i++)
    free(e[i]);
  duro__alarm_heap_free(&h);
}

static void test_heap_reschedule(void **state) {
  duro_alarm_heap_t h = {0};
  alarm_ent_t *e[16];
  for (int i = 0; i < 16; i++) {
    e[i] = ent(100 + i * 10);
    duro__alarm_heap_push(&h, e[i]);
  }
  /* the latest becomes the earliest */
  e[15]->due = 1;
  duro__alarm_heap_update(&h, e[15]);
  check_heap(&h);
  assert_ptr_equal(duro__alarm_heap_top(&h), e[15]);
  /* the earliest becomes the latest */
  e[15]->due = 10000;
  duro__alarm_heap_update(&h, e[15]);
  check_heap(&h);
  assert_ptr_equal(duro__alarm_heap_top(&h), e[0]);
  /* one in the middle moves a little either way, and not at all */
  e[7]->due = 125;
  duro__alarm_heap_update(&h, e[7]);
  check_heap(&h);
  e[7]->due = 175;
  duro__alarm_heap_update(&h, e[7]);
  check_heap(&h);
  duro__alarm_heap_update(&h, e[7]);
  check_heap(&h);
  assert_int_equal(drain_in_order(&h), 16);
  for (int i = 0; i < 16; i++)
    free(e[i]);
  duro__alarm_heap_free(&h);
}

/* Random pushes, removals and moves against a model: after each, the
 * heap's top is the model's earliest. */
static void test_heap_many_entries(void **state) {
  enum { N = 5000, OPS = 40000 };
  duro_alarm_heap_t h = {0};
  alarm_ent_t **e = calloc(N, sizeof(*e));
  unsigned seed = 12345;
  for (int i = 0; i < N; i++)
    e[i] = ent(0);
  for (int op = 0; op < OPS; op++) {
    seed = seed * 1103515245u + 12345u;
    alarm_ent_t *a = e[(seed >> 8) % N];
    seed = seed * 1103515245u + 12345u;
    int64_t due = (int64_t)((seed >> 4) % 100000);
    if (a->heap_idx == DURO_ALARM_NOT_QUEUED) {
      a->due = due;
      duro__alarm_heap_push(&h, a);
    } else if (due % 3 == 0) {
      duro__alarm_heap_remove(&h, a);
    } else {
      a->due = due;
      duro__alarm_heap_update(&h, a);
    }
    if (op % 1000 == 0) {
      check_heap(&h);
      int64_t min = INT64_MAX;
      size_t queued = 0;
      for (int i = 0; i < N; i++)
        if (e[i]->heap_idx != DURO_ALARM_NOT_QUEUED) {
          queued++;
          if (e[i]->due < min)
            min = e[i]->due;
        }
      assert_int_equal(queued, h.n);
      if (queued)
        assert_int_equal(duro__alarm_heap_top(&h)->due, min);
    }
  }
  check_heap(&h);
  size_t left = h.n;
  assert_int_equal(drain_in_order(&h), left);
  for (int i = 0; i < N; i++)
    free(e[i]);
  free(e);
  duro__alarm_heap_free(&h);
}

/* ---- the index ---------------------------------------------------------------------- */

static void make_id(char out[65], int n) {
  snprintf(out, 65, "%064x", n);
}

static void test_index(void **state) {
  duro_runtime_t rt;
  memset(&rt, 0, sizeof(rt));
  ns_t ns = {.name = "NS"};
  rt.ns = &ns;
  rt.nns = 1;
  /* 3 alarms each for 100 objects, due 1000 - object, 2000, 3000 */
  enum { OBJECTS = 100 };
  char ids[OBJECTS][65];
  duro_alarm_row_t rows[OBJECTS * 3 + 1];
  memset(rows, 0, sizeof(rows));
  static char *names[3] = {"a", "b", "c"};
  for (int i = 0; i < OBJECTS; i++) {
    make_id(ids[i], i);
    for (int k = 0; k < 3; k++) {
      duro_alarm_row_t *r = &rows[i * 3 + k];
      memcpy(r->object_id, ids[i], 65);
      r->namespace_name = "NS";
      r->alarm_name = names[k];
      r->due_ms = k == 0 ? 1000 - i : 1000 * (k + 1);
    }
  }
  /* one of a namespace no longer bound: skipped */
  memcpy(rows[OBJECTS * 3].object_id, ids[0], 65);
  rows[OBJECTS * 3].namespace_name = "GONE";
  rows[OBJECTS * 3].alarm_name = "x";
  int level = duro_log_level;
  duro_log_level = -1; /* the expected warning */
  assert_int_equal(duro__alarms_restore(&rt, rows, OBJECTS * 3 + 1),
                   OBJECTS * 3);
  duro_log_level = level;
  assert_int_equal(rt.nalarms, OBJECTS * 3);
  assert_int_equal(rt.alarm_heap.n, OBJECTS * 3);
  check_heap(&rt.alarm_heap);

  alarm_ent_t *b7 = duro__alarm_find(&rt, ids[7], "b");
  assert_non_null(b7);
  assert_int_equal(b7->due, 2000);
  assert_null(duro__alarm_find(&rt, ids[7], "x"));
  assert_null(duro__alarm_find(&rt, ids[0], "x"));
  assert_int_equal(duro__alarm_count(&rt, ids[7]), 3);
  char other[65];
  make_id(other, 5000);
  assert_int_equal(duro__alarm_count(&rt, other), 0);

  /* the earliest is object 99's "a", at 901 */
  assert_int_equal(duro__alarm_next_due(&rt), 901);
  assert_null(duro__alarm_take_due(&rt, 900));
  /* everything due by 950: objects 50..99's "a", earliest first */
  int64_t last = 0;
  size_t taken = 0;
  alarm_ent_t *a, *first = NULL;
  while ((a = duro__alarm_take_due(&rt, 950))) {
    assert_true(a->due >= last);
    assert_int_equal(a->running, 1);
    assert_int_equal(a->heap_idx, DURO_ALARM_NOT_QUEUED);
    last = a->due;
    if (!first)
      first = a;
    taken++;
  }
  assert_int_equal(taken, 50);
  /* running: still in the index and counted, not in the heap */
  assert_int_equal(rt.nalarms, OBJECTS * 3);
  assert_int_equal(rt.alarm_heap.n, OBJECTS * 3 - 50);
  assert_ptr_equal(duro__alarm_find(&rt, ids[99], "a"), first);
  assert_int_equal(duro__alarm_count(&rt, ids[99]), 3);
  assert_int_equal(duro__alarm_next_due(&rt), 951);

  /* a retry puts it back, due later */
  first->running = 0;
  duro__alarm_requeue(&rt, first, 1500);
  check_heap(&rt.alarm_heap);
  assert_int_equal(rt.alarm_heap.n, OBJECTS * 3 - 49);
  assert_int_equal(duro__alarm_next_due(&rt), 951);
  /* and moves like any queued one */
  duro__alarm_requeue(&rt, first, 5);
  assert_int_equal(duro__alarm_next_due(&rt), 5);
  check_heap(&rt.alarm_heap);

  duro__alarms_free(&rt);
  assert_int_equal(rt.nalarms, 0);
  assert_null(rt.alarm_buckets);
  assert_int_equal(duro__alarm_next_due(&rt), INT64_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_heap_order),
      cmocka_unit_test(test_heap_delete_from_the_middle),
      cmocka_unit_test(test_heap_reschedule),
      cmocka_unit_test(test_heap_many_entries),
      cmocka_unit_test(test_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
