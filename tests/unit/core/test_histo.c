/*
 * test_histo.c: core/histo.c. A sample lands in the first bucket whose
 * bound it does not exceed (a bound is inclusive, as Prometheus's "le");
 * past the last bound it lands in +Inf; count and sum follow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/histo.h"

static void test_buckets(void **state) {
  duro_histo_t h;
  memset(&h, 0, sizeof(h));
  duro_histo_add(&h, 0);            /* 0.0005 */
  duro_histo_add(&h, 500000);       /* exactly 0.5 ms: still 0.0005 */
  duro_histo_add(&h, 500001);       /* 0.001 */
  duro_histo_add(&h, 30000000);     /* 30 ms: 0.05 */
  duro_histo_add(&h, 5000000000ull); /* 5 s: the last bound */
  duro_histo_add(&h, 9000000000ull); /* +Inf */
  assert_int_equal(h.counts[0], 2);
  assert_int_equal(h.counts[1], 1);
  assert_int_equal(h.counts[6], 1);
  assert_int_equal(h.counts[DURO_HISTO_BUCKETS - 1], 1);
  assert_int_equal(h.counts[DURO_HISTO_BUCKETS], 1);
  assert_int_equal(h.count, 6);
  assert_int_equal(h.sum_ns, 0 + 500000 + 500001 + 30000000 + 5000000000ull +
                                 9000000000ull);
  for (size_t i = 1; i < DURO_HISTO_BUCKETS; i++)
    assert_true(duro_histo_bounds[i] > duro_histo_bounds[i - 1]);
  assert_true(duro_histo_bounds[6] == 0.05);
}

/* Quantiles of an interval: only the samples between the two copies
 * count, interpolated within their bucket; none gives 0; +Inf gives the
 * last bound. */
static void test_quantile(void **state) {
  duro_histo_t h, then;
  memset(&h, 0, sizeof(h));
  assert_true(duro_histo_quantile(&h, NULL, 0.99) == 0);
  for (int i = 0; i < 100; i++)
    duro_histo_add(&h, 300000000); /* 300 ms: the (0.25, 0.5] bucket */
  then = h;
  assert_true(duro_histo_quantile(&h, &then, 0.99) == 0);
  for (int i = 0; i < 100; i++)
    duro_histo_add(&h, 700000); /* 0.7 ms: the (0.0005, 0.001] bucket */
  double p50 = duro_histo_quantile(&h, &then, 0.5);
  assert_true(p50 > 0.0005 && p50 <= 0.001);
  assert_true(duro_histo_quantile(&h, &then, 1.0) == 0.001);
  /* over the whole history the 300 ms samples are the top half */
  double p99 = duro_histo_quantile(&h, NULL, 0.99);
  assert_true(p99 > 0.25 && p99 <= 0.5);
  then = h;
  duro_histo_add(&h, 9000000000ull);
  assert_true(duro_histo_quantile(&h, &then, 0.5) == 5.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets),
      cmocka_unit_test(test_quantile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
