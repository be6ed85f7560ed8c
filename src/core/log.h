/*
 * log.h: leveled logging to stderr, as text or as one JSON object per
 * line (--log-format json).
 *
 * A line may carry fields (duro_log_fields_t): the object it is about, the
 * peer, an HTTP status, a duration. Text shows them as a prefix
 * ("object NS(NAME): ", "REMOTE: "); JSON as members ("namespace",
 * "object", "remote", "status", "duration_ms") beside "time", "level"
 * and "msg". The level is checked before any formatting. Debug lines
 * compile out of release builds. Never log payloads, tokens or secrets.
 */
#ifndef DURO_CORE_LOG_H
#define DURO_CORE_LOG_H

enum duro_log_level {
  DURO_LOG_ERROR = 0,
  DURO_LOG_WARN = 1,
  DURO_LOG_INFO = 2,
  DURO_LOG_DEBUG = 3,
};

extern int duro_log_level;
/* 1: JSON lines; 0 (default): text. */
extern int duro_log_json;

/* The fields of one line; NULL, 0 or a negative duration: absent. */
typedef struct duro_log_fields {
  const char *ns;     /* an object's namespace (binding) */
  const char *object; /* ... and its name, or its id */
  const char *remote; /* the peer, "ip:port" */
  int status;         /* an HTTP status */
  double duration_ms;
} duro_log_fields_t;

void duro_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void duro_log_fields_write(int level, const duro_log_fields_t *fields,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DURO_LOG(level, ...)                                                  \
  do {                                                                        \
    if ((level) <= duro_log_level)                                            \
      duro_log_write((level), __VA_ARGS__);                                   \
  } while (0)

/* A line with fields: duro_log_with(DURO_LOG_WARN, &f, "fmt", ...). */
#define duro_log_with(level, fields, ...)                                     \
  do {                                                                        \
    if ((level) <= duro_log_level)                                            \
      duro_log_fields_write((level), (fields), __VA_ARGS__);                  \
  } while (0)

#define duro_log_error(...) DURO_LOG(DURO_LOG_ERROR, __VA_ARGS__)
#define duro_log_warn(...) DURO_LOG(DURO_LOG_WARN, __VA_ARGS__)
#define duro_log_info(...) DURO_LOG(DURO_LOG_INFO, __VA_ARGS__)
#ifdef NDEBUG
#define duro_log_debug(...) ((void)0)
#else
#define duro_log_debug(...) DURO_LOG(DURO_LOG_DEBUG, __VA_ARGS__)
#endif

#endif
