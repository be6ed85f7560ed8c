/* err.c: text for the codes of err.h. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *duro_strerror(int err) {
  switch (err) {
#define DURO_ERR_TEXT(name, value, text)                                      \
  case value:                                                                 \
    return text;
    DURO_ERRNO_MAP(DURO_ERR_TEXT)
#undef DURO_ERR_TEXT
  default:
    return err < 0 ? strerror(-err) : "success";
  }
}

const char *duro_err_name(int err) {
  switch (err) {
#define DURO_ERR_NAME(name, value, text)                                      \
  case value:                                                                 \
    return #name;
    DURO_ERRNO_MAP(DURO_ERR_NAME)
#undef DURO_ERR_NAME
  default:
    return err < 0 ? "EUNKNOWN" : "OK";
  }
}

int duro_err_fmt(int code, char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}
