/*
 * devvars.c: see devvars.h.
 *
 * Works one line at a time on the caller's bytes; the only allocation is a
 * scratch line (key and unescaped value are written into it, so both are
 * never longer than the line itself).
 */
#include "core/devvars.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int key_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int key_char(char c) { return key_start(c) || (c >= '0' && c <= '9'); }

/* Text left after a value: only blanks, or blanks then a '#' comment. */
static int rest_is_comment(const char *p, const char *end) {
  while (p < end && is_blank(*p))
    p++;
  return p == end || *p == '#';
}

/*
 * Parses one line [p, end) (no newline, CR already dropped). On an entry,
 * writes the key and value NUL-terminated into scratch and sets *key and
 * *value; on a blank or comment line leaves them NULL. Returns 0, or
 * DURO_EINVAL with a static message in *msg.
 */
static int parse_line(const char *p, const char *end, char *scratch,
                      char **key, char **value, const char **msg) {
  *key = *value = NULL;
  if (memchr(p, '\0', (size_t)(end - p))) {
    *msg = "NUL byte in line";
    return DURO_EINVAL;
  }
  while (p < end && is_blank(*p))
    p++;
  if (p == end || *p == '#')
    return 0;
  if (end - p > 7 && memcmp(p, "export", 6) == 0 && is_blank(p[6])) {
    const char *q = p + 7;
    while (q < end && is_blank(*q))
      q++;
    /* "export =x" would be the key "export"; only strip before a key. */
    if (q < end && *q != '=')
      p = q;
  }
  const char *eq = memchr(p, '=', (size_t)(end - p));
  if (!eq) {
    *msg = "expected KEY=VALUE";
    return DURO_EINVAL;
  }
  const char *kend = eq;
  while (kend > p && is_blank(kend[-1]))
    kend--;
  if (kend == p) {
    *msg = "empty key";
    return DURO_EINVAL;
  }
  if (!key_start(*p)) {
    *msg = "invalid key (must match [A-Za-z_][A-Za-z0-9_]*)";
    return DURO_EINVAL;
  }
  for (const char *k = p; k < kend; k++) {
    if (!key_char(*k)) {
      *msg = "invalid key (must match [A-Za-z_][A-Za-z0-9_]*)";
      return DURO_EINVAL;
    }
  }
  char *w = scratch;
  *key = w;
  memcpy(w, p, (size_t)(kend - p));
  w += kend - p;
  *w++ = '\0';
  *value = w;

  const char *v = eq + 1;
  while (v < end && is_blank(*v))
    v++;
  if (v < end && *v == '\'') {
    const char *close = memchr(v + 1, '\'', (size_t)(end - v - 1));
    if (!close) {
      *msg = "unterminated single-quoted value";
      return DURO_EINVAL;
    }
    memcpy(w, v + 1, (size_t)(close - v - 1));
    w += close - v - 1;
    v = close + 1;
  } else if (v < end && *v == '"') {
    for (v++;; v++) {
      if (v == end) {
        *msg = "unterminated double-quoted value";
        return DURO_EINVAL;
      }
      if (*v == '"')
        break;
      if (*v == '\\' && v + 1 < end) {
        char e = *++v;
        switch (e) {
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        default: *w++ = '\\'; *w++ = e; break;
        }
      } else {
        *w++ = *v;
      }
    }
    v++;
  } else {
    /* Unquoted: up to a '#' that follows whitespace, then trim the end. */
    const char *stop = v;
    while (stop < end && !(*stop == '#' && stop > v && is_blank(stop[-1])))
      stop++;
    while (stop > v && is_blank(stop[-1]))
      stop--;
    memcpy(w, v, (size_t)(stop - v));
    w += stop - v;
    v = end;
  }
  if (!rest_is_comment(v, end)) {
    *msg = "unexpected text after the closing quote";
    return DURO_EINVAL;
  }
  *w = '\0';
  return 0;
}

static int parse(const char *origin, const char *text, size_t len,
                 duro_devvars_cb cb, void *data, char *err, size_t errlen) {
  const char *p = text, *end = text + len;
  size_t lineno = 0;
  char *scratch = NULL;
  size_t scratch_cap = 0;
  int rc = 0;
  if (err && errlen)
    err[0] = '\0';
  while (p < end) {
    lineno++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *lend = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    if (lend > p && lend[-1] == '\r')
      lend--;
    /* key + NUL + value + NUL fit in line length + 2. */
    size_t need = (size_t)(lend - p) + 2;
    if (need > scratch_cap) {
      scratch = duro_realloc(scratch, need);
      scratch_cap = need;
    }
    char *key, *value;
    const char *msg = NULL;
    if (parse_line(p, lend, scratch, &key, &value, &msg) < 0) {
      if (origin)
        rc = duro_err_fmt(DURO_EINVAL, err, errlen, "%s:%zu: %s", origin,
                          lineno, msg);
      else
        rc =
            duro_err_fmt(DURO_EINVAL, err, errlen, "line %zu: %s", lineno, msg);
      break;
    }
    if (key)
      cb(key, value, data);
    p = next;
  }
  duro_free(scratch);
  return rc;
}

int duro_devvars_parse(const char *text, size_t len, duro_devvars_cb cb,
                       void *data, char *err, size_t errlen) {
  return parse(NULL, text, len, cb, data, err, errlen);
}

int duro_devvars_parse_named(const char *origin, const char *text, size_t len,
                             duro_devvars_cb cb, void *data, char *err,
                             size_t errlen) {
  return parse(origin, text, len, cb, data, err, errlen);
}
