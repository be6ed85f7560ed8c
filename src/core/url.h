/*
 * url.h: percent-decoding for URL paths and query values.
 */
#ifndef DURO_CORE_URL_H
#define DURO_CORE_URL_H

#include <stddef.h>

/* Value of a hex digit, or -1. */
int duro_hex_value(char c);

/* Percent-decodes len bytes of src into dst (room for len + 1; the result
 * is NUL-terminated). With form != 0, '+' is a space (query values).
 * Returns the decoded length, or DURO_EINVAL for a malformed escape. Decoded NUL
 * bytes are kept: callers that cannot take them must check. */
long duro_pct_decode(const char *src, size_t len, char *dst, int form);

#endif
