/*
 * deflate.h: permessage-deflate (RFC 7692): the negotiation, and each
 * message compressed or inflated on its own.
 *
 * duro always answers with "server_no_context_takeover;
 * client_no_context_takeover": no compression or decompression state is
 * kept per socket between messages, so an idle socket costs no zlib
 * memory, and a broadcast compressed once is a valid message for every
 * recipient that negotiated the extension. The codec keeps one deflate
 * and one inflate stream for the whole process (loop thread only), reset
 * before each message.
 *
 * Inflation has a hard output bound: a message that would inflate past
 * the caller's limit stops there (DURO_E2BIG), so a few KB of "deflate
 * bomb" costs a bounded amount of CPU and memory.
 */
#ifndef DURO_WS_DEFLATE_H
#define DURO_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The extension's answer, for Sec-WebSocket-Extensions. */
#define DURO_WS_DEFLATE_ANSWER                                                \
  "permessage-deflate; server_no_context_takeover; "                          \
  "client_no_context_takeover"

/*
 * Reads a Sec-WebSocket-Extensions offer (value, len bytes, borrowed;
 * NULL when absent) and returns 1 when it holds a permessage-deflate
 * offer duro accepts, else 0. Offers are tried in order; one is accepted
 * when each of its parameters is known, appears once and has a valid
 * value: server_no_context_takeover and client_no_context_takeover (no
 * value), client_max_window_bits (no value, or 8 to 15: duro inflates
 * with any window), server_max_window_bits (exactly 15 when given: duro
 * compresses with the full window and one compressed frame serves every
 * recipient, so an offer asking for a smaller one is declined and that
 * socket gets plain messages).
 */
int duro_ws_deflate_accepts(const char *value, size_t len);

/*
 * Compresses payload (len bytes) as one permessage-deflate message into
 * out (appended): raw deflate, ended by a sync flush whose final 4 bytes
 * (00 00 ff ff) are removed, as RFC 7692 7.2.1 says. Returns 0, or
 * DURO_E2BIG when the result would not be smaller than the payload (the
 * caller sends it plain then). out is untouched on DURO_E2BIG.
 */
int duro_ws_deflate(const uint8_t *payload, size_t len, duro_buf_t *out);

/*
 * Inflates one compressed message (len bytes) into out (cleared first),
 * at most max bytes. Returns 0; DURO_E2BIG when the message would pass
 * max (inflation stops there); DURO_EPROTO when the data is not valid
 * deflate. out holds what was inflated so far on error.
 */
int duro_ws_inflate(const uint8_t *data, size_t len, size_t max,
                    duro_buf_t *out);

#endif
