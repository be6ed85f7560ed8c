/*
 * registry.c: what the runtime knows by name: registered classes, the
 * bindings that name namespaces, object ids, and the table of live
 * instances (a chained hash table on the id, doubled as it fills). Also
 * allocation and freeing of instances and of the records they own.
 *
 * Calls only kvmap.c inside objects/ (see object.h).
 */
#include "objects/registry.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/sha.h"
#include "core/str.h"

/* ---- ids and namespaces ---------------------------------------------------- */

void duro_object_id_from_name(const char *ns, size_t ns_len,
                              const char *name, size_t name_len,
                              char out[65]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t md[DURO_SHA256_LEN];
  duro_sha_t sha;
  duro_sha256_init(&sha);
  duro_sha_update(&sha, "duro-object-v1:", 15);
  duro_sha_update(&sha, ns, ns_len);
  duro_sha_update(&sha, "", 1); /* a NUL keeps ("ab","c") apart from ("a","bc") */
  duro_sha_update(&sha, name, name_len);
  duro_sha_final(&sha, md);
  for (int i = 0; i < DURO_SHA256_LEN; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

int duro_object_id_valid(const char *s, size_t len) {
  if (len != 64)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

ns_t *duro__ns_find(const duro_runtime_t *rt, const char *name, size_t len) {
  for (size_t i = 0; i < rt->nns; i++)
    if (duro_cstr_eq(rt->ns[i].name, name, len))
      return &rt->ns[i];
  return NULL;
}

int duro_runtime_has_binding(const duro_runtime_t *rt, const char *binding,
                             size_t len) {
  return duro__ns_find(rt, binding, len) != NULL;
}

/* ---- classes and bindings ---------------------------------------------------- */

/* duro_class_t as ABI 1 defines it ends with teardown. A table that says
 * it is shorter is not an ABI 1 table; a longer one comes from a newer
 * header and may only carry zeros (handlers left unset) past our end. */
#define CLASS_SIZE_V1 \
  (offsetof(duro_class_t, teardown) + sizeof(((duro_class_t *)0)->teardown))

#define class_error(err, errlen, ...)                                        \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

int duro_runtime_check_class(const duro_class_t *cls, char *err,
                             size_t errlen) {
  if (!cls->name || !*cls->name ||
      strlen(cls->name) > 128) /* C string: a class's name, per duro.h */
    return class_error(err, errlen,
                       "a class table without a name (or a name over 128 "
                       "bytes)");
  if (cls->abi_version != DURO_ABI_VERSION)
    return class_error(err, errlen,
                       "class '%s' is built for duro ABI %u, this duro has "
                       "ABI %d",
                       cls->name, (unsigned)cls->abi_version,
                       DURO_ABI_VERSION);
  if (cls->struct_size < CLASS_SIZE_V1)
    return class_error(err, errlen,
                       "class '%s' has struct_size %u, not a duro_class_t of "
                       "ABI %d (start the table with DURO_CLASS_INIT)",
                       cls->name, (unsigned)cls->struct_size,
                       DURO_ABI_VERSION);
  const unsigned char *p = (const unsigned char *)cls;
  for (size_t i = sizeof(duro_class_t); i < cls->struct_size; i++)
    if (p[i])
      return class_error(err, errlen,
                         "class '%s' sets handlers this duro does not know "
                         "(built with a newer duro.h: struct_size %u > %zu)",
                         cls->name, (unsigned)cls->struct_size,
                         sizeof(duro_class_t));
  return 0;
}

const char *duro_runtime_class_origin(const duro_runtime_t *rt,
                                      const char *name) {
  for (size_t i = 0; i < rt->nclasses; i++)
    if (strcmp(rt->classes[i]->cls.name, name) == 0)
      return rt->classes[i]->origin;
  return NULL;
}

int duro_runtime_add_class(duro_runtime_t *rt, const duro_class_t *cls,
                           const char *origin, char *err, size_t errlen) {
  int rc = duro_runtime_check_class(cls, err, errlen);
  if (rc < 0)
    return rc;
  const char *by = duro_runtime_class_origin(rt, cls->name);
  if (by) {
    class_error(err, errlen, "class '%s' is already registered (by %s)",
                cls->name, by);
    return DURO_EEXIST;
  }
  class_ent_t *e = duro_calloc(1, sizeof(*e));
  e->table = cls;
  size_t n = cls->struct_size < sizeof(e->cls) ? cls->struct_size
                                               : sizeof(e->cls);
  memcpy(&e->cls, cls, n); /* the rest stays zero: handlers unset */
  e->cls.struct_size = sizeof(e->cls);
  e->origin = origin ? origin : "built-in";
  rt->classes = duro_realloc(rt->classes,
                             (rt->nclasses + 1) * sizeof(*rt->classes));
  rt->classes[rt->nclasses++] = e;
  return 0;
}

int duro_runtime_register(duro_runtime_t *rt, const duro_class_t *cls) {
  return duro_runtime_add_class(rt, cls, NULL, NULL, 0);
}

int duro_runtime_bind(duro_runtime_t *rt, char *err, size_t errlen) {
  const duro_config_t *cfg = rt->cfg;
  rt->ns = duro_calloc(cfg->nbindings ? cfg->nbindings : 1, sizeof(*rt->ns));
  for (size_t i = 0; i < cfg->nbindings; i++) {
    const class_ent_t *ce = NULL;
    for (size_t j = 0; j < rt->nclasses; j++)
      if (strcmp(rt->classes[j]->cls.name, cfg->bindings[i].class_name) == 0)
        ce = rt->classes[j];
    if (!ce)
      return duro_err_fmt(DURO_ENOENT, err, errlen,
                          "binding %s: no class named '%s'",
                          cfg->bindings[i].name, cfg->bindings[i].class_name);
    rt->ns[rt->nns].name = cfg->bindings[i].name;
    rt->ns[rt->nns].cls = &ce->cls;
    rt->ns[rt->nns].table = ce->table;
    rt->nns++;
  }
  return 0;
}

/* ---- the instance table -------------------------------------------------- */

static size_t bucket_of(const duro_runtime_t *rt, const char *id) {
  uint64_t h = 0;
  for (int i = 0; i < 16; i++)
    h = h * 16 + (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
  return (size_t)(h & (rt->nbuckets - 1));
}

static void table_grow(duro_runtime_t *rt) {
  size_t old_n = rt->nbuckets;
  duro_object_t **old = rt->buckets;
  rt->nbuckets = old_n ? old_n * 2 : 64;
  rt->buckets = duro_calloc(rt->nbuckets, sizeof(*rt->buckets));
  for (size_t i = 0; i < old_n; i++) {
    duro_object_t *o = old[i];
    while (o) {
      duro_object_t *next = o->hash_next;
      size_t b = bucket_of(rt, o->id);
      o->hash_next = rt->buckets[b];
      rt->buckets[b] = o;
      o = next;
    }
  }
  duro_free(old);
}

static void table_remove(duro_runtime_t *rt, duro_object_t *o) {
  duro_object_t **p = &rt->buckets[bucket_of(rt, o->id)];
  while (*p && *p != o)
    p = &(*p)->hash_next;
  if (*p)
    *p = o->hash_next;
  rt->nobjects--;
}

void duro__object_unlist(duro_object_t *o) {
  if (o->unlisted)
    return;
  table_remove(o->rt, o);
  o->unlisted = 1;
}

void duro__registry_init(duro_runtime_t *rt) { table_grow(rt); }

void duro__registry_free(duro_runtime_t *rt) {
  duro_free(rt->ns);
  for (size_t i = 0; i < rt->nclasses; i++)
    duro_free(rt->classes[i]);
  duro_free(rt->classes);
  duro_free(rt->buckets);
}

duro_object_t *duro__object_find(const duro_runtime_t *rt, const char *id) {
  if (!rt->nbuckets)
    return NULL;
  for (duro_object_t *o = rt->buckets[bucket_of(rt, id)]; o; o = o->hash_next)
    if (memcmp(o->id, id, 64) == 0)
      return o;
  return NULL;
}

duro_object_t *duro__object_new(duro_runtime_t *rt, ns_t *ns, const char *id,
                                const char *name, size_t name_len) {
  if (rt->nobjects + 1 > rt->nbuckets)
    table_grow(rt);
  duro_object_t *o = duro_calloc(1, sizeof(*o));
  o->rt = rt;
  o->ns = ns;
  memcpy(o->id, id, 65);
  o->name = name ? duro_strndup(name, name_len) : NULL;
  o->state = duro_calloc(1, ns->cls->state_size ? ns->cls->state_size : 1);
  o->phase = OBJ_LOADING;
  duro_list_init(&o->sockets);
  duro_list_init(&o->waiting);
  duro_list_init(&o->load_retry_node);
  o->last_active_ms = uv_now(rt->loop);
  size_t b = bucket_of(rt, id);
  o->hash_next = rt->buckets[b];
  rt->buckets[b] = o;
  rt->nobjects++;
  rt->activations++;
  duro_list_insert_tail(&rt->objects, &o->node);
  return o;
}

void duro__object_free(duro_object_t *o) {
  duro_runtime_t *rt = o->rt;
  if (o->ns->cls->teardown)
    o->ns->cls->teardown(o, o->state);
  if (!o->unlisted)
    table_remove(rt, o);
  duro_list_remove(&o->node);
  duro_list_remove(&o->load_retry_node);
  duro_kvmap_clear(&o->kv);
  duro_free(o->ops);
  duro_free(o->state);
  duro_free(o->name);
  duro_free(o);
  rt->evictions++;
}

duro_store_batch_t *duro__batch(duro_object_t *o) {
  if (!o->batch)
    o->batch = duro_store_batch_new(o->id, o->ns->name, o->name);
  return o->batch;
}

/* ---- the records instances own ------------------------------------------- */

void duro__request_free(duro_request_t *r) {
  if (r->http)
    duro_http_req_free(r->http);
  duro_free(r->path);
  duro_free(r->stub_name);
  if (r->operate_arg_free)
    r->operate_arg_free(r->operate_arg);
  duro_free(r);
}

void duro__resp_free(held_resp_t *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nheaders; i++) {
    duro_free((void *)r->headers[i].name);
    duro_free((void *)r->headers[i].value);
  }
  duro_free(r->headers);
  duro_free(r->body);
  duro_free(r);
}

void duro__socket_free(duro_socket_t *s) {
  for (size_t i = 0; i < s->ntags; i++)
    duro_free(s->tags[i]);
  duro_free(s->tags);
  duro_free(s->attachment);
  if (s->conn)
    duro_conn_unref(s->conn);
  duro_free(s);
}

void duro__event_free(obj_event_t *ev) {
  if (!ev->borrowed)
    duro_free(ev->data);
  if (ev->resp)
    duro__resp_free(ev->resp);
  duro_free(ev);
}

int duro__socket_has_tag(const duro_socket_t *s, const char *tag) {
  for (size_t i = 0; i < s->ntags; i++)
    if (strcmp(s->tags[i], tag) == 0)
      return 1;
  return 0;
}
