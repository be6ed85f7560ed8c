/*
 * coordinator.c: MessageCoordinator, the seed's broadcaster. Keeps every
 * accepted socket; a POSTed JSON body is re-serialised and sent as one
 * text frame to all of them; a message from any socket goes to all,
 * sender included. Broadcasts are framed once by duro_broadcast.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "classes/classes.h"

static int coordinator_fetch(duro_object_t *o, void *state,
                             duro_request_t *req) {
  if (duro_request_is_upgrade(req)) {
    duro_accept_websocket(req, NULL, 0, NULL, 0);
    return 0;
  }
  if (strcmp(duro_request_method(req), "POST") == 0) {
    size_t len;
    const char *body = duro_request_body(req, &len);
    cJSON *json = cJSON_ParseWithLength(body, len);
    if (!json) {
      static const char msg[] = "Invalid JSON body: expected a JSON value";
      return duro_respond(req, 400, NULL, msg, sizeof(msg) - 1);
    }
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
      return duro_respond(req, 500, NULL, "Out of memory", 13);
    duro_broadcast(o, NULL, NULL, 1, text,
                   strlen(text)); /* C string: cJSON's output */
    cJSON_free(text);
    return duro_respond(req, 200, NULL, "Message sent", 12);
  }
  return duro_respond(req, 200, NULL, "MessageCoordinator active", 25);
}

static int coordinator_message(duro_object_t *o, void *state,
                               duro_socket_t *s, int is_text,
                               const void *data, size_t len) {
  duro_broadcast(o, NULL, NULL, is_text, data, len);
  return 0;
}

const duro_class_t duro_class_coordinator = {
    DURO_CLASS_INIT,
    .name = "MessageCoordinator",
    .fetch = coordinator_fetch,
    .ws_message = coordinator_message,
};
