/*
 * str.h: length-bounded text helpers, for bytes that came from a socket
 * or a file ({ptr, len}, never assumed to end in NUL) and for formatting
 * into fixed buffers.
 *
 * The C library's string functions (sscanf, strstr, strchr, strlen, atoi,
 * strtol) read until a NUL, which a buffer from the network need not
 * have; snprintf returns the length it would have written, not what fits.
 * These are the replacements; scripts/lint-cstr.sh keeps the others out
 * of the code that parses peer input (docs/security.md, "String rules").
 */
#ifndef DURO_CORE_STR_H
#define DURO_CORE_STR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * snprintf that reports truncation: formats into buf (size bytes, always
 * NUL-terminated when size > 0). Returns the length written, or DURO_E2BIG
 * when the text did not fit (buf then holds a truncated prefix), or
 * DURO_EINVAL for a format error. A return >= 0 is always < size.
 */
int duro_fmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* duro_fmt with a va_list (for printf-like functions of our own); ap is
 * used up as vsnprintf uses it. */
int duro_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Parses the whole of s[0..len) as a decimal number without sign, spaces
 * or leading '+': 1 to 19 digits. Returns 0 with *out set, or DURO_EINVAL
 * (empty, another byte) or DURO_E2BIG (over max). */
int duro_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Case-insensitive (ASCII) equality of two slices. */
int duro_memcaseeq(const char *a, size_t alen, const char *b, size_t blen);

/* s[0..*n) without the spaces and tabs (HTTP's OWS) at either end: returns
 * the new start and shortens *n. */
const char *duro_trim_ows(const char *s, size_t *n);

/* 1 when byte c is one of the n bytes of set (a NUL byte is only found
 * when set holds one: unlike strchr, the terminator never matches). */
static inline int duro_byte_in(const char *set, size_t n, char c) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == c)
      return 1;
  return 0;
}

/* 1 when the C string s is exactly the n bytes at p: a length test and a
 * memcmp, without measuring s first (s is read up to its NUL or n + 1
 * bytes, whichever comes first; p may hold any bytes, NUL included). */
static inline int duro_cstr_eq(const char *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != p[i] || s[i] == '\0')
      return 0;
  return s[n] == '\0';
}

#endif
