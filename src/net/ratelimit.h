/*
 * ratelimit.h: per-client rate limits: token buckets for new connections
 * and for WebSocket messages, keyed by the peer's address.
 *
 * The table is allocated once, at a fixed capacity, and never grows: a
 * connection or a message costs a hash lookup or an index, no allocation.
 * Each entry holds two token buckets (connections, messages) and the
 * number of open connections from that peer. A connection holds the
 * entry's slot number for its lifetime, so a message needs no lookup.
 *
 * Eviction: entries with no open connection sit on an idle list in the
 * order they became idle; when the table is full the longest-idle entry
 * is reused. Entries with open connections are never evicted (their
 * connections point at them). When every entry is busy, a new peer is let
 * through untracked (slot 0): failing open keeps a table sized for the
 * expected number of peers from turning into a denial of service.
 *
 * Keys: an IPv4 address, or the /64 prefix of an IPv6 address (one host
 * usually owns a whole /64, so a finer key would let it take 2^64 fresh
 * buckets). IPv4-mapped IPv6 addresses count as IPv4.
 *
 * Buckets refill lazily from the caller's clock (milliseconds, e.g.
 * uv_now), in thousandths of a token so integer rates stay exact. The
 * module is pure: no I/O, no logging, no clock of its own.
 */
#ifndef DURO_NET_RATELIMIT_H
#define DURO_NET_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

typedef struct duro_ratelimit duro_ratelimit_t;

typedef struct duro_ratelimit_opts {
  unsigned conn_per_s, conn_burst; /* conn_per_s 0: connections unlimited */
  unsigned msg_per_s, msg_burst;   /* msg_per_s 0: messages unlimited */
  size_t capacity;                 /* entries; rounded up to a power of 2 */
  int exempt_loopback;             /* 127.0.0.0/8 and ::1 are not limited */
} duro_ratelimit_opts_t;

/* The peer's key: 16 bytes (IPv4 in the first 4, IPv6 /64 in the first 8,
 * a family tag in the last). */
typedef struct duro_rl_key {
  uint8_t b[16];
} duro_rl_key_t;

/* Fills key from an AF_INET or AF_INET6 address. Returns 1 when it is a
 * loopback address, 0 when not, DURO_EINVAL for another family. */
int duro_rl_key_from_sockaddr(duro_rl_key_t *key, const struct sockaddr *sa);

/* Allocates a table per opts (copied). seed randomises the hash so that
 * peers cannot choose colliding addresses. Free with duro_ratelimit_free. */
duro_ratelimit_t *duro_ratelimit_new(const duro_ratelimit_opts_t *opts,
                                     uint64_t seed);
void duro_ratelimit_free(duro_ratelimit_t *rl);

/*
 * A connection from key was accepted at now_ms: takes a connection token
 * and counts the connection as open. Returns its slot (pass it to
 * duro_ratelimit_message and duro_ratelimit_disconnect), or 0 when the
 * peer is exempt or the table is full of busy entries (untracked: not
 * limited, nothing to disconnect).
 * *retry_ms is 0 when the connection is within the rate, else the time in
 * ms until a token is back (the caller refuses it; it still counts as
 * open until disconnected).
 */
uint32_t duro_ratelimit_connect(duro_ratelimit_t *rl, const duro_rl_key_t *key,
                                uint64_t now_ms, uint32_t *retry_ms);

/* The connection holding slot closed. slot 0 is ignored. */
void duro_ratelimit_disconnect(duro_ratelimit_t *rl, uint32_t slot);

/* A message arrived on a connection holding slot: takes a message token.
 * Returns 0 when within the rate (or slot is 0), 1 when over it. */
int duro_ratelimit_message(duro_ratelimit_t *rl, uint32_t slot,
                           uint64_t now_ms);

/* Entries in use (busy or idle), for tests and stats. */
size_t duro_ratelimit_entries(const duro_ratelimit_t *rl);

#endif
