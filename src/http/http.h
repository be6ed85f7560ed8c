/*
 * http.h: the HTTP/1.1 server protocol on a connection (http-parser).
 *
 * One request at a time per connection: when a request is complete the
 * parser pauses and reading stops until the handler has answered, so
 * pipelined requests are answered in order and a pipelining client cannot
 * make us buffer without bound. Limits are enforced while parsing: header
 * bytes (431), body bytes (413), malformed input and request smuggling
 * shapes such as Content-Length with Transfer-Encoding (400), and headers
 * not complete within the header timeout (408). Every error response
 * closes the connection gracefully.
 */
#ifndef DURO_HTTP_HTTP_H
#define DURO_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/fields.h"
#include "net/conn.h"

#include "core/types.h"

typedef struct duro_http_req duro_http_req_t;

/* Called when a request is complete. The handler must eventually call
 * exactly one of duro_http_respond() or duro_ws_accept() on req, now or
 * later; that call frees req. */
typedef void (*duro_http_handler)(duro_http_req_t *req, void *data);

typedef struct duro_http_opts {
  duro_http_handler handler;
  void *data;
  size_t max_header_bytes;
  size_t max_body_bytes;
  unsigned header_timeout_s;
  unsigned idle_timeout_s;
  /* 1: connections here are not turned away at max_connections (the
   * admin listener must stay reachable when the public side is full) */
  uint8_t over_limit_ok;
} duro_http_opts_t;

struct duro_http_req {
  duro_conn_t *conn;        /* NULL once the connection is gone */
  const char *method;       /* "GET", "POST", ... (static) */
  const char *target;       /* raw request target, NUL-terminated */
  size_t target_len;
  const char *path;         /* target's path: up to '?', without the scheme
                               and authority of an absolute-form target
                               (not NUL-terminated) */
  size_t path_len;
  const char *query;        /* after '?', or "" */
  size_t query_len;
  duro_header_t *headers;
  size_t nheaders;
  duro_buf_t body;
  uint8_t keep_alive;
  uint8_t upgrade;          /* an Upgrade header was present */
  uint8_t is_head;
  uint8_t http_major;       /* the request's HTTP version, 1.1: 1 and 1 */
  uint8_t http_minor;
  uint8_t route;            /* duro_route_t: what the handler routed it to,
                               for the metrics (DURO_ROUTE_OTHER at first) */
  uint64_t started_ns;      /* uv_hrtime at its first byte, for the access
                               log (0 unless --log-level debug) */
  /* private */
  duro_buf_t _head;         /* target and header bytes */
  duro_fields_t _fields;    /* header fields in _head while parsing */
  void *_http;
};

struct duro_limits;
/* Fills opts from the configured limits (timeouts rounded up to whole
 * seconds) with the given handler. */
void duro_http_opts_init(duro_http_opts_t *opts,
                         const struct duro_limits *limits,
                         duro_http_handler handler, void *data);

/* Makes c speak HTTP/1.1 with these options (borrowed; must outlive c). */
void duro_http_attach(duro_conn_t *c, const duro_http_opts_t *opts);

/* 1 when req's path is exactly lit (a NUL-terminated literal). */
int duro_http_path_is(const duro_http_req_t *req, const char *lit);

/* Case-insensitive header lookup; NULL when absent. */
const duro_header_t *duro_http_header(const duro_http_req_t *req,
                                      const char *name);
/* How many header fields are named name (case-insensitive). */
size_t duro_http_header_count(const duro_http_req_t *req, const char *name);

/* Sends a response with Content-Length and frees req. headers are extra
 * headers; a value with CR or LF is refused (the response becomes a 500).
 * With a detached req (connection gone) it only frees. */
void duro_http_respond(duro_http_req_t *req, int status,
                       const duro_header_t *headers, size_t nheaders,
                       const void *body, size_t len);
/* A text/plain (or given content type) response with a C string body. */
void duro_http_respond_text(duro_http_req_t *req, int status,
                            const char *content_type, const char *text);

/* A text/plain response whose body is formatted printf-style (any
 * length: the body grows as needed). */
void duro_http_respond_textf(duro_http_req_t *req, int status,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees a request without answering (only for requests never dispatched
 * to a connection, e.g. synthetic ones). */
void duro_http_req_free(duro_http_req_t *req);

/* Builds a standalone request (not tied to a connection), e.g. for a stub
 * call between objects. Copies everything. */
duro_http_req_t *duro_http_req_new(const char *method, const char *target,
                                   size_t target_len,
                                   const duro_header_t *headers,
                                   size_t nheaders, const void *body,
                                   size_t body_len);

/* The reason phrase for a status code ("Not Found"). */
const char *duro_http_status_text(int status);

/* Writes the status line and headers (ending with the blank line) of a
 * response into b. Returns 0 or DURO_EINVAL when a header has CR/LF. Used
 * by respond and by the WebSocket 101. */
int duro_http_write_head(duro_buf_t *b, int status,
                         const duro_header_t *headers, size_t nheaders,
                         long long content_length, int close);

/* What a request was routed to, as the metrics label it: handlers set
 * req->route when they know (the label values are
 * duro_http_route_name's). */
typedef enum duro_route {
  DURO_ROUTE_OTHER,     /* not found, fallbacks, unparsable requests */
  DURO_ROUTE_PAGE,      /* a rendered page or a form action */
  DURO_ROUTE_ASSET,     /* an embedded static file */
  DURO_ROUTE_API,       /* an application API call (login, broadcast) */
  DURO_ROUTE_WEBSOCKET, /* a WebSocket upgrade to an object */
  DURO_ROUTE_OBJECTS,   /* the binding protocol, /_objects/... */
  DURO_ROUTE_SYNC,      /* LiveStore sync */
  DURO_ROUTE_ADMIN,     /* the admin listener */
  DURO_ROUTE_COUNT
} duro_route_t;
const char *duro_http_route_name(int route);

/* Notes a response written for req (NULL: one without a request, such
 * as a parse error's) with status: counts it for the metrics and, at
 * --log-level debug, writes the access log line (method, path, status,
 * duration_ms, remote). respond does; a caller that writes a head itself
 * (a 101) calls it. */
void duro_http_note_response(const duro_http_req_t *req, int status);
/* The responses this process wrote (WebSocket 101s included), by route
 * and status class: out[route][1] the 1xx ... out[route][5] the 5xx. */
void duro_http_response_counts(uint64_t out[DURO_ROUTE_COUNT][6]);

/* Takes the connection over from HTTP: returns the request's connection
 * (without answering) and frees req; the caller attaches another protocol.
 * NULL when the connection is gone. */
duro_conn_t *duro_http_detach_conn(duro_http_req_t *req);

/* Shutdown: stops keep-alive on c. An HTTP connection with no request in
 * flight is closed gracefully now; one with a request in flight answers it
 * with Connection: close and closes after. Returns 1 while c still owes
 * bytes (an answer, or output not yet written), else 0 (also for a
 * connection that does not speak HTTP). Safe to call repeatedly. */
int duro_http_drain(duro_conn_t *c);

#endif
