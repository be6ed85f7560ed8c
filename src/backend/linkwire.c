/*
 * linkwire.c: see linkwire.h.
 */
#include "backend/linkwire.h"

#include "core/bytes.h"
#include "core/err.h"

long duro_link_next(const uint8_t *p, size_t len, duro_link_msg_t *m) {
  if (len < 4)
    return 0;
  uint32_t n = duro_load_be32(p);
  if (n < DURO_LINK_HEAD - 4 || n - (DURO_LINK_HEAD - 4) > DURO_LINK_MAX_BODY)
    return DURO_EPROTO;
  if (len - 4 < n)
    return 0;
  m->type = p[4];
  m->id = duro_load_be32(p + 5);
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
    uint32_t k = duro_load_be32(m->data);
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
  return duro_load_be32(m->ids + (size_t)i * 4);
}

void duro_link_put_head(duro_buf_t *b, uint8_t type, uint32_t id,
                        size_t body_len) {
  uint8_t *p = duro_buf_reserve(b, DURO_LINK_HEAD);
  duro_store_be32(p, (uint32_t)(body_len + DURO_LINK_HEAD - 4));
  p[4] = type;
  duro_store_be32(p + 5, id);
  b->len += DURO_LINK_HEAD;
}

void duro_link_put_cast(duro_buf_t *b, const uint32_t *ids, uint32_t n,
                        size_t len) {
  size_t body = 4 + (size_t)n * 4 + len;
  duro_link_put_head(b, DURO_LINK_CAST, 0, body);
  uint8_t *p = duro_buf_reserve(b, 4 + (size_t)n * 4);
  duro_store_be32(p, n);
  for (uint32_t i = 0; i < n; i++)
    duro_store_be32(p + 4 + (size_t)i * 4, ids[i]);
  b->len += 4 + (size_t)n * 4;
}
