/* syntax.c: see syntax.h. */
#include "http/syntax.h"

#include "core/err.h"
#include "core/url.h"

static long bad(const char **reason, const char *why) {
  *reason = why;
  return DURO_EPROTO;
}

int duro_http_tchar(uint8_t b) {
  if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
      (b >= '0' && b <= '9'))
    return 1;
  switch (b) {
  case '!': case '#': case '$': case '%': case '&': case '\'':
  case '*': case '+': case '-': case '.': case '^': case '_':
  case '`': case '|': case '~':
    return 1;
  default:
    return 0;
  }
}

/* ---- the head ---------------------------------------------------------------- */

void duro_head_scan_init(duro_head_scan_t *h) {
  h->lines = h->len = 0;
  h->cr = h->colon = h->done = 0;
}

long duro_head_scan(duro_head_scan_t *h, const uint8_t *p, size_t n,
                    const char **reason) {
  size_t i = 0;
  for (; i < n && !h->done; i++) {
    uint8_t b = p[i];
    if (b == '\n') {
      if (!h->cr)
        return bad(reason, "Bare LF in the request head");
      h->cr = 0;
      if (h->len == 0) {
        if (h->lines) /* the empty line: the head is complete */
          h->done = 1;
        continue; /* (empty lines before the request line are allowed) */
      }
      if (h->lines && !h->colon)
        return bad(reason, "Header line without a colon");
      h->lines++;
      h->len = 0;
      h->colon = 0;
      continue;
    }
    if (h->cr)
      return bad(reason, "Bare CR in the request head");
    if (b == '\r') {
      h->cr = 1;
      continue;
    }
    if (b == '\0')
      return bad(reason, "NUL in the request head");
    if (h->lines && !h->colon) { /* a field name */
      if (b == ':') {
        if (h->len == 0)
          return bad(reason, "Header line without a field name");
        h->colon = 1;
      } else if (!duro_http_tchar(b)) {
        return bad(reason,
                   h->len == 0 && (b == ' ' || b == '\t')
                       ? "Header line starting with whitespace (obs-fold)"
                   : b == ' ' || b == '\t'
                       ? "Whitespace in a header name or before its colon"
                       : "Bad byte in a header name");
      }
    }
    h->len++;
  }
  return (long)i;
}

/* ---- chunked bodies ---------------------------------------------------------- */

enum {
  CS_SIZE,      /* chunk-size digits */
  CS_EXT,       /* after the digits: whitespace and extensions */
  CS_SIZE_LF,   /* the LF after the size line's CR */
  CS_DATA,      /* the chunk's data */
  CS_DATA_CR,   /* the CR after the data */
  CS_DATA_LF,   /* the LF after it */
  CS_TR_START,  /* the start of a trailer line, or the empty line */
  CS_TR_LINE,   /* inside a trailer line */
  CS_TR_LF,     /* the LF after a trailer line's CR */
  CS_END_LF,    /* the LF of the empty line */
  CS_DONE,
};

void duro_chunked_init(duro_chunked_t *c) {
  c->left = 0;
  c->state = CS_SIZE;
  c->digits = 0;
  c->colon = 0;
}

int duro_chunked_done(const duro_chunked_t *c) { return c->state == CS_DONE; }

/* A byte allowed in a chunk extension: HTAB, SP, VCHAR, obs-text. */
static int ext_byte(uint8_t b) { return b == '\t' || b >= 0x20; }

long duro_chunked_scan(duro_chunked_t *c, const uint8_t *p, size_t n,
                       const char **reason) {
  size_t i = 0;
  while (i < n && c->state != CS_DONE) {
    uint8_t b = p[i];
    switch (c->state) {
    case CS_SIZE: {
      int v = duro_hex_value((char)b);
      if (v >= 0) {
        if (++c->digits > 16)
          return bad(reason, "Chunk size too large");
        c->left = c->left << 4 | (uint64_t)v;
        break;
      }
      if (c->digits == 0)
        return bad(reason, "Chunk size is not hexadecimal");
      if (b == '\r')
        c->state = CS_SIZE_LF;
      else if (b == ';' || b == ' ' || b == '\t')
        c->state = CS_EXT;
      else
        return bad(reason, "Bad byte after a chunk size");
      break;
    }
    case CS_EXT:
      if (b == '\r')
        c->state = CS_SIZE_LF;
      else if (b == 0x7f || !ext_byte(b))
        return bad(reason, b == '\n' ? "Bare LF in a chunk extension"
                                     : "Control byte in a chunk extension");
      break;
    case CS_SIZE_LF:
      if (b != '\n')
        return bad(reason, "Chunk size line not ended by CR LF");
      c->digits = 0;
      c->state = c->left ? CS_DATA : CS_TR_START;
      break;
    case CS_DATA: {
      size_t k = n - i < c->left ? n - i : (size_t)c->left;
      c->left -= k;
      i += k;
      if (c->left == 0)
        c->state = CS_DATA_CR;
      continue;
    }
    case CS_DATA_CR:
      if (b != '\r')
        return bad(reason, "Chunk data not followed by CRLF");
      c->state = CS_DATA_LF;
      break;
    case CS_DATA_LF:
      if (b != '\n')
        return bad(reason, "Chunk data not followed by CRLF");
      c->state = CS_SIZE;
      break;
    case CS_TR_START:
      if (b == '\r') {
        c->state = CS_END_LF;
      } else if (b == '\n') {
        return bad(reason, "Bare LF after the last chunk");
      } else if (b == ' ' || b == '\t') {
        return bad(reason, "Trailer line starting with whitespace (obs-fold)");
      } else if (!duro_http_tchar(b)) {
        return bad(reason, "Bad byte in a trailer name");
      } else {
        c->colon = 0;
        c->state = CS_TR_LINE;
      }
      break;
    case CS_TR_LINE:
      if (b == '\r') {
        if (!c->colon)
          return bad(reason, "Trailer line without a colon");
        c->state = CS_TR_LF;
      } else if (b == '\n' || b == '\0') {
        return bad(reason, b ? "Bare LF in a trailer" : "NUL in a trailer");
      } else if (!c->colon) {
        if (b == ':')
          c->colon = 1;
        else if (!duro_http_tchar(b))
          return bad(reason, "Bad byte in a trailer name");
      }
      break;
    case CS_TR_LF:
      if (b != '\n')
        return bad(reason, "Bare CR in a trailer");
      c->state = CS_TR_START;
      break;
    case CS_END_LF:
      if (b != '\n')
        return bad(reason, "Chunked body not ended by CR LF");
      c->state = CS_DONE;
      break;
    }
    i++;
  }
  return (long)i;
}
