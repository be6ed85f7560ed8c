/*
 * events.h: events one at a time per object (events.c), for the runtime's
 * other files. See object.h for the order of the files.
 */
#ifndef DURO_OBJECTS_EVENTS_H
#define DURO_OBJECTS_EVENTS_H

#include "objects/object.h"

/* The instance of ns named name (or with id), created and its storage
 * loaded when it is not live. */
duro_object_t *duro__object_get(duro_runtime_t *rt, ns_t *ns,
                                const char *name, size_t name_len);
duro_object_t *duro__object_get_id(duro_runtime_t *rt, ns_t *ns,
                                   const char *id);

/* Runs ev (taken over) on o now when o is ready and idle, else queues it
 * (copying borrowed data) to run after the events before it. */
void duro__object_deliver(duro_object_t *o, obj_event_t *ev);

/* Arms the alarm timer for the earliest alarm (stops it when there is
 * none, or the runtime is shutting down). O(1) when that has not changed. */
void duro__alarms_arm(duro_runtime_t *rt);

/* Gives every instance up (duro_runtime_fence; rt->fenced is set). */
void duro__runtime_fence(duro_runtime_t *rt, const char *why);

/* Frees an event that will not run (the runtime is being freed). */
void duro__event_drop(obj_event_t *ev);

#endif
