/*
 * options.h: the options table: one row per setting of a config file
 * section, and the code that parses, bound-checks, defaults, frees and
 * prints those rows.
 *
 * A section ("duro", "sync", later "cluster" or "tls") is a static
 * duro_config_section_t: its name in the file, the size of its struct (the
 * config holds one of each section, core/config.h), and its rows. A row names a setting, its type,
 * its default and bounds or choices, its help text, and the offset of its
 * field in the section's struct. Nothing else lists a setting: parsing,
 * validation, defaults and `duro --help` all come from the rows, so a new
 * setting is one row plus a struct field.
 *
 * The module knows no section: core/config.c owns the "duro" rows, the
 * layers above core define theirs (src/sync/options.c) and hand them to
 * duro_config_load_schema. It never logs; errors are one-line messages
 * "PATH: SECTION.NAME must be ..." in the caller's buffer.
 *
 * Types and the field each one writes:
 *   SIZE, UINT, MS  an integer in [min, max]: size_t (bytes), unsigned
 *                   (a count), unsigned (milliseconds)
 *   CHOICE          one of the strings in choices: int, the string's index
 *   BOOL            true or false: int, 1 or 0
 *   STRING          a non-empty string: char * (owned); null clears it
 *   URL             an http:// URL with a host: char * (owned); null
 *                   clears it; example is quoted in the error
 *   STRINGS         an array of non-empty strings: char ** (owned), with its
 *                   size_t count at count_offset; appended to what is there
 */
#ifndef DURO_CORE_OPTIONS_H
#define DURO_CORE_OPTIONS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/jsonc.h"

typedef enum {
  DURO_OPT_SIZE,
  DURO_OPT_UINT,
  DURO_OPT_MS,
  DURO_OPT_CHOICE,
  DURO_OPT_BOOL,
  DURO_OPT_STRING,
  DURO_OPT_URL,
  DURO_OPT_STRINGS,
} duro_opt_type_t;

/* One setting; rows are static data. */
typedef struct duro_option {
  const char *name;
  duro_opt_type_t type;
  unsigned long long def, min, max; /* numbers; CHOICE: def is the index,
                                       BOOL: 0 or 1; unused otherwise */
  const char *const *choices;       /* CHOICE: names by stored value,
                                       NULL-terminated */
  size_t offset;                    /* of the field in the section struct */
  const char *doc;                  /* one line of help */
  size_t count_offset;              /* STRINGS: of the size_t count */
  const char *example;              /* URL: a valid value, for the error */
} duro_option_t;

/* A row of the common shape, positionally (the rest zero): numbers,
 * choices and booleans. Other rows use designated initialisers. */
#define DURO_ROW(name_, type_, def_, min_, max_, choices_, offset_, doc_)      \
  {                                                                            \
    .name = (name_), .type = (type_), .def = (def_), .min = (min_),            \
    .max = (max_), .choices = (choices_), .offset = (offset_), .doc = (doc_)   \
  }

typedef struct duro_config_section {
  const char *name; /* the top-level key in the config file */
  size_t size;      /* of the section's struct */
  const duro_option_t *rows;
  size_t nrows;
  /* The help heading, without the colon, e.g. "settings of its \"duro\"
   * object, e.g. ..."; and optional text printed after the rows (lines
   * already indented, each ending in "\n"), or NULL. */
  const char *help_title;
  const char *help_footer;
  /* An unknown key's message: 1 lists the section's settings ("expected
   * a, b or c"), 0 points at `duro --help`. */
  int list_unknown;
} duro_config_section_t;

/* Writes every row's default into the section struct st (not the config:
 * the section's own struct). Strings and lists start empty; st's previous
 * contents are not freed. */
void duro_options_defaults(const duro_config_section_t *s, void *st);

/* Frees the strings and lists that the rows of s own in st and resets them
 * to empty; numbers are left alone. Safe on a zeroed struct. */
void duro_options_free(const duro_config_section_t *s, void *st);

/* The row called name, or NULL. */
const duro_option_t *duro_options_find(const duro_config_section_t *s,
                                       const char *name);

/*
 * Applies the JSON object obj (the section's value in the file) to the
 * section struct st, row by row in file order. path names the file in
 * messages. Returns 0, or DURO_EINVAL with a message in err at the first
 * key that is unknown or whose value has the wrong type or is out of
 * bounds (rows before it are already applied: the caller discards st).
 */
int duro_options_load(const duro_config_section_t *s, void *st,
                      const cJSON *obj, const char *path, char *err,
                      size_t errlen);

/* 1 when item is a JSON number holding an integer in [min, max] (stored in
 * *out), else 0. */
int duro_options_json_uint(const cJSON *item, unsigned long long min,
                           unsigned long long max, unsigned long long *out);

/* Appends the section's help (heading, one entry of two lines per row,
 * footer) to b, after a blank line. */
void duro_options_usage(const duro_config_section_t *s, duro_buf_t *b);

#endif
