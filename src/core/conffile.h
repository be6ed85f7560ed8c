/*
 * conffile.h: reading the configuration's files into a duro_config_t: the
 * config file (duro.jsonc: name, vars, durable_objects.bindings, dev.port,
 * the sections of the options table, "classes") and .dev.vars beside it.
 *
 * core/config.c calls these in precedence order on its scratch config;
 * this module knows the file formats and the wrangler keys, not the
 * sections' settings (core/options.h parses those from their rows) nor
 * the command line. Messages name the source: "FILE:LINE:COL: ..." for
 * JSONC syntax, "FILE: key ..." for config semantics (cJSON keeps no
 * positions), "FILE:LINE: ..." for "classes" entries and for .dev.vars,
 * "duro: ..." when a file cannot be read. Never logs.
 */
#ifndef DURO_CORE_CONFFILE_H
#define DURO_CORE_CONFFILE_H

#include <stddef.h>

#include "core/config.h"

/* What the file said that is not stored in the config itself. */
typedef struct duro_conffile_info {
  int dev_port;            /* dev.port, 0 when absent */
  int has_durable_objects; /* a "durable_objects" key was present */
} duro_conffile_info_t;

/*
 * Reads the config file and applies it to c: path is the --config value,
 * or NULL for DURO_DEFAULT_CONFIG, whose absence is not an error (c and
 * *info are then left as they were). Sets c->config_path when a file was
 * read. Sections: the "duro" one (duro_config_limits_section), then those
 * of schema (may be NULL), each into its struct in c. Unknown top-level
 * keys are ignored: wrangler files carry many.
 *
 * Returns 0 or DURO_EINVAL with a message in err; c may then hold part of
 * the file (the caller frees it).
 */
int duro_conffile_load(duro_config_t *c, const duro_config_schema_t *schema,
                       const char *path, duro_conffile_info_t *info, char *err,
                       size_t errlen);

/*
 * Reads .dev.vars from the config file's directory (the current one when
 * c->config_path is NULL), if there is one, into c's vars (the last line
 * of a key wins). Returns 0 or DURO_EINVAL with "PATH:LINE: ..." in err.
 */
int duro_conffile_load_dev_vars(duro_config_t *c, char *err, size_t errlen);

#endif
