/*
 * devvars.h: the `.dev.vars` format (dotenv style KEY=VALUE lines).
 *
 * This module owns only the text format; reading the file and merging the
 * result into the configuration is conffile.c's job. The grammar, one entry
 * per line (LF or CRLF):
 *
 *   # a comment line; blank lines are ignored too
 *   KEY=value                 value runs to the end of the line; a '#' that
 *                             follows whitespace starts a comment; trailing
 *                             whitespace is dropped
 *   export KEY=value          an optional shell-style "export " prefix
 *   KEY = 'single quoted'     taken literally, '#' included
 *   KEY="double \"quoted\""   escapes \n \r \t \" \\ (any other backslash is
 *                             kept as is); may be followed by a # comment
 *
 * Whitespace around KEY and before VALUE is trimmed. KEY must match
 * [A-Za-z_][A-Za-z0-9_]*. A later line with the same KEY is reported again;
 * the consumer decides (conffile.c lets the last one win).
 */
#ifndef DURO_CORE_DEVVARS_H
#define DURO_CORE_DEVVARS_H

#include <stddef.h>

typedef void (*duro_devvars_cb)(const char *key, const char *value,
                                void *data);

/*
 * Parses len bytes of text (need not be NUL-terminated; a NUL byte in an
 * entry or comment is an error). Calls cb(key, value, data) once per entry,
 * in file order, synchronously; key and value are NUL-terminated and valid
 * only during the call.
 *
 * Returns 0, or DURO_EINVAL with "line N: message" in err (errlen bytes,
 * truncated as needed, no trailing newline) at the first malformed line: no
 * '=', an empty or invalid key, an unterminated quote, or text after a
 * closing quote. Entries before the bad line have already been delivered.
 */
int duro_devvars_parse(const char *text, size_t len, duro_devvars_cb cb,
                       void *data, char *err, size_t errlen);

/*
 * Same as duro_devvars_parse, but errors read "ORIGIN:N: message" (ORIGIN is
 * usually the file name), the form a user's editor can jump to.
 */
int duro_devvars_parse_named(const char *origin, const char *text, size_t len,
                             duro_devvars_cb cb, void *data, char *err,
                             size_t errlen);

#endif
