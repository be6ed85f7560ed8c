/*
 * fuzz_linkwire.c: libFuzzer target for the messages of a link between
 * cluster nodes (src/backend/linkwire.c), the codec under backend/link.c.
 *
 * The input is a byte stream from a peer node. It is read as a stream of
 * messages with duro_link_next until it needs more bytes or fails, and
 * every answer is checked against an independent reading of the format
 * in linkwire.h (the same result, the same fields). For each message:
 *   - its fields point into the input, inside the bytes it took, and
 *     account for all of them (head, CAST's count and ids, data);
 *   - END has no body, CAST has at least one id and its ids fit;
 *   - every shorter prefix of it needs more bytes (0), and its exact
 *     bytes alone give the same message;
 *   - written again with duro_link_put_head / duro_link_put_cast and its
 *     body, it is the same bytes (a CAST's id field written as 0) and
 *     reads back as the same message.
 * Then the same stream is fed again in pieces whose sizes come from the
 * input, the way link.c's entry side buffers it (append, read whole
 * messages, drop them): the messages and the end must be the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/linkwire.h"
#include "core/buf.h"
#include "core/err.h"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* The format as linkwire.h states it, written apart from linkwire.c. */
static long ref_next(const uint8_t *p, size_t len, duro_link_msg_t *m) {
  if (len < 4)
    return 0;
  uint64_t n = be32(p);
  if (n < 5 || n - 5 > DURO_LINK_MAX_BODY)
    return DURO_EPROTO;
  if (len < 4 + n)
    return 0;
  memset(m, 0, sizeof(*m));
  m->type = p[4];
  m->id = be32(p + 5);
  m->data = p + 9;
  m->len = (size_t)(n - 5);
  if (m->type == DURO_LINK_OPEN || m->type == DURO_LINK_DATA)
    return (long)(4 + n);
  if (m->type == DURO_LINK_END)
    return m->len == 0 ? (long)(4 + n) : DURO_EPROTO;
  if (m->type != DURO_LINK_CAST || m->len < 4)
    return DURO_EPROTO;
  uint64_t k = be32(p + 9);
  if (k == 0 || 4 + 4 * k > m->len)
    return DURO_EPROTO;
  m->nids = (uint32_t)k;
  m->ids = p + 13;
  m->data = p + 13 + 4 * k;
  m->len = (size_t)(n - 5 - 4 - 4 * k);
  return (long)(4 + n);
}

/* 1 when a and b are the same message (a CAST's id aside when skip_id). */
static int same_msg(const duro_link_msg_t *a, const duro_link_msg_t *b,
                    int skip_id) {
  if (a->type != b->type || a->nids != b->nids || a->len != b->len)
    return 0;
  if (!skip_id && a->id != b->id)
    return 0;
  if (a->nids && memcmp(a->ids, b->ids, (size_t)a->nids * 4) != 0)
    return 0;
  if (a->len && memcmp(a->data, b->data, a->len) != 0)
    return 0;
  for (uint32_t i = 0; i < a->nids; i++)
    if (duro_link_cast_id(a, i) != duro_link_cast_id(b, i) ||
        duro_link_cast_id(a, i) != be32(a->ids + (size_t)i * 4))
      return 0;
  return 1;
}

/* The invariants of message m, which took n bytes at p (len available). */
static void check_msg(const uint8_t *p, size_t len, long n,
                      const duro_link_msg_t *m) {
  const uint8_t *end = p + n;
  if (n < DURO_LINK_HEAD || (size_t)n > len)
    abort();
  if ((size_t)n - DURO_LINK_HEAD > DURO_LINK_MAX_BODY)
    abort();
  if (m->type < DURO_LINK_OPEN || m->type > DURO_LINK_CAST)
    abort();
  if (m->id != be32(p + 5) || m->type != p[4])
    abort();
  /* data lies inside the message and ends where the message ends */
  if (m->data < p + DURO_LINK_HEAD || m->data > end ||
      m->len != (size_t)(end - m->data))
    abort();
  if (m->type == DURO_LINK_CAST) {
    if (m->nids < 1 || !m->ids || m->ids != p + DURO_LINK_HEAD + 4 ||
        be32(p + DURO_LINK_HEAD) != m->nids ||
        m->ids + (size_t)m->nids * 4 != m->data ||
        (size_t)DURO_LINK_HEAD + 4 + (size_t)m->nids * 4 + m->len !=
            (size_t)n)
      abort();
  } else {
    if (m->nids != 0 || m->ids || m->data != p + DURO_LINK_HEAD)
      abort();
  }
  if (m->type == DURO_LINK_END && m->len != 0)
    abort();
}

/* Every prefix of a whole message needs more; its bytes alone are it. */
static void check_prefixes(const uint8_t *p, long n,
                           const duro_link_msg_t *m) {
  duro_link_msg_t x;
  for (long k = 0; k < n; k++)
    if (duro_link_next(p, (size_t)k, &x) != 0)
      abort();
  if (duro_link_next(p, (size_t)n, &x) != n || !same_msg(m, &x, 0))
    abort();
}

/* Writes m again; the bytes must be the original's and read back as m. */
static void check_roundtrip(const uint8_t *p, long n,
                            const duro_link_msg_t *m) {
  duro_buf_t b = DURO_BUF_INIT;
  if (m->type == DURO_LINK_CAST) {
    uint32_t *ids = malloc((size_t)m->nids * sizeof(*ids));
    if (!ids)
      abort();
    for (uint32_t i = 0; i < m->nids; i++)
      ids[i] = duro_link_cast_id(m, i);
    duro_link_put_cast(&b, ids, m->nids, m->len);
    free(ids);
  } else {
    duro_link_put_head(&b, m->type, m->id, m->len);
  }
  duro_buf_append(&b, m->data, m->len);
  if (b.len != (size_t)n)
    abort();
  int cast = m->type == DURO_LINK_CAST;
  /* the same bytes, but a CAST's id field, which put_cast writes as 0 */
  if (memcmp(b.data, p, 5) != 0 ||
      memcmp(b.data + DURO_LINK_HEAD, p + DURO_LINK_HEAD,
             (size_t)n - DURO_LINK_HEAD) != 0)
    abort();
  if (cast ? be32(b.data + 5) != 0 : memcmp(b.data + 5, p + 5, 4) != 0)
    abort();
  duro_link_msg_t x;
  if (duro_link_next(b.data, b.len, &x) != n || !same_msg(m, &x, cast) ||
      (cast && x.id != 0))
    abort();
  duro_buf_free(&b);
}

/* FNV-1a over the messages, so two readings compare without storing. */
static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * UINT64_C(1099511628211);
  return h;
}

static uint64_t mix_msg(uint64_t h, const duro_link_msg_t *m) {
  h = mix(h, &m->type, 1);
  h = mix(h, &m->id, sizeof(m->id));
  h = mix(h, &m->nids, sizeof(m->nids));
  if (m->nids)
    h = mix(h, m->ids, (size_t)m->nids * 4);
  h = mix(h, &m->len, sizeof(m->len));
  return mix(h, m->data, m->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t whole = UINT64_C(14695981039346656037);
  long last = 0;
  size_t off = 0;
  for (;;) {
    duro_link_msg_t m, r;
    memset(&m, 0xa5, sizeof(m));
    long n = duro_link_next(data + off, size - off, &m);
    long rn = ref_next(data + off, size - off, &r);
    if (n != rn)
      abort();
    if (n <= 0) {
      if (n != 0 && n != DURO_EPROTO)
        abort();
      last = n;
      break;
    }
    if (!same_msg(&m, &r, 0) || m.id != r.id)
      abort();
    check_msg(data + off, size - off, n, &m);
    check_prefixes(data + off, n, &m);
    check_roundtrip(data + off, n, &m);
    whole = mix_msg(whole, &m);
    off += (size_t)n;
  }
  if (size == 0)
    return 0;

  /* Again in pieces, as link.c's entry side reads: sizes from the input. */
  uint64_t pieces = UINT64_C(14695981039346656037);
  long plast = 0;
  duro_buf_t in = DURO_BUF_INIT;
  size_t fed = 0, taken = 0;
  uint32_t rng = 0x9e3779b9u ^ (uint32_t)size;
  for (size_t i = 0; i < size && i < 16; i++)
    rng = rng * 31 + data[i];
  int done = 0;
  while (!done) {
    if (fed < size) {
      rng = rng * 1103515245u + 12345u;
      size_t k = 1 + (rng >> 16) % 97;
      if (k > size - fed)
        k = size - fed;
      duro_buf_append(&in, data + fed, k);
      fed += k;
    }
    size_t used = 0;
    for (;;) {
      duro_link_msg_t m;
      long n = duro_link_next(in.data + used, in.len - used, &m);
      if (n == 0 && fed < size)
        break; /* more to come */
      if (n <= 0) {
        plast = n;
        done = 1;
        break;
      }
      pieces = mix_msg(pieces, &m);
      used += (size_t)n;
    }
    duro_buf_consume(&in, used);
    taken += used;
  }
  duro_buf_free(&in);
  if (pieces != whole || plast != last || taken != off)
    abort();
  return 0;
}
