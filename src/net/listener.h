/*
 * listener.h: listening sockets that accept into connections (net/conn.h).
 *
 * Design notes:
 * - Listeners accept with accept4 themselves (a uv_poll on the listening
 *   socket) rather than through uv_listen, so that running out of file
 *   descriptors is seen: accepting pauses with a growing backoff (100 ms
 *   to 1 s) and one warning, waiting connections stay in the kernel's
 *   backlog, and accepting resumes once descriptors are free. libuv's own
 *   answer (uv_listen: close a reserve descriptor, accept and drop every
 *   waiting connection, reopen the reserve) hides the condition from us,
 *   drops clients that would have been served a moment later, and, if
 *   the reserve cannot be reopened, calls back with EMFILE in a loop.
 */
#ifndef DURO_NET_LISTENER_H
#define DURO_NET_LISTENER_H

#include <stdint.h>
#include <uv.h>

typedef struct duro_conn duro_conn_t;
typedef struct duro_net duro_net_t;
typedef struct duro_listener duro_listener_t;

typedef void (*duro_accept_cb)(duro_listener_t *l, duro_conn_t *c);

struct duro_listener {
  uv_poll_t poll;           /* the listening socket is readable */
  uv_timer_t backoff;       /* out of descriptors: when to try again */
  duro_net_t *net;
  duro_accept_cb on_accept; /* must set the protocol of the new connection */
  void *data;
  int fd;                   /* the listening socket */
  int active;               /* listening; stop closes it once */
  unsigned backoff_ms;      /* 0: accepting normally */
  struct duro_tls *tls;     /* set after start: connections speak TLS
                               (net/tls.h), NULL: plain TCP */
  int unmetered;            /* skips the per-client rate limits (set it
                               after start: the admin listener, which has
                               its own door) */
  uint64_t starved_since_ms;
  uint64_t starved_warned_ms;
};

/* Binds host:port and starts accepting. Returns 0 or a negative DURO_E*
 * code (errno values, as libuv's are); err gets a readable reason ("127.0.0.1:8787: address already in use"). */
int duro_listener_start(duro_listener_t *l, duro_net_t *net, const char *host,
                        int port, duro_accept_cb cb, void *data, char *err,
                        size_t errlen);
/* Stops accepting and closes the listening socket. */
void duro_listener_stop(duro_listener_t *l);
/* The port actually bound (useful with port 0), or DURO_ECLOSED when the
 * listener is not listening. */
int duro_listener_port(duro_listener_t *l);

#endif
