/*
 * schema.c: see schema.h. Data only, plus duro_config_load.
 */
#include "cmd/schema.h"

#include <stddef.h>

#include "admin/admin.h"
#include "backend/cluster.h"
#include "net/tls.h"
#include "classes/builtin.h"
#include "frontend/frontend.h"
#include "sync/options.h"

/* The binding protocol's bearer secret (http/bearer.h): the backend
 * requires it, the frontend sends it, main checks it in production. */
static const char *const bearer_env_vars[] = {"DURO_INTERNAL_SECRET", NULL};

static const char *const *const env_vars[] = {
    bearer_env_vars,
    duro_frontend_env_vars,
    duro_sync_env_vars,
    duro_admin_env_vars,
    duro_cluster_env_vars,
    NULL,
};

static const duro_config_section_t *const sections[] = {
    &duro_sync_section,
    &duro_admin_section,
    &duro_tls_section,
    &duro_cluster_section,
    NULL,
};

const duro_config_schema_t duro_program_schema = {
    .env_vars = env_vars,
    .bindings = duro_builtin_bindings,
    .sections = sections,
};

int duro_config_load(duro_config_t *cfg, int argc, char **argv, char *err,
                     size_t errlen) {
  return duro_config_load_schema(cfg, &duro_program_schema, argc, argv, err,
                                 errlen);
}
