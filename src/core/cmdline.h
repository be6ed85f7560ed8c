/*
 * cmdline.h: duro's command line: the roles, the flags table, and parsing
 * argv into a duro_cmdline_t. No config file, no environment: the result
 * is what the user typed, and core/config.c resolves it against the other
 * sources.
 *
 * Two static tables (roles, flags: name, metavar, roles that accept it,
 * help text) drive both parsing and the flags part of `duro --help`.
 * Parsing never prints: --help and --version set a field and stop, and the
 * caller prints (the help also lists the config file's sections, which
 * this module does not know). Errors are one-line messages starting with
 * "duro: "; flags never echo a value that could be a secret.
 */
#ifndef DURO_CORE_CMDLINE_H
#define DURO_CORE_CMDLINE_H

#include <stddef.h>

#include "core/buf.h"

/* Role bits; a flag lists the roles that accept it. */
enum {
  DURO_ROLE_DEV = 1,
  DURO_ROLE_BACKEND = 2,
  DURO_ROLE_FRONTEND = 4,
  DURO_ROLE_ALL = 7
};

typedef struct duro_cmdline {
  const char *role;        /* "dev", "backend", "frontend"; static */
  unsigned role_bit;       /* DURO_ROLE_* */
  int port, frontend_port; /* -1: not given (0 is a valid choice) */
  int admin_port;          /* the same */
  /* Borrowed from argv; NULL when not given. */
  const char *backend, *host, *data, *config;
  const char *tls_cert, *tls_key;
  const char *backend_ca;
  const char *postgres;
  const char *advertise, *node_id;
  int mode, log_level;   /* DURO_MODE_*, DURO_LOG_*; -1: not given */
  int log_format;        /* 0 text, 1 json; -1: not given */
  unsigned seen;         /* bit i: flag row i was given */
  int help;              /* 1: print the help (help_role: for a role) */
  const char *help_role; /* the role given before --help, or NULL */
  int version;           /* 1: print the version */
} duro_cmdline_t;

/*
 * Parses argv (argv[0] is ignored) into cl. The role may come before or
 * after the flags; "help" in place of a role, -h and --help ask for the
 * help, --version for the version: parsing stops there and cl->help or
 * cl->version is set (nothing is printed). Otherwise a role is required and
 * each flag must apply to it.
 *
 * Returns 0 or DURO_EINVAL with a message in err. Strings in cl are
 * borrowed from argv or static.
 */
int duro_cmdline_parse(duro_cmdline_t *cl, int argc, char **argv, char *err,
                       size_t errlen);

/* Appends the roles (when role is NULL or unknown) and the flags that role
 * accepts (every flag for NULL) to b: the first part of `duro --help`. */
void duro_cmdline_usage(duro_buf_t *b, const char *role);

/* "development", "test" or "production"; "unknown" otherwise. */
const char *duro_cmdline_mode_name(int mode);

/* The index of s in mode names (DURO_MODE_*), or -1. */
int duro_cmdline_mode(const char *s);

#endif
