/*
 * http.c: HTTP/1.1 server protocol; see http.h.
 */
#include "http/http.h"

#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/config.h"
#include "core/log.h"
#include "core/str.h"
#include "http/syntax.h"
#include "net/conn_impl.h"

typedef struct http_state {
  http_parser parser;
  const duro_http_opts_t *opts;
  duro_conn_t *conn;
  duro_http_req_t *req; /* being parsed, or in flight when busy */
  size_t head_bytes;
  int error_status;
  const char *error_reason;
  uint8_t busy;        /* a request was handed to the handler */
  uint8_t in_data;     /* inside on_data: answers are picked up there */
  uint8_t url_done;
  uint8_t started;     /* bytes of a request have arrived */
  uint8_t head_armed;  /* the header deadline already runs (from accept) */
  uint8_t draining;    /* shutting down: close after the answer */
  uint8_t chunked;     /* the request's body is chunked: check its framing */
  uint16_t refuse;     /* 503 or 429: a TLS connection over a limit, refused
                          at its first request (duro_http_attach) */
  /* the strict syntax checks that http-parser lacks (http/syntax.h) */
  duro_head_scan_t head_scan;
  duro_chunked_t chunk_scan;
  const uint8_t *body_start; /* where the head ended in the bytes parsed */
  const uint8_t *data_end;   /* end of the bytes being parsed */
} http_state_t;

static const duro_proto_t http_proto;

/* ---- requests --------------------------------------------------------------- */

static duro_http_req_t *req_alloc(void) {
  duro_http_req_t *r = duro_calloc(1, sizeof(*r));
  r->query = "";
  return r;
}

void duro_http_req_free(duro_http_req_t *r) {
  if (!r)
    return;
  duro_buf_free(&r->body);
  duro_buf_free(&r->_head);
  duro_fields_free(&r->_fields);
  duro_free(r->headers);
  duro_free(r);
}

/* Turns the offsets gathered while parsing into pointers: _head no longer
 * grows after this. */
static void finish_head(duro_http_req_t *r) {
  r->target = (const char *)r->_head.data;
  r->nheaders = duro_fields_count(&r->_fields);
  r->headers = duro_fields_resolve(&r->_fields, &r->_head);
  /* An absolute-form target (RFC 9112 3.2.2, "http://host:port/path") is
   * routed by its path, as the origin-form "/path" would be. */
  const char *t = r->target;
  size_t tl = r->target_len;
  size_t skip = tl >= 7 && duro_memcaseeq(t, 7, "http://", 7)    ? 7
                : tl >= 8 && duro_memcaseeq(t, 8, "https://", 8) ? 8
                                                                  : 0;
  if (skip) {
    size_t i = skip;
    while (i < tl && t[i] != '/' && t[i] != '?')
      i++;
    t += i;
    tl -= i;
  }
  const char *q = memchr(t, '?', tl);
  r->path = t;
  r->path_len = q ? (size_t)(q - t) : tl;
  if (q) {
    r->query = q + 1;
    r->query_len = tl - r->path_len - 1;
  }
  if (r->path_len == 0) {
    r->path = "/"; /* "http://host" or "http://host?q": the root */
    r->path_len = 1;
  }
}

const duro_header_t *duro_http_header(const duro_http_req_t *r,
                                      const char *name) {
  return duro_header_find(r->headers, r->nheaders, name);
}

size_t duro_http_header_count(const duro_http_req_t *r, const char *name) {
  size_t n = strlen(name), count = 0; /* C string: a literal */
  for (size_t i = 0; i < r->nheaders; i++)
    count += duro_memcaseeq(r->headers[i].name, r->headers[i].name_len, name,
                            n);
  return count;
}

duro_http_req_t *duro_http_req_new(const char *method, const char *target,
                                   size_t target_len,
                                   const duro_header_t *headers,
                                   size_t nheaders, const void *body,
                                   size_t body_len) {
  duro_http_req_t *r = req_alloc();
  r->method = method;
  duro_buf_append(&r->_head, target, target_len);
  duro_buf_append(&r->_head, "", 1);
  r->target_len = target_len;
  for (size_t i = 0; i < nheaders; i++)
    duro_fields_add(&r->_fields, &r->_head, headers[i].name,
                    headers[i].name_len, headers[i].value,
                    headers[i].value_len);
  duro_buf_reserve(&r->_head, 1);
  finish_head(r);
  duro_buf_append(&r->body, body, body_len);
  r->keep_alive = 1;
  return r;
}

/* ---- responses -------------------------------------------------------------- */

const char *duro_http_status_text(int status) {
  /* The IANA registry's reason phrases (RFC 9110 15 and later RFCs). */
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 102: return "Processing";
  case 103: return "Early Hints";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 203: return "Non-Authoritative Information";
  case 204: return "No Content";
  case 205: return "Reset Content";
  case 206: return "Partial Content";
  case 207: return "Multi-Status";
  case 208: return "Already Reported";
  case 226: return "IM Used";
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 305: return "Use Proxy";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 422: return "Unprocessable Content";
  case 423: return "Locked";
  case 424: return "Failed Dependency";
  case 425: return "Too Early";
  case 426: return "Upgrade Required";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 451: return "Unavailable For Legal Reasons";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  case 506: return "Variant Also Negotiates";
  case 507: return "Insufficient Storage";
  case 508: return "Loop Detected";
  case 511: return "Network Authentication Required";
  default: return ""; /* the reason phrase is optional (RFC 9112 4) */
  }
}

/* CR or LF would end the line (header injection); NUL is refused too,
 * as clients refuse a head that carries one. */
static int has_crlf(const char *s, size_t n) {
  return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

/* Responses written by this process, by route and status class (index
 * 1..5; 0: out of range). Only the loop thread writes responses. */
static uint64_t responses[DURO_ROUTE_COUNT][6];

int duro_http_path_is(const duro_http_req_t *req, const char *lit) {
  size_t n = strlen(lit); /* C string: a literal */
  return req->path_len == n && memcmp(req->path, lit, n) == 0;
}

const char *duro_http_route_name(int route) {
  static const char *const names[DURO_ROUTE_COUNT] = {
      "other", "page", "asset", "api", "websocket", "objects", "sync",
      "admin"};
  return route >= 0 && route < DURO_ROUTE_COUNT ? names[route] : "other";
}

void duro_http_note_response(const duro_http_req_t *req, int status) {
  int route = req && req->route < DURO_ROUTE_COUNT ? req->route : 0;
  responses[route][status >= 100 && status < 600 ? status / 100 : 0]++;
  if (req && req->started_ns && duro_log_level >= DURO_LOG_DEBUG) {
    char peer[64] = "?";
    if (req->conn)
      duro_conn_peer(req->conn, peer, sizeof(peer));
    duro_log_fields_t f = {
        .remote = peer,
        .status = status,
        .duration_ms = (double)(uv_hrtime() - req->started_ns) / 1e6,
    };
    int n = req->path_len > 200 ? 200 : (int)req->path_len;
    duro_log_with(DURO_LOG_DEBUG, &f, "%s %.*s%s", req->method, n, req->path,
                  req->path_len > 200 ? "..." : "");
  }
}

void duro_http_response_counts(uint64_t out[DURO_ROUTE_COUNT][6]) {
  memcpy(out, responses, sizeof(responses));
}

int duro_http_write_head(duro_buf_t *b, int status,
                         const duro_header_t *headers, size_t nheaders,
                         long long content_length, int close) {
  for (size_t i = 0; i < nheaders; i++)
    if (has_crlf(headers[i].name, headers[i].name_len) ||
        has_crlf(headers[i].value, headers[i].value_len) ||
        memchr(headers[i].name, ':', headers[i].name_len))
      return DURO_EINVAL;
  duro_buf_printf(b, "HTTP/1.1 %03d %s\r\n", status,
                  duro_http_status_text(status));
  for (size_t i = 0; i < nheaders; i++) {
    duro_buf_append(b, headers[i].name, headers[i].name_len);
    duro_buf_append(b, ": ", 2);
    duro_buf_append(b, headers[i].value, headers[i].value_len);
    duro_buf_append(b, "\r\n", 2);
  }
  if (content_length >= 0)
    duro_buf_printf(b, "Content-Length: %lld\r\n", content_length);
  if (close)
    duro_buf_append_str(b, "Connection: close\r\n");
  duro_buf_append(b, "\r\n", 2);
  return 0;
}

static void after_response(http_state_t *h, int close);

void duro_http_respond(duro_http_req_t *req, int status,
                       const duro_header_t *headers, size_t nheaders,
                       const void *body, size_t len) {
  duro_conn_t *c = req->conn;
  if (!c) {
    duro_http_req_free(req);
    return;
  }
  http_state_t *h = req->_http;
  int close = !req->keep_alive || req->upgrade || status == 400 ||
              status == 408 || status == 413 || status == 431 || h->draining;
  /* 1xx, 204 and 304 have no body, so they carry no Content-Length
   * (RFC 9110 8.6) */
  int bodiless = status < 200 || status == 204 || status == 304;
  if (bodiless)
    len = 0;
  duro_buf_t out = DURO_BUF_INIT;
  if (duro_http_write_head(&out, status, headers, nheaders,
                           bodiless ? -1 : (long long)len, close) < 0) {
    duro_log_error("conn %llu: response header with CR, LF or NUL refused",
                   (unsigned long long)c->id);
    out.len = 0;
    static const char msg[] = "Internal Server Error";
    duro_http_write_head(&out, 500, NULL, 0, sizeof(msg) - 1, close);
    body = msg;
    len = sizeof(msg) - 1;
    status = 500;
  }
  duro_http_note_response(req, status);
  if (!req->is_head)
    duro_buf_append(&out, body, len);
  duro_chunk_t *chunk = duro_buf_to_chunk(&out);
  duro_buf_free(&out);
  duro_conn_send(c, chunk);
  duro_chunk_unref(chunk);
  if (h->req == req)
    h->req = NULL;
  duro_http_req_free(req);
  after_response(h, close);
}

void duro_http_respond_text(duro_http_req_t *req, int status,
                            const char *content_type, const char *text) {
  duro_header_t ct = {"Content-Type", 12,
                      content_type ? content_type : "text/plain;charset=UTF-8",
                      0};
  ct.value_len = strlen(ct.value); /* C string: a literal or the caller's */
  duro_http_respond(req, status, &ct, 1, text,
                    strlen(text)); /* C string, as documented */
}

void duro_http_respond_textf(duro_http_req_t *req, int status,
                             const char *fmt, ...) {
  duro_buf_t body = DURO_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  duro_buf_vprintf(&body, fmt, ap);
  va_end(ap);
  duro_header_t ct = {"Content-Type", 12, "text/plain;charset=UTF-8", 24};
  duro_http_respond(req, status, &ct, 1, body.data, body.len);
  duro_buf_free(&body);
}

duro_conn_t *duro_http_detach_conn(duro_http_req_t *req) {
  duro_conn_t *c = req->conn;
  if (c) {
    http_state_t *h = req->_http;
    c->proto = NULL;
    c->proto_data = NULL;
    h->req = NULL;
    duro_free(h);
    duro_conn_set_deadline(c, 0);
    duro_conn_resume_reading(c);
  }
  duro_http_req_free(req);
  return c;
}

/* ---- parsing ------------------------------------------------------------------ */

/* Records the answer for a request we refuse while parsing. Returns -1:
 * for on_headers_complete, 1 would mean "no body" to http-parser and the
 * body would be parsed as a next request (a smuggling hole); -1 is an
 * error from every callback. */
static int fail(http_state_t *h, int status, const char *reason) {
  h->error_status = status;
  h->error_reason = reason;
  return -1;
}

static int count_head(http_state_t *h, size_t n) {
  h->head_bytes += n;
  if (h->head_bytes > h->opts->max_header_bytes)
    return fail(h, 431, "Request header fields too large");
  return 0;
}

static int on_message_begin(http_parser *p) {
  http_state_t *h = p->data;
  h->req = req_alloc();
  h->req->_http = h;
  h->req->conn = h->conn;
  if (duro_log_level >= DURO_LOG_DEBUG)
    h->req->started_ns = uv_hrtime();
  h->head_bytes = 0;
  h->url_done = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  http_state_t *h = p->data;
  if (count_head(h, n))
    return fail(h, 414, "URI too long");
  duro_buf_append(&h->req->_head, at, n);
  h->req->target_len += n;
  return 0;
}

static void end_url(http_state_t *h) {
  if (!h->url_done) {
    duro_buf_append(&h->req->_head, "", 1);
    h->url_done = 1;
  }
}

/* After a chunked body, http-parser hands over the trailer fields too.
 * The head is final by then: req's header, path and query pointers point
 * into _head, which must not grow (a realloc would leave them dangling),
 * so trailers are dropped, as RFC 9110 6.5 allows; their syntax was
 * checked by the chunk scan. */
static int on_header_field(http_parser *p, const char *at, size_t n) {
  http_state_t *h = p->data;
  duro_http_req_t *r = h->req;
  if (count_head(h, n))
    return 1;
  if (r->headers)
    return 0; /* a trailer's name: dropped */
  end_url(h);
  if (duro_fields_starts_field(&r->_fields) &&
      duro_fields_count(&r->_fields) >= 100)
    return fail(h, 431, "Too many request header fields");
  duro_fields_name(&r->_fields, &r->_head, at, n);
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  http_state_t *h = p->data;
  duro_http_req_t *r = h->req;
  if (count_head(h, n))
    return 1;
  if (r->headers)
    return 0; /* a trailer's value: dropped */
  return duro_fields_value(&r->_fields, &r->_head, at, n) < 0;
}

/* 1 when a Host value is a uri-host with an optional port (RFC 9110
 * 7.2): no whitespace, no '/', '?', '#', '@' or control byte. */
static int host_valid(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)v[i];
    if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
          (b >= '0' && b <= '9') ||
          duro_byte_in("-._~%!$&'()*+,;=:[]", 19, (char)b)))
      return 0;
  }
  return 1;
}

/*
 * Checks a Transfer-Encoding value (RFC 9112 6.1, 6.3): a list whose last
 * coding is chunked, which appears once. Returns 0, 400 when the body's
 * length cannot be determined (chunked not last, twice, an empty or
 * malformed element), or 501 when chunked is last but another coding
 * (which duro does not decode) comes before it.
 */
static int te_check(const char *v, size_t n) {
  int chunked = 0, other = 0;
  size_t start = 0;
  while (start <= n) {
    size_t end = start;
    while (end < n && v[end] != ',')
      end++;
    size_t a = start, b = end;
    while (a < b && (v[a] == ' ' || v[a] == '\t'))
      a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
      b--;
    if (a == b)
      return 400; /* an empty element */
    if (chunked)
      return 400; /* chunked was not the last coding */
    if (duro_memcaseeq(v + a, b - a, "chunked", 7))
      chunked = 1;
    else
      other = 1;
    start = end + 1;
  }
  if (!chunked)
    return 400;
  return other ? 501 : 0;
}

static int on_headers_complete(http_parser *p) {
  http_state_t *h = p->data;
  duro_http_req_t *r = h->req;
  end_url(h);
  duro_buf_reserve(&r->_head, 1);
  finish_head(r);
  r->http_major = (uint8_t)p->http_major;
  r->http_minor = (uint8_t)p->http_minor;
  if (p->method == HTTP_CONNECT)
    return fail(h, 501, "CONNECT is not supported: this server is not a "
                        "proxy");
  size_t cl = 0, te = 0, host = 0;
  for (size_t i = 0; i < r->nheaders; i++) {
    const duro_header_t *f = &r->headers[i];
    if (duro_memcaseeq(f->name, f->name_len, "Content-Length", 14))
      cl++;
    else if (duro_memcaseeq(f->name, f->name_len, "Transfer-Encoding", 17))
      te++;
    else if (duro_memcaseeq(f->name, f->name_len, "Host", 4)) {
      if (host++ || !host_valid(f->value, f->value_len))
        return fail(h, 400, host > 1 ? "More than one Host header"
                                     : "Malformed Host header");
    }
  }
  /* RFC 9112 3.2: an HTTP/1.1 request without Host is refused */
  if (!host && (p->http_major > 1 || (p->http_major == 1 && p->http_minor)))
    return fail(h, 400, "Missing Host header");
  if (cl && te)
    return fail(h, 400, "Both Content-Length and Transfer-Encoding");
  if (cl > 1)
    return fail(h, 400, "Duplicate Content-Length");
  if (te > 1)
    return fail(h, 400, "Duplicate Transfer-Encoding");
  if (te) {
    /* Only "chunked" as the last and only coding: anything else is framed
     * differently by different parsers, the root of request smuggling. */
    const duro_header_t *t = duro_http_header(r, "Transfer-Encoding");
    int status = te_check(t->value, t->value_len);
    if (status == 400)
      return fail(h, 400, "Transfer-Encoding must end with chunked, once");
    if (status)
      return fail(h, 501, "Unsupported Transfer-Encoding: only chunked");
    /* Check the body's framing from its first byte on: the rest of this
     * read now, later reads before they are parsed (http_on_data). */
    h->chunked = 1;
    duro_chunked_init(&h->chunk_scan);
    const char *bad = NULL;
    if (h->body_start &&
        duro_chunked_scan(&h->chunk_scan, h->body_start,
                          (size_t)(h->data_end - h->body_start), &bad) < 0)
      return fail(h, 400, bad);
  }
  if (cl && p->content_length > h->opts->max_body_bytes)
    return fail(h, 413, "Request body too large");
  r->method = http_method_str((enum http_method)p->method);
  r->is_head = p->method == HTTP_HEAD;
  /* The body may take its time, but not forever. */
  duro_conn_set_deadline(h->conn, h->opts->idle_timeout_s);
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  http_state_t *h = p->data;
  duro_http_req_t *r = h->req;
  if (r->body.len + n > h->opts->max_body_bytes)
    return fail(h, 413, "Request body too large");
  duro_buf_append(&r->body, at, n);
  return 0;
}

static int on_message_complete(http_parser *p) {
  http_state_t *h = p->data;
  h->req->keep_alive = (uint8_t)http_should_keep_alive(p);
  h->req->upgrade = (uint8_t)p->upgrade;
  duro_head_scan_init(&h->head_scan);
  h->chunked = 0;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Answers a parse error and closes after the answer is out. */
static void respond_error(http_state_t *h, int status, const char *reason) {
  duro_conn_t *c = h->conn;
  duro_http_req_free(h->req);
  h->req = NULL;
  h->busy = 1; /* nothing more is parsed on this connection */
  duro_buf_t out = DURO_BUF_INIT;
  size_t len = strlen(reason); /* C string: a literal reason */
  duro_header_t ct = {"Content-Type", 12, "text/plain;charset=UTF-8", 24};
  duro_http_write_head(&out, status, &ct, 1, (long long)len, 1);
  duro_http_note_response(NULL, status);
  duro_buf_append(&out, reason, len);
  duro_chunk_t *chunk = duro_buf_to_chunk(&out);
  duro_buf_free(&out);
  duro_conn_send(c, chunk);
  duro_chunk_unref(chunk);
  duro_conn_close_after_flush(c);
}

/* The refusal duro_http_attach could not write before a TLS handshake. */
static void refuse_request(http_state_t *h, duro_http_req_t *r) {
  char retry[16];
  unsigned s = h->refuse == 429 ? (h->conn->rl_retry_ms + 999) / 1000 : 1;
  int n = duro_fmt(retry, sizeof(retry), "%u", s);
  duro_header_t hs[2] = {
      {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
      {"Retry-After", 11, retry, n > 0 ? (size_t)n : 0},
  };
  h->draining = 1; /* Connection: close */
  if (h->refuse == 429) {
    static const char body[] = "Rate limit: too many connections, slow down";
    duro_http_respond(r, 429, hs, 2, body, sizeof(body) - 1);
  } else {
    static const char body[] = "Too many connections: try again shortly";
    duro_http_respond(r, 503, hs, 2, body, sizeof(body) - 1);
  }
}

static void dispatch(http_state_t *h) {
  duro_http_req_t *r = h->req;
  h->busy = 1;
  h->started = 0;
  duro_conn_set_deadline(h->conn, 0);
  if (h->refuse) {
    refuse_request(h, r);
    return;
  }
  h->opts->handler(r, h->opts->data);
}

static void after_response(http_state_t *h, int close) {
  duro_conn_t *c = h->conn;
  if (close) {
    duro_conn_close_after_flush(c);
    return;
  }
  h->busy = 0;
  duro_conn_set_deadline(c, h->opts->idle_timeout_s);
  duro_conn_resume_reading(c);
  if (!h->in_data)
    duro_conn_reprocess(c);
}

static size_t http_on_data(duro_conn_t *c, uint8_t *data, size_t len) {
  http_state_t *h = c->proto_data;
  if (h->busy) {
    /* A pipelined request arrived while the previous one is still being
     * answered: keep it (one read's worth at most) and stop reading until
     * the answer is out, so a pipelining client cannot make us buffer
     * without bound. Pausing only now saves two epoll_ctl calls on every
     * request that is answered at once. */
    duro_conn_pause_reading(c);
    return 0;
  }
  if (!h->started) {
    /* The header timeout covers the whole head, from accept (first
     * request) or from its first byte (after a keep-alive wait); later
     * bytes never extend it, so a byte-a-second client is cut off. */
    h->started = 1;
    if (!h->head_armed)
      duro_conn_set_deadline(c, h->opts->header_timeout_s);
    h->head_armed = 0;
  }
  /* The strict syntax checks run over the bytes before http-parser does:
   * the head's lines, then a chunked body's framing (which begins in this
   * read when the head ends in it: on_headers_complete checks that part). */
  const char *bad = NULL;
  long k = 0;
  h->body_start = NULL;
  if (!h->head_scan.done) {
    k = duro_head_scan(&h->head_scan, data, len, &bad);
    if (k >= 0 && h->head_scan.done)
      h->body_start = data + k;
  } else if (h->chunked && !duro_chunked_done(&h->chunk_scan)) {
    k = duro_chunked_scan(&h->chunk_scan, data, len, &bad);
  }
  if (k < 0) {
    respond_error(h, 400, bad);
    return len;
  }
  h->data_end = data + len;
  h->in_data = 1;
  size_t n = http_parser_execute(&h->parser, &settings, (const char *)data,
                                 len);
  h->in_data = 0;
  enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
  if (e == HPE_PAUSED) {
    http_parser_pause(&h->parser, 0);
    int upgrade = h->req->upgrade;
    duro_conn_ref(c);
    h->in_data = 1;
    dispatch(h);
    /* The handler may have answered, upgraded or closed already. */
    if (c->proto == &http_proto && c->proto_data == h)
      h->in_data = 0;
    duro_conn_unref(c);
    if (upgrade && c->proto == &http_proto)
      return len; /* an upgrade not taken: the connection closes */
    return n;
  }
  if (e != HPE_OK) {
    if (h->error_status)
      respond_error(h, h->error_status, h->error_reason);
    else
      respond_error(h, 400, http_errno_description(e));
    return len;
  }
  return n;
}

static void http_on_close(duro_conn_t *c) {
  http_state_t *h = c->proto_data;
  if (!h)
    return;
  if (h->req) {
    if (h->busy)
      h->req->conn = NULL; /* the handler still owns it */
    else
      duro_http_req_free(h->req);
  }
  c->proto_data = NULL;
  duro_free(h);
}

static void http_on_timeout(duro_conn_t *c) {
  http_state_t *h = c->proto_data;
  if (h->started && !h->busy)
    respond_error(h, 408, "Request timeout");
  else
    duro_conn_close(c);
}

static const duro_proto_t http_proto = {
    .on_data = http_on_data,
    .on_close = http_on_close,
    .on_timeout = http_on_timeout,
};

void duro_http_opts_init(duro_http_opts_t *opts,
                         const struct duro_limits *limits,
                         duro_http_handler handler, void *data) {
  opts->handler = handler;
  opts->data = data;
  opts->max_header_bytes = limits->max_header_bytes;
  opts->max_body_bytes = limits->max_body_bytes;
  opts->header_timeout_s = (limits->header_timeout_ms + 999) / 1000;
  opts->idle_timeout_s = (limits->idle_timeout_ms + 999) / 1000;
}

void duro_http_attach(duro_conn_t *c, const duro_http_opts_t *opts) {
  int over = c->net->max_conns && c->net->nconns > c->net->max_conns &&
             !opts->over_limit_ok;
  if (over)
    c->net->over_limit++;
  /* Under TLS nothing can be written before the handshake: the refusal
   * answers the connection's first request instead (dispatch). */
  if (over && !duro_conn_is_tls(c)) {
    /* Over the connection limit: a clear answer instead of silence, and
     * no upgrade; the client may retry later. */
    static const char msg[] =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Retry-After: 1\r\nContent-Length: 39\r\nConnection: close\r\n\r\n"
        "Too many connections: try again shortly";
    duro_conn_send_copy(c, msg, sizeof(msg) - 1);
    duro_conn_close_after_flush(c);
    return;
  }
  if (c->rl_retry_ms && !over && !duro_conn_is_tls(c)) {
    /* Over the per-client connection rate (net/ratelimit.h): answered
     * before any request byte is parsed, upgrade or not. */
    static const char body[] = "Rate limit: too many connections, slow down";
    duro_buf_t msg = DURO_BUF_INIT;
    duro_buf_printf(&msg,
                    "HTTP/1.1 429 Too Many Requests\r\n"
                    "Content-Type: text/plain;charset=UTF-8\r\n"
                    "Retry-After: %u\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n%s",
                    (c->rl_retry_ms + 999) / 1000, sizeof(body) - 1, body);
    duro_chunk_t *chunk = duro_buf_to_chunk(&msg);
    duro_buf_free(&msg);
    duro_conn_send(c, chunk);
    duro_chunk_unref(chunk);
    duro_conn_close_after_flush(c);
    return;
  }
  http_state_t *h = duro_calloc(1, sizeof(*h));
  http_parser_init(&h->parser, HTTP_REQUEST);
  h->parser.data = h;
  h->opts = opts;
  h->conn = c;
  h->refuse = over ? 503 : c->rl_retry_ms ? 429 : 0;
  c->proto = &http_proto;
  c->proto_data = h;
  duro_conn_set_deadline(c, opts->header_timeout_s);
  h->head_armed = 1;
}

int duro_http_drain(duro_conn_t *c) {
  if (c->closed || c->proto != &http_proto || !c->proto_data)
    return 0;
  http_state_t *h = c->proto_data;
  if (!c->close_after_drain) {
    h->draining = 1;
    if (h->busy || h->started)
      return 1; /* the answer closes it (Connection: close) */
    duro_conn_close_after_flush(c);
  }
  return c->q_len > 0 || c->wreq != NULL;
}
