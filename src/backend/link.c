/*
 * link.c: see link.h.
 *
 * Owner side. A link is an accepted connection speaking the link protocol
 * (linkwire.h). Each OPEN makes a carried connection (net/conn.h) that
 * speaks the backend's HTTP; what the layers above send on it comes to
 * carried_send, which groups consecutive sends of one chunk (a broadcast
 * frame to many carried sockets) into one CAST, closed when another chunk
 * or an END follows, or when the link's connection is about to be
 * written (on_flush).
 *
 * Entry side. A link is an outgoing connection (net/dial.h) per owner URL,
 * dialled on first use; messages wait in a buffer until its upgrade was
 * answered 101. A relay is one client connection taken over from HTTP
 * after its upgrade request was read: the request goes up as OPEN, the
 * client's bytes as DATA; the owner's answer is read up to the end of its
 * head first, to follow a 421 to the object's owner once and to end a
 * refusal after its body, then bytes pass through unread.
 */
#include "backend/link.h"

#include <string.h>

#include "backend/forward.h"
#include "backend/linkwire.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "http/client.h"
#include "net/dial.h"

#define LINK_PATH "/_duro/link"
#define MAX_HEAD (16 * 1024) /* an answer's head, and the link's 101 */

/* ---- a map of ids ----------------------------------------------------------- */

/* u32 ids to pointers: open addressing, deletion by shifting back. */
typedef struct idmap {
  uint32_t *keys;
  void **vals;
  size_t cap, n; /* cap a power of two, or 0 */
} idmap_t;

static size_t slot_of(uint32_t id, size_t cap) {
  return (size_t)((id * 2654435761u) & (cap - 1));
}

static void *map_get(const idmap_t *m, uint32_t id) {
  if (!m->cap)
    return NULL;
  for (size_t i = slot_of(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (!m->vals[i])
      return NULL;
    if (m->keys[i] == id)
      return m->vals[i];
  }
}

static void map_put(idmap_t *m, uint32_t id, void *v);

static void map_grow(idmap_t *m) {
  idmap_t old = *m;
  m->cap = old.cap ? old.cap * 2 : 16;
  m->n = 0;
  m->keys = duro_calloc(m->cap, sizeof(*m->keys));
  m->vals = duro_calloc(m->cap, sizeof(*m->vals));
  for (size_t i = 0; i < old.cap; i++)
    if (old.vals[i])
      map_put(m, old.keys[i], old.vals[i]);
  duro_free(old.keys);
  duro_free(old.vals);
}

static void map_put(idmap_t *m, uint32_t id, void *v) {
  if ((m->n + 1) * 2 > m->cap)
    map_grow(m);
  size_t i = slot_of(id, m->cap);
  while (m->vals[i] && m->keys[i] != id)
    i = (i + 1) & (m->cap - 1);
  if (!m->vals[i])
    m->n++;
  m->keys[i] = id;
  m->vals[i] = v;
}

static void map_del(idmap_t *m, uint32_t id) {
  if (!m->cap)
    return;
  size_t i = slot_of(id, m->cap);
  while (m->vals[i] && m->keys[i] != id)
    i = (i + 1) & (m->cap - 1);
  if (!m->vals[i])
    return;
  m->vals[i] = NULL;
  m->n--;
  /* shift back the entries that probed past the hole */
  for (size_t j = (i + 1) & (m->cap - 1); m->vals[j];
       j = (j + 1) & (m->cap - 1)) {
    size_t home = slot_of(m->keys[j], m->cap);
    int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (between)
      continue;
    m->keys[i] = m->keys[j];
    m->vals[i] = m->vals[j];
    m->vals[j] = NULL;
    i = j;
  }
}

static void map_free(idmap_t *m) {
  duro_free(m->keys);
  duro_free(m->vals);
  memset(m, 0, sizeof(*m));
}

/* ---- the node's links --------------------------------------------------------- */

typedef struct entry_link entry_link_t;

struct duro_links {
  uv_loop_t *loop;
  duro_net_t *net;
  const duro_http_opts_t *http_opts;
  const char *secret;
  void (*unreachable)(void *ud, const char *url);
  void *ud;
  duro_list_t entries; /* entry_link_t: the links this node dialled */
  duro_list_t owners;  /* owner_link_t: the links others dialled */
};

/* The process's counters (one node per process). */
static duro_link_stats_t stats;

/* ---- owner side ------------------------------------------------------------------ */

typedef struct owner_link {
  duro_links_t *links;
  duro_conn_t *conn; /* the entry node's connection */
  duro_list_t node;  /* in links->owners */
  idmap_t carried;   /* id -> duro_conn_t (referenced) */
  /* the CAST being gathered: one chunk for these ids */
  duro_chunk_t *g_chunk;
  uint32_t *g_ids;
  uint32_t g_n, g_cap;
} owner_link_t;

/* Sends what was gathered: DATA for one id, CAST for several. Returns 0,
 * or -1 when the link closed meanwhile (its queue overflowed): then o is
 * freed (owner_on_close ran inside the send) and must not be touched. */
static int emit(owner_link_t *o) {
  duro_chunk_t *chunk = o->g_chunk;
  if (!chunk)
    return 0;
  duro_buf_t head = DURO_BUF_INIT;
  if (o->g_n == 1) {
    duro_link_put_head(&head, DURO_LINK_DATA, o->g_ids[0], chunk->len);
    stats.data_sent++;
  } else {
    duro_link_put_cast(&head, o->g_ids, o->g_n, chunk->len);
    stats.casts_sent++;
    stats.cast_recipients += o->g_n;
  }
  o->g_chunk = NULL;
  o->g_n = 0;
  /* o may be gone after a send: only conn (referenced) is used from here */
  duro_conn_t *conn = duro_conn_ref(o->conn);
  duro_conn_send_copy(conn, head.data, head.len);
  duro_buf_free(&head);
  duro_conn_send(conn, chunk); /* nothing, once conn is closed */
  duro_chunk_unref(chunk);
  int closed = duro_conn_is_closed(conn);
  duro_conn_unref(conn);
  return closed ? -1 : 0;
}

static void carried_send(void *data, uint32_t id, duro_chunk_t *chunk) {
  owner_link_t *o = data;
  if (duro_conn_is_closed(o->conn))
    return;
  if (o->g_chunk && o->g_chunk != chunk && emit(o) < 0)
    return; /* the link closed: o is gone */
  if (!o->g_chunk) {
    o->g_chunk = duro_chunk_ref(chunk);
    duro_conn_want_flush(o->conn); /* emit before the link is written */
  }
  if (o->g_n == o->g_cap) {
    o->g_cap = o->g_cap ? o->g_cap * 2 : 16;
    o->g_ids = duro_realloc(o->g_ids, o->g_cap * sizeof(*o->g_ids));
  }
  o->g_ids[o->g_n++] = id;
}

static void carried_closed(void *data, uint32_t id) {
  owner_link_t *o = data;
  duro_conn_t *c = map_get(&o->carried, id);
  if (!c)
    return;
  map_del(&o->carried, id);
  if (!duro_conn_is_closed(o->conn) && emit(o) == 0) {
    uint8_t end[DURO_LINK_HEAD];
    duro_buf_t head = {end, 0, sizeof(end)};
    duro_link_put_head(&head, DURO_LINK_END, id, 0);
    duro_conn_send_copy(o->conn, end, DURO_LINK_HEAD);
  }
  duro_conn_unref(c);
}

static const duro_conn_carrier_t owner_carrier = {
    .send = carried_send,
    .closed = carried_closed,
};

/* One message from the entry node; 0, or DURO_EPROTO to end the link. */
static int owner_message(owner_link_t *o, const duro_link_msg_t *m) {
  duro_conn_t *c = map_get(&o->carried, m->id);
  switch (m->type) {
  case DURO_LINK_OPEN:
    if (c)
      return DURO_EPROTO; /* an id in use */
    c = duro__conn_new_carried(o->links->net, &owner_carrier, o, m->id);
    map_put(&o->carried, m->id, duro_conn_ref(c));
    stats.carried++;
    duro_http_attach(c, o->links->http_opts);
    duro__conn_carried_input(c, (uint8_t *)m->data, m->len);
    return 0;
  case DURO_LINK_DATA:
    if (c) /* else it ended here meanwhile: its END is on its way */
      duro__conn_carried_input(c, (uint8_t *)m->data, m->len);
    return 0;
  case DURO_LINK_END:
    if (c) {
      map_del(&o->carried, m->id);
      duro__conn_carried_gone(c);
      duro_conn_unref(c);
    }
    return 0;
  default:
    return DURO_EPROTO; /* CAST goes the other way */
  }
}

static size_t owner_on_data(duro_conn_t *conn, uint8_t *data, size_t len) {
  owner_link_t *o = duro_conn_proto_data(conn);
  size_t off = 0;
  while (off < len && !duro_conn_is_closed(conn)) {
    duro_link_msg_t m;
    long n = duro_link_next(data + off, len - off, &m);
    if (n == 0)
      break;
    if (n < 0 || owner_message(o, &m) < 0) {
      duro_log_warn("node link: a malformed message; closing the link");
      duro_conn_close(conn);
      return len;
    }
    off += (size_t)n;
  }
  return off;
}

static void owner_on_flush(duro_conn_t *conn) {
  owner_link_t *o = duro_conn_proto_data(conn);
  if (o)
    emit(o);
}

static void owner_on_close(duro_conn_t *conn) {
  owner_link_t *o = duro_conn_proto_data(conn);
  if (!o)
    return;
  duro_conn_set_proto_data(conn, NULL);
  if (o->g_chunk)
    duro_chunk_unref(o->g_chunk);
  o->g_chunk = NULL;
  for (size_t i = 0; i < o->carried.cap; i++) {
    duro_conn_t *c = o->carried.vals[i];
    if (!c)
      continue;
    o->carried.vals[i] = NULL;
    duro__conn_carried_gone(c); /* its clients are gone with the link */
    duro_conn_unref(c);
  }
  map_free(&o->carried);
  duro_free(o->g_ids);
  duro_list_remove(&o->node);
  duro_conn_unref(o->conn);
  duro_free(o);
}

static void owner_on_overflow(duro_conn_t *conn) {
  duro_log_warn("node link: the entry node reads too slowly (its send "
                "queue is full); closing the link");
  duro_conn_close(conn);
}

static void owner_on_timeout(duro_conn_t *conn) { (void)conn; }

static const duro_proto_t owner_proto = {
    .on_data = owner_on_data,
    .on_close = owner_on_close,
    .on_timeout = owner_on_timeout,
    .on_overflow = owner_on_overflow,
    .on_flush = owner_on_flush,
};

void duro_links_accept(duro_links_t *l, duro_http_req_t *req) {
  static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: duro-link\r\nConnection: Upgrade\r\n\r\n";
  const duro_header_t *up = duro_http_header(req, "Upgrade");
  if (!up || up->value_len != 9 || memcmp(up->value, "duro-link", 9) != 0) {
    duro_http_respond_text(req, 426, NULL, "Expected Upgrade: duro-link");
    return;
  }
  duro_conn_t *conn = duro_http_detach_conn(req);
  if (!conn)
    return;
  owner_link_t *o = duro_calloc(1, sizeof(*o));
  o->links = l;
  o->conn = duro_conn_ref(conn);
  duro_list_insert_tail(&l->owners, &o->node);
  stats.links_accepted++;
  duro_conn_set_proto(conn, &owner_proto, o);
  duro_conn_send_copy(conn, ok, sizeof(ok) - 1);
  duro_conn_reprocess(conn); /* messages that came with the upgrade */
}

/* ---- entry side ----------------------------------------------------------------- */

enum { LINK_DIALING, LINK_UPGRADING, LINK_OPEN };

struct entry_link {
  duro_links_t *links;
  duro_list_t node; /* in links->entries */
  char url[256];
  duro_dial_t *dial; /* NULL once ended */
  int state;
  duro_buf_t out;  /* messages waiting for the link to open */
  duro_buf_t in;   /* a partial message (or the 101's head) */
  idmap_t relays;  /* id -> relay_t */
  uint32_t next_id;
};

typedef struct relay {
  entry_link_t *link;
  uint32_t id;
  duro_conn_t *client; /* referenced */
  duro_buf_t request;  /* until the answer's head: for a retry */
  duro_buf_t head;     /* the answer's head, while incomplete */
  uint8_t head_done;
  uint8_t retried;
  uint8_t passthrough; /* 101: bytes pass unread from now on */
  uint8_t ended;       /* the owner ended it */
  uint64_t body_left;  /* a refusal: its body bytes still to come */
} relay_t;

static void link_write(entry_link_t *e, const void *data, size_t len) {
  if (e->state == LINK_OPEN && e->dial)
    duro_dial_write(e->dial, data, len);
  else
    duro_buf_append(&e->out, data, len);
}

static void link_send(entry_link_t *e, uint8_t type, uint32_t id,
                      const void *data, size_t len) {
  uint8_t head[DURO_LINK_HEAD];
  duro_buf_t h = {head, 0, sizeof(head)};
  duro_link_put_head(&h, type, id, len);
  link_write(e, head, DURO_LINK_HEAD);
  if (len)
    link_write(e, data, len);
}

static entry_link_t *link_for(duro_links_t *l, const char *url);

/* Ends a relay whose client still waits for an answer: 503, then close. */
static void relay_refuse(relay_t *r, const char *why) {
  duro_buf_t b = DURO_BUF_INIT;
  size_t wl = strlen(why); /* C string: a literal */
  duro_buf_printf(&b,
                  "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                  "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: "
                  "%zu\r\nConnection: close\r\n\r\n",
                  wl);
  duro_buf_append(&b, why, wl);
  duro_conn_send_copy(r->client, b.data, b.len);
  duro_buf_free(&b);
  r->head_done = 1;
}

/* Frees r after its client is closed (relay_on_close) or handed over. */
static void relay_free(relay_t *r) {
  duro_buf_free(&r->request);
  duro_buf_free(&r->head);
  duro_conn_unref(r->client);
  duro_free(r);
}

/* The link ended r from the owner's side, or failed: its client ends. */
static void relay_end(relay_t *r, const char *why_if_waiting) {
  r->ended = 1;
  if (r->link)
    map_del(&r->link->relays, r->id);
  r->link = NULL;
  if (!r->head_done)
    relay_refuse(r, why_if_waiting);
  duro_conn_close_after_flush(r->client);
}

static void link_fail(entry_link_t *e, const char *why);

/* Sends r's request up the link to url (the first time, or after a 421);
 * a link that cannot even be dialled ends r at once (-1: r may be gone). */
static int relay_start(relay_t *r, duro_links_t *l, const char *url) {
  entry_link_t *e = link_for(l, url);
  r->link = e;
  r->id = ++e->next_id;
  map_put(&e->relays, r->id, r);
  stats.carried++;
  link_send(e, DURO_LINK_OPEN, r->id, r->request.data, r->request.len);
  if (e->dial)
    return 0;
  link_fail(e, "Service Unavailable: the object's owner node unreachable; "
               "try again");
  return -1;
}

/* The value of header name in a complete head, or NULL. */
static const char *head_value(const duro_buf_t *h, const char *name,
                              size_t *len) {
  size_t nl = strlen(name); /* C string: a literal */
  const char *p = (const char *)h->data, *end = p + h->len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      return NULL;
    if ((size_t)(eol - p) > nl + 1 && p[nl] == ':' &&
        strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      *len = (size_t)(ve - v);
      return v;
    }
    p = eol + 1;
  }
  return NULL;
}

/* Sends len bytes of the owner's answer to r's client; a refusal whose
 * body is complete with them ends, on the owner's side too. The send may
 * close the client (its queue overflowed), which frees r (relay_on_close):
 * r is not touched after it. */
static void relay_answer(relay_t *r, const uint8_t *data, size_t len) {
  int done = !r->passthrough && r->body_left == 0;
  if (done) {
    if (r->link) {
      map_del(&r->link->relays, r->id);
      link_send(r->link, DURO_LINK_END, r->id, NULL, 0);
    }
    r->link = NULL;
    r->ended = 1;
  }
  duro_conn_t *client = duro_conn_ref(r->client);
  duro_conn_send_copy(client, data, len);
  if (done)
    duro_conn_close_after_flush(client);
  duro_conn_unref(client);
}

/* The answer's head is complete in r->head (with maybe more bytes after
 * it): a 421 goes once to the owner it names; anything else goes to the
 * client, a 101 then passes bytes through, a refusal ends after its body. */
static void relay_head(relay_t *r, size_t head_len) {
  const uint8_t *h = r->head.data;
  int status = r->head.len >= 12 && memcmp(h, "HTTP/1.1 ", 9) == 0 &&
                       h[9] >= '0' && h[9] <= '9' && h[10] >= '0' &&
                       h[10] <= '9' && h[11] >= '0' && h[11] <= '9'
                   ? (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0')
                   : 0;
  size_t vl = 0;
  const char *owner =
      status == 421 ? head_value(&r->head, DURO_OWNER_HEADER, &vl) : NULL;
  if (owner && !r->retried && vl < 256) {
    char url[256];
    memcpy(url, owner, vl);
    url[vl] = '\0';
    entry_link_t *from = r->link;
    map_del(&from->relays, r->id);
    link_send(from, DURO_LINK_END, r->id, NULL, 0);
    r->retried = 1;
    duro_buf_free(&r->head);
    relay_start(r, from->links, url);
    return;
  }
  r->head_done = 1;
  duro_buf_free(&r->request);
  if (status == 101) {
    r->passthrough = 1;
  } else {
    const char *cl = head_value(&r->head, "Content-Length", &vl);
    uint64_t n = 0;
    for (size_t i = 0; cl && i < vl && cl[i] >= '0' && cl[i] <= '9'; i++)
      n = n * 10 + (uint64_t)(cl[i] - '0');
    r->body_left = n;
  }
  size_t rest = r->head.len - head_len;
  if (!r->passthrough && rest > r->body_left)
    rest = (size_t)r->body_left;
  if (!r->passthrough)
    r->body_left -= rest;
  duro_buf_t head = r->head;
  r->head = (duro_buf_t)DURO_BUF_INIT;
  relay_answer(r, head.data, head_len + rest);
  duro_buf_free(&head);
}

/* Bytes from the owner for r. */
static void relay_data(relay_t *r, const uint8_t *data, size_t len,
                       duro_chunk_t *shared) {
  if (len == 0)
    return; /* an empty DATA or CAST carries nothing */
  if (r->passthrough) {
    stats.relayed++;
    if (shared)
      duro_conn_send(r->client, shared);
    else
      duro_conn_send_copy(r->client, data, len);
    return;
  }
  if (r->head_done) { /* a refusal's body */
    size_t n = len < r->body_left ? len : (size_t)r->body_left;
    r->body_left -= n;
    relay_answer(r, data, n);
    return;
  }
  duro_buf_append(&r->head, data, len);
  const uint8_t *end = memmem(r->head.data, r->head.len, "\r\n\r\n", 4);
  if (end) {
    relay_head(r, (size_t)(end - r->head.data) + 4);
    return;
  }
  if (r->head.len > MAX_HEAD && r->link) {
    map_del(&r->link->relays, r->id);
    link_send(r->link, DURO_LINK_END, r->id, NULL, 0);
    r->link = NULL;
    relay_end(r, "Bad Gateway: the owner's answer has no end of head");
  }
}

static void entry_message(entry_link_t *e, const duro_link_msg_t *m) {
  if (m->type == DURO_LINK_CAST) {
    duro_chunk_t *shared = duro_chunk_from(m->data, m->len);
    for (uint32_t i = 0; i < m->nids; i++) {
      relay_t *r = map_get(&e->relays, duro_link_cast_id(m, i));
      if (r)
        relay_data(r, m->data, m->len, shared);
    }
    duro_chunk_unref(shared);
    return;
  }
  relay_t *r = map_get(&e->relays, m->id);
  if (!r)
    return; /* ended here meanwhile */
  if (m->type == DURO_LINK_DATA)
    relay_data(r, m->data, m->len, NULL);
  else if (m->type == DURO_LINK_END)
    relay_end(r, "Bad Gateway: the owner ended the connection");
}

/* Ends e: its relays end, it leaves the list; freed here. */
static void link_fail(entry_link_t *e, const char *why) {
  duro_list_remove(&e->node);
  for (size_t i = 0; i < e->relays.cap; i++) {
    relay_t *r = e->relays.vals[i];
    if (!r)
      continue;
    e->relays.vals[i] = NULL;
    r->link = NULL;
    relay_end(r, why);
  }
  map_free(&e->relays);
  if (e->dial)
    duro_dial_close(e->dial);
  e->dial = NULL;
  duro_buf_free(&e->out);
  duro_buf_free(&e->in);
  duro_free(e);
}

static void entry_on_open(void *ud) {
  entry_link_t *e = ud;
  duro_url_t u;
  char err[64];
  duro_buf_t b = DURO_BUF_INIT;
  if (duro_url_parse(e->url, &u, err, sizeof(err)) == 0)
    duro_url_write_request_line(&b, &u, "GET", LINK_PATH);
  duro_buf_printf(&b, "Upgrade: duro-link\r\nConnection: Upgrade\r\n%s: %s\r\n"
                      "\r\n",
                  DURO_HOP_HEADER, e->links->secret);
  duro_dial_write(e->dial, b.data, b.len);
  duro_buf_free(&b);
  e->state = LINK_UPGRADING;
}

/* Parses what came after the 101 (or later): whole messages. */
static int entry_messages(entry_link_t *e) {
  size_t off = 0;
  while (off < e->in.len) {
    duro_link_msg_t m;
    long n = duro_link_next(e->in.data + off, e->in.len - off, &m);
    if (n == 0)
      break;
    if (n < 0 || m.type == DURO_LINK_OPEN)
      return DURO_EPROTO;
    entry_message(e, &m);
    off += (size_t)n;
  }
  duro_buf_consume(&e->in, off);
  return 0;
}

static void entry_on_data(void *ud, const uint8_t *data, size_t len) {
  entry_link_t *e = ud;
  duro_buf_append(&e->in, data, len);
  if (e->state == LINK_UPGRADING) {
    const uint8_t *end = memmem(e->in.data, e->in.len, "\r\n\r\n", 4);
    if (!end) {
      if (e->in.len > MAX_HEAD)
        link_fail(e, "Service Unavailable: the owner node refused the link");
      return;
    }
    if (e->in.len < 12 || memcmp(e->in.data, "HTTP/1.1 101", 12) != 0) {
      const uint8_t *eol = memchr(e->in.data, '\r', e->in.len);
      duro_log_warn("node link to %s: refused (%.*s)", e->url,
                    (int)(eol - e->in.data), (const char *)e->in.data);
      link_fail(e, "Service Unavailable: the owner node refused the link");
      return;
    }
    duro_buf_consume(&e->in, (size_t)(end - e->in.data) + 4);
    e->state = LINK_OPEN;
    stats.links_opened++;
    if (e->out.len)
      duro_dial_write(e->dial, e->out.data, e->out.len);
    duro_buf_free(&e->out);
  }
  if (entry_messages(e) < 0) {
    duro_log_warn("node link to %s: a malformed message; closing it",
                  e->url);
    link_fail(e, "Bad Gateway: the node link failed");
  }
}

static void entry_on_end(void *ud, int err, const char *why) {
  entry_link_t *e = ud;
  e->dial = NULL; /* gone after this call */
  duro_links_t *l = e->links;
  char url[256];
  memcpy(url, e->url, sizeof(url));
  int reached = e->state != LINK_DIALING;
  duro_log_warn("node link to %s ended: %s", e->url,
                err ? (why ? why : duro_strerror(err)) : "closed");
  link_fail(e, "Service Unavailable: the object's owner node unreachable; "
               "try again");
  if (!reached && l->unreachable)
    l->unreachable(l->ud, url);
}

static const duro_dial_cbs_t entry_cbs = {
    .on_open = entry_on_open,
    .on_data = entry_on_data,
    .on_end = entry_on_end,
};

/* The link to url: the open or opening one, or a new one. */
static entry_link_t *link_for(duro_links_t *l, const char *url) {
  DURO_LIST_FOREACH(it, &l->entries) {
    entry_link_t *e = DURO_CONTAINER_OF(it, entry_link_t, node);
    if (strcmp(e->url, url) == 0)
      return e;
  }
  entry_link_t *e = duro_calloc(1, sizeof(*e));
  e->links = l;
  if (duro_fmt(e->url, sizeof(e->url), "%s", url) < 0)
    e->url[0] = '\0';
  duro_list_insert_tail(&l->entries, &e->node);
  duro_url_t u;
  char err[128];
  if (duro_url_parse(e->url, &u, err, sizeof(err)) < 0 || u.https ||
      duro_url_dial(&e->dial, l->loop, &u, &entry_cbs, e) < 0) {
    e->dial = NULL; /* relay_start fails it */
    e->state = LINK_DIALING;
  }
  return e;
}

static size_t relay_on_data(duro_conn_t *c, uint8_t *data, size_t len) {
  relay_t *r = duro_conn_proto_data(c);
  if (r->link)
    link_send(r->link, DURO_LINK_DATA, r->id, data, len);
  return len;
}

static void relay_on_close(duro_conn_t *c) {
  relay_t *r = duro_conn_proto_data(c);
  duro_conn_set_proto_data(c, NULL);
  if (!r)
    return;
  if (r->link) {
    map_del(&r->link->relays, r->id);
    link_send(r->link, DURO_LINK_END, r->id, NULL, 0);
  }
  relay_free(r);
}

static void relay_on_overflow(duro_conn_t *c) { duro_conn_close(c); }
static void relay_on_timeout(duro_conn_t *c) { duro_conn_close(c); }

static const duro_proto_t relay_proto = {
    .on_data = relay_on_data,
    .on_close = relay_on_close,
    .on_timeout = relay_on_timeout,
    .on_overflow = relay_on_overflow,
};

/* The client's request as the owner is to read it: the request line, its
 * headers but X-Duro-* (a public client's are never passed on), the hop's
 * header, and its body. */
static void write_request(duro_buf_t *b, const duro_http_req_t *req,
                          const char *secret) {
  duro_buf_printf(b, "%s %.*s HTTP/1.1\r\n", req->method,
                  (int)req->target_len, req->target);
  for (size_t i = 0; i < req->nheaders; i++) {
    const duro_header_t *h = &req->headers[i];
    if (h->name_len >= 7 && strncasecmp(h->name, "X-Duro-", 7) == 0)
      continue;
    duro_buf_append(b, h->name, h->name_len);
    duro_buf_append(b, ": ", 2);
    duro_buf_append(b, h->value, h->value_len);
    duro_buf_append(b, "\r\n", 2);
  }
  duro_buf_printf(b, "%s: %s\r\n\r\n", DURO_HOP_HEADER, secret);
  duro_buf_append(b, req->body.data, req->body.len);
}

void duro_links_relay(duro_links_t *l, duro_http_req_t *req,
                      const char *url) {
  relay_t *r = duro_calloc(1, sizeof(*r));
  write_request(&r->request, req, l->secret);
  duro_conn_t *c = duro_http_detach_conn(req);
  if (!c) { /* the client left */
    duro_buf_free(&r->request);
    duro_free(r);
    return;
  }
  r->client = duro_conn_ref(c);
  duro_conn_set_proto(c, &relay_proto, r);
  if (relay_start(r, l, url) == 0)
    duro_conn_reprocess(c); /* bytes that came with the upgrade */
}

/* ---- the set ---------------------------------------------------------------------- */

duro_links_t *duro_links_new(uv_loop_t *loop, duro_net_t *net,
                             const duro_http_opts_t *http_opts,
                             const char *secret,
                             void (*unreachable)(void *ud, const char *url),
                             void *ud) {
  duro_links_t *l = duro_calloc(1, sizeof(*l));
  l->loop = loop;
  l->net = net;
  l->http_opts = http_opts;
  l->secret = secret;
  l->unreachable = unreachable;
  l->ud = ud;
  duro_list_init(&l->entries);
  duro_list_init(&l->owners);
  return l;
}

void duro_links_free(duro_links_t *l) {
  while (!duro_list_empty(&l->entries))
    link_fail(DURO_CONTAINER_OF(l->entries.next, entry_link_t, node),
              "Service Unavailable: shutting down");
  while (!duro_list_empty(&l->owners)) {
    owner_link_t *o = DURO_CONTAINER_OF(l->owners.next, owner_link_t, node);
    duro_conn_close(o->conn); /* owner_on_close unlists and frees it */
  }
  duro_free(l);
}

void duro_links_stats(duro_link_stats_t *out) { *out = stats; }
