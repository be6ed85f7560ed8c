/*
 * histo.h: a latency histogram with fixed bucket bounds, for metrics.
 * Adding a sample is a few compares and two increments: no lock, no
 * allocation (one loop thread writes it; readers run on the same loop).
 */
#ifndef DURO_CORE_HISTO_H
#define DURO_CORE_HISTO_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds, ascending: 0.5 ms to 5 s, then +Inf. */
#define DURO_HISTO_BUCKETS 13
extern const double duro_histo_bounds[DURO_HISTO_BUCKETS];

typedef struct duro_histo {
  uint64_t counts[DURO_HISTO_BUCKETS + 1]; /* per bucket, not cumulative;
                                               the last is +Inf */
  uint64_t count;
  uint64_t sum_ns;
} duro_histo_t;

/* Records one sample of ns nanoseconds. */
void duro_histo_add(duro_histo_t *h, uint64_t ns);

/* The q-quantile (0 < q <= 1), in seconds, of the samples recorded
 * between then (an earlier copy of now; NULL: since the start) and now,
 * estimated as Prometheus's histogram_quantile does: linearly within the
 * bucket it falls in. Past the last bound it is that bound; with no
 * samples, 0. */
double duro_histo_quantile(const duro_histo_t *now, const duro_histo_t *then,
                           double q);

#endif
