/*
 * cluster.h: where the backend keeps its objects when that is not the data
 * directory's SQLite: a PostgreSQL database (--postgres CONNINFO, or
 * DURO_POSTGRES_URL, or "cluster": {"postgres": ...} in duro.jsonc).
 *
 * One node per database for now: the store holds a session lock on the
 * database while it runs, and a second node is refused at start with a
 * clear message rather than allowed to share objects without an owner.
 */
#ifndef DURO_BACKEND_CLUSTER_H
#define DURO_BACKEND_CLUSTER_H

#include "core/config.h"
#include "core/options.h"

typedef struct duro_cluster_config {
  char *postgres;  /* conninfo or postgres:// URL */
  char *advertise; /* http://host:port of this node, for the others */
  char *node_id;   /* this node's name */
} duro_cluster_config_t;
extern const duro_config_section_t duro_cluster_section;

/* NULL-terminated: what the cluster settings take from the environment or
 * .dev.vars (the conninfo may hold a password). */
extern const char *const duro_cluster_env_vars[];

/* The PostgreSQL conninfo, from --postgres, else DURO_POSTGRES_URL, else
 * the section; NULL: storage stays SQLite. */
const char *duro_cluster_postgres(const duro_config_t *cfg);
/* --advertise, else the section's; NULL when neither is set. */
const char *duro_cluster_advertise(const duro_config_t *cfg);
/* --node-id, else the section's; NULL when neither is set. */
const char *duro_cluster_node_id(const duro_config_t *cfg);

#endif
