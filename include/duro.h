/*
 * duro.h: the API for writing Durable Object classes in C.
 *
 * A class is a table of handlers (duro_class_t). The runtime creates at most
 * one live instance per object id, hands every instance a zeroed block of
 * state_size bytes, and calls the handlers one event at a time on the loop
 * thread: an HTTP request (fetch), a WebSocket message or close, an alarm,
 * or the completion of a stub call to another object. Handlers must not
 * block: there is no blocking I/O in this API.
 *
 * Storage is the object's own ordered key-value map. Reads are served from
 * memory (the map is loaded before the first event of an instance). Writes
 * of one event are committed as one SQLite transaction when the handler
 * returns. The output gate: everything an event sends (responses, WebSocket
 * messages, stub calls) is held until the writes made before it are
 * durable, so no client ever sees state that could be lost in a crash.
 * A handler that returns a negative code has its event's output discarded
 * and its writes dropped; the request is answered 500.
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * DURO_E* code (duro's errno-style codes, e.g. -EINVAL) on failure. Strings
 * passed in are borrowed for the duration of the call unless stated.
 * Pointers handed to a handler are valid until the handler returns unless
 * stated. No function here calls back into the class synchronously.
 */
#ifndef DURO_H
#define DURO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DURO_ABI_VERSION 1

typedef struct duro_object duro_object_t;
typedef struct duro_request duro_request_t;
typedef struct duro_socket duro_socket_t;
typedef struct duro_response duro_response_t;

typedef struct duro_class {
  uint32_t abi_version; /* DURO_ABI_VERSION */
  const char *name;     /* class_name used in bindings */
  size_t state_size;    /* bytes of zeroed per-instance state */
  /* The instance was created and its storage loaded. Optional. */
  int (*init)(duro_object_t *o, void *state);
  /* An HTTP request. Answer it with duro_respond*() or
   * duro_accept_websocket(), now, or later after duro_request_defer().
   * Returning without either answers 500. */
  int (*fetch)(duro_object_t *o, void *state, duro_request_t *req);
  /* A message on a socket accepted by this object. */
  int (*ws_message)(duro_object_t *o, void *state, duro_socket_t *s,
                    int is_text, const void *data, size_t len);
  /* A socket is gone (code 1006 when it vanished without a close). The
   * socket pointer is invalid after this returns. */
  void (*ws_close)(duro_object_t *o, void *state, duro_socket_t *s,
                   int code, const char *reason, size_t reason_len);
  /* An alarm named name ("" for the default alarm) is due. Returning a
   * negative code retries it later with backoff, a bounded number of
   * times. The alarm is deleted before the call; set it again to repeat. */
  int (*alarm)(duro_object_t *o, void *state, const char *name);
  /* The instance is about to be freed (evicted when idle, or shutdown). */
  void (*teardown)(duro_object_t *o, void *state);
} duro_class_t;

/* ---- the object ------------------------------------------------------------ */

/* The object's id: 64 lowercase hex digits, NUL-terminated. */
const char *duro_object_id(const duro_object_t *o);
/* The name the object was addressed by ("global"), or NULL. */
const char *duro_object_name(const duro_object_t *o);
/* The binding (namespace) name, e.g. "COUNTDOWN_TIMER". */
const char *duro_object_namespace(const duro_object_t *o);
/* A variable from the configuration (vars, .dev.vars, environment), or
 * NULL. The string lives as long as the process. */
const char *duro_env(const duro_object_t *o, const char *key);
/* Milliseconds since the Unix epoch. */
int64_t duro_now_ms(void);

enum { DURO_LOG_LEVEL_ERROR = 0, DURO_LOG_LEVEL_WARN, DURO_LOG_LEVEL_INFO,
       DURO_LOG_LEVEL_DEBUG };
void duro_log(const duro_object_t *o, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- requests ---------------------------------------------------------------- */

/* A header as {ptr, len} pairs; not NUL-terminated. */
typedef struct duro_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} duro_header_t;

const char *duro_request_method(const duro_request_t *r);
/* The path as the object sees it (for /_objects/B/name/start: "/start"). */
const char *duro_request_path(const duro_request_t *r, size_t *len);
/* The query string without '?', "" when none. */
const char *duro_request_query(const duro_request_t *r, size_t *len);
/* A header's value (case-insensitive name), NULL when absent. */
const char *duro_request_header(const duro_request_t *r, const char *name,
                                size_t *len);
const void *duro_request_body(const duro_request_t *r, size_t *len);
/* 1 when the request asks for a WebSocket upgrade. */
int duro_request_is_upgrade(const duro_request_t *r);

/* Keeps the request open after the fetch handler returns; answer it later
 * (e.g. from a stub completion). */
void duro_request_defer(duro_request_t *r);

/* Answers the request and frees it (r is invalid afterwards). The body is
 * copied. content_type may be NULL (text/plain). Returns DURO_EINVAL when
 * already answered. */
int duro_respond(duro_request_t *r, int status, const char *content_type,
                 const void *body, size_t len);
/* The same with full headers (a value with CR or LF makes it a 500). */
int duro_respond_headers(duro_request_t *r, int status,
                         const duro_header_t *headers, size_t nheaders,
                         const void *body, size_t len);

/* ---- WebSockets ---------------------------------------------------------------- */

/* Accepts the upgrade in r into this object (answering 101, or the error
 * status when the upgrade headers are bad) and frees r. Tags (at most 10,
 * each at most 256 bytes) label the socket for duro_socket_next(); the
 * attachment (at most 2048 bytes) is copied. Returns the socket, or NULL
 * when the upgrade was refused (already answered). */
duro_socket_t *duro_accept_websocket(duro_request_t *r,
                                     const char *const *tags, size_t ntags,
                                     const void *attachment, size_t len);
/* Iterates this object's open sockets, all of them (tag NULL) or those
 * carrying tag. Start with prev NULL. */
duro_socket_t *duro_socket_next(duro_object_t *o, duro_socket_t *prev,
                                const char *tag);
size_t duro_socket_count(const duro_object_t *o);
/* Sends one message. DURO_ECLOSED when the socket is closing. */
int duro_socket_send(duro_socket_t *s, int is_text, const void *data,
                     size_t len);
/* Starts the close handshake. */
int duro_socket_close(duro_socket_t *s, int code, const char *reason);
/* Sends one message to every open socket of the object (with tag, or all
 * when NULL), except `except` (may be NULL). The frame is built once and
 * shared. A socket that cannot take it is closed with 1011 "gone".
 * Returns the number of sockets it was queued for. */
int duro_broadcast(duro_object_t *o, const char *tag,
                   const duro_socket_t *except, int is_text,
                   const void *data, size_t len);
const void *duro_socket_attachment(const duro_socket_t *s, size_t *len);
int duro_socket_set_attachment(duro_socket_t *s, const void *data,
                               size_t len);
int duro_socket_has_tag(const duro_socket_t *s, const char *tag);

/* ---- storage ----------------------------------------------------------------------- */

/* Looks a key up. *value points into the object's map, valid until the
 * next write to this object's storage. Returns 0, or DURO_ENOENT. */
int duro_storage_get(duro_object_t *o, const void *key, size_t klen,
                     const void **value, size_t *vlen);
/* Stores a copy of key and value (keys up to 2 KiB, values up to 128 KiB). */
int duro_storage_put(duro_object_t *o, const void *key, size_t klen,
                     const void *value, size_t vlen);
/* Returns 1 when the key existed, 0 when not. */
int duro_storage_delete(duro_object_t *o, const void *key, size_t klen);
/* Deletes every key and every alarm of the object. */
int duro_storage_delete_all(duro_object_t *o);

typedef struct duro_list_opts {
  const void *prefix; size_t prefix_len; /* only keys starting with it */
  const void *start; size_t start_len;   /* first key >= start */
  const void *end; size_t end_len;       /* keys < end */
  size_t limit;                          /* 0 = no limit */
  int reverse;                           /* descending order */
} duro_list_opts_t;
/* Calls cb for each matching key in order until cb returns non-zero or
 * the limit is reached. opts may be NULL. Writing to storage inside cb
 * is not allowed. Returns the number of entries visited. */
int duro_storage_list(duro_object_t *o, const duro_list_opts_t *opts,
                      int (*cb)(const void *key, size_t klen,
                                const void *value, size_t vlen, void *ud),
                      void *ud);

/* ---- alarms ------------------------------------------------------------------------ */

/* Sets (or moves) the alarm named name (NULL or "" = the default alarm) to
 * fire at due_ms (ms since the epoch; the past means now). At most 16
 * alarms per object. Stored with the event's writes. */
int duro_alarm_set(duro_object_t *o, const char *name, int64_t due_ms);
/* Returns 0 and the due time, or DURO_ENOENT. */
int duro_alarm_get(duro_object_t *o, const char *name, int64_t *due_ms);
/* Returns 1 when an alarm was deleted, 0 when none was set. */
int duro_alarm_delete(duro_object_t *o, const char *name);

/* ---- calling other objects ---------------------------------------------------------- */

/* The id of the object named name in namespace binding, into out[65].
 * DURO_ENOENT when no such binding. */
int duro_id_from_name(const duro_object_t *o, const char *binding,
                      const char *name, char out[65]);

/* Status, headers and body of a stub call's response, valid during the
 * completion callback. status is 0 when the call failed (err set). */
struct duro_response {
  int status;
  int err;
  const duro_header_t *headers;
  size_t nheaders;
  const void *body;
  size_t body_len;
};

typedef void (*duro_fetch_cb)(duro_object_t *o, void *state,
                              const duro_response_t *res, void *ud);

/* Sends a request to the object named name in namespace binding. cb (may
 * be NULL) runs later as an event of the calling object. The request is
 * held by the output gate like any other output. Returns 0 or DURO_ENOENT
 * (no such binding); on error cb is never called. */
int duro_stub_fetch(duro_object_t *o, const char *binding, const char *name,
                    const char *method, const char *path,
                    const duro_header_t *headers, size_t nheaders,
                    const void *body, size_t len, duro_fetch_cb cb,
                    void *ud);

/* The same, addressing the object by its id (64 hex digits, as from
 * duro_id_from_name) instead of its name. DURO_EINVAL for a malformed id. */
int duro_stub_fetch_id(duro_object_t *o, const char *binding, const char *id,
                       const char *method, const char *path,
                       const duro_header_t *headers, size_t nheaders,
                       const void *body, size_t len, duro_fetch_cb cb,
                       void *ud);

/* The class the object is an instance of. */
const duro_class_t *duro_object_class(const duro_object_t *o);

/* ---- LiveStore sync backends ------------------------------------------------------ */

/*
 * duro serves the LiveStore 0.4 sync protocol (docs/livestore.md) with a
 * built-in class, "SyncBackend", bound as LIVESTORE_SYNC: one object per
 * storeId. To validate or observe what clients push and pull, make your own
 * sync class with hooks and bind it in place of the built-in one (class
 * names are what bindings refer to):
 *
 *   static int check(duro_object_t *o, const duro_sync_info_t *in,
 *                    char *err, size_t errlen) { ... return 0; }
 *   static duro_sync_class_t my_sync;
 *   duro_sync_class_init(&my_sync, "MySync",
 *                        &(duro_sync_hooks_t){.on_push = check});
 *   ... register &my_sync.cls like any class ...
 *
 * Hooks run on the loop thread as part of the object's event, one at a
 * time per store; they must not block. Every pointer in the info is valid
 * only during the call.
 */
typedef struct duro_sync_info {
  const char *store_id;      /* the store (not NUL-terminated) */
  size_t store_id_len;
  const char *payload;       /* the request's auth payload as JSON text, */
  size_t payload_len;        /*   NULL when the request carried none */
  const char *request_id;    /* the RPC request id */
  size_t request_id_len;
  /* on_push / on_push_res: the batch as a JSON array of events;
   * on_pull_res: the PullResponse JSON; on_pull: NULL. */
  const char *json;
  size_t json_len;
  size_t nevents;            /* events in json */
  int64_t cursor;            /* on_pull: the cursor, -1 for None */
  int live;                  /* on_pull: a live (streaming) pull */
  int64_t head;              /* on_push_res: the store's head after it */
} duro_sync_info_t;

typedef struct duro_sync_hooks {
  /* Before a non-empty push is checked and stored. Return 0 to let it
   * through; a negative code refuses it: the client gets UnknownError with
   * the text written to err (and retries the push with backoff). */
  int (*on_push)(duro_object_t *o, const duro_sync_info_t *info, char *err,
                 size_t errlen);
  /* Before a pull is served (each HTTP poll too). A negative code answers
   * UnknownError and ends the pull. */
  int (*on_pull)(duro_object_t *o, const duro_sync_info_t *info, char *err,
                 size_t errlen);
  /* After a push was stored durably. A negative code turns the push's
   * answer into UnknownError; the events stay stored (the client finds
   * them on its pull and drops its copies). */
  int (*on_push_res)(duro_object_t *o, const duro_sync_info_t *info,
                     char *err, size_t errlen);
  /* After each PullResponse is produced, backlog and live. A negative code
   * ends that pull with UnknownError (the response is not sent). */
  int (*on_pull_res)(duro_object_t *o, const duro_sync_info_t *info,
                     char *err, size_t errlen);
  void *ud;                  /* for the hooks' own use */
} duro_sync_hooks_t;

/* A sync backend class: the class table followed by its hooks. */
typedef struct duro_sync_class {
  duro_class_t cls;          /* first: register &x.cls */
  duro_sync_hooks_t hooks;
} duro_sync_class_t;

/* Fills *c with a LiveStore sync backend class called name (borrowed; it
 * must outlive the class) with a copy of hooks (NULL for none). */
void duro_sync_class_init(duro_sync_class_t *c, const char *name,
                          const duro_sync_hooks_t *hooks);
/* The hooks' ud of the sync class that o belongs to (NULL otherwise). */
void *duro_sync_hooks_ud(const duro_object_t *o);

#ifdef __cplusplus
}
#endif

#endif
