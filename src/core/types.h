/*
 * types.h: the small types and codes that every layer shares, and that
 * the public API (include/duro.h) declares too: the error codes and the
 * {ptr, len} header. core/ sits below everything and does not include
 * duro.h, so the blocks below are copies of duro.h's, guarded the same
 * way (whichever header comes first defines them); scripts/layers.sh
 * fails when a copy differs from duro.h's.
 */
#ifndef DURO_CORE_TYPES_H
#define DURO_CORE_TYPES_H

#include <errno.h>
#include <stddef.h>

/* shared with include/duro.h: begin errors */
#ifndef DURO_ERR_CODES_DEFINED
#define DURO_ERR_CODES_DEFINED
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
  X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                       \
  X(ESTALE, -ESTALE, "no longer the owner")

enum {
#define DURO_ERR_ENUM(name, value, text) DURO_##name = (value),
  DURO_ERRNO_MAP(DURO_ERR_ENUM)
#undef DURO_ERR_ENUM
};
#endif
/* shared with include/duro.h: end errors */

/* shared with include/duro.h: begin header */
#ifndef DURO_HEADER_DEFINED
#define DURO_HEADER_DEFINED
/* A header as {ptr, len} pairs; not NUL-terminated. */
typedef struct duro_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} duro_header_t;
#endif
/* shared with include/duro.h: end header */

#endif
