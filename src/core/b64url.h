/*
 * b64url.h: base64url (RFC 4648 section 5) for signed tokens: session
 * cookies, HS256 JWTs, LiveStore sync tokens. Decoding accepts only the
 * canonical spelling, so one signature has exactly one text.
 */
#ifndef DURO_CORE_B64URL_H
#define DURO_CORE_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Encodes without padding. out needs 4 * ((len + 2) / 3) + 1 bytes.
 * Returns the length written (NUL-terminated). */
size_t duro_b64url_encode(const uint8_t *in, size_t len, char *out);

/* Decodes base64url (padding optional; '+' and '/' are not base64url and
 * are refused, as are set bits left over in the last character). Returns
 * the decoded length, or DURO_EINVAL for bad input, DURO_ENOSPC when it
 * would not fit in cap. */
long duro_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
