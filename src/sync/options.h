/*
 * options.h: the sync engine's part of the configuration: the "sync"
 * section of duro.jsonc (its struct and its rows; the config holds the
 * struct, duro_sync_config finds it) and the names of the environment
 * variables it reads (DURO_SYNC_TOKEN, DURO_SYNC_SECRET).
 * The program hands both to duro_config_load_schema (core/config.h);
 * docs/livestore.md says what they mean.
 */
#ifndef DURO_SYNC_OPTIONS_H
#define DURO_SYNC_OPTIONS_H

#include <stddef.h>

#include "core/config.h"
#include "core/options.h"

typedef enum {
  DURO_SYNC_AUTH_AUTO = 0, /* tokens and/or secret if configured, else
                              open in development/test, refused in
                              production */
  DURO_SYNC_AUTH_TOKEN,    /* payload.authToken must be a listed token */
  DURO_SYNC_AUTH_HS256,    /* payload.authToken must be an HS256 JWT */
  DURO_SYNC_AUTH_NONE,     /* accept any payload, knowingly */
} duro_sync_auth_t;

typedef struct duro_sync_config {
  duro_sync_auth_t auth;
  char **tokens;           /* from the file; the environment adds more */
  size_t ntokens;
  int cors;                /* answer OPTIONS, add Access-Control-* */
  char *webhook;           /* http:// URL to POST accepted batches to */
  size_t max_message_bytes;
} duro_sync_config_t;

/* The "sync" section: auth, tokens, cors, webhook, max_message_bytes. */
extern const duro_config_section_t duro_sync_section;

/* cfg's "sync" section, or the rows' defaults when cfg has none (it was
 * built by hand, or loaded with a schema without the section). Never
 * NULL; borrowed from cfg or static. */
const duro_sync_config_t *duro_sync_config(const duro_config_t *cfg);

/* cfg's "sync" section for writing, given its defaults first when cfg
 * has none (a config built by hand: tests, embedders). Never NULL. */
static inline duro_sync_config_t *duro_sync_config_mut(duro_config_t *cfg) {
  return duro_config_add_section(cfg, &duro_sync_section);
}

/* NULL-terminated: the secrets the sync engine takes from the environment
 * or .dev.vars (src/sync/auth.c reads them). */
extern const char *const duro_sync_env_vars[];

#endif
