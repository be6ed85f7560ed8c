/*
 * jsonc.h: JSON with comments and trailing commas (the wrangler.jsonc dialect).
 *
 * This module owns the text-to-tree step for duro.jsonc and nothing else: no
 * files, no config semantics. A preprocessor overwrites line comments (`//`)
 * and block comments (slash-star ... star-slash) with spaces (keeping newlines) and blanks out trailing commas,
 * both outside strings only, so every byte keeps its offset; cJSON then
 * parses the cleaned copy, and a parse error is mapped back to a line and
 * column of the caller's text with a message saying what was expected.
 * (cJSON_Minify would also strip comments but moves every byte after the
 * first one, so its error positions would be useless to a user.)
 *
 * Pure and reentrant apart from cJSON's own global error pointer, which is
 * not used; safe to feed hostile input (there is a fuzz target).
 */
#ifndef DURO_CORE_JSONC_H
#define DURO_CORE_JSONC_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parses len bytes of text as one JSONC document. The text need not be
 * NUL-terminated; a NUL byte anywhere in it is an error (config strings
 * become C strings). A leading UTF-8 byte-order mark is ignored. Anything
 * but whitespace and comments after the top-level value is an error.
 *
 * Returns 0 and stores the tree in *out, which the caller frees with
 * cJSON_Delete. Returns DURO_EINVAL, leaves *out NULL and writes
 * "LINE:COL: message" (1-based, columns in bytes, no trailing newline) into
 * err (errlen bytes, truncated as needed; err may be NULL when errlen is 0).
 * Never calls back; allocates only a scratch copy of the text.
 */
int duro_jsonc_parse(const char *text, size_t len, cJSON **out, char *err,
                     size_t errlen);

#endif
