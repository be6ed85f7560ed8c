/*
 * bearer.h: the binding protocol's bearer secret (DURO_INTERNAL_SECRET):
 * what a secret may be, the Authorization value that carries it, and the
 * constant-time check of a request's header against it.
 *
 * A secret is 1 to DURO_BEARER_SECRET_MAX bytes of visible ASCII (0x21 to
 * 0x7e): it travels in a header line, where CR, LF, NUL or a space would
 * break or change it. Both roles check it when they start and refuse to
 * start with a message naming the variable, instead of failing later.
 */
#ifndef DURO_HTTP_BEARER_H
#define DURO_HTTP_BEARER_H

#include <stddef.h>

#define DURO_BEARER_SECRET_MAX 1024

/* Checks secret (NUL-terminated, from the configuration) for variable
 * var. Returns 0, or DURO_EINVAL with a message naming var in err. */
int duro_bearer_check(const char *var, const char *secret, char *err,
                      size_t errlen);

/* A new "Bearer <secret>" string for an Authorization header, for the
 * caller to free with duro_free. secret must have passed the check. */
char *duro_bearer_header(const char *secret);

/* 1 when the Authorization value (len bytes, borrowed, not NUL-terminated;
 * NULL when absent) is "Bearer <secret>" (the scheme case-insensitive),
 * else 0. The secret is compared in constant time over its own length,
 * whatever the length given. */
int duro_bearer_matches(const char *value, size_t len, const char *secret,
                        size_t secret_len);

/* Whether req may pass a door kept by secret: with a secret (secret_len
 * bytes), its Authorization header must carry it; without one (NULL: only
 * development and test start so), only loopback callers may. */
struct duro_http_req;
int duro_bearer_allows(const struct duro_http_req *req, const char *secret,
                       size_t secret_len);

/* The same secret in a header of its own, for callers that forward a
 * request whose Authorization belongs to someone else (a browser's, on
 * its way to an object): 1 when req's X-Duro-Internal-Secret is secret
 * (compared in constant time), 0 otherwise and without a secret. */
#define DURO_SECRET_HEADER "X-Duro-Internal-Secret"
int duro_secret_header_allows(const struct duro_http_req *req,
                              const char *secret, size_t secret_len);

#endif
