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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
