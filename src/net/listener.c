/*
 * listener.c: listening sockets; see listener.h.
 */
#include "net/listener.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/conn_impl.h"

#define ACCEPTS_PER_EVENT 128 /* bound the work of one readable listener */
#define BACKOFF_MIN_MS 100    /* out of descriptors: first pause */
#define BACKOFF_MAX_MS 1000
#define STARVED_WARN_MS 10000 /* repeat the warning while it lasts */

/* Wraps an accepted socket in a connection and hands it to the listener's
 * callback. Takes fd over. */
static void adopt(duro_listener_t *l, int fd, const struct sockaddr *sa) {
  duro_conn_t *c = duro__conn_adopt(l->net, fd, l->unmetered ? NULL : sa);
  if (!c)
    return;
  if (l->tls && duro__conn_start_tls(c, l->tls) < 0) {
    duro_conn_close(c); /* past DURO_TLS_MAX_HANDSHAKES in progress */
    return;
  }
  l->on_accept(l, c);
  if (!c->closed)
    duro_conn_resume_reading(c);
}

static void on_listen_readable(uv_poll_t *p, int status, int events);

static void on_backoff(uv_timer_t *t) {
  duro_listener_t *l = t->data;
  if (l->active)
    uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
}

/* accept failed for lack of descriptors (or another resource): stop
 * watching the listening socket for a while instead of spinning on it,
 * which a level-triggered poll would do. The waiting connections stay in
 * the kernel's backlog until descriptors are free again. */
static void starve(duro_listener_t *l, int err) {
  uint64_t now = uv_now(l->net->loop);
  l->net->accept_pauses++;
  if (!l->backoff_ms) {
    l->backoff_ms = BACKOFF_MIN_MS;
    l->starved_since_ms = now;
  } else if ((l->backoff_ms *= 2) > BACKOFF_MAX_MS) {
    l->backoff_ms = BACKOFF_MAX_MS;
  }
  if (!l->starved_warned_ms || now - l->starved_warned_ms >= STARVED_WARN_MS) {
    l->starved_warned_ms = now;
    duro_log_warn("accept: %s (%zu connections open): accepting paused, "
                  "new connections wait in the backlog; retrying with a "
                  "backoff of %u to %u ms",
                  strerror(err), l->net->nconns, BACKOFF_MIN_MS,
                  BACKOFF_MAX_MS);
  }
  uv_poll_stop(&l->poll);
  uv_timer_start(&l->backoff, on_backoff, l->backoff_ms, 0);
}

static void on_listen_readable(uv_poll_t *p, int status, int events) {
  duro_listener_t *l = p->data;
  for (int i = 0; i < ACCEPTS_PER_EVENT && l->active; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK)
        return;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO)
        continue; /* that connection is gone; the next may be fine */
      starve(l, e); /* EMFILE, ENFILE, ENOBUFS, ENOMEM, ... */
      return;
    }
    if (l->backoff_ms) {
      duro_log_info("accept: accepting again after %llu ms without "
                    "descriptors",
                    (unsigned long long)(uv_now(l->net->loop) -
                                         l->starved_since_ms));
      l->backoff_ms = 0;
      l->starved_warned_ms = 0;
    }
    adopt(l, fd, (struct sockaddr *)&ss);
  }
}

int duro_listener_start(duro_listener_t *l, duro_net_t *net, const char *host,
                        int port, duro_accept_cb cb, void *data, char *err,
                        size_t errlen) {
  struct sockaddr_storage addr;
  int rc, on = 1;
  memset(l, 0, sizeof(*l));
  l->net = net;
  l->on_accept = cb;
  l->data = data;
  l->fd = -1;
  if (strchr(host, ':')) /* C string: --host */
    rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
  else
    rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
  if (rc < 0) {
    return duro_err_fmt(rc, err, errlen, "%s: not an IP address", host);
  }
  socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                               : sizeof(struct sockaddr_in);
  l->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (l->fd >= 0 && addr.ss_family == AF_INET6) {
    int off = 0; /* "::" takes IPv4 too, as with uv_tcp_bind */
    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (l->fd < 0 ||
      setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
      bind(l->fd, (struct sockaddr *)&addr, alen) < 0 ||
      listen(l->fd, 4096) < 0) {
    rc = -errno;
    duro_err_fmt(rc, err, errlen, "%s:%d: %s", host, port, uv_strerror(rc));
    if (l->fd >= 0)
      close(l->fd);
    l->fd = -1;
    return rc;
  }
  rc = uv_poll_init_socket(net->loop, &l->poll, l->fd);
  if (rc < 0) {
    duro_err_fmt(rc, err, errlen, "%s:%d: %s", host, port, uv_strerror(rc));
    close(l->fd);
    l->fd = -1;
    return rc;
  }
  l->poll.data = l;
  uv_timer_init(net->loop, &l->backoff);
  l->backoff.data = l;
  uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
  l->active = 1;
  return 0;
}

int duro_listener_port(duro_listener_t *l) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (l->fd < 0 || getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
    return DURO_ECLOSED;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* The socket is closed once the poll handle is: libuv must have stopped
 * watching the descriptor before its number can be reused. */
static void on_listen_closed(uv_handle_t *h) {
  duro_listener_t *l = h->data;
  close(l->fd);
  l->fd = -1;
}

void duro_listener_stop(duro_listener_t *l) {
  if (l->active) {
    l->active = 0;
    uv_timer_stop(&l->backoff);
    uv_close((uv_handle_t *)&l->backoff, NULL);
    uv_close((uv_handle_t *)&l->poll, on_listen_closed);
  }
}
