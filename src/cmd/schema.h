/*
 * schema.h: the program's configuration schema: every layer's part of the
 * configuration put together for duro_config_load_schema (core/config.h):
 * the environment names of the binding protocol, the frontend and the
 * sync engine, the built-in bindings (classes/builtin.h) and the "sync"
 * section (sync/options.h).
 *
 * It lives with main, the one place that names every layer; the build
 * puts it in libduro.a (main.c alone stays out) so that the unit tests
 * and the config fuzzer load the program's configuration the way main
 * does (duro_config_load, defined in schema.c).
 */
#ifndef DURO_CMD_SCHEMA_H
#define DURO_CMD_SCHEMA_H

#include "core/config.h"

extern const duro_config_schema_t duro_program_schema;

#endif
