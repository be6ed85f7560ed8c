/*
 * gather.h: when the output queued during a loop turn is written.
 *
 * Writing each connection once per request costs one send per recipient
 * per message, and on loopback nearly all of a fan-out's CPU is the
 * kernel's send path. So after a turn that read input, the output other
 * connections got is held back briefly, while the connections read from
 * (a publisher waiting for its answer) are written at once: their next
 * requests join the same write pass, which then carries several messages
 * per recipient in one send.
 *
 * Two kinds of hold:
 *  - brief: input came while the loop was idle (a lone message, a low
 *    rate). Poll keeps looking for input without sleeping, and the pass
 *    starts once no input has come for DURO_GATHER_QUIET_US, or max_us
 *    after the hold began. A lone message waits those 50 us.
 *  - sustained: input was already waiting when the last pass ended, so the
 *    writes are what limits the loop. The loop sleeps in poll (a timerfd
 *    ends the hold) for a quarter of the last pass's time, at least max_us
 *    and at most DURO_GATHER_SUSTAINED_X times it: a busy server trades at
 *    most a quarter more latency for sends that carry many messages.
 * A hold also ends as soon as one connection has DURO_GATHER_FULL_FRAMES
 * frames or DURO_GATHER_FULL_BYTES bytes queued (a send is full).
 *
 * Internal to net/: duro_net_set_gather() in conn.h is the public switch.
 */
#ifndef DURO_NET_GATHER_H
#define DURO_NET_GATHER_H

#include <stdint.h>
#include <uv.h>

#define DURO_GATHER_QUIET_US 50u
#define DURO_GATHER_SUSTAINED_X 8u
#define DURO_GATHER_FULL_FRAMES 64u /* writev's iovecs per call in conn.c */
#define DURO_GATHER_FULL_BYTES (64u * 1024u)

/* What duro_gather_decide() answers at a check. */
typedef enum {
  DURO_GATHER_WRITE = 0, /* write everything pending now */
  DURO_GATHER_SPIN,      /* hold; poll must not sleep */
  DURO_GATHER_SLEEP,     /* hold; poll may sleep until hold_ns passes */
  DURO_GATHER_KEEP,      /* go on holding as before */
} duro_gather_step_t;

/* The policy's state; times are uv_hrtime() nanoseconds. */
typedef struct duro_gather_policy {
  unsigned max_us;       /* duro_net_set_gather; 0: write every turn */
  uint8_t holding;       /* output is being held back */
  uint8_t sustained;     /* ... for hold_ns, asleep */
  uint8_t full;          /* a connection's send is full: end the hold */
  uint64_t since;        /* when the hold began */
  uint64_t input_at;     /* the last turn that read, while holding */
  uint64_t hold_ns;      /* a sustained hold's length */
  uint64_t turn_read_at; /* this turn's first read */
  uint64_t written_at;   /* when the last pass after a hold ended */
  uint64_t pass_ns;      /* ... and how long it took */
} duro_gather_policy_t;

/* The decision at the end of a turn (the loop's check phase): got_input
 * when the turn read from a connection, have_output when output other than
 * the readers' own is pending. Pure: no clock, no loop; tested alone. */
duro_gather_step_t duro_gather_decide(duro_gather_policy_t *p, uint64_t now,
                                      int got_input, int have_output);
/* A write pass that ended a hold ran from start to end. */
void duro_gather_written(duro_gather_policy_t *p, uint64_t start, uint64_t end);

/* The policy with the loop handles that carry it out. */
typedef struct duro_gather {
  duro_gather_policy_t p;
  uv_idle_t spinner; /* keeps poll from sleeping during a brief hold */
  uv_poll_t alarm;   /* polls timer_fd during a sustained hold */
  int timer_fd;      /* a timerfd; -1: none, sustained holds spin too */
  uint8_t armed;     /* timer_fd is set and polled */
} duro_gather_t;

void duro_gather_init(duro_gather_t *g, uv_loop_t *loop);
/* Closes the handles (the loop must run once more to finish). */
void duro_gather_close(duro_gather_t *g);
/* The end of a turn: 1 to hold the pending output back, 0 to write it. */
int duro_gather_check(duro_gather_t *g, int got_input, int have_output);

/* A read happened in this turn (for the sustained test). */
static inline void duro_gather_note_read(duro_gather_t *g, int first) {
  if (first)
    g->p.turn_read_at = uv_hrtime();
}

/* A connection's queue reached frames entries and bytes bytes. */
static inline void duro_gather_note_queue(duro_gather_t *g, uint32_t frames,
                                          size_t bytes) {
  if (g->p.holding &&
      (frames >= DURO_GATHER_FULL_FRAMES || bytes >= DURO_GATHER_FULL_BYTES))
    g->p.full = 1;
}

#endif
