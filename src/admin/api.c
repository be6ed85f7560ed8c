/*
 * api.c: see api.h.
 */
#include "admin/api.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/url.h"
#include "ws/utf8.h"
#include "admin/route.h"
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
  duro_admin_route_t route; /* binding, after_id, limit */
  duro_object_row_t *rows;
  size_t nrows;
} page_t;

static int page_work(duro_store_db_t *db, void *arg) {
  page_t *p = arg;
  return duro_store_list_objects(db, p->route.binding, p->route.after_id,
                                 p->route.limit, &p->rows, &p->nrows);
}

/* JSON text must be UTF-8: names, keys and tags come from clients and
 * classes and may be any bytes, so each is shown as text only when it is
 * valid UTF-8 without NUL, else in hex under a *_hex key. */
static int is_text(const uint8_t *p, size_t n) {
  return !memchr(p, '\0', n) &&
         duro_utf8_validate(DURO_UTF8_ACCEPT, p, n) == DURO_UTF8_ACCEPT;
}

static char *to_hex(const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char *hex = duro_malloc(n * 2 + 1);
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = digits[p[i] >> 4];
    hex[2 * i + 1] = digits[p[i] & 15];
  }
  hex[n * 2] = '\0';
  return hex;
}

static void add_hex(cJSON *o, const char *key, const uint8_t *p, size_t n) {
  char *hex = to_hex(p, n);
  cJSON_AddStringToObject(o, key, hex);
  duro_free(hex);
}

/* p as key when it is text, else as key_hex. */
static void add_bytes(cJSON *o, const char *key, const char *key_hex,
                      const uint8_t *p, size_t n) {
  if (is_text(p, n)) {
    char *t = duro_strndup((const char *)p, n);
    cJSON_AddStringToObject(o, key, t);
    duro_free(t);
  } else {
    add_hex(o, key_hex, p, n);
  }
}

/* A C string as "name" or "name_hex"; NULL as "name": null. */
static void add_name(cJSON *o, const char *name) {
  if (name)
    add_bytes(o, "name", "name_hex", (const uint8_t *)name,
              strlen(name)); /* C string: a name the runtime keeps */
  else
    cJSON_AddNullToObject(o, "name");
}

/* A tag as a JSON string, or {"hex": ...} when it is not text. */
static cJSON *tag_item(const char *tag) {
  size_t n = strlen(tag); /* C string: a tag the runtime keeps */
  if (is_text((const uint8_t *)tag, n))
    return cJSON_CreateString(tag);
  cJSON *o = cJSON_CreateObject();
  add_hex(o, "hex", (const uint8_t *)tag, n);
  return o;
}

static cJSON *object_json(const char *id, const char *name, int active,
                          size_t sockets, const duro_object_row_t *row) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "id", id);
  add_name(e, name);
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
  duro_active_info_t *act = duro_calloc(p->route.limit, sizeof(*act));
  const char *after = p->route.after_id[0] ? p->route.after_id : NULL;
  size_t nact = duro_runtime_active_objects(p->rt, p->route.binding, after,
                                            act, p->route.limit);
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "objects");
  size_t i = 0, j = 0, out = 0;
  const char *last = NULL;
  while (out < p->route.limit && (i < p->nrows || j < nact)) {
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
  int more = out == p->route.limit && (i < p->nrows || j < nact ||
                                 p->nrows == p->route.limit || nact == p->route.limit);
  if (more && last)
    cJSON_AddStringToObject(o, "cursor", last);
  else
    cJSON_AddNullToObject(o, "cursor");
  respond_json(p->req, 200, o);
  duro_free(act);
  duro_object_rows_free(p->rows, p->nrows);
  duro_free(p);
}

static void list_objects(duro_runtime_t *rt, duro_http_req_t *req,
                         const duro_admin_route_t *route) {
  page_t *p = duro_calloc(1, sizeof(*p));
  p->rt = rt;
  p->req = req;
  p->route = *route; /* OBJECTS owns nothing */
  duro_store_run(duro_runtime_store(rt), page_work, page_done, p);
}

/* ---- /api/namespaces/<B>/objects/<X>[/storage] -------------------------- */

typedef struct {
  duro_runtime_t *rt;
  duro_http_req_t *req;
  duro_admin_route_t route; /* binding, id, op (OBJECT or STORAGE), and
                               for STORAGE limit and after_key (owned) */
  int status;            /* 0, or the summary's DURO_ENOENT */
  duro_object_row_t row;
  duro_alarm_entry_t *alarms;
  size_t nalarms;
  duro_kv_t *kv;
  size_t nkv;
} detail_t;

static int detail_work(duro_store_db_t *db, void *arg) {
  detail_t *d = arg;
  if (d->route.op == DURO_ADMIN_STORAGE)
    return duro_store_kv_page(db, d->route.id, d->route.after_key,
                              d->route.after_key_len, d->route.limit,
                              &d->kv, &d->nkv);
  d->status = duro_store_object_summary(db, d->route.id, &d->row);
  if (d->status < 0 && d->status != DURO_ENOENT)
    return d->status;
  return duro_store_object_alarms(db, d->route.id, &d->alarms, &d->nalarms);
}

static void detail_done(int status, void *arg) {
  detail_t *d = arg;
  if (status < 0) {
    respond_error(d->req, 503, "storage is not available");
  } else if (d->route.op == DURO_ADMIN_STORAGE) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->route.id);
    cJSON *arr = cJSON_AddArrayToObject(o, "entries");
    for (size_t i = 0; i < d->nkv; i++) {
      cJSON *e = cJSON_CreateObject();
      add_bytes(e, "key", "key_hex", d->kv[i].key, d->kv[i].key_len);
      /* a value is shown as JSON text when it parses as JSON */
      cJSON *parsed = d->kv[i].value_len
                          ? cJSON_ParseWithLength((const char *)d->kv[i].value,
                                                  d->kv[i].value_len)
                          : NULL;
      if (parsed)
        add_bytes(e, "value", "value_hex", d->kv[i].value, d->kv[i].value_len);
      else
        add_hex(e, "value_hex", d->kv[i].value, d->kv[i].value_len);
      cJSON_Delete(parsed);
      cJSON_AddNumberToObject(e, "value_bytes", (double)d->kv[i].value_len);
      cJSON_AddItemToArray(arr, e);
    }
    if (d->nkv == d->route.limit && d->nkv)
      add_hex(o, "cursor", d->kv[d->nkv - 1].key, d->kv[d->nkv - 1].key_len);
    else
      cJSON_AddNullToObject(o, "cursor");
    respond_json(d->req, 200, o);
  } else {
    duro_active_info_t act;
    int nact;
    nact = duro_runtime_active_object(d->rt, d->route.binding, d->route.id, &act);
    if (d->status == DURO_ENOENT && !nact) {
      respond_error(d->req, 404, "no such object in storage or in memory");
    } else {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "id", d->route.id);
      add_name(o, nact && act.name ? act.name : d->row.name);
      cJSON_AddBoolToObject(o, "active", nact != 0);
      cJSON_AddNumberToObject(o, "sockets", nact ? (double)act.sockets : 0);
      cJSON_AddNumberToObject(o, "keys", (double)d->row.keys);
      cJSON_AddNumberToObject(o, "bytes", (double)d->row.bytes);
      duro_socket_info_t socks[DURO_ADMIN_PAGE_MAX];
      size_t ns = nact ? duro_runtime_sockets(d->rt, d->route.id, socks,
                                              DURO_ADMIN_PAGE_MAX)
                       : 0;
      cJSON *list = cJSON_AddArrayToObject(o, "socket_list");
      for (size_t i = 0; i < ns && i < DURO_ADMIN_PAGE_MAX; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", socks[i].index);
        cJSON *tags = cJSON_AddArrayToObject(e, "tags");
        for (size_t t = 0; t < socks[i].ntags; t++)
          cJSON_AddItemToArray(tags, tag_item(socks[i].tags[t]));
        cJSON_AddNumberToObject(e, "attachment_bytes",
                                (double)socks[i].attachment_bytes);
        cJSON_AddNumberToObject(e, "queued_bytes", (double)socks[i].queued_bytes);
        cJSON_AddNumberToObject(e, "age_s", (double)socks[i].age_s);
        cJSON_AddItemToArray(list, e);
      }
      cJSON *arr = cJSON_AddArrayToObject(o, "alarms");
      for (size_t i = 0; i < d->nalarms; i++) {
        cJSON *e = cJSON_CreateObject();
        add_name(e, d->alarms[i].name);
        cJSON_AddNumberToObject(e, "due_ms", (double)d->alarms[i].due_ms);
        cJSON_AddItemToArray(arr, e);
      }
      respond_json(d->req, 200, o);
    }
  }
  duro_free(d->row.name);
  duro_alarm_entries_free(d->alarms, d->nalarms);
  duro_store_kv_free(d->kv, d->nkv);
  duro_admin_route_free(&d->route);
  duro_free(d);
}

/* Starts the storage job for one object, or a page of its storage. */
static void object_detail(duro_runtime_t *rt, duro_http_req_t *req,
                          duro_admin_route_t *route) {
  detail_t *d = duro_calloc(1, sizeof(*d));
  d->rt = rt;
  d->req = req;
  d->route = *route; /* its after_key is taken over */
  route->after_key = NULL;
  duro_store_run(duro_runtime_store(rt), detail_work, detail_done, d);
}

/* ---- actions ------------------------------------------------------------ */

/* Logs an operator's action: who (the caller's address) and what. */
static void log_action(const duro_http_req_t *req, const char *binding,
                       const char *object, const char *what) {
  char peer[64] = "?";
  if (req->conn)
    duro_conn_peer(req->conn, peer, sizeof(peer));
  duro_log_fields_t f = {.ns = binding, .object = object, .remote = peer};
  duro_log_with(DURO_LOG_WARN, &f, "admin: %s", what);
}

/* The object as the text log names it: its name when it is in memory
 * with one, else its id. */
static void object_label(duro_runtime_t *rt, const duro_admin_route_t *route,
                         char *out, size_t cap) {
  duro_active_info_t info;
  duro_fmt(out, cap, "%s",
           duro_runtime_active_object(rt, route->binding, route->id, &info) &&
                   info.name
               ? info.name
               : route->id);
}

static void evict(duro_runtime_t *rt, duro_http_req_t *req,
                  const duro_admin_route_t *route) {
  char label[520];
  object_label(rt, route, label, sizeof(label)); /* before it is freed */
  int rc = duro_runtime_evict(rt, route->id);
  if (rc == DURO_ENOENT) {
    respond_error(req, 404, "the object is not in memory");
    return;
  }
  if (rc == DURO_EBUSY) {
    respond_error(req, 409, "the object is busy (a socket, an event, a "
                            "request or a commit open): not evicted");
    return;
  }
  log_action(req, route->binding, label, "evicted the instance");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "evicted", 1);
  respond_json(req, 200, o);
}

static void close_socket(duro_runtime_t *rt, duro_http_req_t *req,
                         const duro_admin_route_t *route) {
  char label[520];
  object_label(rt, route, label, sizeof(label));
  int rc = duro_runtime_close_socket(rt, route->id, route->socket,
                                     (int)route->code, route->reason);
  if (rc < 0) {
    respond_error(req, 404, "no such socket on an instance in memory");
    return;
  }
  char what[200];
  duro_fmt(what, sizeof(what), "closed socket %u with %u", route->socket,
           route->code);
  log_action(req, route->binding, label, what);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "closed", 1);
  respond_json(req, 200, o);
}

/* What the alarm deletion carries into the object's event. */
typedef struct {
  char binding[DURO_ADMIN_BINDING_MAX + 1];
  char alarm[65];
  char peer[64];
} alarm_op_t;

/* Runs as an event of the object: the deletion commits with the event,
 * and its answer waits for the commit like any response. */
static int delete_alarm_event(duro_object_t *o, duro_request_t *r, void *arg) {
  alarm_op_t *op = arg;
  int rc = duro_alarm_delete(o, op->alarm);
  if (rc < 0)
    return rc;
  char what[120];
  duro_fmt(what, sizeof(what), "deleted alarm '%s'%s", op->alarm,
           rc ? "" : " (it was not set)");
  duro_log_fields_t f = {.ns = op->binding,
                         .object = duro_object_name(o) ? duro_object_name(o)
                                                       : duro_object_id(o),
                         .remote = op->peer};
  duro_log_with(DURO_LOG_WARN, &f, "admin: %s", what);
  char body[32];
  int n = duro_fmt(body, sizeof(body), "{\"deleted\":%s}",
                   rc ? "true" : "false");
  return duro_respond(r, 200, "application/json", body, n > 0 ? (size_t)n : 0);
}

static void delete_alarm(duro_runtime_t *rt, duro_http_req_t *req,
                         const duro_admin_route_t *route) {
  alarm_op_t *op = duro_calloc(1, sizeof(*op));
  memcpy(op->binding, route->binding, sizeof(op->binding));
  memcpy(op->alarm, route->alarm, sizeof(op->alarm));
  memcpy(op->peer, "?", 2);
  if (req->conn)
    duro_conn_peer(req->conn, op->peer, sizeof(op->peer));
  duro_runtime_operate(rt, route->binding, route->id, req, delete_alarm_event,
                       op, duro_free);
}

void duro_admin_api(duro_runtime_t *rt, duro_http_req_t *req) {
  duro_admin_route_t route;
  if (duro_admin_route_parse(req->method, req->path, req->path_len, req->query,
                             req->query_len, &route) < 0) {
    respond_error(req, route.status, route.why);
    duro_admin_route_free(&route);
    return;
  }
  if (!rt) {
    respond_error(req, 404, "no objects in this process (a frontend)");
  } else if (route.binding[0] &&
             !duro_runtime_has_binding(rt, route.binding,
                                       strlen(route.binding))) { /* C string */
    respond_error(req, 404, "unknown namespace (GET /api/namespaces lists them)");
  } else {
    switch (route.op) {
    case DURO_ADMIN_NAMESPACES: list_namespaces(rt, req); break;
    case DURO_ADMIN_OBJECTS: list_objects(rt, req, &route); break;
    case DURO_ADMIN_OBJECT:
    case DURO_ADMIN_STORAGE: object_detail(rt, req, &route); break;
    case DURO_ADMIN_EVICT: evict(rt, req, &route); break;
    case DURO_ADMIN_CLOSE_SOCKET: close_socket(rt, req, &route); break;
    case DURO_ADMIN_DELETE_ALARM: delete_alarm(rt, req, &route); break;
    }
  }
  duro_admin_route_free(&route);
}
