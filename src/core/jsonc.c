/*
 * jsonc.c: see jsonc.h.
 *
 * Three steps, all offset-preserving so positions in the cleaned copy are
 * positions in the caller's text:
 *   1. strip_comments: comments become spaces (newlines inside block
 *      comments stay, so line numbers hold); strings are copied verbatim,
 *      escapes included, so a "//" or a slash-star inside a string is
 *      data.
 *   2. drop_trailing_commas: a ',' that follows a value and is followed
 *      (after whitespace) by '}' or ']' becomes a space.
 *   3. cJSON_ParseWithLengthOpts on the NUL-terminated copy, requiring that
 *      nothing but whitespace follows the value. On failure cJSON reports
 *      only an offset; diagnose() re-scans the cleaned text up to it to say
 *      what the grammar expected there ("expected ',' or '}'").
 */
#include "core/jsonc.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

static void set_error(char *err, size_t errlen, const char *text, size_t pos,
                      const char *msg) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos; i++) {
    if (text[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  duro_err_fmt(DURO_EINVAL, err, errlen, "%zu:%zu: %s", line, col, msg);
}

/*
 * Copies in to out (both len bytes) with comments replaced by spaces.
 * Returns 0, or DURO_EINVAL with *bad at an unterminated block comment or a
 * NUL byte and *msg saying which.
 */
static int strip_comments(const char *in, char *out, size_t len, size_t *bad,
                          const char **msg) {
  enum { CODE, STRING, ESCAPE, LINE_COMMENT, BLOCK_COMMENT } st = CODE;
  size_t comment_start = 0;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '\0') {
      *bad = i;
      *msg = "NUL byte in input";
      return DURO_EINVAL;
    }
    out[i] = c;
    switch (st) {
    case CODE:
      if (c == '"') {
        st = STRING;
      } else if (c == '/' && i + 1 < len && (in[i + 1] == '/' || in[i + 1] == '*')) {
        st = in[i + 1] == '/' ? LINE_COMMENT : BLOCK_COMMENT;
        comment_start = i;
        out[i] = ' ';
        out[++i] = ' ';
      }
      break;
    case STRING:
      if (c == '\\')
        st = ESCAPE;
      else if (c == '"')
        st = CODE;
      break;
    case ESCAPE:
      st = STRING;
      break;
    case LINE_COMMENT:
      if (c == '\n')
        st = CODE;
      else
        out[i] = ' ';
      break;
    case BLOCK_COMMENT:
      if (c == '*' && i + 1 < len && in[i + 1] == '/') {
        out[i] = ' ';
        out[++i] = ' ';
        st = CODE;
      } else if (c != '\n') {
        out[i] = ' ';
      }
      break;
    }
  }
  if (st == BLOCK_COMMENT) {
    *bad = comment_start;
    *msg = "unterminated comment";
    return DURO_EINVAL;
  }
  return 0;
}

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Blanks trailing commas in place. A comma is trailing when the previous
 * significant byte ends a value (so "[,]" and "[1,,]" stay errors) and the
 * next one closes a container. Each comma's look-ahead stops at the next
 * significant byte, so the whole pass is linear.
 */
static void drop_trailing_commas(char *s, size_t len) {
  static const char no_value[] = "[{,:"; /* bytes that end no value */
  int in_string = 0, escape = 0;
  char prev = '\0';
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_string) {
      if (escape)
        escape = 0;
      else if (c == '\\')
        escape = 1;
      else if (c == '"')
        in_string = 0;
      continue;
    }
    if (is_ws(c))
      continue;
    if (c == '"') {
      in_string = 1;
    } else if (c == ',' && prev != '\0' &&
               !duro_byte_in(no_value, sizeof(no_value) - 1, prev)) {
      size_t j = i + 1;
      while (j < len && is_ws(s[j]))
        j++;
      if (j < len && (s[j] == '}' || s[j] == ']')) {
        s[i] = ' ';
        continue; /* prev stays the value before the comma */
      }
    }
    prev = c;
  }
}

enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, COMMA_OR_CLOSE, END };

/* What the grammar wanted, given the expectation and the byte found. */
static const char *expected(int expect, char c, int in_object) {
  switch (expect) {
  case VALUE:
  case VALUE_OR_CLOSE:
    if (c == '"')
      return "invalid string";
    if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
      return "invalid value";
    return expect == VALUE ? "expected a value" : "expected a value or ']'";
  case KEY:
    return c == '"' ? "invalid string" : "expected a string key";
  case KEY_OR_CLOSE:
    return c == '"' ? "invalid string" : "expected a string key or '}'";
  case COLON:
    return "expected ':'";
  case COMMA_OR_CLOSE:
    return in_object ? "expected ',' or '}'" : "expected ',' or ']'";
  default:
    return "unexpected text after the top-level value";
  }
}

/*
 * Explains a parse failure that cJSON reported at offset *pos of the cleaned
 * text s (len bytes, s[len] == '\0'). cJSON names no reason, and for some
 * errors it points a token past the culprit, so this re-scans the text with
 * a structural grammar (container stack plus what may come next; strings
 * and literals are only skipped) and stops at the first token that breaks
 * it or at *pos, whichever comes first, moving *pos there. The result is
 * only a message, never a decision.
 */
static const char *diagnose(const char *s, size_t len, size_t *pos) {
  static const char delims[] = ",:[]{}\""; /* end a literal or number */
  unsigned char stack[CJSON_NESTING_LIMIT + 1];
  size_t depth = 0, i = 0, limit = *pos > len ? len : *pos;
  int expect = VALUE;

  for (;;) {
    while (i < limit && is_ws(s[i]))
      i++;
    if (i >= limit)
      break;
    char c = s[i];
    int in_object = depth && stack[depth - 1] == '{';
    int want_value = expect == VALUE || expect == VALUE_OR_CLOSE;
    int ok;
    switch (c) {
    case '"':
      ok = want_value || expect == KEY || expect == KEY_OR_CLOSE;
      break;
    case '{':
    case '[':
      ok = want_value;
      break;
    case '}':
      ok = in_object && (expect == KEY_OR_CLOSE || expect == COMMA_OR_CLOSE);
      break;
    case ']':
      ok = depth && !in_object &&
           (expect == VALUE_OR_CLOSE || expect == COMMA_OR_CLOSE);
      break;
    case ':':
      ok = expect == COLON;
      break;
    case ',':
      ok = expect == COMMA_OR_CLOSE;
      break;
    default:
      ok = want_value;
      break;
    }
    if (!ok) {
      *pos = i;
      return expected(expect, c, in_object);
    }

    if (c == '"') {
      size_t j = i + 1;
      while (j < len && s[j] != '"')
        j += s[j] == '\\' ? 2 : 1;
      if (j >= limit) {
        *pos = j >= len ? i : limit;
        return j >= len ? "unterminated string" : "invalid string";
      }
      i = j + 1;
      if (!want_value) {
        expect = COLON;
        continue;
      }
    } else if (c == '{' || c == '[') {
      if (depth > CJSON_NESTING_LIMIT) {
        *pos = i;
        return "nesting too deep";
      }
      stack[depth++] = (unsigned char)c;
      expect = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
      i++;
      continue;
    } else if (c == '}' || c == ']') {
      depth--;
      i++;
    } else if (c == ':' || c == ',') {
      expect = c == ':' || !in_object ? VALUE : KEY;
      i++;
      continue;
    } else {
      /* A literal or a number: runs to the next delimiter. */
      size_t j = i;
      while (j < len && !is_ws(s[j]) &&
             !duro_byte_in(delims, sizeof(delims) - 1, s[j]))
        j++;
      if (j > limit) {
        *pos = i;
        return "invalid value";
      }
      i = j;
    }
    expect = depth ? COMMA_OR_CLOSE : END;
  }

  *pos = limit;
  if (depth > CJSON_NESTING_LIMIT)
    return "nesting too deep";
  if (limit >= len && expect != END)
    return "unexpected end of input";
  return expected(expect, limit < len ? s[limit] : '\0',
                  depth && stack[depth - 1] == '{');
}

int duro_jsonc_parse(const char *text, size_t len, cJSON **out, char *err,
                     size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  char *buf = duro_malloc(len + 1);
  size_t bad = 0;
  const char *msg = NULL;
  if (strip_comments(text, buf, len, &bad, &msg) < 0) {
    set_error(err, errlen, text, bad, msg);
    duro_free(buf);
    return DURO_EINVAL;
  }
  buf[len] = '\0';
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
    memset(buf, ' ', 3);
  drop_trailing_commas(buf, len);

  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
  if (!root) {
    size_t pos = len;
    if (end && end >= buf && end <= buf + len)
      pos = (size_t)(end - buf);
    const char *why = diagnose(buf, len, &pos);
    set_error(err, errlen, text, pos, why);
    duro_free(buf);
    return DURO_EINVAL;
  }
  duro_free(buf);
  *out = root;
  return 0;
}
