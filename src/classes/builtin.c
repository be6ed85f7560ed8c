/* builtin.c: the tables of built-in classes and of the bindings given to a
 * config file without "durable_objects" (the seed's backend worker). */
#include "classes/classes.h"

#include <stddef.h>

#include "classes/builtin.h"

const duro_class_t *const duro_builtin_classes[] = {
    &duro_class_test_do,
    &duro_class_coordinator,
    &duro_class_countdown,
    &duro_class_room,
    &duro_class_sync.cls,
    NULL,
};

/* The class names are those of the classes above (duro_class_*.name). */
const duro_config_builtin_t duro_builtin_bindings[] = {
    {"TEST_DO", "TestDurableObject"},
    {"MESSAGE_COORDINATOR", "MessageCoordinator"},
    {"COUNTDOWN_TIMER", "CountdownTimer"},
    {"ROOMS", "Room"},
    {"LIVESTORE_SYNC", "SyncBackend"},
    {NULL, NULL},
};
