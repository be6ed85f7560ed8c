/*
 * proto.c: see proto.h.
 *
 * The scanner is a recursive descent over the bytes with an explicit depth
 * bound. Object members are visited by a callback-free loop: the message
 * parsers call obj_next() to get each key (escaped content) and then either
 * parse the value they care about or skip it with skip_value(). Duplicate
 * keys: the last one wins, as in JSON.parse.
 */
#include "sync/proto.h"

#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/str.h"
#include "core/url.h"
#include "ws/utf8.h"

typedef struct scan {
  const char *p, *end;
  int depth;
} scan_t;

static void ws(scan_t *s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

/* A string at s->p (which is '"'); out gets the content span. */
static int scan_string(scan_t *s, sync_span_t *out) {
  static const char escapes[] = "\"\\/bfnrt"; /* after '\\', besides 'u' */
  if (s->p >= s->end || *s->p != '"')
    return -1;
  const char *start = ++s->p;
  int wide = 0; /* a byte >= 0x80 was seen: check the UTF-8 at the end */
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p;
    if (c == '"') {
      /* No byte of a multi-byte character is '"', '\\' or a control
       * character, so the content is checked in one go, with the
       * WebSocket layer's validator. */
      if (wide && duro_utf8_validate(DURO_UTF8_ACCEPT, (const uint8_t *)start,
                                     (size_t)(s->p - start)) !=
                      DURO_UTF8_ACCEPT)
        return -1;
      if (out) {
        out->p = start;
        out->n = (size_t)(s->p - start);
      }
      s->p++;
      return 0;
    }
    if (c < 0x20)
      return -1;
    if (c == '\\') {
      if (s->end - s->p < 2)
        return -1;
      char e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6)
          return -1;
        for (int i = 2; i < 6; i++)
          if (duro_hex_value(s->p[i]) < 0)
            return -1;
        s->p += 6;
      } else if (duro_byte_in(escapes, sizeof(escapes) - 1, e)) {
        s->p += 2;
      } else {
        return -1;
      }
      continue;
    }
    wide |= c >= 0x80;
    s->p++;
  }
  return -1;
}

static int digits(scan_t *s) {
  const char *st = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
    s->p++;
  return s->p > st ? 0 : -1;
}

/* A number; *is_int set when it has no fraction or exponent. */
static int scan_number(scan_t *s, int *is_int) {
  *is_int = 1;
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p >= s->end)
    return -1;
  if (*s->p == '0')
    s->p++;
  else if (digits(s) < 0)
    return -1;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    *is_int = 0;
    if (digits(s) < 0)
      return -1;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    *is_int = 0;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (digits(s) < 0)
      return -1;
  }
  return 0;
}

static int lit(scan_t *s, const char *w) {
  size_t n = strlen(w); /* C string: "true", "false" or "null" */
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
    return -1;
  s->p += n;
  return 0;
}

static int skip_value(scan_t *s);

/* A member's key and its colon, with the space around them; the value is
 * next. key may be NULL. */
static int scan_key(scan_t *s, sync_span_t *key) {
  if (scan_string(s, key) < 0)
    return -1;
  ws(s);
  if (s->p >= s->end || *s->p != ':')
    return -1;
  s->p++;
  ws(s);
  return 0;
}

static int skip_container(scan_t *s, char close) {
  if (++s->depth > SYNC_MAX_DEPTH)
    return -1;
  s->p++;
  ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    ws(s);
    if (close == '}' && scan_key(s, NULL) < 0)
      return -1;
    if (skip_value(s) < 0)
      return -1;
    ws(s);
    if (s->p >= s->end)
      return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p == close) {
      s->p++;
      s->depth--;
      return 0;
    }
    return -1;
  }
}

/* Skips one value at s->p (no leading whitespace). */
static int skip_value(scan_t *s) {
  if (s->p >= s->end)
    return -1;
  int is_int;
  switch (*s->p) {
  case '{':
    return skip_container(s, '}');
  case '[':
    return skip_container(s, ']');
  case '"':
    return scan_string(s, NULL);
  case 't':
    return lit(s, "true");
  case 'f':
    return lit(s, "false");
  case 'n':
    return lit(s, "null");
  default:
    return scan_number(s, &is_int);
  }
}

/* Captures one value as a raw span. */
static int raw_value(scan_t *s, sync_span_t *out) {
  const char *st = s->p;
  if (skip_value(s) < 0)
    return -1;
  out->p = st;
  out->n = (size_t)(s->p - st);
  return 0;
}

int duro_sync_json_valid(const char *data, size_t len) {
  scan_t s = {data, data + len, 0};
  ws(&s);
  if (skip_value(&s) < 0)
    return 0;
  ws(&s);
  return s.p == s.end;
}

/* ---- object iteration ---------------------------------------------------- */

/* Enters an object at s->p. Returns 0, or -1 when it is not one. */
static int obj_open(scan_t *s) {
  ws(s);
  if (s->p >= s->end || *s->p != '{' || ++s->depth > SYNC_MAX_DEPTH)
    return -1;
  s->p++;
  return 0;
}

/*
 * Moves to the next member: returns 1 with *key set and s->p at the value,
 * 0 at the closing brace (consumed), -1 on a syntax error. first tracks the
 * comma rule; start it at 1.
 */
static int obj_next(scan_t *s, int *first, sync_span_t *key) {
  ws(s);
  if (s->p >= s->end)
    return -1;
  if (*s->p == '}') {
    s->p++;
    s->depth--;
    return 0;
  }
  if (!*first) {
    if (*s->p != ',')
      return -1;
    s->p++;
    ws(s);
  }
  *first = 0;
  return scan_key(s, key) < 0 ? -1 : 1;
}

static int key_is(sync_span_t k, const char *w) {
  return duro_cstr_eq(w, k.p, k.n);
}

static int span_is(sync_span_t k, const char *w) { return k.p && key_is(k, w); }

/* A non-negative integer (no fraction, no exponent) up to SYNC_MAX_SEQ. */
static int scan_seq(scan_t *s, int64_t *out) {
  const char *st = s->p;
  int is_int;
  if (scan_number(s, &is_int) < 0 || !is_int || *st == '-')
    return -1;
  if (s->p - st > 16)
    return -1;
  int64_t v = 0;
  for (const char *q = st; q < s->p; q++)
    v = v * 10 + (*q - '0');
  if (v > SYNC_MAX_SEQ)
    return -1;
  *out = v;
  return 0;
}

static int scan_bool(scan_t *s, int *out) {
  if (lit(s, "true") == 0)
    return *out = 1, 0;
  if (lit(s, "false") == 0)
    return *out = 0, 0;
  return -1;
}

/* ---- the parts of a Request payload --------------------------------------- */

/* An Option: *some = 0 for None, 1 for Some with *value the raw value span
 * (parsed later by the caller). Returns 0 or -1. */
static int scan_option(scan_t *s, int *some, sync_span_t *value) {
  sync_span_t k, tag = {0}, val = {0};
  int first = 1, r;
  if (obj_open(s) < 0)
    return -1;
  while ((r = obj_next(s, &first, &k)) > 0) {
    if (key_is(k, "_tag")) {
      if (scan_string(s, &tag) < 0)
        return -1;
    } else if (key_is(k, "value")) {
      if (raw_value(s, &val) < 0)
        return -1;
    } else if (skip_value(s) < 0) {
      return -1;
    }
  }
  if (r < 0)
    return -1;
  if (span_is(tag, "None")) {
    *some = 0;
    return 0;
  }
  if (span_is(tag, "Some") && val.p) {
    *some = 1;
    *value = val;
    return 0;
  }
  return -1;
}

static int parse_cursor(sync_span_t raw, sync_msg_t *m) {
  scan_t s = {raw.p, raw.p + raw.n, 0};
  sync_span_t k, bid = {0};
  int first = 1, r, have_seq = 0;
  if (obj_open(&s) < 0)
    return -1;
  while ((r = obj_next(&s, &first, &k)) > 0) {
    if (key_is(k, "backendId")) {
      if (scan_string(&s, &bid) < 0)
        return -1;
    } else if (key_is(k, "eventSequenceNumber")) {
      if (scan_seq(&s, &m->cursor_seq) < 0)
        return -1;
      have_seq = 1;
    } else if (skip_value(&s) < 0) {
      return -1;
    }
  }
  if (r < 0 || !bid.p || !have_seq)
    return -1;
  m->cursor_backend_id = bid;
  return 0;
}

static int parse_event(scan_t *s, sync_event_t *e) {
  sync_span_t k;
  int first = 1, r, have_seq = 0, have_parent = 0;
  memset(e, 0, sizeof(*e));
  if (obj_open(s) < 0)
    return -1;
  while ((r = obj_next(s, &first, &k)) > 0) {
    if (key_is(k, "name")) {
      if (scan_string(s, &e->name) < 0)
        return -1;
    } else if (key_is(k, "args")) {
      if (raw_value(s, &e->args) < 0)
        return -1;
    } else if (key_is(k, "seqNum")) {
      if (scan_seq(s, &e->seq) < 0)
        return -1;
      have_seq = 1;
    } else if (key_is(k, "parentSeqNum")) {
      if (scan_seq(s, &e->parent) < 0)
        return -1;
      have_parent = 1;
    } else if (key_is(k, "clientId")) {
      if (scan_string(s, &e->client_id) < 0)
        return -1;
    } else if (key_is(k, "sessionId")) {
      if (scan_string(s, &e->session_id) < 0)
        return -1;
    } else if (skip_value(s) < 0) {
      return -1;
    }
  }
  if (r < 0 || !e->name.p || !e->client_id.p || !e->session_id.p ||
      !have_seq || !have_parent)
    return -1;
  /* An explicit null is the same as no args for the server. */
  if (e->args.p && e->args.n == 4 && memcmp(e->args.p, "null", 4) == 0)
    e->args.p = NULL, e->args.n = 0;
  return 0;
}

static int parse_batch(scan_t *s, sync_msg_t *m) {
  ws(s);
  if (s->p >= s->end || *s->p != '[' || ++s->depth > SYNC_MAX_DEPTH)
    return -1;
  s->p++;
  m->nevents = 0;
  ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    sync_event_t scratch;
    sync_event_t *e =
        m->nevents < m->events_cap ? &m->events[m->nevents] : &scratch;
    ws(s);
    if (parse_event(s, e) < 0)
      return -1;
    m->nevents++;
    ws(s);
    if (s->p >= s->end)
      return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p == ']') {
      s->p++;
      s->depth--;
      return 0;
    }
    return -1;
  }
}

/* The payload of a Request, by RPC. Returns 0 or -1 (schema mismatch). */
static int parse_payload(sync_span_t raw, sync_msg_t *m, const char **why) {
  scan_t s = {raw.p, raw.p + raw.n, 0};
  sync_span_t k, cursor = {0}, bid = {0};
  int first = 1, r, have_live = 0, have_cursor = 0, have_batch = 0,
      have_bid = 0;
  *why = "payload is not an object";
  if (obj_open(&s) < 0)
    return -1;
  while ((r = obj_next(&s, &first, &k)) > 0) {
    if (key_is(k, "storeId")) {
      *why = "storeId must be a string";
      if (scan_string(&s, &m->store_id) < 0)
        return -1;
    } else if (key_is(k, "payload")) {
      if (raw_value(&s, &m->payload) < 0)
        return -1;
    } else if (key_is(k, "live") && m->rpc == SYNC_RPC_PULL && !m->http) {
      *why = "live must be a boolean";
      if (scan_bool(&s, &m->live) < 0)
        return -1;
      have_live = 1;
    } else if (key_is(k, "cursor") && m->rpc == SYNC_RPC_PULL) {
      *why = "cursor must be an Option";
      if (scan_option(&s, &m->has_cursor, &cursor) < 0)
        return -1;
      have_cursor = 1;
    } else if (key_is(k, "batch") && m->rpc == SYNC_RPC_PUSH) {
      *why = "batch must be an array of events";
      m->batch.p = s.p;
      if (parse_batch(&s, m) < 0)
        return -1;
      m->batch.n = (size_t)(s.p - m->batch.p);
      have_batch = 1;
    } else if (key_is(k, "backendId") && m->rpc == SYNC_RPC_PUSH) {
      *why = "backendId must be an Option of a string";
      if (scan_option(&s, &m->has_backend_id, &bid) < 0)
        return -1;
      have_bid = 1;
    } else if (skip_value(&s) < 0) {
      return -1;
    }
  }
  *why = "payload is not valid JSON";
  if (r < 0)
    return -1;
  *why = "payload.storeId is missing";
  if (!m->store_id.p)
    return -1;
  if (m->rpc == SYNC_RPC_PULL) {
    *why = "payload.live is missing";
    if (!m->http && !have_live)
      return -1;
    *why = "payload.cursor is missing";
    if (!have_cursor)
      return -1;
    *why = "cursor must be None or Some{backendId, eventSequenceNumber}";
    if (m->has_cursor && parse_cursor(cursor, m) < 0)
      return -1;
  } else if (m->rpc == SYNC_RPC_PUSH) {
    *why = "payload.batch is missing";
    if (!have_batch)
      return -1;
    *why = "payload.backendId is missing";
    if (!have_bid)
      return -1;
    if (m->has_backend_id) {
      scan_t bs = {bid.p, bid.p + bid.n, 0};
      *why = "backendId must be an Option of a string";
      if (scan_string(&bs, &m->backend_id) < 0 || bs.p != bs.end)
        return -1;
    }
  }
  return 0;
}

static int rpc_of(sync_span_t tag, sync_msg_t *m) {
  static const struct {
    const char *name;
    int rpc, http;
  } rpcs[] = {
      {"SyncWsRpc.Pull", SYNC_RPC_PULL, 0},
      {"SyncWsRpc.Push", SYNC_RPC_PUSH, 0},
      {"SyncHttpRpc.Pull", SYNC_RPC_PULL, 1},
      {"SyncHttpRpc.Push", SYNC_RPC_PUSH, 1},
      {"SyncHttpRpc.Ping", SYNC_RPC_PING, 1},
  };
  for (size_t i = 0; i < sizeof(rpcs) / sizeof(rpcs[0]); i++)
    if (key_is(tag, rpcs[i].name)) {
      m->rpc = rpcs[i].rpc;
      m->http = rpcs[i].http;
      return 0;
    }
  return -1;
}

/* A request id at s->p: a string, or (LiveStore's next protocol) a
 * non-negative integer. *out gets the whole JSON token, quotes included,
 * so that an answer echoes it in the form it came; *bad is set when the
 * value is something else (skipped). */
static int scan_id(scan_t *s, sync_span_t *out, int *bad) {
  const char *st = s->p;
  *bad = 0;
  if (s->p < s->end && *s->p == '"') {
    sync_span_t content;
    if (scan_string(s, &content) < 0)
      return -1;
    *bad = content.n > SYNC_MAX_ID;
  } else if (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    int is_int;
    if (scan_number(s, &is_int) < 0)
      return -1;
    *bad = !is_int || (size_t)(s->p - st) > SYNC_MAX_ID;
  } else {
    *bad = 1;
    return skip_value(s);
  }
  out->p = st;
  out->n = (size_t)(s->p - st);
  return 0;
}

int duro_sync_parse(const char *data, size_t len, sync_event_t *events,
                    size_t events_cap, sync_msg_t *m, const char **why) {
  memset(m, 0, sizeof(*m));
  m->events = events;
  m->events_cap = events_cap;
  scan_t s = {data, data + len, 0};
  sync_span_t k, tag = {0}, id = {0}, rtag = {0}, payload = {0};
  int first = 1, r, id_bad = 0, rid_bad = 0;
  sync_span_t request_id = {0};
  *why = "message is not a JSON object";
  if (obj_open(&s) < 0)
    return DURO_EPROTO;
  while ((r = obj_next(&s, &first, &k)) > 0) {
    if (key_is(k, "_tag")) {
      if (scan_string(&s, &tag) < 0)
        return DURO_EPROTO;
    } else if (key_is(k, "id")) {
      if (scan_id(&s, &id, &id_bad) < 0)
        return DURO_EPROTO;
    } else if (key_is(k, "requestId")) {
      if (scan_id(&s, &request_id, &rid_bad) < 0)
        return DURO_EPROTO;
    } else if (key_is(k, "tag")) {
      if (s.p < s.end && *s.p == '"') {
        if (scan_string(&s, &rtag) < 0)
          return DURO_EPROTO;
      } else if (skip_value(&s) < 0) {
        return DURO_EPROTO;
      }
    } else if (key_is(k, "payload")) {
      if (raw_value(&s, &payload) < 0)
        return DURO_EPROTO;
    } else if (skip_value(&s) < 0) {
      return DURO_EPROTO;
    }
  }
  *why = "message is not valid JSON";
  if (r < 0)
    return DURO_EPROTO;
  ws(&s);
  if (s.p != s.end)
    return DURO_EPROTO;
  *why = "message has no _tag";
  if (!tag.p)
    return DURO_EPROTO;
  if (key_is(tag, "Ping")) {
    m->kind = SYNC_MSG_PING;
    return 0;
  }
  if (key_is(tag, "Eof")) {
    m->kind = SYNC_MSG_EOF;
    return 0;
  }
  /* Interrupt's fiber ids (0.4.0: an object; next: a number or absent)
   * are skipped with every other key: nothing here depends on them. */
  if (key_is(tag, "Ack") || key_is(tag, "Interrupt")) {
    *why = "requestId must be a string or a non-negative integer";
    if (rid_bad || !request_id.p)
      return DURO_EPROTO;
    m->kind = key_is(tag, "Ack") ? SYNC_MSG_ACK : SYNC_MSG_INTERRUPT;
    m->id = request_id;
    return 0;
  }
  *why = "unknown message _tag";
  if (!key_is(tag, "Request"))
    return DURO_EPROTO;
  *why = "request id must be a string or a non-negative integer";
  if (id_bad || !id.p)
    return DURO_EPROTO;
  *why = "unknown request tag";
  if (!rtag.p || rpc_of(rtag, m) < 0)
    return DURO_EPROTO;
  m->kind = SYNC_MSG_REQUEST;
  m->id = id;
  *why = "request has no payload";
  if (!payload.p)
    return DURO_EINVAL;
  if (parse_payload(payload, m, why) < 0)
    return DURO_EINVAL;
  return 0;
}

int duro_sync_id_is_number(sync_span_t id) {
  return id.n > 0 && id.p[0] != '"';
}

sync_span_t duro_sync_id_text(sync_span_t id) {
  if (id.n >= 2 && id.p[0] == '"')
    return (sync_span_t){id.p + 1, id.n - 2};
  return id;
}

/* ---- strings ------------------------------------------------------------------ */

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static unsigned hex4(const char *p) {
  return (unsigned)(duro_hex_value(p[0]) << 12 | duro_hex_value(p[1]) << 8 | duro_hex_value(p[2]) << 4 |
                    duro_hex_value(p[3]));
}

int duro_sync_json_unescape(const char *in, size_t len, char *out,
                            size_t *outlen) {
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    char c = in[i];
    if (c != '\\') {
      if (c == '\0')
        return -1;
      out[o++] = c;
      i++;
      continue;
    }
    /* The scanner validated the escapes; stay defensive anyway. */
    if (i + 1 >= len)
      return -1;
    char e = in[i + 1];
    if (e != 'u') {
      static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
      const char *f = memchr(from, e, sizeof(from) - 1);
      if (!f)
        return -1;
      out[o++] = to[f - from];
      i += 2;
      continue;
    }
    if (i + 6 > len)
      return -1;
    unsigned cp = hex4(in + i + 2);
    i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= len && in[i] == '\\' &&
        in[i + 1] == 'u') {
      unsigned lo = hex4(in + i + 2);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      }
    }
    if (cp == 0)
      return -1;
    if (cp >= 0xd800 && cp <= 0xdfff)
      cp = 0xfffd;
    /* \uXXXX is 6 input bytes for at most 3 output bytes, a pair 12 for 4. */
    o += put_utf8(out + o, cp);
  }
  out[o] = '\0';
  *outlen = o;
  return 0;
}

void duro_sync_json_append_string(duro_buf_t *b, const char *s, size_t len) {
  duro_buf_append(b, "\"", 1);
  duro_sync_json_append_escaped(b, s, len);
  duro_buf_append(b, "\"", 1);
}

void duro_sync_json_append_escaped(duro_buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  uint8_t *o = duro_buf_reserve(b, len * 6);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      o[n++] = '\\';
      o[n++] = c;
    } else if (c < 0x20) {
      o[n++] = '\\';
      switch (c) {
      case '\n': o[n++] = 'n'; break;
      case '\r': o[n++] = 'r'; break;
      case '\t': o[n++] = 't'; break;
      case '\b': o[n++] = 'b'; break;
      case '\f': o[n++] = 'f'; break;
      default:
        o[n++] = 'u';
        o[n++] = '0';
        o[n++] = '0';
        o[n++] = hex[c >> 4];
        o[n++] = hex[c & 15];
      }
    } else {
      o[n++] = c;
    }
  }
  b->len += n;
}

/* ---- builders ------------------------------------------------------------------- */

#define APPEND_LIT(b, s) duro_buf_append((b), (s), sizeof(s) - 1)

static void append_span(duro_buf_t *b, sync_span_t sp) {
  duro_buf_append(b, sp.p, sp.n);
}

static void exit_head(duro_buf_t *b, sync_span_t id) {
  APPEND_LIT(b, "{\"_tag\":\"Exit\",\"requestId\":");
  append_span(b, id);
  APPEND_LIT(b, ",\"exit\":");
}

void duro_sync_build_exit_success(duro_buf_t *b, sync_span_t id,
                                  int with_value) {
  exit_head(b, id);
  if (with_value)
    APPEND_LIT(b, "{\"_tag\":\"Success\",\"value\":{}}}");
  else
    APPEND_LIT(b, "{\"_tag\":\"Success\"}}");
}

void duro_sync_build_exit_value(duro_buf_t *b, sync_span_t id,
                                const char *json) {
  exit_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"Success\",\"value\":");
  duro_buf_append_str(b, json);
  APPEND_LIT(b, "}}");
}

/* A failed Exit up to the cause's reason: 0.4.0 writes the cause as one
 * object, the next protocol (numeric ids) as an array of reasons. */
static void failure_head(duro_buf_t *b, sync_span_t id) {
  exit_head(b, id);
  if (duro_sync_id_is_number(id))
    APPEND_LIT(b, "{\"_tag\":\"Failure\",\"cause\":[");
  else
    APPEND_LIT(b, "{\"_tag\":\"Failure\",\"cause\":");
}

/* Closes the reason, the cause, the exit and the message. */
static void failure_tail(duro_buf_t *b, sync_span_t id) {
  if (duro_sync_id_is_number(id))
    APPEND_LIT(b, "}]}}");
  else
    APPEND_LIT(b, "}}}");
}

static void fail_head(duro_buf_t *b, sync_span_t id) {
  failure_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"Fail\",\"error\":");
}

/* Closes the typed error, then as failure_tail. */
static void fail_tail(duro_buf_t *b, sync_span_t id) {
  APPEND_LIT(b, "}");
  failure_tail(b, id);
}

void duro_sync_build_server_ahead(duro_buf_t *b, sync_span_t id, int64_t head,
                                  int64_t provided) {
  fail_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"ServerAheadError\",\"minimumExpectedNum\":");
  duro_buf_append_i64(b, head);
  APPEND_LIT(b, ",\"providedNum\":");
  duro_buf_append_i64(b, provided);
  fail_tail(b, id);
}

void duro_sync_build_backend_mismatch(duro_buf_t *b, sync_span_t id,
                                      const char *expected,
                                      sync_span_t received) {
  fail_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"BackendIdMismatchError\",\"expected\":");
  duro_sync_json_append_string(b, expected,
                               strlen(expected)); /* C string: a backendId */
  APPEND_LIT(b, ",\"received\":\"");
  append_span(b, received);
  APPEND_LIT(b, "\"");
  fail_tail(b, id);
}

void duro_sync_build_unknown_error(duro_buf_t *b, sync_span_t id,
                                   const char *note) {
  fail_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"UnknownError\",\"cause\":");
  size_t n = strlen(note); /* C string: per proto.h */
  duro_sync_json_append_string(b, note, n);
  APPEND_LIT(b, ",\"note\":");
  duro_sync_json_append_string(b, note, n);
  fail_tail(b, id);
}

void duro_sync_build_die(duro_buf_t *b, sync_span_t id, const char *text) {
  failure_head(b, id);
  APPEND_LIT(b, "{\"_tag\":\"Die\",\"defect\":");
  duro_sync_json_append_string(b, text,
                               strlen(text)); /* C string: per proto.h */
  failure_tail(b, id);
}

/* 0.4.0 names no fiber ({"_tag":"None"}); the next protocol's fiber id
 * is a number or absent, and absent says the same. */
void duro_sync_build_interrupted(duro_buf_t *b, sync_span_t id) {
  failure_head(b, id);
  if (duro_sync_id_is_number(id))
    APPEND_LIT(b, "{\"_tag\":\"Interrupt\"");
  else
    APPEND_LIT(b, "{\"_tag\":\"Interrupt\",\"fiberId\":{\"_tag\":\"None\"}");
  failure_tail(b, id);
}

void duro_sync_build_defect(duro_buf_t *b, const char *text) {
  APPEND_LIT(b, "{\"_tag\":\"Defect\",\"defect\":");
  duro_sync_json_append_string(b, text,
                               strlen(text)); /* C string: per proto.h */
  APPEND_LIT(b, "}");
}

const char duro_sync_pong[] = "{\"_tag\":\"Pong\"}";
const size_t duro_sync_pong_len = sizeof(duro_sync_pong) - 1;
const char duro_sync_chunk_tail[] = "]}";
const char duro_sync_response_head[] = "{\"batch\":[";

void duro_sync_build_chunk_head(duro_buf_t *b, sync_span_t id) {
  APPEND_LIT(b, "{\"_tag\":\"Chunk\",\"requestId\":");
  append_span(b, id);
  APPEND_LIT(b, ",\"values\":[");
}

void duro_sync_build_item(duro_buf_t *b, const char *name, size_t name_len,
                          const char *args, size_t args_len, int64_t seq,
                          int64_t parent, const char *client_id,
                          size_t client_id_len, const char *session_id,
                          size_t session_id_len, const char *created_at,
                          size_t created_at_len) {
  /* One reserve for the whole item keeps this loop cheap. */
  duro_buf_reserve(b, 256 + name_len + args_len + client_id_len +
                          session_id_len + created_at_len);
  APPEND_LIT(b, "{\"eventEncoded\":{\"name\":\"");
  duro_buf_append(b, name, name_len);
  APPEND_LIT(b, "\",\"args\":");
  if (args)
    duro_buf_append(b, args, args_len);
  else
    APPEND_LIT(b, "null");
  APPEND_LIT(b, ",\"seqNum\":");
  duro_buf_append_i64(b, seq);
  APPEND_LIT(b, ",\"parentSeqNum\":");
  duro_buf_append_i64(b, parent);
  APPEND_LIT(b, ",\"clientId\":\"");
  duro_buf_append(b, client_id, client_id_len);
  APPEND_LIT(b, "\",\"sessionId\":\"");
  duro_buf_append(b, session_id, session_id_len);
  APPEND_LIT(b, "\"},\"metadata\":{\"_tag\":\"Some\",\"value\":{\"_tag\":"
                "\"SyncMessage.SyncMetadata\",\"createdAt\":\"");
  duro_buf_append(b, created_at, created_at_len);
  APPEND_LIT(b, "\"}}}");
}

void duro_sync_build_response_tail(duro_buf_t *b, int64_t remaining,
                                   const char *backend_id) {
  if (remaining < 0) {
    APPEND_LIT(b, "],\"pageInfo\":{\"_tag\":\"NoMore\"},\"backendId\":");
  } else {
    APPEND_LIT(b, "],\"pageInfo\":{\"_tag\":\"MoreKnown\",\"remaining\":");
    duro_buf_append_i64(b, remaining);
    APPEND_LIT(b, "},\"backendId\":");
  }
  duro_sync_json_append_string(b, backend_id,
                               strlen(backend_id)); /* C string: a backendId */
  APPEND_LIT(b, "}");
}

void duro_sync_format_time(int64_t ms, char out[25]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[64];
  /* Always at least 24 bytes (the field widths); more only before 1970. */
  if (duro_fmt(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
               (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
               tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
               tm.tm_sec % 100, (int)(ms % 1000)) < 24) {
    memcpy(out, "1970-01-01T00:00:00.000Z", 25);
    return;
  }
  memcpy(out, tmp, 24);
  out[24] = '\0';
}
