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
  size_t scheme = len >= 7 && memcmp(url, "http://", 7) == 0    ? 7
                  : len >= 8 && memcmp(url, "https://", 8) == 0 ? 8
                                                                : 0;
  if (!scheme)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "'%s': expected http://host:port or https://host:port",
                        url);
  out->https = scheme == 8;
  const char *h = url + scheme, *stop = url + len;
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
  out->port = out->https ? 443 : 80;
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

void duro_url_write_request_line(duro_buf_t *out, const duro_url_t *url,
                                 const char *method, const char *path) {
  int v6 = strchr(url->host, ':') != NULL; /* C string: parsed above */
  duro_buf_printf(out, "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\n", method,
                  url->base_path, path, v6 ? "[" : "", url->host,
                  v6 ? "]" : "", url->port);
}

int duro_url_dial(duro_dial_t **out, uv_loop_t *loop, const duro_url_t *url,
                  const duro_dial_cbs_t *cbs, void *ud) {
  if (url->https && !url->tls)
    return DURO_EINVAL;
  return duro_dial_start(out, loop, (const struct sockaddr *)&url->addr,
                         url->https ? url->tls : NULL, url->host, cbs, ud);
}

typedef struct creq {
  duro_dial_t *dial;    /* NULL once ended */
  uv_timer_t timer;
  http_parser parser;
  duro_buf_t out;
  duro_buf_t head;      /* header bytes */
  duro_fields_t fields; /* the response's header fields, in head */
  duro_buf_t body;
  size_t max_body;
  duro_http_client_cb cb;
  void *ud;
  int done;
  uint8_t head_only; /* a HEAD: the answer has no body */
  uint8_t reached;   /* the connection opened */
  uint8_t answered;  /* some bytes of an answer came */
} creq_t;

static void creq_closed(uv_handle_t *h) {
  creq_t *r = h->data;
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
  res.reached = r->reached;
  res.answered = r->answered;
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
  duro_dial_close(r->dial);
  r->dial = NULL;
  uv_timer_stop(&r->timer);
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

/* A HEAD's answer announces the body it would have had: 1 tells the
 * parser that none follows. */
static int on_headers_complete(http_parser *p) {
  creq_t *r = p->data;
  return r->head_only && p->status_code >= 200;
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
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_data(void *ud, const uint8_t *data, size_t len) {
  creq_t *r = ud;
  if (r->done)
    return;
  r->answered = 1;
  size_t n = http_parser_execute(&r->parser, &settings, (const char *)data,
                                 len);
  if (!r->done && n != len)
    finish(r, DURO_EPROTO, "malformed or oversized response from the backend");
}

static void on_end(void *ud, int err, const char *why) {
  creq_t *r = ud;
  r->dial = NULL; /* gone after this call */
  if (r->done)
    return;
  /* the end of the connection ends a body that runs until close */
  if (!err)
    http_parser_execute(&r->parser, &settings, NULL, 0);
  if (!r->done)
    finish(r, err ? err : DURO_EPROTO,
           err ? why : "the backend closed the connection early");
}

static void on_open(void *ud) {
  creq_t *r = ud;
  r->reached = 1;
  if (duro_dial_write(r->dial, r->out.data, r->out.len) < 0)
    finish(r, DURO_EIO, "cannot send to the backend");
}

static const duro_dial_cbs_t dial_cbs = {
    .on_open = on_open,
    .on_data = on_data,
    .on_end = on_end,
};

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
  r->head_only = strcmp(method, "HEAD") == 0;
  http_parser_init(&r->parser, HTTP_RESPONSE);
  r->parser.data = r;
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;

  duro_url_write_request_line(&r->out, url, method, path);
  for (size_t i = 0; i < nheaders; i++) {
    duro_buf_append(&r->out, headers[i].name, headers[i].name_len);
    duro_buf_append(&r->out, ": ", 2);
    duro_buf_append(&r->out, headers[i].value, headers[i].value_len);
    duro_buf_append(&r->out, "\r\n", 2);
  }
  duro_buf_printf(&r->out, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  len);
  duro_buf_append(&r->out, body, len);

  if (duro_url_dial(&r->dial, loop, url, &dial_cbs, r) < 0) {
    /* report on the next turn, never inside this call */
    uv_timer_start(&r->timer, fail_soon_cb, 0, 0);
    return;
  }
  uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
}

int duro_http_relay_skips(const char *name, size_t len) {
  static const char *const skip[] = {
      "Connection", "Keep-Alive", "TE",     "Trailer",
      "Transfer-Encoding", "Upgrade", "Host", "Expect", "Content-Length",
  };
  for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
    if (duro_memcaseeq(name, len, skip[i],
                       strlen(skip[i]))) /* C string: the table's literals */
      return 1;
  return len >= 6 && duro_memcaseeq(name, 6, "Proxy-", 6);
}

const duro_header_t *duro_http_client_header(const duro_http_client_res_t *r,
                                             const char *name) {
  return duro_header_find(r->headers, r->nheaders, name);
}
