/*
 * registry.h: classes, bindings, ids and the instance table (registry.c),
 * for the runtime's other files. See object.h for the order of the files.
 */
#ifndef DURO_OBJECTS_REGISTRY_H
#define DURO_OBJECTS_REGISTRY_H

#include "objects/object.h"

/* The namespace bound as name (len bytes), or NULL. */
ns_t *duro__ns_find(const duro_runtime_t *rt, const char *name, size_t len);

/* Sets up the empty instance table. */
void duro__registry_init(duro_runtime_t *rt);
/* Frees the namespaces, classes and the table (the instances are freed). */
void duro__registry_free(duro_runtime_t *rt);

/* The live instance with id (64 hex digits), or NULL. */
duro_object_t *duro__object_find(const duro_runtime_t *rt, const char *id);
/* A new instance of ns with id and (optionally) name, in the table and
 * rt->objects, in OBJ_LOADING with an empty map; the caller loads it. */
duro_object_t *duro__object_new(duro_runtime_t *rt, ns_t *ns, const char *id,
                                const char *name, size_t name_len);
/* Takes o out of the table (not out of rt->objects): the id finds a new
 * instance from now on, while o finishes what it has in flight (an
 * object given up in a cluster, events.c). */
void duro__object_unlist(duro_object_t *o);
/* Tears o down (the class's teardown), takes it off the table and every
 * runtime list and frees it. Counts an eviction. */
void duro__object_free(duro_object_t *o);

/* The running event's write batch, created on its first write. */
duro_store_batch_t *duro__batch(duro_object_t *o);

/* Frees the records instances own. */
void duro__request_free(duro_request_t *r);
void duro__resp_free(held_resp_t *r); /* NULL is fine */
void duro__socket_free(duro_socket_t *s);
void duro__event_free(obj_event_t *ev);

/* 1 when s carries tag (duro_socket_has_tag). */
int duro__socket_has_tag(const duro_socket_t *s, const char *tag);

#endif
