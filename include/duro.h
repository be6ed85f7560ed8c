/*
 * duro.h: the API for writing Durable Object classes in C.
 *
 * This header is the whole API an object class needs, and it is stable:
 * a class compiled against it as a shared object is loaded by duro at
 * start-up (the "classes" array of duro.jsonc) without rebuilding duro.
 * docs/objects.md is the tutorial and the reference; a test checks that
 * the reference lists exactly the functions declared here.
 *
 * The model. A class is a table of handlers (duro_class_t). The runtime
 * creates at most one live instance per object id, hands every instance a
 * zeroed block of state_size bytes, and calls the handlers one event at a
 * time on the loop thread: an HTTP request (fetch), a WebSocket message,
 * error or close, an alarm, or the completion of a stub call to another
 * object. Handlers must not block: there is no blocking I/O in this API,
 * and a handler that sleeps stalls every object of the process.
 *
 * Storage is the object's own ordered key-value map. Reads are served from
 * memory (the map is loaded before the first event of an instance). The
 * writes of one event form its implicit transaction: they are committed as
 * one SQLite transaction when the handler returns, or dropped together
 * when it fails. The output gate: everything an event sends (responses,
 * WebSocket messages, closes, stub calls) is held until the writes made
 * before it are durable, so no client ever sees state that could be lost
 * in a crash.
 *
 * The failure boundary. A handler that returns a negative code has failed:
 * its event's writes and held output are discarded; an HTTP request it was
 * handling is answered 500, a WebSocket whose message (or upgrade) it was
 * handling is closed with 1011; a failed alarm is retried with backoff.
 * The instance is then reset: teardown runs, the state block is zeroed,
 * the storage map is reloaded from disk and init runs again before the
 * next event. Sockets survive a reset (as hibernated WebSockets survive an
 * eviction on Cloudflare). C cannot contain a crash: a handler that
 * corrupts memory or calls abort() takes the process with it.
 *
 * Conventions. Functions return 0 (or a count) on success and a negative
 * DURO_E* code (below) on failure. Strings and buffers passed in are
 * borrowed for the duration of the call and copied when kept. Pointers
 * handed to a handler are valid until the handler returns unless stated.
 * A function whose comment lists no errors cannot fail. No function here
 * calls back into the class synchronously: callbacks (stub completions)
 * run later, as events of their own; duro_storage_list's cb is the one
 * callback that runs during the call, as it says.
 *
 * Versions. DURO_ABI_VERSION changes when a change would break a compiled
 * class; duro refuses a library or class built for another ABI, with an
 * error naming the file. Tables carry their own size (struct_size), so
 * handlers added to duro_class_t later, at the end, keep older classes
 * loadable; a class that sets handlers this duro does not know is refused.
 */
#ifndef DURO_H
#define DURO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DURO_ABI_VERSION 1

/* ---- errors ------------------------------------------------------------------ */

/* The error codes: negative errno values. DURO_AGAIN is "not yet", not a
 * failure. Name, value, text. (duro's own core declares the same codes
 * and types, guarded alike; a check keeps the two copies identical.) */
/* shared with src/core/types.h: begin errors */
#ifndef DURO_ERR_CODES_DEFINED
#define DURO_ERR_CODES_DEFINED
#define DURO_ERRNO_MAP(X)                                                     \
  X(AGAIN, -EAGAIN, "resource temporarily unavailable")                       \
  X(EINVAL, -EINVAL, "invalid argument")                                      \
  X(ENOMEM, -ENOMEM, "out of memory")                                         \
  X(ENOENT, -ENOENT, "no such file or directory")                             \
  X(EEXIST, -EEXIST, "already exists")                                        \
  X(EIO, -EIO, "i/o error")                                                   \
  X(EPROTO, -EPROTO, "protocol error")                                        \
  X(E2BIG, -E2BIG, "too large")                                               \
  X(EBUSY, -EBUSY, "busy")                                                    \
  X(ENOSPC, -ENOSPC, "limit reached")                                         \
  X(ECANCELED, -ECANCELED, "operation canceled")                              \
  X(ECLOSED, -EPIPE, "connection closed")                                     \
  X(EACCES, -EACCES, "permission denied")                                     \
  X(ENOTSUP, -ENOTSUP, "not supported")                                       \
  X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                       \
  X(ESTALE, -ESTALE, "no longer the owner")

enum {
#define DURO_ERR_ENUM(name, value, text) DURO_##name = (value),
  DURO_ERRNO_MAP(DURO_ERR_ENUM)
#undef DURO_ERR_ENUM
};
#endif
/* shared with src/core/types.h: end errors */

/* Text for a DURO_E* code (or any negative errno): a static string, never
 * NULL. Never fails, never calls back. */
const char *duro_strerror(int err);
/* The symbolic name of a code, such as "EPROTO": a static string, never
 * NULL ("EUNKNOWN" for others, "OK" for 0 and up). Never calls back. */
const char *duro_err_name(int err);

/* ---- types ------------------------------------------------------------------- */

/* Opaque: owned by the runtime, only ever handled through pointers. */
typedef struct duro_object duro_object_t;
typedef struct duro_request duro_request_t;
typedef struct duro_socket duro_socket_t;
typedef struct duro_response duro_response_t;

/* shared with src/core/types.h: begin header */
#ifndef DURO_HEADER_DEFINED
#define DURO_HEADER_DEFINED
/* A header as {ptr, len} pairs; not NUL-terminated. */
typedef struct duro_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} duro_header_t;
#endif
/* shared with src/core/types.h: end header */

/* ---- the class ----------------------------------------------------------------- */

/*
 * A class: its name, the size of its per-instance state and its handlers.
 * Start every table with DURO_CLASS_INIT; every handler is optional. The
 * table is borrowed by the runtime for as long as the process runs (make
 * it static const). Handlers returning int return 0 (or any non-negative
 * value) on success and a negative code on failure (see "the failure
 * boundary" above). In all of them o and state are the instance.
 */
typedef struct duro_class {
  uint32_t abi_version; /* DURO_ABI_VERSION */
  uint32_t struct_size; /* sizeof(duro_class_t) */
  const char *name;     /* the class_name bindings refer to */
  size_t state_size;    /* bytes of zeroed per-instance state (may be 0) */
  /* Before the first event of an instance, with its storage loaded; again
   * after a reset. A failure fails that first event. */
  int (*init)(duro_object_t *o, void *state);
  /* An HTTP request. Answer it with duro_respond*() or
   * duro_accept_websocket(), now, or later after duro_request_defer().
   * Returning without either answers 500. */
  int (*fetch)(duro_object_t *o, void *state, duro_request_t *req);
  /* A text (is_text 1) or binary message on a socket this object
   * accepted. A failure closes that socket with 1011. */
  int (*ws_message)(duro_object_t *o, void *state, duro_socket_t *s,
                    int is_text, const void *data, size_t len);
  /* A socket is gone: code is the peer's close code (1005 when it sent
   * none), 1006 when it vanished without a close, or the code duro closed
   * it with. The socket is no longer listed and s is invalid after this
   * returns. Runs in the same event right after ws_error, if that ran. */
  int (*ws_close)(duro_object_t *o, void *state, duro_socket_t *s,
                  int code, const char *reason, size_t reason_len);
  /* A socket ended in error: a protocol violation (err DURO_EPROTO, close
   * 1002 or 1007), a message over the size limit (DURO_E2BIG, 1009), or a
   * reader too slow for its send queue (DURO_ENOSPC, 1008); a peer that
   * closes with one of these codes reports the same. message says what
   * happened (NUL-terminated). ws_close follows for the same s. */
  int (*ws_error)(duro_object_t *o, void *state, duro_socket_t *s, int err,
                  const char *message);
  /* The alarm named name ("" for the default alarm) is due. The alarm is
   * deleted before the call; set it again to repeat. A failure retries it
   * later with exponential backoff, a bounded number of times. */
  int (*alarm)(duro_object_t *o, void *state, const char *name);
  /* The instance is about to be freed (evicted when idle, at shutdown) or
   * reset after a failure: release what state points to. state may be
   * zeroed (init never ran or failed). Must not call duro_* functions. */
  void (*teardown)(duro_object_t *o, void *state);
} duro_class_t;

/* The first members of every class table. */
#define DURO_CLASS_INIT                                                       \
  .abi_version = DURO_ABI_VERSION, .struct_size = sizeof(duro_class_t)

/* ---- loadable libraries ------------------------------------------------------- */

/*
 * A library of classes exports one function, duro_module, which returns
 * its module table. DURO_MODULE(&a, &b, ...) defines it:
 *
 *   static const duro_class_t counter = { DURO_CLASS_INIT, .name = ... };
 *   DURO_MODULE(&counter)
 *
 * Build with `cc $(pkg-config --cflags duro) -shared -fPIC`, and do not
 * link against duro: the functions of this header are resolved from the
 * duro executable when it loads the library (RTLD_NOW: a function missing
 * from this duro is an error at start-up, not later). They are all it
 * exports: a library's own functions never collide with duro's internals.
 */
typedef struct duro_module {
  uint32_t abi_version;                /* DURO_ABI_VERSION */
  uint32_t struct_size;                /* sizeof(duro_module_t) */
  const duro_class_t *const *classes;  /* NULL-terminated */
} duro_module_t;

/* The name of the entry point, for dlsym(). */
#define DURO_MODULE_SYMBOL "duro_module"

/* The entry point of a class library (defined by DURO_MODULE, never by
 * duro). Called once at start-up; returns a table that lives as long as
 * the library. */
const duro_module_t *duro_module(void);

#define DURO_MODULE(...)                                                      \
  __attribute__((visibility("default"))) const duro_module_t *duro_module(    \
      void) {                                                                 \
    static const duro_class_t *const duro_module_classes_[] = {__VA_ARGS__,  \
                                                               NULL};         \
    static const duro_module_t duro_module_table_ = {                         \
        DURO_ABI_VERSION, sizeof(duro_module_t), duro_module_classes_};       \
    return &duro_module_table_;                                               \
  }

/* ---- the object ------------------------------------------------------------ */

/* The object's id: 64 lowercase hex digits, NUL-terminated, owned by the
 * object (valid while it lives). Never fails. */
const char *duro_object_id(const duro_object_t *o);
/* The name the object was addressed by ("global"), or NULL when it was
 * addressed by id. Owned by the object. Never fails. */
const char *duro_object_name(const duro_object_t *o);
/* The binding (namespace) name, e.g. "COUNTDOWN_TIMER". Owned by the
 * runtime, valid for the process's life. Never fails. */
const char *duro_object_namespace(const duro_object_t *o);
/* The class table the object is an instance of (the pointer that was
 * registered). Never fails. */
const duro_class_t *duro_object_class(const duro_object_t *o);
/* A variable from the configuration (vars, .dev.vars, environment), or
 * NULL when unset. The string lives as long as the process. Never calls
 * back. */
const char *duro_env(const duro_object_t *o, const char *key);
/* Milliseconds since the Unix epoch (wall clock). Never fails. */
int64_t duro_now_ms(void);

enum { DURO_LOG_LEVEL_ERROR = 0, DURO_LOG_LEVEL_WARN, DURO_LOG_LEVEL_INFO,
       DURO_LOG_LEVEL_DEBUG };
/* Writes one line to duro's log at level, prefixed with the object's
 * binding and name, when the configured log level lets it through. The
 * message is truncated at 1 KiB. Never fails, never calls back. */
void duro_log(const duro_object_t *o, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- requests ---------------------------------------------------------------- */

/* The request's method ("GET"), NUL-terminated, owned by the request.
 * Never fails. */
const char *duro_request_method(const duro_request_t *r);
/* The path as the object sees it (for /_objects/B/name/start: "/start"),
 * without the query; NUL-terminated, owned by the request. *len (when len
 * is not NULL) gets its length. Never fails. */
const char *duro_request_path(const duro_request_t *r, size_t *len);
/* The query string without '?', "" when none; not NUL-terminated, owned by
 * the request. Never fails. */
const char *duro_request_query(const duro_request_t *r, size_t *len);
/* A header's value (the name compared case-insensitively), not
 * NUL-terminated, owned by the request; NULL when absent. */
const char *duro_request_header(const duro_request_t *r, const char *name,
                                size_t *len);
/* Every header, in the order received: *headers points at an array owned
 * by the request. Returns the count. Never fails. */
size_t duro_request_headers(const duro_request_t *r,
                            const duro_header_t **headers);
/* The body (possibly empty, never NULL), owned by the request. Never
 * fails. */
const void *duro_request_body(const duro_request_t *r, size_t *len);
/* 1 when the request asks for a WebSocket upgrade, else 0. */
int duro_request_is_upgrade(const duro_request_t *r);

/* Keeps the request open after the fetch handler returns; answer it later
 * (e.g. from a stub completion) with duro_respond*(). Until then r stays
 * valid. Never fails. */
void duro_request_defer(duro_request_t *r);

/* Answers the request. The body is copied; content_type may be NULL
 * (text/plain;charset=UTF-8). A status outside 100..599, or 101, becomes
 * 500. The response is held by the output gate; r must not be used
 * afterwards (it is freed once the response is sent). Returns 0, or
 * DURO_EINVAL when r was already answered. Never calls back. */
int duro_respond(duro_request_t *r, int status, const char *content_type,
                 const void *body, size_t len);
/* The same with full headers (copied; a value with CR or LF turns the
 * response into a 500). */
int duro_respond_headers(duro_request_t *r, int status,
                         const duro_header_t *headers, size_t nheaders,
                         const void *body, size_t len);

/* ---- WebSockets ---------------------------------------------------------------- */

/* Accepts the upgrade in r into this object (answering 101 at once, or the
 * error status when the upgrade headers are bad); r must not be used
 * afterwards. Tags (at most 10, each at most 256 bytes) label the socket
 * for duro_socket_next() and duro_broadcast(); tags and the attachment (at
 * most 2048 bytes) are copied. Returns the socket, owned by the runtime
 * and valid until the ws_close handler for it returns; NULL when the
 * upgrade was refused (r was answered). Never calls back. */
duro_socket_t *duro_accept_websocket(duro_request_t *r,
                                     const char *const *tags, size_t ntags,
                                     const void *attachment, size_t len);
/* Iterates this object's open sockets, all of them (tag NULL) or those
 * carrying tag. Start with prev NULL; NULL ends. Never fails. */
duro_socket_t *duro_socket_next(duro_object_t *o, duro_socket_t *prev,
                                const char *tag);
/* The number of open sockets of the object. Never fails. */
size_t duro_socket_count(const duro_object_t *o);
/* Sends one message (copied, held by the output gate). Returns 0, or
 * DURO_ECLOSED when the socket is closing or gone. */
int duro_socket_send(duro_socket_t *s, int is_text, const void *data,
                     size_t len);
/* Starts the close handshake with code (1000 or 3000..4999) and reason
 * (copied, at most 123 bytes, may be NULL), held by the output gate.
 * Returns 0, DURO_EINVAL for another code, DURO_ECLOSED when gone. The
 * ws_close handler runs later. */
int duro_socket_close(duro_socket_t *s, int code, const char *reason);
/* Sends one message to every open socket of the object (those with tag,
 * or all when tag is NULL) except `except` (may be NULL). The frame is
 * built once and shared by every recipient's queue; held by the output
 * gate. A socket that cannot take it is closed with 1011 "gone". Returns
 * the number of sockets it is addressed to. Never fails. */
int duro_broadcast(duro_object_t *o, const char *tag,
                   const duro_socket_t *except, int is_text,
                   const void *data, size_t len);
/* The socket's attachment (NULL and 0 when none), owned by the socket:
 * valid until it is set again or the socket is gone. Never fails. */
const void *duro_socket_attachment(const duro_socket_t *s, size_t *len);
/* Replaces the attachment with a copy of data (len 0 clears it). Applied
 * at once, not held by the output gate. Returns 0 or DURO_E2BIG (over
 * 2048 bytes). */
int duro_socket_set_attachment(duro_socket_t *s, const void *data,
                               size_t len);
/* 1 when the socket carries tag, else 0. Never fails. */
int duro_socket_has_tag(const duro_socket_t *s, const char *tag);

/* ---- storage ----------------------------------------------------------------------- */

/* Looks a key up. *value points into the object's map, valid until the
 * next write to this object's storage or the end of the handler. Returns
 * 0, or DURO_ENOENT. Never calls back. */
int duro_storage_get(duro_object_t *o, const void *key, size_t klen,
                     const void **value, size_t *vlen);
/* Stores copies of key and value in the event's transaction (visible to
 * reads at once, durable when the event ends). Returns 0, DURO_E2BIG (a
 * key over 2 KiB or a value over 128 KiB), or DURO_EINVAL outside an
 * event. */
int duro_storage_put(duro_object_t *o, const void *key, size_t klen,
                     const void *value, size_t vlen);
/* Deletes a key in the event's transaction. Returns 1 when the key
 * existed, 0 when not, DURO_EINVAL outside an event. */
int duro_storage_delete(duro_object_t *o, const void *key, size_t klen);
/* Deletes every key and every alarm of the object in the event's
 * transaction. Returns 0, or DURO_EINVAL outside an event. */
int duro_storage_delete_all(duro_object_t *o);

typedef struct duro_list_opts {
  const void *prefix; size_t prefix_len; /* only keys starting with it */
  const void *start; size_t start_len;   /* first key >= start */
  const void *end; size_t end_len;       /* keys < end */
  size_t limit;                          /* 0 = no limit */
  int reverse;                           /* descending order */
} duro_list_opts_t;
/* Calls cb synchronously for each matching key in order (pointers valid
 * during the call) until cb returns non-zero or the limit is reached.
 * opts may be NULL (every key). Writing to storage inside cb is not
 * allowed. Returns the number of entries visited. Never fails. */
int duro_storage_list(duro_object_t *o, const duro_list_opts_t *opts,
                      int (*cb)(const void *key, size_t klen,
                                const void *value, size_t vlen, void *ud),
                      void *ud);

/* ---- alarms ------------------------------------------------------------------------ */

/* Sets (or moves) the alarm named name (NULL or "" = the default alarm;
 * at most 64 bytes) to fire at due_ms (ms since the epoch; the past means
 * now), in the event's transaction. Returns 0, DURO_ENOSPC (16 alarms per
 * object), or DURO_EINVAL (outside an event, or a name too long). */
int duro_alarm_set(duro_object_t *o, const char *name, int64_t due_ms);
/* The due time of an alarm, as this event sees it. Returns 0 with
 * *due_ms, or DURO_ENOENT when it is not set. */
int duro_alarm_get(duro_object_t *o, const char *name, int64_t *due_ms);
/* Deletes an alarm in the event's transaction. Returns 1 when one was
 * set, 0 when not, DURO_EINVAL outside an event. */
int duro_alarm_delete(duro_object_t *o, const char *name);

/* ---- calling other objects ---------------------------------------------------------- */

/* Writes the id of the object named name in namespace binding into
 * out[65]. Returns 0, or DURO_ENOENT when no such binding. */
int duro_id_from_name(const duro_object_t *o, const char *binding,
                      const char *name, char out[65]);

/* Status, headers and body of a stub call's response, owned by the
 * runtime and valid during the completion callback. status is 0 when the
 * call failed (err set, e.g. DURO_ECANCELED when the caller's event
 * failed and its held call was dropped). */
struct duro_response {
  int status;
  int err;
  const duro_header_t *headers;
  size_t nheaders;
  const void *body;
  size_t body_len;
};

/* A stub call's completion: an event of the calling object (its storage
 * writes commit, its failure resets the object, like any handler). */
typedef void (*duro_fetch_cb)(duro_object_t *o, void *state,
                              const duro_response_t *res, void *ud);

/* Sends a request to the object named name in namespace binding. method
 * NULL means GET; path must start with '/' and may carry "?query"; all
 * arguments are copied. The call is held by the output gate like any
 * other output. cb (may be NULL) runs later, exactly once, as an event of
 * the calling object, with ud. Returns 0, DURO_ENOENT (no such binding) or
 * DURO_EINVAL (a NULL name, a bad path); on error cb is never called. */
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
 * must outlive the class) with a copy of hooks (NULL for none). A library
 * lists &c->cls in DURO_MODULE after filling c from a constructor, or
 * fills a static table. Never fails, never calls back. */
void duro_sync_class_init(duro_sync_class_t *c, const char *name,
                          const duro_sync_hooks_t *hooks);
/* The hooks' ud of the sync class that o belongs to (NULL otherwise).
 * Never fails. */
void *duro_sync_hooks_ud(const duro_object_t *o);

#ifdef __cplusplus
}
#endif

#endif
