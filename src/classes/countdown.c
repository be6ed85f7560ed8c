/*
 * countdown.c: CountdownTimer. POST /start stores countdown = 10 and
 * active = true, broadcasts the count through MessageCoordinator("global")
 * and sets an alarm a second later; each alarm counts one down, broadcasts
 * it and sets the next, until 0. Storage and the alarm survive a restart,
 * so a countdown interrupted by a crash resumes where it stood.
 */
#include <stdint.h>
#include <string.h>

#include "classes/classes.h"

#define START_COUNT 10
#define TICK_MS 1000

static const char K_COUNTDOWN[] = "countdown";
static const char K_ACTIVE[] = "active";

/* The class keeps to include/duro.h, so it writes its few numbers and
 * JSON texts itself rather than through duro's internal formatters. */

/* Appends the bytes of a literal at *p. */
#define PUT_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

/* Writes v in decimal at p (room for 20 bytes); returns the end. */
static char *put_i64(char *p, int64_t v) {
  char digits[20];
  size_t n = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    digits[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *p++ = '-';
  while (n)
    *p++ = digits[--n];
  return p;
}

/* Parses the stored count: 1 to 18 digits, nothing else. */
static int parse_count(const char *s, size_t len, long *out) {
  long v = 0;
  if (len == 0 || len > 18)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int broadcast_count(duro_object_t *o, long count) {
  char body[96], *p = body; /* 9 + 20 + 13 + 20 + 1 bytes at most */
  PUT_LIT(p, "{\"count\":");
  p = put_i64(p, count);
  PUT_LIT(p, ",\"timestamp\":");
  p = put_i64(p, duro_now_ms());
  PUT_LIT(p, "}");
  duro_header_t ct = {"Content-Type", 12, "application/json", 16};
  return duro_stub_fetch(o, "MESSAGE_COORDINATOR", "global", "POST",
                         "/broadcast", &ct, 1, body, (size_t)(p - body), NULL,
                         NULL);
}

static int put_count(duro_object_t *o, long count) {
  char v[24];
  size_t n = (size_t)(put_i64(v, count) - v);
  return duro_storage_put(o, K_COUNTDOWN, sizeof(K_COUNTDOWN) - 1, v, n);
}

/* Answers {"success":true,"message":"<msg>"} for a message literal. */
#define JSON_REPLY(req, msg)                                                   \
  duro_respond((req), 200, "application/json",                                 \
               "{\"success\":true,\"message\":\"" msg "\"}",                   \
               sizeof("{\"success\":true,\"message\":\"" msg "\"}") - 1)

static int countdown_fetch(duro_object_t *o, void *state,
                           duro_request_t *req) {
  size_t plen;
  const char *path = duro_request_path(req, &plen);
  int post = strcmp(duro_request_method(req), "POST") == 0;
  if (post && plen == 6 && memcmp(path, "/start", 6) == 0) {
    int rc = put_count(o, START_COUNT);
    if (rc == 0)
      rc = duro_storage_put(o, K_ACTIVE, sizeof(K_ACTIVE) - 1, "true", 4);
    if (rc == 0)
      rc = broadcast_count(o, START_COUNT);
    if (rc == 0)
      rc = duro_alarm_set(o, NULL, duro_now_ms() + TICK_MS);
    if (rc < 0)
      return rc;
    return JSON_REPLY(req, "Countdown started");
  }
  if (post && plen == 5 && memcmp(path, "/stop", 5) == 0) {
    duro_storage_delete(o, K_ACTIVE, sizeof(K_ACTIVE) - 1);
    duro_alarm_delete(o, NULL);
    return JSON_REPLY(req, "Countdown stopped");
  }
  return duro_respond(req, 200, NULL, "CountdownTimer active", 21);
}

static int countdown_alarm(duro_object_t *o, void *state, const char *name) {
  const void *v;
  size_t vlen;
  if (duro_storage_get(o, K_ACTIVE, sizeof(K_ACTIVE) - 1, &v, &vlen) < 0)
    return 0;
  if (duro_storage_get(o, K_COUNTDOWN, sizeof(K_COUNTDOWN) - 1, &v, &vlen) <
      0)
    return 0;
  long count;
  if (parse_count(v, vlen, &count) < 0) {
    /* Not what put_count writes: leave the countdown where it stands. */
    duro_log(o, DURO_LOG_LEVEL_WARN, "the stored countdown is not a count");
    return 0;
  }
  long next = count - 1;
  int rc = 0;
  if (next >= 0) {
    rc = broadcast_count(o, next);
    if (rc == 0)
      rc = put_count(o, next);
  }
  if (rc == 0) {
    if (next > 0)
      rc = duro_alarm_set(o, NULL, duro_now_ms() + TICK_MS);
    else
      duro_storage_delete(o, K_ACTIVE, sizeof(K_ACTIVE) - 1);
  }
  return rc;
}

const duro_class_t duro_class_countdown = {
    DURO_CLASS_INIT,
    .name = "CountdownTimer",
    .fetch = countdown_fetch,
    .alarm = countdown_alarm,
};
