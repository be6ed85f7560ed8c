/*
 * dial.h: an outgoing connection, plain TCP or TLS, for the frontend's
 * calls and relays to its backend (http/client.c, frontend/tunnel.c).
 *
 * Under TLS the session runs on memory BIOs (net/tls.h) as the server's
 * connections do: the socket stays libuv's, nothing blocks the loop, and
 * the user of a dial sees plaintext either way. The server's certificate
 * is verified during the handshake; on_open runs only after it passed.
 *
 * Ownership: duro_dial_start allocates the dial; it is freed by itself
 * once it has ended, either by duro_dial_close (no callback after it) or
 * after on_end has run (the user drops its pointer there).
 */
#ifndef DURO_NET_DIAL_H
#define DURO_NET_DIAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/tls.h"

typedef struct duro_dial duro_dial_t;

typedef struct duro_dial_cbs {
  /* connected, and under TLS the handshake done and the server verified */
  void (*on_open)(void *ud);
  /* bytes from the server (plaintext); valid during the call only */
  void (*on_data)(void *ud, const uint8_t *data, size_t len);
  /* the end: err 0 when the server closed its side cleanly, else a
   * DURO_E* code with what failed in why (connect refused, certificate
   * rejected, reset...). The dial is gone after this call. */
  void (*on_end)(void *ud, int err, const char *why);
  /* a queued write went out (NULL: not wanted); duro_dial_queued says
   * what is still waiting */
  void (*on_written)(void *ud);
} duro_dial_cbs_t;

/* Connects to addr; with tls, speaks TLS to a server that must be host's
 * (see duro_tls_client_new). Returns 0 with *out set, or a DURO_E* code
 * with nothing started (no callback will run). */
int duro_dial_start(duro_dial_t **out, uv_loop_t *loop,
                    const struct sockaddr *addr, duro_tls_client_t *tls,
                    const char *host, const duro_dial_cbs_t *cbs, void *ud);

/* Sends len bytes (after on_open): what the socket does not take at once
 * waits in a copy. 0, or DURO_EIO when the connection failed (the dial
 * stays the user's to close). */
int duro_dial_write(duro_dial_t *d, const void *data, size_t len);

/* Bytes written but not yet taken by the kernel (ciphertext under TLS). */
size_t duro_dial_queued(const duro_dial_t *d);

/* No more callbacks; the connection closes and the dial is freed. */
void duro_dial_close(duro_dial_t *d);

#endif
