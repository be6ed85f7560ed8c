/*
 * session.h: signed session tokens, HS256 JWT verification and cookie
 * parsing for the frontend's authorization. Pure functions over bytes
 * (no I/O), so they can be fuzzed.
 *
 * A session token is "v1.<expiry>.<nonce>.<signature>": expiry in Unix
 * seconds, a random base64url nonce, and base64url(HMAC-SHA-256(secret,
 * "v1.<expiry>.<nonce>")). Signatures are compared in constant time.
 */
#ifndef DURO_FRONTEND_SESSION_H
#define DURO_FRONTEND_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define DURO_SESSION_TOKEN_MAX 128

/* Writes a new token valid until exp_s into out (DURO_SESSION_TOKEN_MAX
 * bytes). Returns its length. */
size_t duro_session_issue(const char *secret, size_t secret_len, int64_t exp_s,
                          char *out);

/* Checks a token: 0 when valid at now_s; DURO_EINVAL when malformed,
 * DURO_EACCES when the signature is wrong (tampered, or another secret),
 * DURO_ETIMEDOUT when expired. */
int duro_session_verify(const char *secret, size_t secret_len,
                        const char *tok, size_t len, int64_t now_s);

/* Verifies a compact JWT signed with HS256: the header's alg must be
 * HS256, the signature must match, "exp" must be present and in the
 * future, "nbf" (if present) a number not after now_s. Same codes as
 * above, and DURO_AGAIN when "nbf" is in the future (not valid yet). */
int duro_jwt_verify_hs256(const char *secret, size_t secret_len,
                          const char *tok, size_t len, int64_t now_s);

/* Finds cookie name in a Cookie header value; returns a pointer into
 * header and its length, or NULL. */
const char *duro_cookie_find(const char *header, size_t len, const char *name,
                             size_t *vlen);

#endif
