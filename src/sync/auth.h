/*
 * auth.h: recognising LiveStore sync requests and checking their auth
 * payload at connect time (livestore-sync-v0.4.md sections 3 and 13).
 *
 * A sync request is recognised by its query, on any path: storeId and
 * transport. The payload parameter is encoded twice by the client (a JSON
 * text, percent-encoded, then form-encoded as a query value), so it is
 * decoded twice here before JSON parsing.
 *
 * The check is configured once at startup (duro_sync_config_t plus the
 * DURO_SYNC_TOKEN and DURO_SYNC_SECRET variables):
 *  - tokens: payload.authToken must equal one of them (constant time);
 *  - HS256: payload.authToken must be a JWT signed with the secret,
 *    alg HS256, not expired (exp), already valid (nbf), and, when it has a
 *    storeId claim, issued for this store;
 *  - both may be configured: either passes;
 *  - none configured: development and test accept any payload (with one
 *    warning in the log); production refuses to start unless sync.auth is
 *    explicitly "none".
 */
#ifndef DURO_SYNC_AUTH_H
#define DURO_SYNC_AUTH_H

#include <stddef.h>

#include "core/config.h"

#define SYNC_MAX_STORE_ID 255

enum { SYNC_TRANSPORT_NONE = 0, SYNC_TRANSPORT_WS, SYNC_TRANSPORT_HTTP };

typedef struct sync_query {
  int present;        /* storeId or transport appeared at all */
  int valid;          /* a well-formed sync request */
  const char *why;    /* when !valid: the 400 body */
  char *store_id;     /* decoded, owned */
  size_t store_id_len;
  int transport;
  char *payload;      /* decoded twice, owned; NULL when absent */
  size_t payload_len;
} sync_query_t;

/* Parses a query string (without '?'). Always fills q; free with
 * duro_sync_query_free. */
void duro_sync_query_parse(const char *query, size_t len, sync_query_t *q);
void duro_sync_query_free(sync_query_t *q);

typedef struct sync_auth {
  int none;            /* accept anything */
  int open_dev;        /* nothing configured, development/test */
  char **tokens;
  size_t ntokens;
  char *secret;
  size_t secret_len;
  int warned;
} sync_auth_t;

/* Builds the check from cfg. Returns 0, or DURO_EINVAL with a message
 * (production without a check, auth "token" without tokens, ...). */
int duro_sync_auth_init(sync_auth_t *a, const duro_config_t *cfg, char *err,
                        size_t errlen);
void duro_sync_auth_free(sync_auth_t *a);
/* The startup check alone: 0 when cfg has a usable sync auth setting or
 * binds no LIVESTORE_SYNC namespace, else DURO_EINVAL with a message. */
int duro_sync_auth_check_config(const duro_config_t *cfg, char *err,
                                size_t errlen);

/* Checks a payload (JSON text, or NULL when absent) for store_id. Returns
 * 0, or -1 with a reason for the 400 in why. Logs the open-development
 * warning once. */
int duro_sync_auth_check(sync_auth_t *a, const char *store_id,
                         size_t store_id_len, const char *payload,
                         size_t payload_len, char *why, size_t whylen);

#endif
