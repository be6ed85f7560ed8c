/*
 * client.h: a small HTTP/1.1 client on the libuv loop, for the frontend's
 * calls to the backend's binding protocol, the sync webhook and the hops
 * between cluster nodes (backend/forward.h).
 *
 * One connection per request (Connection: close; under https the TLS
 * session is resumed, net/tls.h), a deadline for the whole exchange, responses parsed with http-parser and capped in size.
 * Hosts are IP literals or "localhost" (mapped to 127.0.0.1): the loop
 * never blocks on name resolution.
 */
#ifndef DURO_HTTP_CLIENT_H
#define DURO_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

#include "core/buf.h"
#include "core/types.h"
#include "net/dial.h"

typedef struct duro_url {
  char host[256];
  int port;
  char base_path[256]; /* without a trailing '/', "" for none */
  struct sockaddr_storage addr;
  int https;
  duro_tls_client_t *tls; /* https: what the user trusts (not owned; set
                             after parsing) */
} duro_url_t;

/* Parses "http://host[:port][/path]" or "https://...". Returns 0, or
 * DURO_EINVAL with a reason in err. */
int duro_url_parse(const char *url, duro_url_t *out, char *err, size_t errlen);

/* "METHOD <base path><path> HTTP/1.1" and the Host line. */
void duro_url_write_request_line(duro_buf_t *out, const duro_url_t *url,
                                 const char *method, const char *path);

/* Connects to url, over TLS for https (url->tls must be set then):
 * duro_dial_start's contract. */
int duro_url_dial(duro_dial_t **out, uv_loop_t *loop, const duro_url_t *url,
                  const duro_dial_cbs_t *cbs, void *ud);

typedef struct duro_http_client_res {
  int status;               /* 200 to 599; 0 when the request failed
                               (interim 1xx answers are skipped) */
  int err;                  /* DURO_E* when it failed */
  const char *error;        /* what failed, e.g. "connection refused" */
  duro_header_t *headers;
  size_t nheaders;
  const uint8_t *body;
  size_t body_len;
  /* For a failure, how far it got: whether the server could be told
   * apart from a dead one matters to a caller that keeps a list of
   * servers (backend/forward.c). */
  uint8_t reached;          /* the connection opened */
  uint8_t answered;         /* some bytes of an answer came */
} duro_http_client_res_t;

/* Called once with the response or the failure; res is valid only during
 * the call. */
typedef void (*duro_http_client_cb)(const duro_http_client_res_t *res,
                                    void *ud);

/* Sends method path (which starts with '/') to url with extra headers and
 * body (headers must not include Host, Content-Length or Connection: the
 * client writes those). A HEAD's answer has no body, whatever its
 * Content-Length says. cb runs later, never inside this call. */
void duro_http_client_request(uv_loop_t *loop, const duro_url_t *url,
                              const char *method, const char *path,
                              const duro_header_t *headers, size_t nheaders,
                              const void *body, size_t len,
                              unsigned timeout_ms, size_t max_body,
                              duro_http_client_cb cb, void *ud);

/* 1 for a header field (name, len bytes, borrowed) that a relay does not
 * copy from one hop to the next: the hop-by-hop ones (RFC 9110 7.6.1:
 * Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
 * Upgrade), those a relay writes itself for its own hop (Host,
 * Content-Length), and Expect (the relay has read the body already).
 * Case-insensitive; else 0. */
int duro_http_relay_skips(const char *name, size_t len);

/* Case-insensitive header lookup in a client response; NULL if absent. */
const duro_header_t *duro_http_client_header(const duro_http_client_res_t *r,
                                             const char *name);

#endif
