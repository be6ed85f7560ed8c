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

double duro_histo_quantile(const duro_histo_t *now, const duro_histo_t *then,
                           double q) {
  uint64_t total = now->count - (then ? then->count : 0);
  if (total == 0)
    return 0;
  double rank = q * (double)total;
  uint64_t cum = 0;
  for (size_t i = 0; i < DURO_HISTO_BUCKETS; i++) {
    uint64_t n = now->counts[i] - (then ? then->counts[i] : 0);
    if (n && (double)(cum + n) >= rank) {
      double lo = i ? duro_histo_bounds[i - 1] : 0, hi = duro_histo_bounds[i];
      return lo + (hi - lo) * ((rank - (double)cum) / (double)n);
    }
    cum += n;
  }
  return duro_histo_bounds[DURO_HISTO_BUCKETS - 1];
}
