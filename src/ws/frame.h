/*
 * frame.h: the RFC 6455 frame codec. Bytes in, bytes out; no sockets, no
 * event loop, no logging.
 *
 * The codec is written by hand instead of taken from a library because of
 * the broadcast path: a message sent to N subscribers is framed once into
 * one refcounted duro_chunk_t (duro_ws_frame_chunk) that every send queue
 * references, so the payload is copied once and never re-framed. Server
 * frames are unmasked, so the same bytes are valid for every recipient.
 * On the read side, payloads are unmasked in place in the connection's
 * input buffer and an unfragmented message (the common case) is handed
 * out as a pointer into that buffer, again without a copy.
 *
 * duro_ws_reader_t assembles messages for one connection: it enforces the
 * protocol rules (masking, RSV bits, opcodes, control frame limits,
 * fragmentation order, UTF-8 for text, message size) and reports each
 * violation with the close code to answer it with (1002, 1007 or 1009).
 */
#ifndef DURO_WS_FRAME_H
#define DURO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

/* Opcodes (RFC 6455 5.2). */
enum {
  DURO_WS_OP_CONT = 0,
  DURO_WS_OP_TEXT = 1,
  DURO_WS_OP_BINARY = 2,
  DURO_WS_OP_CLOSE = 8,
  DURO_WS_OP_PING = 9,
  DURO_WS_OP_PONG = 10,
};

/* Close codes used by duro (RFC 6455 7.4.1 and the IANA registry). */
enum {
  DURO_WS_CLOSE_NORMAL = 1000,
  DURO_WS_CLOSE_GOING_AWAY = 1001,
  DURO_WS_CLOSE_PROTOCOL = 1002,
  DURO_WS_CLOSE_UNSUPPORTED = 1003,
  DURO_WS_CLOSE_NO_STATUS = 1005,
  DURO_WS_CLOSE_ABNORMAL = 1006,
  DURO_WS_CLOSE_INVALID_DATA = 1007,
  DURO_WS_CLOSE_POLICY = 1008,
  DURO_WS_CLOSE_TOO_BIG = 1009,
  DURO_WS_CLOSE_INTERNAL = 1011,
  DURO_WS_CLOSE_TRY_AGAIN = 1013,
};

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define DURO_WS_MAX_HEADER 14
/* Largest control frame payload (RFC 6455 5.5). */
#define DURO_WS_MAX_CONTROL 125
/* Largest close reason: a control payload minus the 2-byte code. */
#define DURO_WS_MAX_CLOSE_REASON 123

/*
 * Size of a frame header for a payload of payload_len bytes: 2, 4 or 10,
 * plus 4 when masked != 0. Never fails.
 */
size_t duro_ws_header_size(uint64_t payload_len, int masked);

/*
 * Writes a frame header into out, which must have room for
 * DURO_WS_MAX_HEADER bytes. FIN is set when fin != 0; opcode is taken as
 * is (low 4 bits). mask is the 4-byte masking key, or NULL for an unmasked
 * frame (server to client); the payload itself is not touched, mask it
 * with duro_ws_mask. The shortest length encoding is used, and
 * payload_len must be below 2^63.
 * Returns the number of bytes written (== duro_ws_header_size()).
 */
size_t duro_ws_write_header(uint8_t *out, int opcode, int fin,
                            uint64_t payload_len, const uint8_t mask[4]);

/*
 * XORs len bytes of data in place with the masking key, starting at key
 * position offset (mod 4): pass the number of payload bytes already masked
 * to continue a payload that arrives in pieces. Masking twice restores the
 * data. Works a word at a time; any alignment is fine.
 */
void duro_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
                  size_t offset);

/*
 * Builds a complete unmasked, FIN-set server frame (header followed by a
 * copy of len bytes of payload) as one chunk with one reference, owned by
 * the caller (release with duro_chunk_unref). This is how a broadcast is
 * framed once and then shared by every recipient's send queue. payload is
 * borrowed and may be NULL when len is 0. len must fit a chunk (below
 * 4 GiB minus the header); callers enforce their message limit first.
 * Never fails (allocation failure aborts).
 */
duro_chunk_t *duro_ws_frame_chunk(int opcode, const void *payload, size_t len);

/*
 * The header length of the frame at frame[0..len): 2 to 14, or 0 when len
 * does not hold the whole header.
 */
size_t duro_ws_frame_header_len(const uint8_t *frame, size_t len);

/*
 * Builds an unmasked close frame as a chunk with one reference, owned by
 * the caller. code 0 gives an empty close payload (no status); otherwise
 * the payload is the big-endian code followed by the reason, truncated to
 * DURO_WS_MAX_CLOSE_REASON bytes without splitting a UTF-8 character
 * (reason is assumed to be UTF-8). reason is borrowed and may be NULL when
 * reason_len is 0. Never fails.
 */
duro_chunk_t *duro_ws_close_chunk(uint16_t code, const char *reason,
                                  size_t reason_len);

/* The length of reason (UTF-8, len bytes) as a close frame carries it: at
 * most DURO_WS_MAX_CLOSE_REASON bytes, cut before a character that would
 * straddle the limit. */
size_t duro_ws_close_reason_len(const char *reason, size_t len);

/*
 * Returns 1 when code may be received in a close frame (RFC 6455 7.4):
 * 1000-1003, 1007-1011, the registered 1012-1014, and 3000-4999 for
 * libraries and applications. Returns 0 otherwise, including for 1004,
 * 1005, 1006 and 1015, which must never appear on the wire.
 */
int duro_ws_close_code_valid(unsigned code);

/*
 * Message assembly state for one connection. Embed it in the connection and
 * set it up with duro_ws_reader_init. Fields are public so they can be
 * inspected; only the reader functions write them.
 */
typedef struct duro_ws_reader {
  /* Bytes of a fragmented message in progress. The storage is released at
   * the feed call after the one that delivered the message (the delivered
   * bytes stay valid until then), so an idle reader owns no heap memory. */
  duro_buf_t msg;
  /* TEXT or BINARY while a fragmented message is open, else 0. */
  uint8_t msg_opcode;
  /* 1 on the server side (client frames must be masked), 0 on the client
   * side (server frames must not be masked). */
  uint8_t expect_masked;
  /* 1 when permessage-deflate was negotiated: RSV1 may mark a message's
   * first frame as compressed. (These two bytes sit in what was padding:
   * a socket costs no more.) */
  uint8_t deflate;
  /* The open fragmented message is compressed. */
  uint8_t msg_compressed;
  /* UTF-8 state of the open text message (utf8.h). */
  uint32_t utf8_state;
  /* Limit on a whole message's payload (sum of its fragments), in bytes. */
  size_t max_message;
} duro_ws_reader_t;

/* What one duro_ws_reader_feed call produced. */
typedef struct duro_ws_event {
  /* 0: nothing complete yet (a fragment was taken in); TEXT or BINARY: a
   * whole message; PING, PONG or CLOSE: a control frame. Control frames can
   * arrive between the fragments of a message. */
  int opcode;
  /* Payload, unmasked. Borrowed: it points into the caller's buffer or
   * into the reader and is valid until the next feed or reset call (and
   * as long as the caller's buffer is not changed). For CLOSE, the whole
   * close payload (code and reason). Text is valid UTF-8. Never NULL when
   * opcode != 0, even for an empty payload. */
  uint8_t *data;
  size_t len;
  /* TEXT or BINARY: 1 when the message is compressed (permessage-deflate,
   * RSV1 on its first frame): data is the compressed bytes, and a text
   * message's UTF-8 is for the caller to check once inflated. */
  uint8_t compressed;
  /* CLOSE only: the code received, or 1005 (NO_STATUS) for an empty
   * payload. The reason is data + 2, len - 2 bytes, when len >= 2. */
  uint16_t close_code;
  /* On error only: the close code to send (1002, 1007 or 1009) and a
   * short static reason suitable for the close frame, e.g.
   * "unmasked frame", "invalid utf-8", "message too big". */
  uint16_t error_code;
  const char *error_reason;
} duro_ws_event_t;

/*
 * Initialises r with no message open. expect_masked is 1 for a server
 * (client frames must be masked) and 0 for a client. max_message limits a
 * message's total payload. Allocates nothing.
 */
void duro_ws_reader_init(duro_ws_reader_t *r, int expect_masked,
                         size_t max_message);

/*
 * Frees the message storage and forgets any open message, keeping the
 * configuration. Call it when the connection is done with the reader; the
 * reader can be fed again afterwards as if new. Pointers from earlier
 * events become invalid.
 */
void duro_ws_reader_reset(duro_ws_reader_t *r);

/*
 * Consumes at most one complete frame from buf[0..len). buf is the
 * caller's input buffer and is modified: the consumed frame's payload is
 * unmasked in place. ev is always overwritten.
 *
 * Returns:
 *  > 0  bytes consumed (drop them from the input). ev->opcode says whether
 *       a message or control frame completed; 0 means a fragment was
 *       buffered. An unfragmented data frame is delivered zero-copy (the
 *       pointer is into buf); the final fragment of a fragmented message
 *       delivers r->msg's bytes.
 *  DURO_AGAIN  buf does not hold a whole frame yet: nothing was consumed
 *       or modified; call again with the same bytes plus more. The header is
 *       still checked as soon as it is present, so a frame that is bound to
 *       fail (bad bits, too big) is rejected without waiting for payload.
 *  DURO_EPROTO  a protocol violation; ev->error_code is 1002 or 1007.
 *  DURO_E2BIG   the message (by its announced length) would exceed
 *               max_message; ev->error_code is 1009.
 * On error, ev->error_reason is set too; send a close frame with them and
 * stop feeding (only duro_ws_reader_reset is valid afterwards).
 *
 * Rules: frames must be masked iff expect_masked; RSV2 and RSV3 must be 0,
 * and RSV1 too unless r->deflate is set, and then only on a message's
 * first frame (never on a continuation or a control frame); unknown opcodes, fragmented control frames,
 * control payloads above 125 bytes, a continuation with no message open,
 * a new data frame while a message is open, a 64-bit length with the top
 * bit set, a 1-byte close payload or an invalid close code give 1002;
 * invalid UTF-8 in text (checked per fragment, so it fails early) or in a
 * close reason, or a text message ending inside a character, gives 1007.
 * Non-minimal length encodings are accepted.
 */
ssize_t duro_ws_reader_feed(duro_ws_reader_t *r, uint8_t *buf, size_t len,
                            duro_ws_event_t *ev);

#endif
