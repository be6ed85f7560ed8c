/*
 * schema.h: the frontend's part of the configuration (the names of the
 * variables it reads, secrets among them) and, for now, the program's
 * whole configuration schema, which puts every layer's part together for
 * duro_config_load_schema (core/config.h).
 *
 * The program's schema belongs to cmd/, which names every layer; it lives
 * on this floor, the highest that can see sync/ and classes/ and is linked
 * into libduro.a, because the unit tests and the config fuzzer load the
 * program's configuration (duro_config_load, defined in schema.c) without
 * src/cmd/. It moves to cmd/ once they pass a schema themselves.
 */
#ifndef DURO_FRONTEND_SCHEMA_H
#define DURO_FRONTEND_SCHEMA_H

#include "core/config.h"

/* NULL-terminated: what the frontend takes from the environment or
 * .dev.vars (read in frontend.c). */
extern const char *const duro_frontend_env_vars[];

/* The program's schema: the environment names of the binding protocol,
 * the frontend and the sync engine, the built-in bindings
 * (classes/builtin.h) and the "sync" section (sync/options.h). */
extern const duro_config_schema_t duro_program_schema;

#endif
