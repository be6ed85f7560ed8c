/*
 * options.h: the sync engine's part of the configuration: the rows of the
 * "sync" section of duro.jsonc (into duro_config_t.sync) and the names of
 * the environment variables it reads (DURO_SYNC_TOKEN, DURO_SYNC_SECRET).
 * The program hands both to duro_config_load_schema (core/config.h);
 * docs/livestore.md says what they mean.
 */
#ifndef DURO_SYNC_OPTIONS_H
#define DURO_SYNC_OPTIONS_H

#include "core/options.h"

/* The "sync" section: auth, tokens, cors, webhook, max_message_bytes. */
extern const duro_config_section_t duro_sync_section;

/* NULL-terminated: the secrets the sync engine takes from the environment
 * or .dev.vars (src/sync/auth.c reads them). */
extern const char *const duro_sync_env_vars[];

#endif
