/*
 * api.c: see api.h.
 */
#include "admin/api.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "store/catalog.h"

static void respond_json(duro_http_req_t *req, int status, cJSON *body) {
  char *text = cJSON_PrintUnformatted(body);
  duro_header_t ct[1] = {{"Content-Type", 12, "application/json", 16}};
  duro_http_respond(req, status, ct, 1, text, text ? strlen(text) : 0); /* C string: cJSON's */
  cJSON_free(text);
  cJSON_Delete(body);
}

static void respond_error(duro_http_req_t *req, int status, const char *why) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", why);
  respond_json(req, status, o);
}

/* ---- /api/namespaces -------------------------------------------------- */

static void list_namespaces(duro_runtime_t *rt, duro_http_req_t *req) {
  duro_ns_info_t info[64];
  size_t n = duro_runtime_namespaces(rt, info, 64);
  if (n > 64)
    n = 64;
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "namespaces");
  for (size_t i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "binding", info[i].binding);
    cJSON_AddStringToObject(e, "class", info[i].class_name);
    cJSON_AddNumberToObject(e, "active", (double)info[i].active);
    cJSON_AddNumberToObject(e, "sockets", (double)info[i].sockets);
    cJSON_AddItemToArray(arr, e);
  }
  respond_json(req, 200, o);
}

/* ---- /api/namespaces/<B>/objects --------------------------------------- */

typedef struct {
  duro_runtime_t *rt;
  duro_http_req_t *req;
  char binding[128];
  char after[65];
  unsigned limit;
  duro_object_row_t *rows;
  size_t nrows;
} page_t;

static int page_work(duro_store_db_t *db, void *arg) {
  page_t *p = arg;
  return duro_store_list_objects(db, p->binding, p->after, p->limit, &p->rows,
                                 &p->nrows);
}

static cJSON *object_json(const char *id, const char *name, int active,
                          size_t sockets, const duro_object_row_t *row) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "id", id);
  if (name)
    cJSON_AddStringToObject(e, "name", name);
  else
    cJSON_AddNullToObject(e, "name");
  cJSON_AddBoolToObject(e, "active", active);
  cJSON_AddNumberToObject(e, "sockets", (double)sockets);
  cJSON_AddNumberToObject(e, "keys", row ? (double)row->keys : 0);
  cJSON_AddNumberToObject(e, "bytes", row ? (double)row->bytes : 0);
  if (row && row->next_alarm_ms >= 0)
    cJSON_AddNumberToObject(e, "next_alarm_ms", (double)row->next_alarm_ms);
  else
    cJSON_AddNullToObject(e, "next_alarm_ms");
  return e;
}

/* The page: storage's rows and the instances in memory, merged by id
 * (both sorted; an id in both is one object), the first limit of them. */
static void page_done(int status, void *arg) {
  page_t *p = arg;
  if (status < 0) {
    respond_error(p->req, 503, "storage is not available");
    duro_free(p);
    return;
  }
  duro_active_info_t *act = duro_calloc(p->limit, sizeof(*act));
  size_t nact = duro_runtime_active_objects(p->rt, p->binding,
                                            p->after[0] ? p->after : NULL, act,
                                            p->limit);
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "objects");
  size_t i = 0, j = 0, out = 0;
  const char *last = NULL;
  while (out < p->limit && (i < p->nrows || j < nact)) {
    int c = i == p->nrows ? 1 : j == nact ? -1 : strcmp(p->rows[i].id, act[j].id);
    if (c < 0) {
      const duro_object_row_t *r = &p->rows[i++];
      cJSON_AddItemToArray(arr, object_json(r->id, r->name, 0, 0, r));
      last = r->id;
    } else if (c > 0) {
      const duro_active_info_t *a = &act[j++];
      cJSON_AddItemToArray(arr, object_json(a->id, a->name, 1, a->sockets, NULL));
      last = a->id;
    } else {
      const duro_object_row_t *r = &p->rows[i++];
      const duro_active_info_t *a = &act[j++];
      cJSON_AddItemToArray(arr, object_json(a->id, a->name ? a->name : r->name,
                                            1, a->sockets, r));
      last = a->id;
    }
    out++;
  }
  /* More may follow when either side was cut at the limit. */
  int more = out == p->limit && (i < p->nrows || j < nact ||
                                 p->nrows == p->limit || nact == p->limit);
  if (more && last)
    cJSON_AddStringToObject(o, "cursor", last);
  else
    cJSON_AddNullToObject(o, "cursor");
  respond_json(p->req, 200, o);
  duro_free(act);
  duro_object_rows_free(p->rows, p->nrows);
  duro_free(p);
}

/* The value of query parameter key (its raw bytes), or NULL. */
static const char *query_value(const duro_http_req_t *req, const char *key,
                               size_t *len) {
  size_t klen = strlen(key); /* C string: a literal */
  const char *q = req->query, *end = req->query + req->query_len;
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
      *len = (size_t)(stop - q) - klen - 1;
      return q + klen + 1;
    }
    q = amp ? amp + 1 : end;
  }
  return NULL;
}

static int is_hex64(const char *s, size_t len) {
  if (len != 64)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

static void list_objects(duro_runtime_t *rt, duro_http_req_t *req,
                         const char *binding, size_t blen) {
  duro_ns_info_t info[64];
  size_t n = duro_runtime_namespaces(rt, info, 64);
  int known = 0;
  for (size_t i = 0; i < n && i < 64; i++)
    known |= duro_cstr_eq(info[i].binding, binding, blen);
  if (!known) {
    respond_error(req, 404, "unknown namespace (GET /api/namespaces lists them)");
    return;
  }
  uint64_t limit = DURO_ADMIN_PAGE_DEFAULT;
  size_t vlen;
  const char *v = query_value(req, "limit", &vlen);
  if (v && (duro_parse_u64(v, vlen, DURO_ADMIN_PAGE_MAX, &limit) < 0 || limit == 0)) {
    respond_error(req, 400, "limit must be a number from 1 to 1000");
    return;
  }
  const char *cursor = query_value(req, "cursor", &vlen);
  if (cursor && vlen && !is_hex64(cursor, vlen)) {
    respond_error(req, 400, "cursor must be an object id: 64 lowercase hex digits");
    return;
  }
  page_t *p = duro_calloc(1, sizeof(*p));
  p->rt = rt;
  p->req = req;
  memcpy(p->binding, binding, blen);
  if (cursor && vlen)
    memcpy(p->after, cursor, vlen);
  p->limit = (unsigned)limit;
  duro_store_run(duro_runtime_store(rt), page_work, page_done, p);
}

void duro_admin_api(duro_runtime_t *rt, duro_http_req_t *req) {
  const char *path = req->path + 5; /* after "/api/" */
  size_t len = req->path_len - 5;
  if (!rt) {
    respond_error(req, 404, "no objects in this process (a frontend)");
    return;
  }
  if (strcmp(req->method, "GET") != 0) {
    respond_error(req, 405, "the admin API answers GET");
    return;
  }
  if (duro_cstr_eq("namespaces", path, len)) {
    list_namespaces(rt, req);
    return;
  }
  static const char pre[] = "namespaces/", post[] = "/objects";
  size_t pl = sizeof(pre) - 1, ql = sizeof(post) - 1;
  if (len > pl + ql && memcmp(path, pre, pl) == 0 &&
      memcmp(path + len - ql, post, ql) == 0) {
    size_t blen = len - pl - ql;
    if (blen >= sizeof(((page_t *)0)->binding) ||
        memchr(path + pl, '/', blen)) {
      respond_error(req, 404, "unknown namespace (GET /api/namespaces lists them)");
      return;
    }
    list_objects(rt, req, path + pl, blen);
    return;
  }
  respond_error(req, 404, "unknown admin API route");
}
