/*
 * handshake.h: the HTTP side of the WebSocket opening handshake
 * (RFC 6455 4), without any I/O.
 *
 * The HTTP layer parses the request and passes the four relevant header
 * values here; this module decides whether the upgrade is acceptable and
 * computes Sec-WebSocket-Accept. It also builds the random key for duro's
 * own client side (load generator, frontend forwarder). Header values are
 * {ptr, len} slices of the request buffer and are never assumed to end in
 * NUL. SHA-1 and the random bytes come from libcrypto.
 */
#ifndef DURO_WS_HANDSHAKE_H
#define DURO_WS_HANDSHAKE_H

#include <stddef.h>

/* A header value as it appears in the request; ptr NULL when absent. */
typedef struct {
  const char *ptr;
  size_t len;
} duro_ws_hdr_t;

/*
 * Computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: the base64 of the
 * SHA-1 of the key followed by the RFC 6455 GUID. key is borrowed, key_len
 * bytes, not NUL-terminated; surrounding spaces and tabs are ignored, as
 * in duro_ws_check_upgrade. Returns 0 and writes 28 characters plus a NUL into out, or DURO_EINVAL
 * (out untouched) when the key is not 24 characters of base64 that decode
 * to 16 bytes (22 alphabet characters then "=="; the unused low bits of
 * the last character are not checked).
 */
int duro_ws_accept_key(const char *key, size_t key_len, char out[29]);

/*
 * Checks the headers of an upgrade request. Each value is borrowed, with
 * ptr NULL when the header is absent. Checks in this order:
 *   Upgrade must contain the token "websocket"             else 426,
 *   Connection must contain the token "upgrade"            else 400,
 *   Sec-WebSocket-Version must be "13"                     else 426
 *     (the caller adds "Sec-WebSocket-Version: 13" to that response),
 *   Sec-WebSocket-Key must be a valid key (accept_key)     else 400.
 * Token and value comparisons are case-insensitive and ignore surrounding
 * whitespace. Returns 0 when the upgrade is acceptable, else DURO_EPROTO
 * with the HTTP status to answer in *status (0 on success); *reason (if
 * reason is not NULL) gets a short static string for the response body,
 * or NULL on success.
 */
int duro_ws_check_upgrade(duro_ws_hdr_t upgrade, duro_ws_hdr_t connection,
                          duro_ws_hdr_t version, duro_ws_hdr_t key,
                          int *status, const char **reason);

/*
 * Returns 1 when the comma-separated header value (len bytes, borrowed,
 * not NUL-terminated; may be NULL when len is 0) has an element equal to
 * token (NUL-terminated), compared case-insensitively after trimming
 * spaces and tabs around each element; else 0. An empty token never
 * matches.
 */
int duro_http_header_has_token(const char *value, size_t len,
                               const char *token);

/*
 * The client side: checks a server's answer to our upgrade request, the
 * len bytes of data (borrowed, not NUL-terminated) read so far. key is the
 * Sec-WebSocket-Key we sent (24 characters). RFC 6455 4.1: the status line
 * must be "HTTP/1.x 101", Upgrade must be websocket, Connection must carry
 * upgrade, Sec-WebSocket-Accept must match key (once), and no extension or
 * subprotocol may be chosen, since we offered none. Every line must end in
 * CR LF.
 * Returns the length of the answer's head (up to and including the empty
 * line) when the upgrade was accepted; DURO_AGAIN when the head is not
 * complete yet; DURO_EPROTO when it is malformed or refuses, with *status
 * set to the answer's status code (0 when the status line is malformed)
 * and *reason to a short static string.
 */
int duro_ws_check_answer(const char *data, size_t len, const char key[24],
                         int *status, const char **reason);
/* The same for a relay that offered permessage-deflate on a client's
 * behalf (offered_deflate 1): one Sec-WebSocket-Extensions answer naming
 * permessage-deflate is then accepted, and *ext points at its value (in
 * data) for the relay to hand to its client; ptr NULL when the server
 * chose no extension. */
int duro_ws_check_answer_ext(const char *data, size_t len, const char key[24],
                             int offered_deflate, duro_ws_hdr_t *ext,
                             int *status, const char **reason);

/*
 * Writes a fresh Sec-WebSocket-Key for a client request into out: the
 * base64 of 16 random bytes, 24 characters plus a NUL. Aborts the process
 * if the system cannot produce random bytes (as on out of memory).
 */
void duro_ws_client_key(char out[25]);

#endif
