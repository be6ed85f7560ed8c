/*
 * route.c: see route.h.
 */
#include "admin/route.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "core/url.h"
#include "objects/runtime.h"
#include "ws/utf8.h"

const char *duro_admin_query_value(const char *query, size_t len,
                                   const char *key, size_t *value_len) {
  size_t klen = strlen(key); /* C string: a literal */
  const char *q = query, *end = query + len;
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 &&
        q[klen] == '=') {
      *value_len = (size_t)(stop - q) - klen - 1;
      return q + klen + 1;
    }
    q = amp ? amp + 1 : end;
  }
  return NULL;
}

static int refuse(duro_admin_route_t *r, int status, const char *why) {
  r->status = status;
  r->why = why;
  return DURO_EINVAL;
}

/* s[0..len) is the whole of lit. */
static int is(const char *s, size_t len, const char *lit) {
  return duro_cstr_eq(lit, s, len);
}

/* Percent-decodes a query value into dst (cap bytes with its NUL): text
 * without NUL bytes, valid UTF-8 when utf8 is set. Returns the length, or
 * DURO_EINVAL. */
static long decode_text(const char *v, size_t vlen, char *dst, size_t cap,
                        int utf8) {
  if (vlen >= cap * 3) /* cannot fit even fully escaped */
    return DURO_EINVAL;
  char *tmp = duro_malloc(vlen + 1);
  long n = duro_pct_decode(v, vlen, tmp, 1);
  int ok = n >= 0 && (size_t)n < cap && !memchr(tmp, '\0', (size_t)n) &&
           (!utf8 || duro_utf8_validate(DURO_UTF8_ACCEPT, (const uint8_t *)tmp,
                                        (size_t)n) == DURO_UTF8_ACCEPT);
  if (ok) {
    memcpy(dst, tmp, (size_t)n);
    dst[n] = '\0';
  }
  duro_free(tmp);
  return ok ? n : DURO_EINVAL;
}

/* The object of the path, X: its id, or its name hashed into one. */
static int read_object(duro_admin_route_t *r, const char *x, size_t xlen) {
  static const char bad[] = "the object must be an id (64 lowercase hex "
                            "digits) or a name (percent-encoded, 1 to 512 "
                            "bytes)";
  if (duro_object_id_valid(x, xlen)) {
    memcpy(r->id, x, 64);
    r->id[64] = '\0';
    return 0;
  }
  if (xlen == 0 || xlen > 3 * 512)
    return refuse(r, 400, bad);
  char *name = duro_malloc(xlen + 1);
  long n = duro_pct_decode(x, xlen, name, 0);
  int ok = n > 0 && n <= 512 && !memchr(name, '\0', (size_t)n);
  if (ok)
    duro_object_id_from_name(r->binding, strlen(r->binding), name, /* C string */
                             (size_t)n, r->id);
  duro_free(name);
  return ok ? 0 : refuse(r, 400, bad);
}

static int read_limit(duro_admin_route_t *r, const char *q, size_t qlen) {
  size_t vlen;
  uint64_t limit = DURO_ADMIN_PAGE_DEFAULT;
  const char *v = duro_admin_query_value(q, qlen, "limit", &vlen);
  if (v && (duro_parse_u64(v, vlen, DURO_ADMIN_PAGE_MAX, &limit) < 0 ||
            limit == 0))
    return refuse(r, 400, "limit must be a number from 1 to 1000");
  r->limit = (unsigned)limit;
  return 0;
}

/* OBJECTS: the previous page's last id. */
static int read_id_cursor(duro_admin_route_t *r, const char *q, size_t qlen) {
  size_t vlen;
  const char *v = duro_admin_query_value(q, qlen, "cursor", &vlen);
  if (!v || !vlen)
    return 0;
  if (!duro_object_id_valid(v, vlen))
    return refuse(r, 400,
                  "cursor must be an object id: 64 lowercase hex digits");
  memcpy(r->after_id, v, 64);
  r->after_id[64] = '\0';
  return 0;
}

/* STORAGE: the previous page's last key, in hex. */
static int read_key_cursor(duro_admin_route_t *r, const char *q, size_t qlen) {
  size_t vlen;
  const char *v = duro_admin_query_value(q, qlen, "cursor", &vlen);
  if (!v || !vlen)
    return 0;
  if (vlen % 2 || vlen > 2 * 65536)
    return refuse(r, 400, "cursor must be the hex of a key");
  uint8_t *key = duro_malloc(vlen / 2 + 1);
  for (size_t i = 0; i < vlen / 2; i++) {
    int hi = duro_hex_value(v[2 * i]), lo = duro_hex_value(v[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      duro_free(key);
      return refuse(r, 400, "cursor must be the hex of a key");
    }
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  r->after_key = key;
  r->after_key_len = vlen / 2;
  return 0;
}

static int read_close(duro_admin_route_t *r, const char *q, size_t qlen) {
  size_t vlen;
  uint64_t code = 1000;
  const char *v = duro_admin_query_value(q, qlen, "code", &vlen);
  if (v && (duro_parse_u64(v, vlen, 4999, &code) < 0 ||
            (code != 1000 && code < 3000)))
    return refuse(r, 400, "code must be 1000 or 3000 to 4999");
  r->code = (unsigned)code;
  memcpy(r->reason, "closed by an operator", 22);
  v = duro_admin_query_value(q, qlen, "reason", &vlen);
  if (v && decode_text(v, vlen, r->reason, sizeof(r->reason), 1) < 0)
    return refuse(r, 400, "reason must be UTF-8 text of at most 123 bytes");
  return 0;
}

static int read_alarm(duro_admin_route_t *r, const char *q, size_t qlen) {
  size_t vlen;
  const char *v = duro_admin_query_value(q, qlen, "name", &vlen);
  if (v && decode_text(v, vlen, r->alarm, sizeof(r->alarm), 0) < 0)
    return refuse(r, 400, "name must be an alarm's name: at most 64 bytes, "
                          "percent-encoded, without NUL (none or empty: the "
                          "default alarm)");
  return 0;
}

/* What follows .../objects/<X>/ (tail, NULL for none): the operation. */
static int read_object_op(duro_admin_route_t *r, int post, const char *tail,
                          size_t tlen) {
  static const char sock[] = "sockets/", close[] = "/close";
  size_t sl = sizeof(sock) - 1, cl = sizeof(close) - 1;
  uint64_t index;
  int action = 1;
  if (!tail)
    r->op = DURO_ADMIN_OBJECT, action = 0;
  else if (is(tail, tlen, "storage"))
    r->op = DURO_ADMIN_STORAGE, action = 0;
  else if (is(tail, tlen, "evict"))
    r->op = DURO_ADMIN_EVICT;
  else if (is(tail, tlen, "alarms/delete"))
    r->op = DURO_ADMIN_DELETE_ALARM;
  else if (tlen > sl + cl && memcmp(tail, sock, sl) == 0 &&
           memcmp(tail + tlen - cl, close, cl) == 0 &&
           duro_parse_u64(tail + sl, tlen - sl - cl, 1000000, &index) == 0)
    r->op = DURO_ADMIN_CLOSE_SOCKET, r->socket = (unsigned)index;
  else
    return refuse(r, 404, "unknown admin API route");
  if (post && !action)
    return refuse(r, 405, "POST needs an action: .../evict, "
                          ".../sockets/<index>/close or .../alarms/delete");
  if (!post && action)
    return refuse(r, 405, "an action is a POST");
  return 0;
}

int duro_admin_route_parse(const char *method, const char *path,
                           size_t path_len, const char *query,
                           size_t query_len, duro_admin_route_t *out) {
  memset(out, 0, sizeof(*out));
  out->limit = DURO_ADMIN_PAGE_DEFAULT;
  if (path_len < 5 || memcmp(path, "/api/", 5) != 0)
    return refuse(out, 404, "unknown admin API route");
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  if (!get && !post)
    return refuse(out, 405, "the admin API answers GET, and POST for actions");
  const char *p = path + 5, *end = path + path_len;
  size_t len = (size_t)(end - p);
  if (is(p, len, "namespaces")) {
    out->op = DURO_ADMIN_NAMESPACES;
    return get ? 0 : refuse(out, 405, "that route answers GET only");
  }
  static const char pre[] = "namespaces/";
  size_t pl = sizeof(pre) - 1;
  if (len <= pl || memcmp(p, pre, pl) != 0)
    return refuse(out, 404, "unknown admin API route");
  const char *b = p + pl;
  const char *slash = memchr(b, '/', (size_t)(end - b));
  size_t blen = slash ? (size_t)(slash - b) : 0;
  if (!slash || blen == 0 || blen > DURO_ADMIN_BINDING_MAX ||
      memchr(b, '\0', blen))
    return refuse(out, 404, "unknown namespace (GET /api/namespaces lists them)");
  memcpy(out->binding, b, blen);
  out->binding[blen] = '\0';
  const char *rest = slash + 1;
  size_t rlen = (size_t)(end - rest);
  if (is(rest, rlen, "objects")) {
    out->op = DURO_ADMIN_OBJECTS;
    if (!get)
      return refuse(out, 405, "that route answers GET only");
    if (read_limit(out, query, query_len) < 0)
      return DURO_EINVAL;
    return read_id_cursor(out, query, query_len);
  }
  if (rlen <= 8 || memcmp(rest, "objects/", 8) != 0)
    return refuse(out, 404, "unknown admin API route");
  const char *x = rest + 8;
  const char *xs = memchr(x, '/', (size_t)(end - x));
  size_t xlen = xs ? (size_t)(xs - x) : (size_t)(end - x);
  if (read_object_op(out, post, xs ? xs + 1 : NULL,
                     xs ? (size_t)(end - xs - 1) : 0) < 0 ||
      read_object(out, x, xlen) < 0)
    return DURO_EINVAL;
  switch (out->op) {
  case DURO_ADMIN_STORAGE:
    if (read_limit(out, query, query_len) < 0)
      return DURO_EINVAL;
    return read_key_cursor(out, query, query_len);
  case DURO_ADMIN_CLOSE_SOCKET:
    return read_close(out, query, query_len);
  case DURO_ADMIN_DELETE_ALARM:
    return read_alarm(out, query, query_len);
  default:
    return 0;
  }
}

void duro_admin_route_free(duro_admin_route_t *r) {
  duro_free(r->after_key);
  r->after_key = NULL;
}
