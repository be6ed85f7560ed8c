/*
 * test_do.c: TestDurableObject, the seed's hello-world object. Every
 * request gets the same JSON greeting, which the frontend renders as the
 * page's heading.
 */
#include "classes/classes.h"

static int test_do_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  static const char body[] = "{\"message\":\"Hello from a Durable Object\"}";
  return duro_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

const duro_class_t duro_class_test_do = {
    DURO_CLASS_INIT,
    .name = "TestDurableObject",
    .fetch = test_do_fetch,
};
