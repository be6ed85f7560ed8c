/*
 * fuzz_config.c: libFuzzer target for the two config parsers, core/jsonc
 * (duro.jsonc) and core/devvars (.dev.vars). Both take untrusted-ish text
 * (a config file from a checkout) and must never crash, leak or read out of
 * bounds, whatever the bytes.
 *
 * The input is handed over in an exact-size heap copy, so reading one byte
 * past the end trips ASan (the parsers must not assume a NUL terminator).
 * Besides not crashing, it checks the contracts: on error the message is
 * "LINE:COL: ..." (jsonc) or "line N: ..." (devvars) and *out is NULL; on
 * success the tree is non-NULL and every devvars key is a valid name.
 *
 * Build and run (see tests/fuzz/corpus/config for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     -Iinclude tests/fuzz/fuzz_config.c src/core/jsonc.c src/core/devvars.c \
 *     src/core/alloc.c src/core/err.c src/core/buf.c -lcjson -o fuzz_config
 *   ./fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = duro_memdup(data, size);
  char err[160];

  cJSON *root = (cJSON *)1;
  if (duro_jsonc_parse(text, size, &root, err, sizeof(err)) == 0) {
    if (!root)
      abort();
    cJSON_Delete(root);
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
