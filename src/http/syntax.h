/*
 * syntax.h: the strict checks of HTTP/1.1 syntax that http-parser lacks,
 * over the request's bytes, without I/O and without copying.
 *
 * http-parser, as Debian builds it (without HTTP_PARSER_STRICT), accepts
 * a loose head (bare LF or CR line ends, obs-fold, "Name : value", spaces
 * in field names) and loose chunked framing (a bare LF or CR ending a
 * chunk-size line or the last chunk, a bare LF inside a chunk extension,
 * any two bytes after a chunk's data). A front proxy may read such bytes
 * differently from us, and the bytes on which two readers disagree become
 * a smuggled request. So the server runs these checks over the same bytes
 * before http-parser sees them and answers 400 where one fails;
 * http-parser still does the parsing. Both scanners keep their state from
 * call to call, so input may arrive split anywhere.
 *
 * The head (RFC 9112 2.2, 5): every line ends in CR LF; empty lines before
 * the request line are allowed; a field line does not start with
 * whitespace, its name is a token (RFC 9110 5.6.2) directly followed by
 * the colon. The scan stops at the empty line that ends the head.
 *
 * A chunked body (RFC 9112 7.1): chunk-size (1 to 16 hex digits), optional whitespace and
 * extensions (visible ASCII, space, tab and bytes >= 0x80, no CR/LF/NUL or
 * other control byte), CR LF; the chunk's data; CR LF; ...; the last chunk
 * "0", its extensions and CR LF; trailer lines (each "name: value" CR LF,
 * no leading whitespace, none before the colon); the empty line CR LF.
 */
#ifndef DURO_HTTP_SYNTAX_H
#define DURO_HTTP_SYNTAX_H

#include <stddef.h>
#include <stdint.h>

/* 1 when b may appear in a token such as a field name (tchar). */
int duro_http_tchar(uint8_t b);

typedef struct duro_head_scan {
  uint32_t lines; /* lines that ended so far (the request line first) */
  uint32_t len;   /* bytes in the current line so far */
  uint8_t cr;     /* the last byte was CR */
  uint8_t colon;  /* this field line's colon was seen */
  uint8_t done;   /* the empty line was seen */
} duro_head_scan_t;

/* Starts a head. */
void duro_head_scan_init(duro_head_scan_t *h);

/* Checks the next n bytes of a head (borrowed). Returns how many of them
 * belong to the head: n while it goes on, fewer when it ended inside them
 * (the rest is the body or the next request); DURO_EPROTO with *reason a
 * static string for the 400 when a line is malformed. */
long duro_head_scan(duro_head_scan_t *h, const uint8_t *p, size_t n,
                    const char **reason);

typedef struct duro_chunked {
  uint64_t left;   /* data bytes left of the current chunk */
  uint8_t state;
  uint8_t digits;  /* hex digits of this chunk-size so far */
  uint8_t colon;   /* this trailer line's colon was seen */
} duro_chunked_t;

/* Starts a body: the next byte is the first chunk-size digit. */
void duro_chunked_init(duro_chunked_t *c);

/*
 * Checks the next n bytes of the body (borrowed). Returns how many of them
 * belong to the body: n while it goes on, fewer when it ended inside them
 * (the rest is the next request); DURO_EPROTO when the framing is wrong,
 * with *reason a static string for the 400. The state carries over from
 * call to call, so the body may arrive split anywhere.
 */
long duro_chunked_scan(duro_chunked_t *c, const uint8_t *p, size_t n,
                       const char **reason);

/* 1 once the empty line after the last chunk has been seen. */
int duro_chunked_done(const duro_chunked_t *c);

#endif
