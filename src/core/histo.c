/*
 * histo.c: see histo.h.
 */
#include "core/histo.h"

const double duro_histo_bounds[DURO_HISTO_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1.0,   2.5,  5.0};

/* The same bounds in nanoseconds, for the compares. */
static const uint64_t bounds_ns[DURO_HISTO_BUCKETS] = {
    500000ull,     1000000ull,   2500000ull,   5000000ull,   10000000ull,
    25000000ull,   50000000ull,  100000000ull, 250000000ull, 500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull};

void duro_histo_add(duro_histo_t *h, uint64_t ns) {
  size_t i = 0;
  while (i < DURO_HISTO_BUCKETS && ns > bounds_ns[i])
    i++;
  h->counts[i]++;
  h->count++;
  h->sum_ns += ns;
}
