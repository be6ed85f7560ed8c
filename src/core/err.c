/* err.c: text for the codes of err.h. */
#include "core/err.h"

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
