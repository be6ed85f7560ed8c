/*
 * room.c: Room, the pattern of seed 003: one object per room id keeps
 * many sockets, announces each new connection to everyone in the room,
 * relays each message to the others, and forgets sockets that go away.
 */
#include <stdio.h>
#include <string.h>

#include "classes/classes.h"

static int room_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  if (!duro_request_is_upgrade(req)) {
    static const char msg[] = "Expected Upgrade: websocket";
    return duro_respond(req, 426, NULL, msg, sizeof(msg) - 1);
  }
  if (!duro_accept_websocket(req, NULL, 0, NULL, 0))
    return 0;
  static const char hello[] = "new connection!";
  duro_broadcast(o, NULL, NULL, 1, hello, sizeof(hello) - 1);
  return 0;
}

static int room_message(duro_object_t *o, void *state, duro_socket_t *s,
                        int is_text, const void *data, size_t len) {
  duro_broadcast(o, NULL, s, is_text, data, len);
  return 0;
}

const duro_class_t duro_class_room = {
    DURO_CLASS_INIT,
    .name = "Room",
    .fetch = room_fetch,
    .ws_message = room_message,
};
