/*
 * api.h: the admin listener's JSON API (admin/admin.h serves it):
 *   GET /api/namespaces
 *       {"namespaces": [{"binding", "class", "active", "sockets"}]}
 *   GET /api/namespaces/<BINDING>/objects?limit=N&cursor=C
 *       {"objects": [{"id", "name", "active", "sockets", "keys", "bytes",
 *        "next_alarm_ms"}], "cursor": C' or null}
 *       The namespace's objects in id order, those in storage and those
 *       only in memory alike; limit 1..1000 (default 100); cursor is the
 *       last id of the previous page (64 hex digits).
 *   GET /api/namespaces/<BINDING>/objects/<X>
 *       one object (X: its id, or its name percent-encoded): id, name,
 *       active, sockets, keys, bytes, alarms [{"name", "due_ms"}],
 *       socket_list [{"index", "tags", "attachment_bytes",
 *       "queued_bytes", "age_s"}]
 *   GET /api/namespaces/<BINDING>/objects/<X>/storage?limit=N&cursor=C
 *       {"entries": [{"key" | "key_hex", "value" | "value_hex",
 *        "value_bytes"}], "cursor": hex of the last key, or null}
 *       values that parse as JSON are shown as their text, others in hex.
 *   POST .../objects/<X>/evict            an idle instance out of memory
 *   POST .../objects/<X>/sockets/<i>/close?code=C&reason=R
 *   POST .../objects/<X>/alarms/delete?name=N   (an event of the object:
 *       {"deleted": true|false} once the deletion is durable)
 *       each action logged with the caller's address and what it did.
 * admin/route.h reads the requests. Bad input gets a 4xx with a reason:
 * 404 for an unknown namespace or route, 400 for a bad limit, cursor,
 * object, code or name, 405 for a method the route does not take.
 */
#ifndef DURO_ADMIN_API_H
#define DURO_ADMIN_API_H

#include "http/http.h"
#include "objects/runtime.h"

/* Answers req, whose path starts with /api/. rt may be NULL (no objects
 * in this process: 404). */
void duro_admin_api(duro_runtime_t *rt, duro_http_req_t *req);

#endif
