/*
 * proto.h: the LiveStore 0.4 sync protocol codec (livestore-sync-v0.4.md,
 * sections 4 to 7): parse one client message, build server messages.
 * Bytes in, bytes out; no sockets, no SQLite, no logging. Uses only core
 * and the UTF-8 validator of ws/utf8.h.
 *
 * Parsing does not build a tree. A small validating scanner walks the
 * message once and records spans into the input: strings are kept in their
 * escaped JSON form (the bytes between the quotes), so a value the server
 * only echoes back (request ids, event names, client and session ids) is
 * copied as it came, and `args` is kept as its raw JSON text, so it goes
 * back exactly the same JSON value (pitfall 13: numbers keep their digits,
 * integers beyond 2^53 included). Strings are decoded only where the
 * server needs their value (duro_sync_json_unescape).
 *
 * The scanner is strict RFC 8259: one value, no trailing bytes except
 * whitespace, valid escapes, no raw control characters, valid UTF-8 (binary
 * frames are not checked by the WebSocket layer), nesting at most
 * SYNC_MAX_DEPTH.
 */
#ifndef DURO_SYNC_PROTO_H
#define DURO_SYNC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SYNC_MAX_DEPTH 128
/* Events per Push request and per PullResponse (spec section 11). */
#define SYNC_MAX_BATCH 100
/* Request ids are decimal strings (0.4.0) or integers (the next
 * protocol); an id over this many characters (quotes not counted) is
 * garbage. */
#define SYNC_MAX_ID 64
/* Room for an id as a JSON token: SYNC_MAX_ID plus its quotes. */
#define SYNC_MAX_ID_TOKEN (SYNC_MAX_ID + 2)
/* A PullResponse stays under this many bytes (section 11). */
#define SYNC_MAX_RESPONSE_BYTES 900000
/* Largest integer the JS client can represent exactly (2^53 - 1). */
#define SYNC_MAX_SEQ 9007199254740991LL

/* A run of bytes in the parsed input; p == NULL means absent. */
typedef struct sync_span {
  const char *p;
  size_t n;
} sync_span_t;

enum sync_msg_kind {
  SYNC_MSG_REQUEST = 1,
  SYNC_MSG_ACK,
  SYNC_MSG_INTERRUPT,
  SYNC_MSG_PING,
  SYNC_MSG_EOF,
};

enum sync_rpc {
  SYNC_RPC_PULL = 1,
  SYNC_RPC_PUSH,
  SYNC_RPC_PING, /* HTTP only */
};

/* One event of a Push batch. Strings are escaped JSON content. */
typedef struct sync_event {
  sync_span_t name;
  sync_span_t args;       /* raw JSON text; p NULL when absent */
  sync_span_t client_id;
  sync_span_t session_id;
  int64_t seq;
  int64_t parent;
} sync_event_t;

typedef struct sync_msg {
  int kind;               /* enum sync_msg_kind */
  sync_span_t id;         /* Request id / Ack and Interrupt requestId, as
                             a JSON token: "7" with its quotes (0.4.0) or
                             7 (the next protocol); see duro_sync_id_* */
  /* Request */
  int rpc;                /* enum sync_rpc */
  int http;               /* the tag was SyncHttpRpc.* */
  sync_span_t store_id;   /* escaped content */
  sync_span_t payload;    /* raw JSON; p NULL when absent */
  int live;               /* Pull */
  int has_cursor;         /* Pull: cursor is Some */
  sync_span_t cursor_backend_id;
  int64_t cursor_seq;
  int has_backend_id;     /* Push: backendId is Some */
  sync_span_t backend_id;
  sync_span_t batch;      /* Push: the raw batch array */
  size_t nevents;         /* Push: events in the batch (may exceed cap) */
  sync_event_t *events;   /* caller's array, the first min(nevents, cap) */
  size_t events_cap;
} sync_msg_t;

/*
 * Parses one client message of len bytes. events/events_cap give room for
 * a Push batch (events beyond the cap are validated and counted in
 * m->nevents but not stored). Spans point into data, which must outlive m.
 * Returns 0; DURO_EPROTO when it is not a message at all (bad JSON, an
 * unknown _tag, a bad id, an unknown RPC: the answer is a Defect); or
 * DURO_EINVAL for a Request with a valid id and tag whose payload does
 * not match the schema (the answer is an Exit with a Die cause, for
 * m->id). On error *why gets a static description for that answer.
 */
int duro_sync_parse(const char *data, size_t len, sync_event_t *events,
                    size_t events_cap, sync_msg_t *m, const char **why);

/*
 * LiveStore's next protocol (sync-cf on Effect v4) sends numeric request
 * ids and expects failure causes as arrays of reasons; 0.4.0 sends string
 * ids and expects one cause object. Every builder below takes the id
 * token as the request carried it and answers in that request's shape:
 * the id echoed verbatim, the cause an object or an array.
 */
/* 1 when id (a token from duro_sync_parse) is a number: the next protocol. */
int duro_sync_id_is_number(sync_span_t id);
/* The id's text: a string's escaped content without its quotes, or a
 * number's digits. Points into id. */
sync_span_t duro_sync_id_text(sync_span_t id);

/*
 * Checks that data[0..len) is exactly one JSON value (with surrounding
 * whitespace). Returns 1 or 0.
 */
int duro_sync_json_valid(const char *data, size_t len);

/*
 * Decodes escaped JSON string content (the bytes between the quotes, as
 * the parser recorded them) into out, which needs room for len + 1 bytes
 * (decoding never grows). Lone surrogates become U+FFFD. The result is
 * NUL-terminated; *outlen gets its length. Returns 0, or -1 when the
 * decoded text contains a NUL byte.
 */
int duro_sync_json_unescape(const char *in, size_t len, char *out,
                            size_t *outlen);

/* Appends s as a JSON string (with quotes), escaping what JSON needs. */
void duro_sync_json_append_string(duro_buf_t *b, const char *s, size_t len);
/* The same without the quotes (string content). */
void duro_sync_json_append_escaped(duro_buf_t *b, const char *s, size_t len);

/* ---- building server messages (all into b, appended) ------------------- */

/* The `const char *` texts below (json, expected, note, text, backend_id)
 * are C strings: our own messages, a hook's err text, a backendId. */

/* {"_tag":"Exit","requestId":id,"exit":{"_tag":"Success","value":{}}} when
 * with_value, else the stream form without value. id is a token as
 * duro_sync_parse records it (with its quotes when a string). */
void duro_sync_build_exit_success(duro_buf_t *b, sync_span_t id,
                                  int with_value);
/* Exit whose success value is raw JSON (HTTP Ping: SyncMessage.Pong). */
void duro_sync_build_exit_value(duro_buf_t *b, sync_span_t id,
                                const char *json);
void duro_sync_build_server_ahead(duro_buf_t *b, sync_span_t id, int64_t head,
                                  int64_t provided);
/* received is escaped content as the client sent it. */
void duro_sync_build_backend_mismatch(duro_buf_t *b, sync_span_t id,
                                      const char *expected,
                                      sync_span_t received);
/* UnknownError with cause and note both the text note. */
void duro_sync_build_unknown_error(duro_buf_t *b, sync_span_t id,
                                   const char *note);
void duro_sync_build_die(duro_buf_t *b, sync_span_t id, const char *text);
void duro_sync_build_interrupted(duro_buf_t *b, sync_span_t id);
void duro_sync_build_defect(duro_buf_t *b, const char *text);
/* The constant {"_tag":"Pong"}. */
extern const char duro_sync_pong[];
extern const size_t duro_sync_pong_len;

/* The start of a Chunk up to and including `"values":[`; the PullResponse
 * and then duro_sync_chunk_tail close it. */
void duro_sync_build_chunk_head(duro_buf_t *b, sync_span_t id);
extern const char duro_sync_chunk_tail[]; /* "]}" */

/*
 * One batch item: {"eventEncoded":{...},"metadata":{"_tag":"Some",...}}.
 * name, client_id and session_id are escaped JSON content; args is raw
 * JSON text or NULL (written as null); created_at is plain ASCII.
 */
void duro_sync_build_item(duro_buf_t *b, const char *name, size_t name_len,
                          const char *args, size_t args_len, int64_t seq,
                          int64_t parent, const char *client_id,
                          size_t client_id_len, const char *session_id,
                          size_t session_id_len, const char *created_at,
                          size_t created_at_len);

/* The rest of a PullResponse after its items: remaining < 0 gives
 * pageInfo NoMore, else MoreKnown{remaining}. Writes
 * `],"pageInfo":...,"backendId":"..."}`; start the response with
 * `{"batch":[` (duro_sync_response_head). */
extern const char duro_sync_response_head[];
void duro_sync_build_response_tail(duro_buf_t *b, int64_t remaining,
                                   const char *backend_id);

/* ISO 8601 UTC with milliseconds, "2025-05-08T10:15:30.123Z", into
 * out[25]. */
void duro_sync_format_time(int64_t ms, char out[25]);

#endif
