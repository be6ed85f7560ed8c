/* log.c: see log.h. One line per call, with a UTC timestamp and level. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int duro_log_level = DURO_LOG_INFO;

void duro_log_write(int level, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  struct timeval tv;
  struct tm tm;
  char stamp[32];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

  char line[2048];
  int n = snprintf(line, sizeof(line), "%s.%03dZ %-5s ", stamp,
                   (int)(tv.tv_usec / 1000), names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof(line))
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}
