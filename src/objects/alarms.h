/*
 * alarms.h: the alarm index and the alarm changes of events (alarms.c),
 * for the runtime's other files. See object.h for the order of the files.
 */
#ifndef DURO_OBJECTS_ALARMS_H
#define DURO_OBJECTS_ALARMS_H

#include "objects/object.h"

/* ---- the heap: alarms by due time, O(log n) per change ---- */

/* Adds a (not in a heap: heap_idx is DURO_ALARM_NOT_QUEUED). */
void duro__alarm_heap_push(duro_alarm_heap_t *h, alarm_ent_t *a);
/* Takes a out of the heap (it must be in it). */
void duro__alarm_heap_remove(duro_alarm_heap_t *h, alarm_ent_t *a);
/* Restores the order after a->due changed (a must be in the heap). */
void duro__alarm_heap_update(duro_alarm_heap_t *h, alarm_ent_t *a);
/* The earliest alarm, or NULL. */
static inline alarm_ent_t *duro__alarm_heap_top(const duro_alarm_heap_t *h) {
  return h->n ? h->v[0] : NULL;
}
void duro__alarm_heap_free(duro_alarm_heap_t *h);

/* ---- the index: every alarm, by object id and name ---- */

alarm_ent_t *duro__alarm_find(const duro_runtime_t *rt, const char *id,
                              const char *name);
/* The number of alarms in the index for the object id (running or not). */
size_t duro__alarm_count(const duro_runtime_t *rt, const char *id);
/* Due time of the index's earliest alarm that is not running, or
 * INT64_MAX when there is none. O(1). */
int64_t duro__alarm_next_due(const duro_runtime_t *rt);
/* Takes the earliest alarm if it is due at now: out of the heap, marked
 * running (it stays in the index). NULL when none is due. */
alarm_ent_t *duro__alarm_take_due(duro_runtime_t *rt, int64_t now);
/* Puts a running alarm back on the heap, due at due (a retry). */
void duro__alarm_requeue(duro_runtime_t *rt, alarm_ent_t *a, int64_t due);
/* Frees an alarm out of the index (running == 2). */
void duro__alarm_free(alarm_ent_t *a);
/* Fills the index from the alarms table (at start, and in a cluster from
 * an object's claim or the adoption of alarms nobody owns); returns how
 * many it kept (those of namespaces no longer bound are skipped, with a
 * warning). An alarm already in the index takes the row's due time. */
size_t duro__alarms_restore(duro_runtime_t *rt, const duro_alarm_row_t *rows,
                            size_t n);
/* Takes every alarm of the object id out of the index (another node owns
 * it now); a running one is left to its event, which frees it. */
void duro__alarms_forget(duro_runtime_t *rt, const char *id);
/* Frees the index. */
void duro__alarms_free(duro_runtime_t *rt);

/* ---- the running event's alarm changes, applied when it succeeds ---- */

/* duro_alarm_get, duro_alarm_set, duro_alarm_delete (name not NULL). */
int duro__alarm_get(duro_object_t *o, const char *name, int64_t *due_ms);
int duro__alarm_set(duro_object_t *o, const char *name, int64_t due_ms);
int duro__alarm_delete(duro_object_t *o, const char *name);
/* Stages the deletion of every alarm of o (duro_storage_delete_all). */
void duro__alarms_delete_all(duro_object_t *o);
/* Applies the staged changes to the index (the event succeeded). The
 * caller re-arms the timer; an event that staged nothing costs nothing. */
void duro__alarms_apply(duro_object_t *o);
/* Drops the staged changes (the event failed). */
void duro__alarms_discard(duro_object_t *o);

#endif
