/*
 * linkwire.c: see linkwire.h.
 */
#include "backend/linkwire.h"

#include "core/err.h"

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

long duro_link_next(const uint8_t *p, size_t len, duro_link_msg_t *m) {
  if (len < 4)
    return 0;
  uint32_t n = get32(p);
  if (n < DURO_LINK_HEAD - 4 || n - (DURO_LINK_HEAD - 4) > DURO_LINK_MAX_BODY)
    return DURO_EPROTO;
  if (len - 4 < n)
    return 0;
  m->type = p[4];
  m->id = get32(p + 5);
  m->ids = NULL;
  m->nids = 0;
  m->data = p + DURO_LINK_HEAD;
  m->len = n - (DURO_LINK_HEAD - 4);
  switch (m->type) {
  case DURO_LINK_OPEN:
  case DURO_LINK_DATA:
    break;
  case DURO_LINK_END:
    if (m->len)
      return DURO_EPROTO;
    break;
  case DURO_LINK_CAST: {
    if (m->len < 4)
      return DURO_EPROTO;
    uint32_t k = get32(m->data);
    if (k == 0 || k > (m->len - 4) / 4)
      return DURO_EPROTO;
    m->nids = k;
    m->ids = m->data + 4;
    m->data += 4 + (size_t)k * 4;
    m->len -= 4 + (size_t)k * 4;
    break;
  }
  default:
    return DURO_EPROTO;
  }
  return (long)n + 4;
}

uint32_t duro_link_cast_id(const duro_link_msg_t *m, uint32_t i) {
  return get32(m->ids + (size_t)i * 4);
}

void duro_link_put_head(duro_buf_t *b, uint8_t type, uint32_t id,
                        size_t body_len) {
  uint8_t *p = duro_buf_reserve(b, DURO_LINK_HEAD);
  put32(p, (uint32_t)(body_len + DURO_LINK_HEAD - 4));
  p[4] = type;
  put32(p + 5, id);
  b->len += DURO_LINK_HEAD;
}

void duro_link_put_cast(duro_buf_t *b, const uint32_t *ids, uint32_t n,
                        size_t len) {
  size_t body = 4 + (size_t)n * 4 + len;
  duro_link_put_head(b, DURO_LINK_CAST, 0, body);
  uint8_t *p = duro_buf_reserve(b, 4 + (size_t)n * 4);
  put32(p, n);
  for (uint32_t i = 0; i < n; i++)
    put32(p + 4 + (size_t)i * 4, ids[i]);
  b->len += 4 + (size_t)n * 4;
}
