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

/* The page size of req's "limit" (default DURO_ADMIN_PAGE_DEFAULT) into
 * *out: 0, or DURO_EINVAL after answering 400. */
static int page_limit(duro_http_req_t *req, unsigned *out) {
  uint64_t limit = DURO_ADMIN_PAGE_DEFAULT;
  size_t vlen;
  const char *v = query_value(req, "limit", &vlen);
  if (v && (duro_parse_u64(v, vlen, DURO_ADMIN_PAGE_MAX, &limit) < 0 ||
            limit == 0)) {
    respond_error(req, 400, "limit must be a number from 1 to 1000");
    return DURO_EINVAL;
  }
  *out = (unsigned)limit;
  return 0;
}

static int is_hex64(const char *s, size_t len) {
  if (len != 64)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

static int known_namespace(const duro_runtime_t *rt, const char *b,
                           size_t blen) {
  duro_ns_info_t info[64];
  size_t n = duro_runtime_namespaces(rt, info, 64);
  for (size_t i = 0; i < n && i < 64; i++)
    if (duro_cstr_eq(info[i].binding, b, blen))
      return 1;
  return 0;
}

static void list_objects(duro_runtime_t *rt, duro_http_req_t *req,
                         const char *binding, size_t blen) {
  unsigned limit;
  size_t vlen;
  if (page_limit(req, &limit) < 0)
    return;
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
  p->limit = limit;
  duro_store_run(duro_runtime_store(rt), page_work, page_done, p);
}

/* ---- /api/namespaces/<B>/objects/<X>[/storage] -------------------------- */

typedef struct {
  duro_runtime_t *rt;
  duro_http_req_t *req;
  char binding[128];
  char id[65];
  int want_storage;      /* 0: the object; 1: a page of its storage */
  unsigned limit;
  uint8_t *after;        /* the last key of the previous page; NULL: none */
  size_t after_len;
  int status;            /* 0, or the summary's DURO_ENOENT */
  duro_object_row_t row;
  duro_alarm_entry_t *alarms;
  size_t nalarms;
  duro_kv_t *kv;
  size_t nkv;
} detail_t;

static int detail_work(duro_store_db_t *db, void *arg) {
  detail_t *d = arg;
  if (d->want_storage)
    return duro_store_kv_page(db, d->id, d->after, d->after_len, d->limit,
                              &d->kv, &d->nkv);
  d->status = duro_store_object_summary(db, d->id, &d->row);
  if (d->status < 0 && d->status != DURO_ENOENT)
    return d->status;
  return duro_store_object_alarms(db, d->id, &d->alarms, &d->nalarms);
}

static void detail_done(int status, void *arg) {
  detail_t *d = arg;
  if (status < 0) {
    respond_error(d->req, 503, "storage is not available");
  } else if (d->want_storage) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
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
    if (d->nkv == d->limit && d->nkv)
      add_hex(o, "cursor", d->kv[d->nkv - 1].key, d->kv[d->nkv - 1].key_len);
    else
      cJSON_AddNullToObject(o, "cursor");
    respond_json(d->req, 200, o);
  } else {
    duro_active_info_t act;
    int nact;
    nact = duro_runtime_active_object(d->rt, d->binding, d->id, &act);
    if (d->status == DURO_ENOENT && !nact) {
      respond_error(d->req, 404, "no such object in storage or in memory");
    } else {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "id", d->id);
      add_name(o, nact && act.name ? act.name : d->row.name);
      cJSON_AddBoolToObject(o, "active", nact != 0);
      cJSON_AddNumberToObject(o, "sockets", nact ? (double)act.sockets : 0);
      cJSON_AddNumberToObject(o, "keys", (double)d->row.keys);
      cJSON_AddNumberToObject(o, "bytes", (double)d->row.bytes);
      duro_socket_info_t socks[DURO_ADMIN_PAGE_MAX];
      size_t ns = nact ? duro_runtime_sockets(d->rt, d->id, socks,
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
  duro_free(d->after);
  duro_free(d);
}

/* The id of X in binding: X is an id (64 lowercase hex digits) or a name
 * (percent-encoded in the path, 1 to 512 bytes). 0, or DURO_EINVAL. */
static int resolve_id(const char *binding, size_t blen, const char *x,
                      size_t xlen, char id[65]) {
  if (is_hex64(x, xlen)) {
    memcpy(id, x, 64);
    id[64] = '\0';
    return 0;
  }
  char *name = duro_malloc(xlen + 1);
  long n = xlen ? duro_pct_decode(x, xlen, name, 0) : DURO_EINVAL;
  int ok = n > 0 && n <= 512 && !memchr(name, '\0', (size_t)n);
  if (ok)
    duro_object_id_from_name(binding, blen, name, (size_t)n, id);
  duro_free(name);
  return ok ? 0 : DURO_EINVAL;
}

static void respond_bad_object(duro_http_req_t *req) {
  respond_error(req, 400, "the object must be an id (64 lowercase hex digits) "
                          "or a name (percent-encoded, 1 to 512 bytes)");
}

/* Starts the storage job for one object (X as resolve_id takes it). */
static void object_detail(duro_runtime_t *rt, duro_http_req_t *req,
                          const char *binding, size_t blen, const char *x,
                          size_t xlen, int storage) {
  detail_t *d = duro_calloc(1, sizeof(*d));
  d->rt = rt;
  d->req = req;
  memcpy(d->binding, binding, blen);
  if (resolve_id(binding, blen, x, xlen, d->id) < 0) {
    duro_free(d);
    respond_bad_object(req);
    return;
  }
  d->want_storage = storage;
  if (storage) {
    size_t vlen;
    if (page_limit(req, &d->limit) < 0) {
      duro_free(d);
      return;
    }
    const char *cur = query_value(req, "cursor", &vlen);
    if (cur && vlen) {
      /* the previous page's last key, in hex */
      if (vlen % 2 || vlen > 2 * 65536) {
        duro_free(d);
        respond_error(req, 400, "cursor must be the hex of a key");
        return;
      }
      d->after = duro_malloc(vlen / 2 + 1);
      for (size_t i = 0; i < vlen / 2; i++) {
        int hi = duro_hex_value(cur[2 * i]), lo = duro_hex_value(cur[2 * i + 1]);
        if (hi < 0 || lo < 0) {
          duro_free(d->after);
          duro_free(d);
          respond_error(req, 400, "cursor must be the hex of a key");
          return;
        }
        d->after[i] = (uint8_t)(hi << 4 | lo);
      }
      d->after_len = vlen / 2;
    }
  }
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

/* POST .../objects/<X>/evict and POST .../objects/<X>/sockets/<i>/close */
static void object_action(duro_runtime_t *rt, duro_http_req_t *req,
                          const char *binding, const char *id,
                          const char *action, size_t alen) {
  /* the log names the object as the text log does: its name, else its id
   * (looked up before an eviction frees it) */
  char label[520];
  duro_active_info_t info;
  duro_fmt(label, sizeof(label), "%s",
           duro_runtime_active_object(rt, binding, id, &info) && info.name
               ? info.name
               : id);
  if (duro_cstr_eq("evict", action, alen)) {
    int rc = duro_runtime_evict(rt, id);
    if (rc == DURO_ENOENT) {
      respond_error(req, 404, "the object is not in memory");
      return;
    }
    if (rc == DURO_EBUSY) {
      respond_error(req, 409, "the object is busy (a socket, an event, a "
                              "request or a commit open): not evicted");
      return;
    }
    log_action(req, binding, label, "evicted the instance");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "evicted", 1);
    respond_json(req, 200, o);
    return;
  }
  static const char pre[] = "sockets/", post[] = "/close";
  size_t pl = sizeof(pre) - 1, ql = sizeof(post) - 1;
  uint64_t index, code = 1000;
  if (alen > pl + ql && memcmp(action, pre, pl) == 0 &&
      memcmp(action + alen - ql, post, ql) == 0 &&
      duro_parse_u64(action + pl, alen - pl - ql, 1000000, &index) == 0) {
    size_t vlen;
    const char *v = query_value(req, "code", &vlen);
    if (v && duro_parse_u64(v, vlen, 4999, &code) < 0)
      code = 0;
    char reason[124] = "closed by an operator";
    const char *r = query_value(req, "reason", &vlen);
    if (r) {
      long n = vlen < sizeof(reason) ? duro_pct_decode(r, vlen, reason, 1) : -1;
      if (n < 0 || memchr(reason, '\0', (size_t)n) ||
          duro_utf8_validate(DURO_UTF8_ACCEPT, (const uint8_t *)reason,
                             (size_t)n) != DURO_UTF8_ACCEPT) {
        respond_error(req, 400, "reason must be UTF-8 text of at most 123 bytes");
        return;
      }
      reason[n] = '\0';
    }
    int rc = duro_runtime_close_socket(rt, id, (unsigned)index, (int)code, reason);
    if (rc == DURO_EINVAL) {
      respond_error(req, 400, "code must be 1000 or 3000 to 4999");
      return;
    }
    if (rc < 0) {
      respond_error(req, 404, "no such socket on an instance in memory");
      return;
    }
    char what[200];
    duro_fmt(what, sizeof(what), "closed socket %u with %u", (unsigned)index,
             (unsigned)code);
    log_action(req, binding, label, what);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "closed", 1);
    respond_json(req, 200, o);
    return;
  }
  respond_error(req, 404, "unknown admin API route");
}

void duro_admin_api(duro_runtime_t *rt, duro_http_req_t *req) {
  const char *path = req->path + 5; /* after "/api/" */
  size_t len = req->path_len - 5;
  if (!rt) {
    respond_error(req, 404, "no objects in this process (a frontend)");
    return;
  }
  int get = strcmp(req->method, "GET") == 0;
  int post = strcmp(req->method, "POST") == 0;
  if (!get && !post) {
    respond_error(req, 405, "the admin API answers GET, and POST for actions");
    return;
  }
  if (duro_cstr_eq("namespaces", path, len)) {
    if (!get) {
      respond_error(req, 405, "GET /api/namespaces");
      return;
    }
    list_namespaces(rt, req);
    return;
  }
  /* namespaces/<B>/objects[/<X>[/storage]] */
  static const char pre[] = "namespaces/";
  size_t pl = sizeof(pre) - 1;
  if (len > pl && memcmp(path, pre, pl) == 0) {
    const char *b = path + pl, *end = path + len;
    const char *slash = memchr(b, '/', (size_t)(end - b));
    if (!slash || (size_t)(slash - b) >= sizeof(((page_t *)0)->binding) ||
        !known_namespace(rt, b, (size_t)(slash - b))) {
      respond_error(req, 404, "unknown namespace (GET /api/namespaces lists them)");
      return;
    }
    size_t blen = (size_t)(slash - b);
    const char *rest = slash + 1;
    size_t rlen = (size_t)(end - rest);
    if (duro_cstr_eq("objects", rest, rlen)) {
      if (!get)
        respond_error(req, 405, "GET .../objects");
      else
        list_objects(rt, req, b, blen);
      return;
    }
    if (rlen > 8 && memcmp(rest, "objects/", 8) == 0) {
      const char *x = rest + 8;
      const char *xs = memchr(x, '/', (size_t)(end - x));
      size_t xlen = xs ? (size_t)(xs - x) : (size_t)(end - x);
      if (post) { /* actions: .../objects/<X>/<action> */
        char id[65], bind[128];
        if (!xs) {
          respond_error(req, 405, "POST needs an action: .../evict or "
                                  ".../sockets/<index>/close");
          return;
        }
        if (resolve_id(b, blen, x, xlen, id) < 0) {
          respond_bad_object(req);
          return;
        }
        memcpy(bind, b, blen);
        bind[blen] = '\0';
        object_action(rt, req, bind, id, xs + 1, (size_t)(end - xs - 1));
        return;
      }
      int storage = 0;
      if (xs) {
        if (!duro_cstr_eq("/storage", xs, (size_t)(end - xs))) {
          respond_error(req, 404, "unknown admin API route");
          return;
        }
        storage = 1;
      }
      object_detail(rt, req, b, blen, x, xlen, storage);
      return;
    }
  }
  respond_error(req, 404, "unknown admin API route");
}
