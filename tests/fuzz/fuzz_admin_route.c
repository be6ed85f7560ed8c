/*
 * fuzz_admin_route.c: libFuzzer target for the admin API's request reader
 * (admin/route.c): the path and query of a request to the admin listener,
 * any bytes. It must never crash, leak or read out of bounds, and it
 * checks the contract: a refusal has a status of 400, 404 or 405 and a
 * reason; an accepted request has a known operation, a page size from 1
 * to 1000, an object id of 64 lowercase hex digits where there is an
 * object, a close code a server may send, and a reason and an alarm name
 * that fit their buffers.
 *
 * Input: the first byte picks the method (GET, POST, or DELETE); the rest
 * is the request target, split at its first '?' into path and query, and
 * prefixed with "/api/" unless it starts with '/'. Path and query are
 * exact-size heap copies, so a read past either end trips ASan.
 *
 * Built and run by `make fuzz` (seeds in tests/fuzz/corpus/admin_route).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/route.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const char *id) {
  for (int i = 0; i < 64; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      abort();
  if (id[64] != '\0')
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  static const char *const methods[] = {"GET", "POST", "DELETE"};
  const char *method = methods[data[0] % 3];
  const char *t = (const char *)data + 1;
  size_t tlen = size - 1;
  const char *q = memchr(t, '?', tlen);
  size_t raw_path = q ? (size_t)(q - t) : tlen;
  int prefix = !(raw_path && t[0] == '/');
  size_t plen = raw_path + (prefix ? 5 : 0);
  char *path = duro_malloc(plen ? plen : 1);
  if (prefix)
    memcpy(path, "/api/", 5);
  memcpy(path + (prefix ? 5 : 0), t, raw_path);
  size_t qlen = q ? tlen - raw_path - 1 : 0;
  char *query = duro_memdup(q ? q + 1 : "", qlen);

  duro_admin_route_t r;
  int rc = duro_admin_route_parse(method, path, plen, query, qlen, &r);
  if (rc < 0) {
    if ((r.status != 400 && r.status != 404 && r.status != 405) || !r.why)
      abort();
  } else {
    if (r.limit < 1 || r.limit > DURO_ADMIN_PAGE_MAX)
      abort();
    if (memchr(r.binding, '\0', sizeof(r.binding)) == NULL)
      abort();
    switch (r.op) {
    case DURO_ADMIN_NAMESPACES:
      if (r.binding[0])
        abort();
      break;
    case DURO_ADMIN_OBJECTS:
      if (!r.binding[0])
        abort();
      if (r.after_id[0])
        check_id(r.after_id);
      break;
    case DURO_ADMIN_CLOSE_SOCKET:
      if (r.code != 1000 && (r.code < 3000 || r.code > 4999))
        abort();
      if (strlen(r.reason) > 123)
        abort();
      check_id(r.id);
      break;
    case DURO_ADMIN_DELETE_ALARM:
      if (strlen(r.alarm) > 64)
        abort();
      check_id(r.id);
      break;
    case DURO_ADMIN_OBJECT:
    case DURO_ADMIN_STORAGE:
    case DURO_ADMIN_EVICT:
      check_id(r.id);
      if (r.op != DURO_ADMIN_STORAGE && r.after_key)
        abort();
      break;
    default:
      abort();
    }
  }
  duro_admin_route_free(&r);

  size_t vlen;
  const char *v = duro_admin_query_value(query, qlen, "limit", &vlen);
  if (v && (v < query || v + vlen > query + qlen))
    abort();
  duro_free(query);
  duro_free(path);
  return 0;
}
