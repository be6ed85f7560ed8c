/*
 * linkwire.h: the messages of a link between two cluster nodes
 * (backend/link.c), as bytes. Pure: no I/O, fuzzed (tests/fuzz/
 * fuzz_linkwire.c).
 *
 * A link carries the client connections that reached one node (the entry)
 * for objects another node (the owner) serves, many in one ordered byte
 * stream. Every message is
 *
 *   u32 len | u8 type | u32 id | body       (big-endian; len counts from
 *                                            type to the end of body)
 *
 *   OPEN  entry -> owner  a new connection id; body: its first bytes
 *                         (the HTTP request, as the owner is to read it)
 *   DATA  both ways       body: bytes of connection id
 *   END   both ways       connection id ended on the sender's side
 *                         (after its last DATA); body empty
 *   CAST  owner -> entry  one body for many connections: body is
 *                         u32 n | n x u32 id | bytes; the id field is 0
 *
 * CAST is what makes a broadcast cost the owner one message per entry
 * node: the same bytes, with the list of the entry node's sockets that
 * get them.
 */
#ifndef DURO_BACKEND_LINKWIRE_H
#define DURO_BACKEND_LINKWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum { DURO_LINK_OPEN = 1, DURO_LINK_DATA, DURO_LINK_END, DURO_LINK_CAST };

#define DURO_LINK_HEAD 9                  /* len, type, id */
#define DURO_LINK_MAX_BODY (32u << 20)    /* a message's body, at most */

typedef struct duro_link_msg {
  uint8_t type;
  uint32_t id;
  const uint8_t *ids; /* CAST: nids big-endian u32s (unaligned) */
  uint32_t nids;
  const uint8_t *data; /* the bytes (for CAST after the ids) */
  size_t len;
} duro_link_msg_t;

/* Reads one message from p[0..len): returns the bytes it took (> 0) with
 * *m pointing into p, 0 when more bytes are needed, or DURO_EPROTO for a
 * message no peer sends (an unknown type, a length under the head or over
 * the bound, a CAST whose ids do not fit, or without ids). */
long duro_link_next(const uint8_t *p, size_t len, duro_link_msg_t *m);

/* The i-th id of a CAST (i < m->nids). */
uint32_t duro_link_cast_id(const duro_link_msg_t *m, uint32_t i);

/* Appends the head of a message of type for id with body_len bytes of
 * body to follow (which the caller appends or sends after it). */
void duro_link_put_head(duro_buf_t *b, uint8_t type, uint32_t id,
                        size_t body_len);

/* Appends a CAST head for n ids (the ids and then len bytes follow). */
void duro_link_put_cast(duro_buf_t *b, const uint32_t *ids, uint32_t n,
                        size_t len);

#endif
