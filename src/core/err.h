/*
 * err.h: the one error convention of duro.
 *
 * Functions that can fail return 0 (or a byte count) on success and a
 * negative DURO_E* code on failure, libuv style. DURO_AGAIN is not a
 * failure: it means "more bytes are needed" or "the socket is full".
 * The table in include/duro.h generates the enum, duro_strerror() and
 * duro_err_name().
 */
#ifndef DURO_CORE_ERR_H
#define DURO_CORE_ERR_H

/* The codes themselves (DURO_ERRNO_MAP and the DURO_E* enum) are part of
 * the public API; core/types.h holds core's copy of them. */
#include <stddef.h>

#include "core/types.h"

/* Human-readable text for a DURO_E* code (or any negative errno). Never NULL. */
const char *duro_strerror(int err);
/* Symbolic name such as "EPROTO". Never NULL. */
const char *duro_err_name(int err);

/* Formats a one-line message into err (when err is not NULL and errlen is
 * not 0) and returns code: `return duro_err_fmt(DURO_EINVAL, err, errlen,
 * "...", ...)` for functions that report errors as text. */
int duro_err_fmt(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
