/*
 * counter.c: Counter, a Durable Object class written in C and loaded by
 * duro from a shared library (docs/objects.md walks through it).
 *
 * One object per counter name keeps a number in storage:
 *   GET  /            {"value":N}
 *   POST /increment   adds ?by=N (default 1), answers {"value":N}
 *   POST /reset       sets 0
 *   WebSocket (any path with Upgrade: websocket): receives {"value":N} now
 *                     and after every change; sending "increment" adds 1.
 * Every change is broadcast to all of the counter's sockets, framed once.
 * An alarm resets the counter to 0 every day at midnight UTC (or every
 * COUNTER_RESET_MS milliseconds when that variable is set, for tests).
 *
 * Build: cc $(pkg-config --cflags duro) -shared -fPIC -o libcounter.so
 * counter.c (the Makefile here does it). The library does not link duro:
 * the duro_* functions come from the duro executable that loads it.
 */
#include <duro.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24 * 60 * 60 * 1000LL)

static const char K_VALUE[] = "value";
static const char RESET_ALARM[] = "daily-reset";

/* The per-instance state: a copy of the stored value, so reads need no
 * parsing. duro zeroes it and init fills it; after a failed event duro
 * rebuilds it the same way, from storage. */
typedef struct counter {
  int64_t value;
} counter_t;

/* When the next reset is due: next midnight UTC, or COUNTER_RESET_MS from
 * now when the variable is set. */
static int64_t next_reset(duro_object_t *o) {
  int64_t now = duro_now_ms();
  const char *every = duro_env(o, "COUNTER_RESET_MS");
  if (every && atoll(every) > 0)
    return now + atoll(every);
  return now - now % DAY_MS + DAY_MS;
}

/* Stores the value (in the event's transaction) and broadcasts it. */
static int set_value(duro_object_t *o, counter_t *c, int64_t value) {
  char text[32];
  int n = snprintf(text, sizeof(text), "%" PRId64, value);
  int rc = duro_storage_put(o, K_VALUE, sizeof(K_VALUE) - 1, text, (size_t)n);
  if (rc < 0)
    return rc;
  c->value = value;
  char msg[48];
  n = snprintf(msg, sizeof(msg), "{\"value\":%" PRId64 "}", value);
  /* Held until the put above is durable; one frame for every socket. */
  duro_broadcast(o, NULL, NULL, 1, msg, (size_t)n);
  return 0;
}

static int reply_value(duro_request_t *req, int64_t value) {
  char body[48];
  int n = snprintf(body, sizeof(body), "{\"value\":%" PRId64 "}", value);
  return duro_respond(req, 200, "application/json", body, (size_t)n);
}

/* Reads ?by=N from the query; 1 when absent. */
static int64_t amount(duro_request_t *req) {
  size_t qlen;
  const char *q = duro_request_query(req, &qlen);
  char buf[64];
  if (qlen >= sizeof(buf))
    return 1;
  memcpy(buf, q, qlen);
  buf[qlen] = '\0';
  const char *by = strstr(buf, "by=");
  return by && (by == buf || by[-1] == '&') ? atoll(by + 3) : 1;
}

static int counter_init(duro_object_t *o, void *state) {
  counter_t *c = state;
  const void *v;
  size_t len;
  char text[32];
  if (duro_storage_get(o, K_VALUE, sizeof(K_VALUE) - 1, &v, &len) == 0 &&
      len < sizeof(text)) {
    memcpy(text, v, len);
    text[len] = '\0';
    c->value = atoll(text);
  }
  /* init runs inside the instance's first event, so it may write too. */
  int64_t due;
  if (duro_alarm_get(o, RESET_ALARM, &due) < 0)
    return duro_alarm_set(o, RESET_ALARM, next_reset(o));
  return 0;
}

static int counter_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  counter_t *c = state;
  if (duro_request_is_upgrade(req)) {
    const char *tags[] = {"watcher"};
    duro_socket_t *s = duro_accept_websocket(req, tags, 1, NULL, 0);
    if (!s)
      return 0; /* refused: duro answered the request */
    char msg[48];
    int n = snprintf(msg, sizeof(msg), "{\"value\":%" PRId64 "}", c->value);
    return duro_socket_send(s, 1, msg, (size_t)n);
  }
  size_t plen;
  const char *path = duro_request_path(req, &plen);
  int post = strcmp(duro_request_method(req), "POST") == 0;
  int rc = 0;
  if (post && plen == 10 && memcmp(path, "/increment", 10) == 0)
    rc = set_value(o, c, c->value + amount(req));
  else if (post && plen == 6 && memcmp(path, "/reset", 6) == 0)
    rc = set_value(o, c, 0);
  else if (plen != 1 || post)
    return duro_respond(req, 404, NULL, "no such route", 13);
  /* A negative code fails the event: duro answers 500 and drops it. */
  return rc < 0 ? rc : reply_value(req, c->value);
}

static int counter_message(duro_object_t *o, void *state, duro_socket_t *s,
                           int is_text, const void *data, size_t len) {
  counter_t *c = state;
  if (is_text && len == 9 && memcmp(data, "increment", 9) == 0)
    return set_value(o, c, c->value + 1);
  static const char err[] = "{\"error\":\"send increment\"}";
  return duro_socket_send(s, 1, err, sizeof(err) - 1);
}

static int counter_close(duro_object_t *o, void *state, duro_socket_t *s,
                         int code, const char *reason, size_t reason_len) {
  duro_log(o, DURO_LOG_LEVEL_DEBUG, "a watcher left (%d); %zu remain", code,
           duro_socket_count(o));
  return 0;
}

static int counter_alarm(duro_object_t *o, void *state, const char *name) {
  if (strcmp(name, RESET_ALARM) != 0)
    return 0;
  int rc = set_value(o, state, 0);
  if (rc == 0) /* an alarm is consumed by firing: set the next one */
    rc = duro_alarm_set(o, RESET_ALARM, next_reset(o));
  duro_log(o, DURO_LOG_LEVEL_INFO, "counter reset");
  return rc;
}

static const duro_class_t counter_class = {
    DURO_CLASS_INIT,
    .name = "Counter",
    .state_size = sizeof(counter_t),
    .init = counter_init,
    .fetch = counter_fetch,
    .ws_message = counter_message,
    .ws_close = counter_close,
    .alarm = counter_alarm,
};

DURO_MODULE(&counter_class)
