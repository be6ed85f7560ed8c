/*
 * builtin.h: the bindings a config file without "durable_objects" gets:
 * the seed's backend worker, one binding per built-in class (builtin.c,
 * beside the table of those classes in classes.h).
 */
#ifndef DURO_CLASSES_BUILTIN_H
#define DURO_CLASSES_BUILTIN_H

#include "core/config.h"

/* Ended by an entry with a NULL name; for duro_config_schema_t.bindings. */
extern const duro_config_builtin_t duro_builtin_bindings[];

#endif
