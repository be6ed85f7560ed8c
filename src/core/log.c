/* log.c: see log.h. One line per call, with a UTC timestamp and level. */
#include "core/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int duro_log_level = DURO_LOG_INFO;
int duro_log_json = 0;

#define LINE_MAX_BYTES 2048

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* A bounded writer into one line buffer; what does not fit is cut. */
typedef struct {
  char buf[16384];
  size_t len;
} line_t;

static void put(line_t *l, const char *s, size_t n) {
  size_t room = sizeof(l->buf) - 1 - l->len;
  if (n > room)
    n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void puts_(line_t *l, const char *s) {
  put(l, s, strlen(s)); /* C string: a literal */
}

__attribute__((format(printf, 2, 3))) static void putf(line_t *l,
                                                       const char *fmt, ...) {
  size_t room = sizeof(l->buf) - l->len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(l->buf + l->len, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    l->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * a byte that is not valid UTF-8 replaced by U+FFFD. At most cap bytes of
 * escaped text (then "..."), so that the line's buffer always has room to
 * close the object: a JSON line is never cut. */
static void put_json_string(line_t *l, const char *s, size_t cap) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s); /* C string: a message or field, NUL-terminated */
  size_t start = l->len;
  put(l, "\"", 1);
  for (size_t i = 0; i < n;) {
    if (l->len - start > cap) {
      puts_(l, "...");
      break;
    }
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(l, e, 2);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      putf(l, "\\u%04x", c);
      i++;
    } else {
      size_t k = utf8_seq(p + i, n - i);
      if (k == 0) {
        puts_(l, "\\ufffd");
        i++;
      } else {
        put(l, s + i, k);
        i += k;
      }
    }
  }
  put(l, "\"", 1);
}

static void vwrite(int level, const duro_log_fields_t *f, const char *fmt,
                   va_list ap) {
  struct timeval tv;
  struct tm tm;
  char stamp[40];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  char msg[LINE_MAX_BYTES];
  vsnprintf(msg, sizeof(msg), fmt, ap);

  line_t l;
  l.len = 0;
  if (!duro_log_json) {
    putf(&l, "%s.%03dZ %-5s ", stamp, (int)(tv.tv_usec / 1000),
         level_names[level & 3]);
    if (f && f->ns)
      putf(&l, "object %s(%s): ", f->ns, f->object ? f->object : "?");
    if (f && f->remote)
      putf(&l, "%s: ", f->remote);
    puts_(&l, msg);
    if (f && f->status)
      putf(&l, " (status %d)", f->status);
    if (f && f->duration_ms >= 0 && f->status)
      putf(&l, " in %.3f ms", f->duration_ms);
  } else {
    putf(&l, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":", stamp,
         (int)(tv.tv_usec / 1000), level_names[level & 3]);
    put_json_string(&l, msg, 6144);
    if (f && f->ns) {
      puts_(&l, ",\"namespace\":");
      put_json_string(&l, f->ns, 1024);
    }
    if (f && f->object) {
      puts_(&l, ",\"object\":");
      put_json_string(&l, f->object, 1024);
    }
    if (f && f->remote) {
      puts_(&l, ",\"remote\":");
      put_json_string(&l, f->remote, 1024);
    }
    if (f && f->status)
      putf(&l, ",\"status\":%d", f->status);
    if (f && f->duration_ms >= 0 && f->status)
      putf(&l, ",\"duration_ms\":%.3f", f->duration_ms);
    put(&l, "}", 1);
  }
  l.buf[l.len++] = '\n';
  fwrite(l.buf, 1, l.len, stderr);
}

void duro_log_write(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, NULL, fmt, ap);
  va_end(ap);
}

void duro_log_fields_write(int level, const duro_log_fields_t *fields,
                           const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, fields, fmt, ap);
  va_end(ap);
}
