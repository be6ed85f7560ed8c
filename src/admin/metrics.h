/*
 * metrics.h: the Prometheus text exposition (format 0.0.4) of what each
 * layer counts: the network (net/conn.h), the runtime and its store
 * (objects/runtime.h, store/store.h) and the process (/proc/self). Every
 * family has # HELP and # TYPE; counters end in _total; units are base
 * units (bytes, seconds). Reading them costs nothing on the hot path: the
 * counters are plain fields the layers increment anyway.
 */
#ifndef DURO_ADMIN_METRICS_H
#define DURO_ADMIN_METRICS_H

#include "core/buf.h"
#include "core/histo.h"
#include "net/conn.h"
#include "objects/runtime.h"

/* Appends every family to b. rt may be NULL (no runtime in this process:
 * its families are left out), and loop_lag too (no lag probe). */
void duro_metrics_write(duro_buf_t *b, const duro_net_t *net,
                        const duro_runtime_t *rt, const duro_histo_t *loop_lag);

/* The process's resident set size (0 when /proc is unreadable). */
uint64_t duro_metrics_rss_bytes(void);

#endif
