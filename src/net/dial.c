/*
 * dial.c: an outgoing connection, plain or TLS; see dial.h.
 */
#include "net/dial.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

struct duro_dial {
  uv_tcp_t tcp; /* first: the handle's pointer is the dial's */
  uv_connect_t connect;
  SSL *ssl; /* NULL: plain TCP */
  const duro_dial_cbs_t *cbs;
  void *ud;
  uint8_t open;  /* on_open ran */
  uint8_t ended; /* closed or ended: no more callbacks */
};

static void on_closed(uv_handle_t *h) {
  duro_dial_t *d = h->data;
  SSL_free(d->ssl);
  duro_free(d);
}

static void shut(duro_dial_t *d) {
  d->ended = 1;
  uv_close((uv_handle_t *)&d->tcp, on_closed);
}

void duro_dial_close(duro_dial_t *d) {
  if (d && !d->ended)
    shut(d);
}

/* Ends the dial and tells its user (the memory lives on until the close
 * callback, a later turn of the loop). */
static void end(duro_dial_t *d, int err, const char *why) {
  if (d->ended)
    return;
  shut(d);
  d->cbs->on_end(d->ud, err, why);
}

static void on_write_done(uv_write_t *w, int status) {
  duro_dial_t *d = w->data;
  duro_free(w);
  if (d->ended)
    return;
  if (status < 0)
    end(d, DURO_EIO, uv_strerror(status));
  else if (d->cbs->on_written)
    d->cbs->on_written(d->ud);
}

/* Bytes onto the socket: at once when nothing waits before them, the rest
 * in a copy that its write request owns. */
static int put(duro_dial_t *d, const void *data, size_t len) {
  uv_stream_t *s = (uv_stream_t *)&d->tcp;
  size_t n = 0;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (uv_stream_get_write_queue_size(s) == 0) {
    int r = uv_try_write(s, &b, 1);
    if (r >= 0)
      n = (size_t)r;
    else if (r != UV_EAGAIN)
      return DURO_EIO;
  }
  if (n == len)
    return 0;
  uv_write_t *w = duro_malloc(sizeof(*w) + (len - n));
  memcpy(w + 1, (const uint8_t *)data + n, len - n);
  w->data = d;
  b = uv_buf_init((char *)(w + 1), (unsigned)(len - n));
  if (uv_write(w, s, &b, 1, on_write_done) < 0) {
    duro_free(w);
    return DURO_EIO;
  }
  return 0;
}

/* Moves what OpenSSL wrote (records, handshake messages) to the socket. */
static int tls_flush(duro_dial_t *d) {
  BIO *w = SSL_get_wbio(d->ssl);
  char *p;
  long n = BIO_get_mem_data(w, &p);
  if (n <= 0)
    return 0;
  int rc = put(d, p, (size_t)n);
  (void)BIO_reset(w); /* a read-write memory BIO: empties it */
  return rc;
}

int duro_dial_write(duro_dial_t *d, const void *data, size_t len) {
  if (d->ended)
    return DURO_EIO;
  if (!d->ssl)
    return put(d, data, len);
  ERR_clear_error(); /* SSL_get_error reads the thread's queue */
  const uint8_t *p = data;
  while (len > 0) {
    int k = len > (1u << 30) ? 1 << 30 : (int)len;
    if (SSL_write(d->ssl, p, k) != k)
      return DURO_EIO;
    p += k;
    len -= (size_t)k;
  }
  return tls_flush(d);
}

size_t duro_dial_queued(const duro_dial_t *d) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&d->tcp);
}

/* Why a handshake failed, in words (valid until the next call). */
static const char *handshake_failure(SSL *ssl) {
  static char why[256]; /* the loop thread's; read during on_end only */
  long v = SSL_get_verify_result(ssl);
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  int n;
  if (v != X509_V_OK)
    n = duro_fmt(why, sizeof(why),
                 "TLS: the server's certificate is not "
                 "trusted: %s",
                 X509_verify_cert_error_string(v));
  else
    n = duro_fmt(why, sizeof(why), "TLS handshake failed: %s",
                 r ? r : "the server closed the connection");
  ERR_clear_error();
  return n < 0 ? "TLS handshake failed" : why;
}

static void opened(duro_dial_t *d) {
  d->open = 1;
  d->cbs->on_open(d->ud);
}

static void tls_input(duro_dial_t *d, const uint8_t *data, size_t len) {
  static uint8_t plain[16384]; /* one record's worth; the loop thread's */
  SSL *ssl = d->ssl;
  ERR_clear_error();
  if (BIO_write(SSL_get_rbio(ssl), data, (int)len) != (int)len) {
    end(d, DURO_ENOMEM, "TLS: out of memory");
    return;
  }
  if (!d->open) {
    int rc = SSL_do_handshake(ssl);
    if (tls_flush(d) < 0) {
      end(d, DURO_EIO, "cannot send to the server");
      return;
    }
    if (rc != 1) {
      if (SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ)
        end(d, DURO_EPROTO, handshake_failure(ssl));
      return;
    }
    opened(d);
  }
  while (!d->ended) {
    int n = SSL_read(ssl, plain, (int)sizeof(plain));
    if (n > 0) {
      d->cbs->on_data(d->ud, plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) /* close_notify: the server is done */
      end(d, 0, "closed");
    else if (e != SSL_ERROR_WANT_READ)
      end(d, DURO_EPROTO, "TLS: bad record from the server");
    ERR_clear_error();
    break;
  }
  /* session tickets and key updates can ask for an answer */
  if (!d->ended && tls_flush(d) < 0)
    end(d, DURO_EIO, "cannot send to the server");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[64 * 1024]; /* loop thread only; consumed at once */
  buf->base = rbuf;
  buf->len = sizeof(rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  duro_dial_t *d = s->data;
  if (d->ended || nread == 0)
    return;
  if (nread < 0) {
    if (nread != UV_EOF)
      end(d, DURO_EIO, uv_strerror((int)nread));
    else if (d->open)
      end(d, 0, "closed");
    else
      end(d, DURO_EPROTO,
          "the server closed the connection during the TLS "
          "handshake");
    return;
  }
  if (d->ssl)
    tls_input(d, (const uint8_t *)buf->base, (size_t)nread);
  else
    d->cbs->on_data(d->ud, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connected(uv_connect_t *c, int status) {
  duro_dial_t *d = c->data;
  if (d->ended)
    return;
  if (status < 0) {
    end(d, DURO_EIO, uv_strerror(status));
    return;
  }
  uv_read_start((uv_stream_t *)&d->tcp, on_alloc, on_read);
  if (!d->ssl) {
    opened(d);
    return;
  }
  ERR_clear_error();
  int rc = SSL_do_handshake(d->ssl); /* the ClientHello */
  if (tls_flush(d) < 0)
    end(d, DURO_EIO, "cannot send to the server");
  else if (rc != 1 && SSL_get_error(d->ssl, rc) != SSL_ERROR_WANT_READ)
    end(d, DURO_EPROTO, handshake_failure(d->ssl));
}

int duro_dial_start(duro_dial_t **out, uv_loop_t *loop,
                    const struct sockaddr *addr, duro_tls_client_t *tls,
                    const char *host, const duro_dial_cbs_t *cbs, void *ud) {
  SSL *ssl = NULL;
  if (tls && !(ssl = duro_tls_connect(tls, host)))
    return DURO_ENOMEM;
  duro_dial_t *d = duro_calloc(1, sizeof(*d));
  d->ssl = ssl;
  d->cbs = cbs;
  d->ud = ud;
  uv_tcp_init(loop, &d->tcp);
  d->tcp.data = d;
  uv_tcp_nodelay(&d->tcp, 1);
  d->connect.data = d;
  int rc = uv_tcp_connect(&d->connect, &d->tcp, addr, on_connected);
  if (rc < 0) {
    shut(d);
    return DURO_EIO;
  }
  *out = d;
  return 0;
}
