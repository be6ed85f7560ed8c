/*
 * options.c: see options.h. Data only: the rows are parsed, checked,
 * defaulted and printed by core/options.c.
 */
#include "sync/options.h"

#include <stddef.h>

/* Index = duro_sync_auth_t; the row stores it as an int. */
static const char *const auth_choices[] = {"auto", "token", "hs256", "none",
                                           NULL};
_Static_assert(sizeof(duro_sync_auth_t) == sizeof(int),
               "sync.auth is stored through an int");

#define SYNC(field) offsetof(duro_sync_config_t, field)

static const duro_option_t rows[] = {
    DURO_ROW(
        "auth", DURO_OPT_CHOICE, DURO_SYNC_AUTH_AUTO, 0, 3, auth_choices,
        SYNC(auth),
        "who may sync: auto (the tokens or DURO_SYNC_SECRET when set, else "
        "anyone in development and test, no one in production), token, "
        "hs256 (a signed JWT) or none (anyone)"),
    {.name = "tokens",
     .type = DURO_OPT_STRINGS,
     .offset = SYNC(tokens),
     .count_offset = SYNC(ntokens),
     .doc = "accepted authToken values (also DURO_SYNC_TOKEN, "
            "comma-separated)"},
    DURO_ROW("cors", DURO_OPT_BOOL, 1, 0, 1, NULL, SYNC(cors),
             "answer OPTIONS and add Access-Control-* headers"),
    {.name = "webhook",
     .type = DURO_OPT_URL,
     .offset = SYNC(webhook),
     .example = "http://127.0.0.1:9000/hook",
     .doc = "receives each accepted batch (POST, best effort)"},
    DURO_ROW("max_message_bytes", DURO_OPT_SIZE, 1024 * 1024, 1024,
             1024ull * 1024 * 1024, NULL, SYNC(max_message_bytes),
             "a larger request gets UnknownError"),
};

const duro_config_section_t duro_sync_section = {
    .name = "sync",
    .size = sizeof(duro_sync_config_t),
    .rows = rows,
    .nrows = sizeof(rows) / sizeof(rows[0]),
    .help_title = "settings of the \"sync\" section (LiveStore sync, "
                  "docs/livestore.md)",
    .help_footer =
        "  DURO_SYNC_SECRET (environment) is the HS256 key for signed "
        "tokens; production\n  refuses to start without a check unless "
        "auth is \"none\".\n",
    .list_unknown = 1,
};

/* What duro_options_defaults writes from the rows above (a unit test
 * checks that the two agree). */
static const duro_sync_config_t defaults = {
    .auth = DURO_SYNC_AUTH_AUTO,
    .cors = 1,
    .max_message_bytes = 1024 * 1024,
};

const duro_sync_config_t *duro_sync_config(const duro_config_t *cfg) {
  const duro_sync_config_t *sc =
      cfg ? duro_config_section(cfg, &duro_sync_section) : NULL;
  return sc ? sc : &defaults;
}

const char *const duro_sync_env_vars[] = {"DURO_SYNC_TOKEN", "DURO_SYNC_SECRET",
                                          NULL};
