/*
 * gather.c: when the output queued during a loop turn is written; see
 * gather.h for the policy and why.
 */
#include "net/gather.h"

#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NS_PER_US 1000u

duro_gather_step_t duro_gather_decide(duro_gather_policy_t *p, uint64_t now,
                                      int got_input, int have_output) {
  if (!p->holding) {
    if (!got_input || !have_output || !p->max_us)
      return DURO_GATHER_WRITE;
    uint64_t min_ns = (uint64_t)p->max_us * NS_PER_US;
    p->holding = 1;
    p->full = 0;
    p->since = p->input_at = now;
    /* Input read right after the last pass (within a quarter of the time
     * the pass took, at most the quiet time) was waiting while it was
     * written: the writes are behind, so hold long enough to make each
     * send carry more. */
    uint64_t gap = p->turn_read_at - p->written_at;
    p->sustained = p->written_at && gap < DURO_GATHER_QUIET_US * NS_PER_US &&
                   gap < p->pass_ns / 4;
    if (!p->sustained)
      return DURO_GATHER_SPIN;
    p->hold_ns = p->pass_ns / 4;
    if (p->hold_ns < min_ns)
      p->hold_ns = min_ns;
    if (p->hold_ns > min_ns * DURO_GATHER_SUSTAINED_X)
      p->hold_ns = min_ns * DURO_GATHER_SUSTAINED_X;
    return DURO_GATHER_SLEEP;
  }
  if (got_input)
    p->input_at = now;
  int more = p->sustained
                 ? now - p->since < p->hold_ns
                 : now - p->input_at < DURO_GATHER_QUIET_US * NS_PER_US &&
                       now - p->since < (uint64_t)p->max_us * NS_PER_US;
  if (more && !p->full)
    return DURO_GATHER_KEEP;
  p->holding = 0;
  p->full = 0;
  return DURO_GATHER_WRITE;
}

void duro_gather_written(duro_gather_policy_t *p, uint64_t start, uint64_t end) {
  p->written_at = end;
  p->pass_ns = end - start;
}

/* ---- carrying it out on the loop ----------------------------------------- */

static void on_spin(uv_idle_t *h) { (void)h; /* poll must not sleep */ }

/* The sustained hold's time is up: the check phase right after this poll
 * sees it and writes. Only the timerfd needs reading. */
static void on_alarm(uv_poll_t *h, int status, int events) {
  duro_gather_t *g = h->data;
  uint64_t expirations;
  (void)status;
  (void)events;
  if (read(g->timer_fd, &expirations, sizeof(expirations)) < 0) {
    /* EAGAIN: nothing to clear */
  }
}

static int arm(duro_gather_t *g, uint64_t ns) {
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  its.it_value.tv_sec = (time_t)(ns / 1000000000u);
  its.it_value.tv_nsec = (long)(ns % 1000000000u);
  if (g->timer_fd < 0 || timerfd_settime(g->timer_fd, 0, &its, NULL) != 0)
    return 0;
  uv_poll_start(&g->alarm, UV_READABLE, on_alarm);
  g->armed = 1;
  return 1;
}

static void disarm(duro_gather_t *g) {
  struct itimerspec off;
  memset(&off, 0, sizeof(off));
  timerfd_settime(g->timer_fd, 0, &off, NULL);
  uv_poll_stop(&g->alarm);
  g->armed = 0;
}

void duro_gather_init(duro_gather_t *g, uv_loop_t *loop) {
  memset(g, 0, sizeof(*g));
  uv_idle_init(loop, &g->spinner);
  g->spinner.data = g;
  uv_unref((uv_handle_t *)&g->spinner);
  g->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (g->timer_fd >= 0 && uv_poll_init(loop, &g->alarm, g->timer_fd) != 0) {
    close(g->timer_fd);
    g->timer_fd = -1;
  }
  g->alarm.data = g;
}

static void close_timer_fd(uv_handle_t *h) {
  duro_gather_t *g = h->data;
  close(g->timer_fd);
  g->timer_fd = -1;
}

void duro_gather_close(duro_gather_t *g) {
  uv_idle_stop(&g->spinner);
  uv_close((uv_handle_t *)&g->spinner, NULL);
  if (g->timer_fd >= 0) {
    uv_poll_stop(&g->alarm);
    uv_close((uv_handle_t *)&g->alarm, close_timer_fd);
  }
  g->p.holding = 0;
}

int duro_gather_check(duro_gather_t *g, int got_input, int have_output) {
  switch (duro_gather_decide(&g->p, uv_hrtime(), got_input, have_output)) {
  case DURO_GATHER_KEEP:
    return 1;
  case DURO_GATHER_SLEEP:
    if (arm(g, g->p.hold_ns))
      return 1;
    /* no timerfd: spin through the hold instead */
    uv_idle_start(&g->spinner, on_spin);
    return 1;
  case DURO_GATHER_SPIN:
    uv_idle_start(&g->spinner, on_spin);
    return 1;
  case DURO_GATHER_WRITE:
    break;
  }
  if (g->armed)
    disarm(g);
  uv_idle_stop(&g->spinner);
  return 0;
}
