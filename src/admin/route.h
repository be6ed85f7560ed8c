/*
 * route.h: the admin JSON API's requests, read into values (route.c). A
 * pure reader of the method, path and query, apart from the SHA-256 of a
 * name: the API (admin/api.c) acts on what it gives, and the fuzzer
 * (tests/fuzz/fuzz_admin_route.c) feeds it any bytes.
 *
 *   GET  /api/namespaces
 *   GET  /api/namespaces/<B>/objects?limit=N&cursor=ID
 *   GET  /api/namespaces/<B>/objects/<X>
 *   GET  /api/namespaces/<B>/objects/<X>/storage?limit=N&cursor=HEXKEY
 *   POST /api/namespaces/<B>/objects/<X>/evict
 *   POST /api/namespaces/<B>/objects/<X>/sockets/<i>/close?code=C&reason=R
 *   POST /api/namespaces/<B>/objects/<X>/alarms/delete?name=N
 *
 * X is an object's id (64 lowercase hex digits) or its name,
 * percent-encoded (1 to 512 bytes decoded). Whether namespace B exists is
 * the caller's question.
 */
#ifndef DURO_ADMIN_ROUTE_H
#define DURO_ADMIN_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define DURO_ADMIN_PAGE_MAX 1000
#define DURO_ADMIN_PAGE_DEFAULT 100
#define DURO_ADMIN_BINDING_MAX 127

typedef enum duro_admin_op {
  DURO_ADMIN_NAMESPACES,
  DURO_ADMIN_OBJECTS,
  DURO_ADMIN_OBJECT,
  DURO_ADMIN_STORAGE,
  DURO_ADMIN_EVICT,
  DURO_ADMIN_CLOSE_SOCKET,
  DURO_ADMIN_DELETE_ALARM,
} duro_admin_op_t;

typedef struct duro_admin_route {
  duro_admin_op_t op;
  char binding[DURO_ADMIN_BINDING_MAX + 1]; /* "" for NAMESPACES */
  char id[65];           /* the object's id (a name's is computed) */
  unsigned limit;        /* the page size: 1..DURO_ADMIN_PAGE_MAX */
  char after_id[65];     /* OBJECTS: the cursor, "" for the first page */
  uint8_t *after_key;    /* STORAGE: the cursor's key (owned), or NULL */
  size_t after_key_len;
  unsigned socket;       /* CLOSE_SOCKET: the socket's index */
  unsigned code;         /* CLOSE_SOCKET: 1000 or 3000..4999 */
  char reason[124];      /* CLOSE_SOCKET: UTF-8, at most 123 bytes */
  char alarm[65];        /* DELETE_ALARM: the name ("": the default) */
  /* when the request is refused: the status and the reason */
  int status;
  const char *why;
} duro_admin_route_t;

/* Reads a request of the admin API (path starts with "/api/"). Returns 0
 * with *out filled, or DURO_EINVAL with out->status (400, 404 or 405) and
 * out->why (a literal) set. Either way duro_admin_route_free releases it. */
int duro_admin_route_parse(const char *method, const char *path,
                           size_t path_len, const char *query,
                           size_t query_len, duro_admin_route_t *out);
void duro_admin_route_free(duro_admin_route_t *r);

/* The raw value of query parameter key in query[0..len), or NULL. */
const char *duro_admin_query_value(const char *query, size_t len,
                                   const char *key, size_t *value_len);

#endif
