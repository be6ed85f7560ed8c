/*
 * sync.c: SyncBackend, the built-in LiveStore 0.4 sync backend, bound as
 * LIVESTORE_SYNC: the sync engine's class (duro_sync_class_init, served
 * by src/sync/engine.c) with no hooks. A user's class with hooks is made
 * the same way (docs/livestore.md) and bound in its place.
 */
#include "classes/classes.h"

duro_sync_class_t duro_class_sync;

/* Filled before main, as a class library fills its sync classes: the
 * table of built-in classes (builtin.c) points at it. */
__attribute__((constructor)) static void sync_backend_init(void) {
  duro_sync_class_init(&duro_class_sync, "SyncBackend", NULL);
}
