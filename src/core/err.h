/*
 * err.h: the one error convention of duro.
 *
 * Functions that can fail return 0 (or a byte count) on success and a
 * negative DURO_E* code on failure, libuv style. DURO_AGAIN is not a
 * failure: it means "more bytes are needed" or "the socket is full".
 * The table below generates the enum, duro_strerror() and duro_err_name().
 */
#ifndef DURO_CORE_ERR_H
#define DURO_CORE_ERR_H

#include <errno.h>

#define DURO_ERRNO_MAP(X)                                                     \
  X(AGAIN, -EAGAIN, "resource temporarily unavailable")                       \
  X(EINVAL, -EINVAL, "invalid argument")                                      \
  X(ENOMEM, -ENOMEM, "out of memory")                                         \
  X(ENOENT, -ENOENT, "no such file or directory")                             \
  X(EEXIST, -EEXIST, "already exists")                                        \
  X(EIO, -EIO, "i/o error")                                                   \
  X(EPROTO, -EPROTO, "protocol error")                                        \
  X(E2BIG, -E2BIG, "too large")                                               \
  X(EBUSY, -EBUSY, "busy")                                                    \
  X(ENOSPC, -ENOSPC, "limit reached")                                         \
  X(ECANCELED, -ECANCELED, "operation canceled")                              \
  X(ECLOSED, -EPIPE, "connection closed")                                     \
  X(EACCES, -EACCES, "permission denied")                                     \
  X(ENOTSUP, -ENOTSUP, "not supported")                                       \
  X(ETIMEDOUT, -ETIMEDOUT, "timed out")

enum {
#define DURO_ERR_ENUM(name, value, text) DURO_##name = (value),
  DURO_ERRNO_MAP(DURO_ERR_ENUM)
#undef DURO_ERR_ENUM
};

/* Human-readable text for a DURO_E* code (or any negative errno). Never NULL. */
const char *duro_strerror(int err);
/* Symbolic name such as "EPROTO". Never NULL. */
const char *duro_err_name(int err);

#endif
