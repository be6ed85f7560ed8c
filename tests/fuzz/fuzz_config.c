/*
 * fuzz_config.c: libFuzzer target for the config parsers: core/jsonc
 * (duro.jsonc), core/devvars (.dev.vars), and, when the text is JSONC, the
 * whole of duro_config_load on it (the "duro" options table, bindings,
 * "classes" and the line scanner behind its error positions). They take
 * untrusted-ish text (a config file from a checkout) and must never crash,
 * leak or read out of bounds, whatever the bytes.
 *
 * The input is handed over in an exact-size heap copy, so reading one byte
 * past the end trips ASan (the parsers must not assume a NUL terminator).
 * Besides not crashing, it checks the contracts: on error the message is
 * "LINE:COL: ..." (jsonc) or "line N: ..." (devvars) and *out is NULL; on
 * success the tree is non-NULL and every devvars key is a valid name;
 * duro_config_load either succeeds or gives a message that starts with
 * "duro: " or with the file's name.
 *
 * Built and run by `make fuzz` (seeds in tests/fuzz/corpus/config).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/devvars.h"
#include "core/jsonc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const char *key, const char *value, void *arg) {
  size_t *count = arg;
  if (!((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') ||
        key[0] == '_'))
    abort();
  for (const char *k = key; *k; k++)
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
          (*k >= '0' && *k <= '9') || *k == '_'))
      abort();
  (void)strlen(value);
  (*count)++;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Loads text as the config file of a backend. The file is a memfd, so
 * nothing touches the disk and no .dev.vars is found beside it. */
static void load_config(const char *text, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("duro.jsonc", 0);
    if (fd < 0)
      abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text, size, 0) != (ssize_t)size)
    abort();
  char *argv[] = {"duro", "backend", "--config", path, NULL};
  duro_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  char err[512];
  int rc = duro_config_load(&cfg, 4, argv, err, sizeof(err));
  if (rc == 0) {
    duro_config_free(&cfg);
  } else if (rc != 1 && strncmp(err, "duro: ", 6) != 0 &&
             strncmp(err, path, strlen(path)) != 0) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = duro_memdup(data, size);
  char err[160];

  cJSON *root = (cJSON *)1;
  if (duro_jsonc_parse(text, size, &root, err, sizeof(err)) == 0) {
    if (!root)
      abort();
    cJSON_Delete(root);
    load_config(text, size);
  } else {
    const char *p = err;
    if (root || !is_digit(*p))
      abort();
    while (is_digit(*p))
      p++;
    if (*p++ != ':' || !is_digit(*p))
      abort();
  }

  size_t count = 0;
  if (duro_devvars_parse(text, size, check_entry, &count, err, sizeof(err)) !=
      0) {
    if (strncmp(err, "line ", 5) != 0 || !is_digit(err[5]))
      abort();
  }

  duro_free(text);
  return 0;
}
