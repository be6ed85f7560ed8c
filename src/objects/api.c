/*
 * api.c: the functions of include/duro.h that classes call: object facts,
 * requests and responses, storage, alarms, stubs, environment and logs
 * (the object socket API is sockets.c). Each checks its arguments and
 * does the work through the internal functions of the files below it;
 * none calls another duro.h function.
 *
 * Calls registry.c, alarms.c and gate.c inside objects/ (see object.h).
 */
#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "objects/alarms.h"
#include "objects/gate.h"
#include "objects/registry.h"

/* ---- the object ------------------------------------------------------------ */

const char *duro_object_id(const duro_object_t *o) { return o->id; }
const char *duro_object_name(const duro_object_t *o) { return o->name; }
const char *duro_object_namespace(const duro_object_t *o) {
  return o->ns->name;
}

const char *duro_env(const duro_object_t *o, const char *key) {
  return duro_config_var(o->rt->cfg, key);
}

void duro_log(const duro_object_t *o, int level, const char *fmt, ...) {
  if (level > duro_log_level)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  /* duro.h: a longer message is truncated (DURO_E2BIG keeps the prefix). */
  if (duro_vfmt(msg, sizeof(msg), fmt, ap) == DURO_EINVAL)
    msg[0] = '\0';
  va_end(ap);
  duro_log_fields_t f = {.ns = o->ns->name, .object = o->name ? o->name : o->id};
  duro_log_fields_write(level, &f, "%s", msg);
}

/* ---- requests ------------------------------------------------------------------ */

const char *duro_request_method(const duro_request_t *r) {
  return r->http->method;
}

const char *duro_request_path(const duro_request_t *r, size_t *len) {
  if (len)
    *len = r->path_len;
  return r->path;
}

const char *duro_request_query(const duro_request_t *r, size_t *len) {
  if (len)
    *len = r->http->query_len;
  return r->http->query;
}

const char *duro_request_header(const duro_request_t *r, const char *name,
                                size_t *len) {
  const duro_header_t *h = duro_http_header(r->http, name);
  if (!h)
    return NULL;
  if (len)
    *len = h->value_len;
  return h->value;
}

size_t duro_request_headers(const duro_request_t *r,
                            const duro_header_t **headers) {
  *headers = r->http->headers;
  return r->http->nheaders;
}

const void *duro_request_body(const duro_request_t *r, size_t *len) {
  if (len)
    *len = r->http->body.len;
  return r->http->body.data ? (const void *)r->http->body.data : "";
}

int duro_request_is_upgrade(const duro_request_t *r) {
  return duro_ws_is_upgrade(r->http);
}

void duro_request_defer(duro_request_t *r) { r->deferred = 1; }

int duro_respond_headers(duro_request_t *r, int status,
                         const duro_header_t *headers, size_t nheaders,
                         const void *body, size_t len) {
  return duro__respond_headers(r, status, headers, nheaders, body, len);
}

int duro_respond(duro_request_t *r, int status, const char *content_type,
                 const void *body, size_t len) {
  return duro__respond(r, status, content_type, body, len);
}

/* ---- storage -------------------------------------------------------------------- */

int duro_storage_get(duro_object_t *o, const void *key, size_t klen,
                     const void **value, size_t *vlen) {
  long i = duro_kvmap_find(&o->kv, key, klen);
  if (i < 0)
    return DURO_ENOENT;
  *value = o->kv.e[i].value;
  *vlen = o->kv.e[i].value_len;
  return 0;
}

int duro_storage_put(duro_object_t *o, const void *key, size_t klen,
                     const void *value, size_t vlen) {
  if (!o->in_event)
    return DURO_EINVAL;
  if (klen > DURO_MAX_KEY_BYTES || vlen > DURO_MAX_VALUE_BYTES)
    return DURO_E2BIG;
  duro_kvmap_put(&o->kv, key, klen, value, vlen);
  duro_store_batch_put(duro__batch(o), key, klen, value, vlen);
  return 0;
}

int duro_storage_delete(duro_object_t *o, const void *key, size_t klen) {
  if (!o->in_event)
    return DURO_EINVAL;
  if (klen > DURO_MAX_KEY_BYTES)
    return 0;
  int existed = duro_kvmap_delete(&o->kv, key, klen);
  if (existed)
    duro_store_batch_delete(duro__batch(o), key, klen);
  return existed;
}

int duro_storage_delete_all(duro_object_t *o) {
  if (!o->in_event)
    return DURO_EINVAL;
  duro_kvmap_clear(&o->kv);
  duro_store_batch_delete_all(duro__batch(o));
  duro__alarms_delete_all(o); /* every alarm goes too */
  return 0;
}

static int has_prefix(const duro_kv_entry_t *e, const duro_list_opts_t *op) {
  return !op->prefix_len ||
         (e->key_len >= op->prefix_len &&
          memcmp(e->key, op->prefix, op->prefix_len) == 0);
}

int duro_storage_list(duro_object_t *o, const duro_list_opts_t *opts,
                      int (*cb)(const void *key, size_t klen,
                                const void *value, size_t vlen, void *ud),
                      void *ud) {
  duro_list_opts_t none = {0};
  const duro_list_opts_t *op = opts ? opts : &none;
  const duro_kvmap_t *m = &o->kv;
  /* The range is [lo, hi): the tighter of start/end and the prefix. */
  size_t lo = 0, hi = m->n;
  if (op->start_len || op->start)
    lo = duro_kvmap_lower_bound(m, op->start, op->start_len);
  if (op->prefix_len) {
    size_t p = duro_kvmap_lower_bound(m, op->prefix, op->prefix_len);
    if (p > lo)
      lo = p;
  }
  if (op->end)
    hi = duro_kvmap_lower_bound(m, op->end, op->end_len);
  int visited = 0;
  if (lo >= hi)
    return 0;
  for (size_t k = 0; k < hi - lo; k++) {
    size_t i = op->reverse ? hi - 1 - k : lo + k;
    const duro_kv_entry_t *e = &m->e[i];
    if (!has_prefix(e, op)) {
      if (op->reverse)
        continue;
      break;
    }
    visited++;
    if (cb(e->key, e->key_len, e->value, e->value_len, ud))
      break;
    if (op->limit && (size_t)visited >= op->limit)
      break;
  }
  return visited;
}

/* ---- alarms ------------------------------------------------------------------------ */

static const char *alarm_name(const char *name) { return name ? name : ""; }

int duro_alarm_get(duro_object_t *o, const char *name, int64_t *due_ms) {
  return duro__alarm_get(o, alarm_name(name), due_ms);
}

int duro_alarm_set(duro_object_t *o, const char *name, int64_t due_ms) {
  return duro__alarm_set(o, alarm_name(name), due_ms);
}

int duro_alarm_delete(duro_object_t *o, const char *name) {
  return duro__alarm_delete(o, alarm_name(name));
}

/* ---- stubs --------------------------------------------------------------------------- */

int duro_id_from_name(const duro_object_t *o, const char *binding,
                      const char *name, char out[65]) {
  size_t blen = strlen(binding); /* C string: per duro.h */
  size_t nlen = strlen(name);    /* C string: per duro.h */
  ns_t *ns = duro__ns_find(o->rt, binding, blen);
  if (!ns)
    return DURO_ENOENT;
  size_t nslen = strlen(ns->name); /* C string: a binding from the config */
  duro_object_id_from_name(ns->name, nslen, name, nlen, out);
  return 0;
}

static int stub_fetch(duro_object_t *o, const char *binding, const char *name,
                      const char *id, const char *method, const char *path,
                      const duro_header_t *headers, size_t nheaders,
                      const void *body, size_t len, duro_fetch_cb cb,
                      void *ud) {
  ns_t *ns =
      duro__ns_find(o->rt, binding, strlen(binding)); /* C string: per duro.h */
  if (!ns)
    return DURO_ENOENT;
  if (!path || path[0] != '/')
    return DURO_EINVAL;
  size_t plen = strlen(path); /* C string: the path, per duro.h */
  duro_request_t *r = duro_calloc(1, sizeof(*r));
  r->rt = o->rt;
  r->http = duro_http_req_new(method ? method : "GET", path, plen, headers,
                              nheaders, body, len);
  const char *q = memchr(path, '?', plen);
  r->path_len = q ? (size_t)(q - path) : plen;
  r->path = duro_strndup(path, r->path_len);
  r->caller = o;
  r->cb = cb;
  r->cb_ud = ud;
  r->stub_ns = ns;
  if (name)
    r->stub_name = duro_strdup(name);
  else
    memcpy(r->stub_id, id, 65);
  o->open_stubs++;
  held_op_t *op = duro__hold(o, HELD_STUB);
  op->u.stub.req = r;
  return 0;
}

int duro_stub_fetch(duro_object_t *o, const char *binding, const char *name,
                    const char *method, const char *path,
                    const duro_header_t *headers, size_t nheaders,
                    const void *body, size_t len, duro_fetch_cb cb,
                    void *ud) {
  if (!name)
    return DURO_EINVAL;
  return stub_fetch(o, binding, name, NULL, method, path, headers, nheaders,
                    body, len, cb, ud);
}

int duro_stub_fetch_id(duro_object_t *o, const char *binding, const char *id,
                       const char *method, const char *path,
                       const duro_header_t *headers, size_t nheaders,
                       const void *body, size_t len, duro_fetch_cb cb,
                       void *ud) {
  if (!id)
    return DURO_EINVAL;
  /* 64 lowercase hex digits, then the NUL (which fails the digit test, so
   * the loop never reads past a shorter string). */
  for (size_t i = 0; i < 64; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return DURO_EINVAL;
  if (id[64] != '\0')
    return DURO_EINVAL;
  return stub_fetch(o, binding, NULL, id, method, path, headers, nheaders,
                    body, len, cb, ud);
}

const duro_class_t *duro_object_class(const duro_object_t *o) {
  return o->ns->table;
}
