/*
 * gate.h: the output gate (gate.c), for the runtime's other files. See
 * object.h for the order of the files.
 */
#ifndef DURO_OBJECTS_GATE_H
#define DURO_OBJECTS_GATE_H

#include "objects/object.h"

/* Appends an output of kind to o's held list. Inside an event it waits
 * for the event's end (which tags it); outside one it is tagged with the
 * last sequence number submitted. The caller fills op->u. */
held_op_t *duro__hold(duro_object_t *o, int kind);
/* Tags the outputs from index first on with tag (the event's end). */
void duro__gate_tag(duro_object_t *o, size_t first, uint64_t tag);
/* Performs, in order, every held output whose tag is durable. Answers to
 * stub calls and stub calls themselves are appended to rt->posted: the
 * caller (events.c) starts the poster. */
void duro__gate_release(duro_object_t *o);
/* Drops the outputs from index first on (a failed event), or those tagged
 * seq or later (a failed commit). A dropped response still answers 500
 * and a dropped stub call still calls back (DURO_ECANCELED), through
 * rt->posted as above. */
void duro__gate_drop_from(duro_object_t *o, size_t first);
void duro__gate_drop_tagged(duro_object_t *o, uint64_t seq);

/* Appends ev, for the object to (NULL: a stub call's request, ev->req,
 * whose target is found when it runs), to rt->posted: it runs on the next
 * loop turn, once events.c has started the poster. */
void duro__post(duro_runtime_t *rt, duro_object_t *to, obj_event_t *ev);

/* duro_respond_headers and duro_respond: holds r's response. */
int duro__respond_headers(duro_request_t *r, int status,
                          const duro_header_t *headers, size_t nheaders,
                          const void *body, size_t len);
int duro__respond(duro_request_t *r, int status, const char *content_type,
                  const void *body, size_t len);
/* A fresh "500 Internal Server Error" response. */
held_resp_t *duro__resp_500(void);
/* A fresh 503 with Retry-After: 1 and why (copied) as its text. */
held_resp_t *duro__resp_unavailable(const char *why);

/* Ends the stub call r with resp (taken over; NULL when there is none) or
 * err: its callback is posted to the caller. Frees r. */
void duro__stub_answer(duro_request_t *r, held_resp_t *resp, int err);

/* Answers r, which no object took, at once and frees it: over HTTP with
 * status, Retry-After: 1 and why; to a calling object with err. */
void duro__request_fail(duro_request_t *r, int status, int err,
                        const char *why);

#endif
