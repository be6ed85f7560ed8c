/*
 * classes.h: the built-in object classes of the seed application. Each
 * uses only the public API of include/duro.h.
 */
#ifndef DURO_CLASSES_CLASSES_H
#define DURO_CLASSES_CLASSES_H

#include "duro.h"

extern const duro_class_t duro_class_test_do;       /* TestDurableObject */
extern const duro_class_t duro_class_coordinator;   /* MessageCoordinator */
extern const duro_class_t duro_class_countdown;     /* CountdownTimer */
extern const duro_class_t duro_class_room;          /* Room */
extern duro_sync_class_t duro_class_sync;           /* SyncBackend */

/* Every built-in class, NULL-terminated. */
extern const duro_class_t *const duro_builtin_classes[];

#endif
