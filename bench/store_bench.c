/*
 * store_bench.c: commit throughput and latency of the storage worker
 * (src/store), on SQLite or on PostgreSQL, driven the way the runtime
 * drives it.
 *
 *   store_bench (--sqlite DIR | --postgres CONNINFO) --objects K
 *               [--seconds S] [--batches N] [--keys P] [--value-bytes V]
 *               [--sync full|normal] [--label NAME]
 *
 * K objects (64-hex ids), each with at most one commit in flight: an
 * object's next batch is submitted from the callback of its previous one,
 * on the loop thread, as duro's output gate makes an object's next event
 * wait for its previous commit. Each batch is P puts (keys "k0".."k<P-1>",
 * the same keys every time, so the object's rows are overwritten) of V
 * bytes each. The store groups whatever commits are queued when its
 * worker wakes (up to 256 per transaction; one pipeline on PostgreSQL), so
 * with K = 1 nothing can be grouped and with many objects it can.
 *
 * Phases. Warm-up: every object commits one batch (inserting its objects
 * row and its keys), not measured. Then the measured phase starts for all
 * objects at once and stops submitting after S seconds or N batches,
 * whichever comes first; the commits in flight then finish (they are
 * counted) and the store is closed. A watchdog ends the program (exit 1)
 * if the store stops answering.
 *
 * Figures (one RESULT line of key=value for scripts, and a summary):
 * batches committed per second (measured batches / the time from the
 * start of the phase to the last callback), each commit's latency from
 * duro_store_commit to its callback (p50/p99/max, exact: every sample is
 * kept and sorted; p99 is the nearest-rank one), transactions and batches per transaction
 * (duro_store_group_sizes, measured phase only), and this process's CPU
 * (loop + store worker; on PostgreSQL the server's CPU is not in it).
 *
 * Exit status: 0 every commit succeeded, 1 a commit failed or the watchdog
 * fired, 2 bad usage or the store did not open.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <uv.h>

#include "core/err.h"
#include "store/store.h"

#define MAX_OBJECTS 100000
#define MAX_KEYS 64
#define MAX_VALUE 65536
#define WATCHDOG_MS 30000 /* no callback for this long: give up */

typedef struct bench bench_t;

typedef struct {
  bench_t *b;
  char id[65];
  uint64_t submitted_ns; /* of the commit in flight */
  uint64_t seq;          /* batches this object submitted */
  int measured;          /* the commit in flight counts */
} object_t;

struct bench {
  uv_loop_t loop;
  duro_store_t *store;
  uv_timer_t timer;
  object_t *objects;
  size_t nobjects;
  /* workload */
  unsigned keys;
  size_t value_bytes;
  uint8_t *value;
  double seconds;
  uint64_t max_batches;
  /* state */
  enum { PHASE_WARMUP, PHASE_RUN, PHASE_DRAIN, PHASE_CLOSING } phase;
  size_t warm_done;
  size_t in_flight;
  uint64_t submitted; /* measured batches submitted */
  uint64_t committed; /* measured batches committed */
  uint64_t failed;
  int first_error;
  uint64_t start_ns, deadline_ns, end_ns, last_cb_ns;
  uint64_t *lat_ns; /* one per measured commit */
  size_t lat_n, lat_cap;
  uint64_t groups0[DURO_STORE_GROUP_BUCKETS], tx0, batches0;
  uint64_t groups1[DURO_STORE_GROUP_BUCKETS], tx1, batches1;
  struct rusage ru0, ru1;
  int closed;
};

static void submit(object_t *o);

static void die_usage(const char *why) {
  if (why)
    fprintf(stderr, "store_bench: %s\n", why);
  fprintf(stderr,
          "usage: store_bench (--sqlite DIR | --postgres CONNINFO) --objects K\n"
          "                   [--seconds S] [--batches N] [--keys P]\n"
          "                   [--value-bytes V] [--sync full|normal]"
          " [--label NAME]\n");
  exit(2);
}

static uint64_t parse_u64(const char *s, const char *what, uint64_t lo,
                          uint64_t hi) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s must be an integer in [%" PRIu64
             ", %" PRIu64 "]", what, lo, hi);
    die_usage(msg);
  }
  return v;
}

static double cpu_s(const struct rusage *ru) {
  return ru->ru_utime.tv_sec + ru->ru_stime.tv_sec +
         (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

static void on_closed(void *data) {
  bench_t *b = data;
  b->closed = 1;
  uv_close((uv_handle_t *)&b->timer, NULL);
}

/* Every measured commit has answered (or the watchdog fired): read the
 * counters and close the store. */
static void finish(bench_t *b) {
  if (b->phase == PHASE_CLOSING)
    return;
  b->phase = PHASE_CLOSING;
  b->end_ns = b->last_cb_ns ? b->last_cb_ns : uv_hrtime();
  getrusage(RUSAGE_SELF, &b->ru1);
  duro_store_group_sizes(b->store, b->groups1, &b->tx1, &b->batches1);
  uv_timer_stop(&b->timer);
  duro_store_close(b->store, on_closed, b);
}

static void start_run(bench_t *b) {
  b->phase = PHASE_RUN;
  duro_store_group_sizes(b->store, b->groups0, &b->tx0, &b->batches0);
  getrusage(RUSAGE_SELF, &b->ru0);
  b->start_ns = uv_hrtime();
  b->deadline_ns = b->start_ns + (uint64_t)(b->seconds * 1e9);
  for (size_t i = 0; i < b->nobjects && b->phase == PHASE_RUN; i++)
    submit(&b->objects[i]);
}

static void on_commit(int status, void *data) {
  object_t *o = data;
  bench_t *b = o->b;
  uint64_t now = uv_hrtime();

  b->in_flight--;
  b->last_cb_ns = now;
  if (status < 0) {
    b->failed++;
    if (!b->first_error)
      b->first_error = status;
    if (b->phase == PHASE_RUN || b->phase == PHASE_WARMUP)
      b->phase = PHASE_DRAIN; /* stop at the first failure */
  } else if (o->measured) {
    if (b->lat_n == b->lat_cap) {
      b->lat_cap = b->lat_cap ? b->lat_cap * 2 : 65536;
      b->lat_ns = realloc(b->lat_ns, b->lat_cap * sizeof(*b->lat_ns));
      if (!b->lat_ns) {
        fprintf(stderr, "store_bench: out of memory\n");
        exit(1);
      }
    }
    b->lat_ns[b->lat_n++] = now - o->submitted_ns;
    b->committed++;
  }

  switch (b->phase) {
  case PHASE_WARMUP:
    if (++b->warm_done == b->nobjects)
      start_run(b);
    break;
  case PHASE_RUN:
    if (now >= b->deadline_ns ||
        (b->max_batches && b->submitted >= b->max_batches))
      b->phase = PHASE_DRAIN;
    else
      submit(o);
    break;
  default:
    break;
  }
  if (b->phase == PHASE_DRAIN && b->in_flight == 0)
    finish(b);
}

static void submit(object_t *o) {
  bench_t *b = o->b;
  duro_store_batch_t *batch = duro_store_batch_new(o->id, "bench", NULL);
  char key[16];

  /* The value changes with every batch (its first bytes carry the seq),
   * so no engine can skip a write as a no-op. */
  memcpy(b->value, &o->seq, b->value_bytes < 8 ? b->value_bytes : 8);
  for (unsigned k = 0; k < b->keys; k++) {
    int n = snprintf(key, sizeof(key), "k%u", k);
    duro_store_batch_put(batch, key, (size_t)n, b->value, b->value_bytes);
  }
  o->seq++;
  o->measured = b->phase == PHASE_RUN;
  if (o->measured)
    b->submitted++;
  b->in_flight++;
  o->submitted_ns = uv_hrtime();
  duro_store_commit(b->store, batch, on_commit, o);
}

/* Every 100 ms: end the run at its deadline even if no callback comes
 * (a stalled store), and give up after WATCHDOG_MS of silence. */
static void on_tick(uv_timer_t *t) {
  bench_t *b = t->data;
  uint64_t now = uv_hrtime();
  uint64_t since = b->last_cb_ns ? b->last_cb_ns : b->start_ns;
  if (b->phase == PHASE_RUN && now >= b->deadline_ns)
    b->phase = PHASE_DRAIN;
  if (since && now - since > (uint64_t)WATCHDOG_MS * 1000000) {
    fprintf(stderr,
            "store_bench: no commit answered for %d s (%zu in flight); "
            "giving up\n",
            WATCHDOG_MS / 1000, b->in_flight);
    exit(1); /* closing would wait for those jobs: just go */
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in ms. */
static double pct_ms(const uint64_t *v, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (r < 1)
    r = 1;
  if (r > n)
    r = n;
  return (double)v[r - 1] / 1e6;
}

int main(int argc, char **argv) {
  static bench_t bench;
  bench_t *b = &bench;
  const char *sqlite_dir = NULL, *conninfo = NULL, *label = "";
  int sync_full = 1;
  uint64_t objects = 0;
  char err[512];

  b->keys = 2;
  b->value_bytes = 100;
  b->seconds = 10;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      die_usage("every option takes a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--sqlite"))
      sqlite_dir = v;
    else if (!strcmp(a, "--postgres"))
      conninfo = v;
    else if (!strcmp(a, "--objects"))
      objects = parse_u64(v, "--objects", 1, MAX_OBJECTS);
    else if (!strcmp(a, "--seconds"))
      b->seconds = (double)parse_u64(v, "--seconds", 1, 3600);
    else if (!strcmp(a, "--batches"))
      b->max_batches = parse_u64(v, "--batches", 1, 100000000);
    else if (!strcmp(a, "--keys"))
      b->keys = (unsigned)parse_u64(v, "--keys", 1, MAX_KEYS);
    else if (!strcmp(a, "--value-bytes"))
      b->value_bytes = parse_u64(v, "--value-bytes", 1, MAX_VALUE);
    else if (!strcmp(a, "--label"))
      label = v;
    else if (!strcmp(a, "--sync")) {
      if (!strcmp(v, "full"))
        sync_full = 1;
      else if (!strcmp(v, "normal"))
        sync_full = 0;
      else
        die_usage("--sync is full or normal");
    } else
      die_usage("unknown option");
  }
  if (!sqlite_dir == !conninfo)
    die_usage("give exactly one of --sqlite DIR and --postgres CONNINFO");
  if (!objects)
    die_usage("--objects is required");

  b->nobjects = objects;
  b->objects = calloc(objects, sizeof(*b->objects));
  b->value = malloc(b->value_bytes);
  if (!b->objects || !b->value) {
    fprintf(stderr, "store_bench: out of memory\n");
    return 2;
  }
  for (size_t i = 0; i < b->value_bytes; i++)
    b->value[i] = (uint8_t)('a' + i % 26);
  for (size_t i = 0; i < objects; i++) {
    b->objects[i].b = b;
    /* 64 lowercase hex: a fixed prefix and the index */
    snprintf(b->objects[i].id, sizeof(b->objects[i].id),
             "be0c%044x%016zx", 0u, i);
  }

  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, "store_bench: uv_loop_init failed\n");
    return 2;
  }
  int rc;
  char path[4096];
  if (sqlite_dir) {
    if (mkdir(sqlite_dir, 0700) != 0 && errno != EEXIST) {
      fprintf(stderr, "store_bench: mkdir %s: %s\n", sqlite_dir,
              strerror(errno));
      return 2;
    }
    snprintf(path, sizeof(path), "%s/duro.db", sqlite_dir);
    rc = duro_store_open(&b->loop, path, sync_full, &b->store, err,
                         sizeof(err));
  } else {
    rc = duro_store_open_postgres(&b->loop, conninfo, 0, &b->store, err,
                                  sizeof(err));
  }
  if (rc < 0) {
    fprintf(stderr, "store_bench: opening the store: %s (%s)\n", err,
            duro_err_name(rc));
    return 2;
  }

  uv_timer_init(&b->loop, &b->timer);
  b->timer.data = b;
  uv_timer_start(&b->timer, on_tick, 100, 100);
  b->phase = PHASE_WARMUP;
  b->start_ns = uv_hrtime(); /* the watchdog's origin until the first cb */
  for (size_t i = 0; i < objects && b->phase == PHASE_WARMUP; i++)
    submit(&b->objects[i]);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  uv_loop_close(&b->loop);

  const char *engine = sqlite_dir ? "sqlite" : "postgres";
  if (b->failed)
    fprintf(stderr, "store_bench: %" PRIu64 " commits failed, the first "
            "with %s\n", b->failed, duro_err_name(b->first_error));

  qsort(b->lat_ns, b->lat_n, sizeof(*b->lat_ns), cmp_u64);
  double secs = b->end_ns > b->start_ns ? (b->end_ns - b->start_ns) / 1e9 : 0;
  uint64_t tx = b->tx1 - b->tx0, nb = b->batches1 - b->batches0;
  double bps = secs > 0 ? (double)b->committed / secs : 0;
  double per_tx = tx ? (double)nb / (double)tx : 0;
  double cpu = cpu_s(&b->ru1) - cpu_s(&b->ru0);
  double p50 = pct_ms(b->lat_ns, b->lat_n, 50);
  double p99 = pct_ms(b->lat_ns, b->lat_n, 99);
  double max = b->lat_n ? b->lat_ns[b->lat_n - 1] / 1e6 : 0;
  double mean = 0;
  for (size_t i = 0; i < b->lat_n; i++)
    mean += (double)b->lat_ns[i];
  mean = b->lat_n ? mean / (double)b->lat_n / 1e6 : 0;

  printf("store_bench %s%s%s: %zu objects, %u puts x %zu bytes per batch, "
         "%s\n",
         engine, *label ? " " : "", label, b->nobjects, b->keys,
         b->value_bytes,
         sqlite_dir ? (sync_full ? "synchronous=FULL" : "synchronous=NORMAL")
                    : "synchronous_commit=on");
  printf("  %" PRIu64 " batches in %.2f s: %.0f batches/s; %" PRIu64
         " transactions, %.1f batches per transaction\n",
         b->committed, secs, bps, tx, per_tx);
  printf("  commit latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms, "
         "mean %.2f ms\n", p50, p99, max, mean);
  printf("  transactions by batches:");
  for (int i = 0; i < DURO_STORE_GROUP_BUCKETS; i++) {
    uint64_t n = b->groups1[i] - b->groups0[i];
    if (n)
      printf(" <=%u:%" PRIu64, duro_store_group_bounds[i], n);
  }
  printf("\n  this process's CPU: %.2f s (%.1f us per batch)\n", cpu,
         b->committed ? cpu * 1e6 / (double)b->committed : 0);
  printf("RESULT engine=%s label=%s objects=%zu keys=%u value_bytes=%zu "
         "sync=%s batches=%" PRIu64 " seconds=%.3f batches_per_s=%.1f "
         "transactions=%" PRIu64 " batches_per_tx=%.2f p50_ms=%.3f "
         "p99_ms=%.3f max_ms=%.3f mean_ms=%.3f cpu_s=%.2f failed=%" PRIu64
         "\n",
         engine, *label ? label : "-", b->nobjects, b->keys, b->value_bytes,
         sqlite_dir ? (sync_full ? "full" : "normal") : "on", b->committed,
         secs, bps, tx, per_tx, p50, p99, max, mean, cpu, b->failed);
  fflush(stdout);

  free(b->lat_ns);
  free(b->objects);
  free(b->value);
  return b->failed || !b->closed ? 1 : 0;
}
