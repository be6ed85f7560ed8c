/* url.c: see url.h. */
#include "core/url.h"

#include "core/err.h"

int duro_hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

long duro_pct_decode(const char *src, size_t len, char *dst, int form) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '%') {
      if (i + 2 >= len)
        return DURO_EINVAL;
      int h = duro_hex_value(src[i + 1]), l = duro_hex_value(src[i + 2]);
      if (h < 0 || l < 0)
        return DURO_EINVAL;
      c = (char)(h * 16 + l);
      i += 2;
    } else if (c == '+' && form) {
      c = ' ';
    }
    dst[o++] = c;
  }
  dst[o] = '\0';
  return (long)o;
}
