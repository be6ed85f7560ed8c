/*
 * client.c: the HTTP/1.1 client; see client.h.
 */
#include "http/client.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "http/http.h"

int duro_url_parse(const char *url, duro_url_t *out, char *err,
                   size_t errlen) {
  memset(out, 0, sizeof(*out));
  size_t len = strlen(url); /* C string: a URL from the config or argv */
  if (len < 7 || memcmp(url, "http://", 7) != 0)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "'%s': expected http://host:port", url);
  const char *h = url + 7, *stop = url + len;
  const char *end = memchr(h, '/', (size_t)(stop - h));
  if (!end)
    end = stop;
  const char *colon = NULL;
  if (h < end && *h == '[') { /* [::1]:port */
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "'%s': unterminated IPv6 address", url);
    if ((size_t)(rb - h - 1) >= sizeof(out->host))
      return DURO_EINVAL;
    memcpy(out->host, h + 1, (size_t)(rb - h - 1));
    colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(h, ':', (size_t)(end - h));
    size_t hl = (size_t)((colon ? colon : end) - h);
    if (hl == 0 || hl >= sizeof(out->host))
      return duro_err_fmt(DURO_EINVAL, err, errlen, "'%s': missing host", url);
    memcpy(out->host, h, hl);
  }
  out->port = 80;
  if (colon) {
    uint64_t p;
    if (duro_parse_u64(colon + 1, (size_t)(end - colon - 1), 65535, &p) < 0 ||
        p < 1)
      return duro_err_fmt(DURO_EINVAL, err, errlen, "'%s': bad port", url);
    out->port = (int)p;
  }
  size_t bl = (size_t)(stop - end);
  while (bl && end[bl - 1] == '/')
    bl--;
  if (bl >= sizeof(out->base_path))
    return DURO_EINVAL;
  memcpy(out->base_path, end, bl);
  const char *ip = strcmp(out->host, "localhost") == 0 ? "127.0.0.1" : out->host;
  if (uv_ip4_addr(ip, out->port, (struct sockaddr_in *)&out->addr) != 0 &&
      uv_ip6_addr(ip, out->port, (struct sockaddr_in6 *)&out->addr) != 0)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "'%s': the host must be an IP address or localhost",
                        url);
  return 0;
}

typedef struct creq {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_timer_t timer;
  uv_write_t write;
  http_parser parser;
  duro_buf_t out;
  duro_buf_t head;   /* header bytes */
  duro_fields_t fields; /* the response's header fields, in head */
  duro_buf_t body;
  size_t max_body;
  duro_http_client_cb cb;
  void *ud;
  int done;
  int handles; /* open handles; freed when both are closed */
} creq_t;

static void creq_closed(uv_handle_t *h) {
  creq_t *r = h->data;
  if (--r->handles)
    return;
  duro_buf_free(&r->out);
  duro_buf_free(&r->head);
  duro_buf_free(&r->body);
  duro_fields_free(&r->fields);
  duro_free(r);
}

static void finish(creq_t *r, int err, const char *error) {
  if (r->done)
    return;
  r->done = 1;
  duro_http_client_res_t res;
  memset(&res, 0, sizeof(res));
  duro_header_t *hs = NULL;
  if (err) {
    res.err = err;
    res.error = error;
  } else {
    res.status = r->parser.status_code;
    res.nheaders = duro_fields_count(&r->fields);
    hs = duro_fields_resolve(&r->fields, &r->head);
    res.headers = hs;
    res.body = r->body.data ? r->body.data : (const uint8_t *)"";
    res.body_len = r->body.len;
  }
  r->cb(&res, r->ud);
  duro_free(hs);
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->tcp, creq_closed);
  uv_close((uv_handle_t *)&r->timer, creq_closed);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  creq_t *r = p->data;
  if (r->head.len + n > 64 * 1024 ||
      (duro_fields_starts_field(&r->fields) &&
       duro_fields_count(&r->fields) >= 200))
    return 1;
  duro_fields_name(&r->fields, &r->head, at, n);
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  creq_t *r = p->data;
  if (r->head.len + n > 64 * 1024)
    return 1;
  return duro_fields_value(&r->fields, &r->head, at, n) < 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  creq_t *r = p->data;
  if (r->body.len + n > r->max_body)
    return 1;
  duro_buf_append(&r->body, at, n);
  return 0;
}

static int on_message_complete(http_parser *p) {
  creq_t *r = p->data;
  unsigned st = p->status_code;
  if (st >= 100 && st < 200 && st != 101) {
    /* An interim answer (100 Continue, 103 Early Hints): the final one
     * follows on the same connection. */
    duro_fields_free(&r->fields);
    r->head.len = 0;
    r->body.len = 0;
    return 0;
  }
  /* http-parser takes any 1 to 3 digits ("HTTP/1.1 2", "000"); a status
   * is 200 to 599 here (101 answers no request this client makes). */
  if (st < 200 || st > 599)
    finish(r, DURO_EPROTO, "malformed status line from the backend");
  else
    finish(r, 0, NULL);
  return 1; /* stop: one response is all we wait for */
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[64 * 1024]; /* loop thread only; consumed at once */
  buf->base = rbuf;
  buf->len = sizeof(rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  creq_t *r = s->data;
  if (r->done)
    return;
  if (nread < 0) {
    /* EOF ends a body that runs until close. */
    if (nread == UV_EOF)
      http_parser_execute(&r->parser, &settings, NULL, 0);
    if (!r->done)
      finish(r, DURO_EPROTO, nread == UV_EOF ? "the backend closed the "
                                               "connection early"
                                             : uv_strerror((int)nread));
    return;
  }
  size_t n = http_parser_execute(&r->parser, &settings, buf->base,
                                 (size_t)nread);
  if (!r->done && (size_t)n != (size_t)nread)
    finish(r, DURO_EPROTO, "malformed or oversized response from the backend");
}

static void on_written(uv_write_t *w, int status) {
  creq_t *r = w->data;
  if (status < 0 && !r->done)
    finish(r, DURO_EIO, uv_strerror(status));
}

static void on_connected(uv_connect_t *c, int status) {
  creq_t *r = c->data;
  if (r->done)
    return;
  if (status < 0) {
    finish(r, DURO_EIO, uv_strerror(status));
    return;
  }
  uv_buf_t b = uv_buf_init((char *)r->out.data, (unsigned)r->out.len);
  r->write.data = r;
  if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_written) < 0) {
    finish(r, DURO_EIO, "write failed");
    return;
  }
  uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
}

static void on_timeout(uv_timer_t *t) {
  finish(t->data, DURO_ETIMEDOUT, "the backend did not answer in time");
}

static void fail_soon_cb(uv_timer_t *t) {
  creq_t *r = t->data;
  finish(r, DURO_EIO, "cannot connect");
}

void duro_http_client_request(uv_loop_t *loop, const duro_url_t *url,
                              const char *method, const char *path,
                              const duro_header_t *headers, size_t nheaders,
                              const void *body, size_t len,
                              unsigned timeout_ms, size_t max_body,
                              duro_http_client_cb cb, void *ud) {
  creq_t *r = duro_calloc(1, sizeof(*r));
  r->cb = cb;
  r->ud = ud;
  r->max_body = max_body;
  r->handles = 2;
  http_parser_init(&r->parser, HTTP_RESPONSE);
  r->parser.data = r;
  uv_tcp_init(loop, &r->tcp);
  r->tcp.data = r;
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;

  duro_buf_printf(&r->out, "%s %s%s HTTP/1.1\r\nHost: %s:%d\r\n", method,
                  url->base_path, path, url->host, url->port);
  for (size_t i = 0; i < nheaders; i++) {
    duro_buf_append(&r->out, headers[i].name, headers[i].name_len);
    duro_buf_append(&r->out, ": ", 2);
    duro_buf_append(&r->out, headers[i].value, headers[i].value_len);
    duro_buf_append(&r->out, "\r\n", 2);
  }
  duro_buf_printf(&r->out, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  len);
  duro_buf_append(&r->out, body, len);

  r->connect.data = r;
  if (uv_tcp_connect(&r->connect, &r->tcp,
                     (const struct sockaddr *)&url->addr, on_connected) < 0) {
    /* report on the next turn, never inside this call */
    uv_timer_start(&r->timer, fail_soon_cb, 0, 0);
    return;
  }
  uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
}

const duro_header_t *duro_http_client_header(const duro_http_client_res_t *r,
                                             const char *name) {
  return duro_header_find(r->headers, r->nheaders, name);
}
