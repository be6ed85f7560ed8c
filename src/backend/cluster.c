/*
 * cluster.c: see cluster.h.
 */
#include "backend/cluster.h"

#include <stddef.h>

static const duro_option_t rows[] = {
    DURO_ROW("postgres", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_cluster_config_t, postgres),
             "storage on PostgreSQL: a libpq conninfo or postgres:// URL "
             "(one with a password belongs in DURO_POSTGRES_URL; --postgres "
             "overrides both)"),
    DURO_ROW("advertise", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_cluster_config_t, advertise),
             "the http://host:port at which the other nodes reach this one "
             "(--advertise overrides it)"),
    DURO_ROW("node_id", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_cluster_config_t, node_id),
             "this node's name in the cluster (--node-id overrides it; "
             "default: the advertised host:port)"),
};

const duro_config_section_t duro_cluster_section = {
    .name = "cluster",
    .size = sizeof(duro_cluster_config_t),
    .rows = rows,
    .nrows = sizeof(rows) / sizeof(rows[0]),
    .help_title = "settings of the \"cluster\" section (the backend's storage "
                  "on PostgreSQL)",
    .list_unknown = 1,
};

const char *const duro_cluster_env_vars[] = {"DURO_POSTGRES_URL", NULL};

const char *duro_cluster_postgres(const duro_config_t *cfg) {
  if (cfg->postgres_arg)
    return cfg->postgres_arg;
  const char *v = duro_config_var(cfg, "DURO_POSTGRES_URL");
  if (v && *v)
    return v;
  const duro_cluster_config_t *c =
      duro_config_section(cfg, &duro_cluster_section);
  return c && c->postgres && *c->postgres ? c->postgres : NULL;
}

/* The command line's value, else the section's (NULL or "" there: none). */
static const char *arg_or_section(const char *arg, size_t field,
                                  const duro_config_t *cfg) {
  if (arg)
    return arg;
  const duro_cluster_config_t *c =
      duro_config_section(cfg, &duro_cluster_section);
  const char *v = c ? *(char *const *)((const char *)c + field) : NULL;
  return v && *v ? v : NULL;
}

const char *duro_cluster_advertise(const duro_config_t *cfg) {
  return arg_or_section(cfg->advertise_arg,
                        offsetof(duro_cluster_config_t, advertise), cfg);
}

const char *duro_cluster_node_id(const duro_config_t *cfg) {
  return arg_or_section(cfg->node_id_arg,
                        offsetof(duro_cluster_config_t, node_id), cfg);
}
