/* builtin.c: the table of built-in classes. */
#include "classes/classes.h"

#include <stddef.h>

const duro_class_t *const duro_builtin_classes[] = {
    &duro_class_test_do,
    &duro_class_coordinator,
    &duro_class_countdown,
    &duro_class_room,
    &duro_class_sync.cls,
    NULL,
};
