/*
 * log.h: leveled logging to stderr.
 *
 * The level is checked before any formatting. Debug lines compile out of
 * release builds. Never log payloads, tokens or secrets.
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

void duro_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define DURO_LOG(level, ...)                                                  \
  do {                                                                        \
    if ((level) <= duro_log_level)                                            \
      duro_log_write((level), __VA_ARGS__);                                   \
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
