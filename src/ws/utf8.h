/*
 * utf8.h: incremental UTF-8 validation for WebSocket text messages.
 *
 * RFC 6455 requires a text message to be valid UTF-8 (RFC 3629) as a whole,
 * while it arrives in fragments that may split a character anywhere. The
 * validator is therefore a DFA whose whole state is one integer the caller
 * keeps between calls (in the spirit of Bjoern Hoehrmann's decoder). It
 * rejects overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code points
 * above U+10FFFF. Runs of ASCII are skipped 8 bytes at a time, since most
 * traffic (JSON) is ASCII. Pure function: no allocation, no globals written.
 */
#ifndef DURO_WS_UTF8_H
#define DURO_WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Between characters: the bytes so far are valid and complete. */
#define DURO_UTF8_ACCEPT 0
/* The bytes so far can never become valid UTF-8. Sticky. */
#define DURO_UTF8_REJECT 1

/*
 * Feeds len bytes of s to the validator and returns the new state.
 *   state: DURO_UTF8_ACCEPT for a new message, else the value the previous
 *          call returned.
 * Returns DURO_UTF8_ACCEPT when everything fed so far is complete valid
 * UTF-8, DURO_UTF8_REJECT when it is invalid (REJECT stays REJECT), and any
 * other value when the input ends inside a multi-byte character. A message
 * is valid when the final state is DURO_UTF8_ACCEPT. s is borrowed and may
 * be NULL when len is 0.
 */
uint32_t duro_utf8_validate(uint32_t state, const uint8_t *s, size_t len);

#endif
