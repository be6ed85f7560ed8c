/*
 * countdown.c: CountdownTimer. POST /start stores countdown = 10 and
 * active = true, broadcasts the count through MessageCoordinator("global")
 * and sets an alarm a second later; each alarm counts one down, broadcasts
 * it and sets the next, until 0. Storage and the alarm survive a restart,
 * so a countdown interrupted by a crash resumes where it stood.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classes/classes.h"

#define START_COUNT 10
#define TICK_MS 1000

static const char K_COUNTDOWN[] = "countdown";
static const char K_ACTIVE[] = "active";

static int broadcast_count(duro_object_t *o, long count) {
  char body[96];
  int n = snprintf(body, sizeof(body), "{\"count\":%ld,\"timestamp\":%" PRId64 "}",
                   count, duro_now_ms());
  duro_header_t ct = {"Content-Type", 12, "application/json", 16};
  return duro_stub_fetch(o, "MESSAGE_COORDINATOR", "global", "POST",
                         "/broadcast", &ct, 1, body, (size_t)n, NULL, NULL);
}

static int put_count(duro_object_t *o, long count) {
  char v[32];
  int n = snprintf(v, sizeof(v), "%ld", count);
  return duro_storage_put(o, K_COUNTDOWN, sizeof(K_COUNTDOWN) - 1, v,
                          (size_t)n);
}

static int json_reply(duro_request_t *req, const char *msg) {
  char body[128];
  int n = snprintf(body, sizeof(body),
                   "{\"success\":true,\"message\":\"%s\"}", msg);
  return duro_respond(req, 200, "application/json", body, (size_t)n);
}

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
    return json_reply(req, "Countdown started");
  }
  if (post && plen == 5 && memcmp(path, "/stop", 5) == 0) {
    duro_storage_delete(o, K_ACTIVE, sizeof(K_ACTIVE) - 1);
    duro_alarm_delete(o, NULL);
    return json_reply(req, "Countdown stopped");
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
  char num[32];
  if (vlen == 0 || vlen >= sizeof(num))
    return 0;
  memcpy(num, v, vlen);
  num[vlen] = '\0';
  long next = strtol(num, NULL, 10) - 1;
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
