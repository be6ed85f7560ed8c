/*
 * options.c: see options.h.
 *
 * Design notes.
 * - Every type has one store, one check and one help form, all switches
 *   over the row's type; a section is data only. Messages read as they did
 *   when each section had its own parser: "PATH: duro.NAME must be an
 *   integer in MIN..MAX", "PATH: sync.cors must be true or false", ...
 * - Values are written straight into the caller's (scratch) struct; the
 *   caller frees it on error, so a half-applied section is never seen.
 */
#include "core/options.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#define fail(err, errlen, ...)                                                 \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

static char *field_at(void *st, size_t offset) { return (char *)st + offset; }

#define FIELD(st, off, type) (*(type *)(void *)field_at((st), (off)))

static size_t nchoices(const duro_option_t *o) {
  size_t n = 0;
  while (o->choices && o->choices[n])
    n++;
  return n;
}

static void store_number(void *st, const duro_option_t *o,
                         unsigned long long v) {
  switch (o->type) {
  case DURO_OPT_SIZE:
    FIELD(st, o->offset, size_t) = (size_t)v;
    break;
  case DURO_OPT_UINT:
  case DURO_OPT_MS:
    FIELD(st, o->offset, unsigned) = (unsigned)v;
    break;
  case DURO_OPT_CHOICE:
  case DURO_OPT_BOOL:
    FIELD(st, o->offset, int) = (int)v;
    break;
  default:
    break;
  }
}

static void set_string(void *st, const duro_option_t *o, const char *s) {
  char **slot = &FIELD(st, o->offset, char *);
  duro_free(*slot);
  *slot = s ? duro_strdup(s) : NULL;
}

void duro_options_defaults(const duro_config_section_t *s, void *st) {
  for (size_t i = 0; i < s->nrows; i++) {
    const duro_option_t *o = &s->rows[i];
    switch (o->type) {
    case DURO_OPT_STRING:
    case DURO_OPT_URL:
      FIELD(st, o->offset, char *) = NULL;
      break;
    case DURO_OPT_STRINGS:
      FIELD(st, o->offset, char **) = NULL;
      FIELD(st, o->count_offset, size_t) = 0;
      break;
    default:
      store_number(st, o, o->def);
      break;
    }
  }
}

void duro_options_free(const duro_config_section_t *s, void *st) {
  for (size_t i = 0; i < s->nrows; i++) {
    const duro_option_t *o = &s->rows[i];
    if (o->type == DURO_OPT_STRING || o->type == DURO_OPT_URL) {
      set_string(st, o, NULL);
    } else if (o->type == DURO_OPT_STRINGS) {
      char **list = FIELD(st, o->offset, char **);
      size_t *n = &FIELD(st, o->count_offset, size_t);
      for (size_t k = 0; k < *n; k++)
        duro_free(list[k]);
      duro_free(list);
      FIELD(st, o->offset, char **) = NULL;
      *n = 0;
    }
  }
}

const duro_option_t *duro_options_find(const duro_config_section_t *s,
                                       const char *name) {
  for (size_t i = 0; i < s->nrows; i++)
    if (strcmp(s->rows[i].name, name) == 0)
      return &s->rows[i];
  return NULL;
}

int duro_options_json_uint(const cJSON *item, unsigned long long min,
                           unsigned long long max, unsigned long long *out) {
  if (!cJSON_IsNumber(item))
    return 0;
  double d = item->valuedouble;
  if (!(d >= (double)min && d <= (double)max))
    return 0;
  unsigned long long v = (unsigned long long)d;
  if ((double)v != d)
    return 0;
  *out = v;
  return 1;
}

/* Appends words joined as English does: "a", "a or b", "a, b or c";
 * quote is put around each word ("" for none). */
static void join_or(duro_buf_t *b, const char *const *words, size_t n,
                    const char *quote) {
  for (size_t i = 0; i < n; i++) {
    const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
    duro_buf_printf(b, "%s%s%s%s", sep, quote, words[i], quote);
  }
}

/* "PATH: SECTION.NAME must be " + what, formatted once into err. */
static int fail_row(const duro_config_section_t *s, const duro_option_t *o,
                    const char *path, const char *what, char *err,
                    size_t errlen) {
  return fail(err, errlen, "%s: %s.%s must be %s", path, s->name, o->name,
              what);
}

static int http_url(const char *v) {
  return strncmp(v, "http://", 7) == 0 && v[7] != '\0' && v[7] != '/';
}

/* Applies one key; 0 or DURO_EINVAL with the message in err. */
static int load_row(const duro_config_section_t *s, const duro_option_t *o,
                    void *st, const cJSON *it, const char *path, char *err,
                    size_t errlen) {
  switch (o->type) {
  case DURO_OPT_SIZE:
  case DURO_OPT_UINT:
  case DURO_OPT_MS: {
    unsigned long long v;
    if (!duro_options_json_uint(it, o->min, o->max, &v))
      return fail(err, errlen, "%s: %s.%s must be an integer in %llu..%llu",
                  path, s->name, o->name, o->min, o->max);
    store_number(st, o, v);
    return 0;
  }
  case DURO_OPT_CHOICE: {
    size_t n = nchoices(o);
    for (size_t k = 0; cJSON_IsString(it) && k < n; k++) {
      if (strcmp(o->choices[k], it->valuestring) == 0) {
        store_number(st, o, k);
        return 0;
      }
    }
    duro_buf_t b = DURO_BUF_INIT;
    join_or(&b, o->choices, n, "\"");
    *duro_buf_reserve(&b, 1) = '\0';
    int rc = fail_row(s, o, path, (const char *)b.data, err, errlen);
    duro_buf_free(&b);
    return rc;
  }
  case DURO_OPT_BOOL:
    if (!cJSON_IsBool(it))
      return fail_row(s, o, path, "true or false", err, errlen);
    store_number(st, o, cJSON_IsTrue(it) ? 1 : 0);
    return 0;
  case DURO_OPT_STRING:
  case DURO_OPT_URL:
    if (cJSON_IsNull(it)) {
      set_string(st, o, NULL);
      return 0;
    }
    if (o->type == DURO_OPT_STRING &&
        (!cJSON_IsString(it) || !*it->valuestring))
      return fail_row(s, o, path, "a non-empty string", err, errlen);
    if (o->type == DURO_OPT_URL &&
        (!cJSON_IsString(it) || !http_url(it->valuestring))) {
      if (o->example)
        return fail(err, errlen, "%s: %s.%s must be an http:// URL such as %s",
                    path, s->name, o->name, o->example);
      return fail_row(s, o, path, "an http:// URL", err, errlen);
    }
    set_string(st, o, it->valuestring);
    return 0;
  case DURO_OPT_STRINGS: {
    if (!cJSON_IsArray(it))
      return fail_row(s, o, path, "an array of strings", err, errlen);
    char ***list = &FIELD(st, o->offset, char **);
    size_t *n = &FIELD(st, o->count_offset, size_t);
    for (const cJSON *t = it->child; t; t = t->next) {
      if (!cJSON_IsString(t) || !*t->valuestring)
        return fail(err, errlen, "%s: %s.%s must hold non-empty strings", path,
                    s->name, o->name);
      *list = duro_realloc(*list, (*n + 1) * sizeof(char *));
      (*list)[(*n)++] = duro_strdup(t->valuestring);
    }
    return 0;
  }
  }
  return 0;
}

int duro_options_load(const duro_config_section_t *s, void *st,
                      const cJSON *obj, const char *path, char *err,
                      size_t errlen) {
  if (!cJSON_IsObject(obj))
    return fail(err, errlen, "%s: \"%s\" must be an object", path, s->name);
  for (const cJSON *it = obj->child; it; it = it->next) {
    const duro_option_t *o = duro_options_find(s, it->string);
    if (o) {
      if (load_row(s, o, st, it, path, err, errlen) < 0)
        return DURO_EINVAL;
      continue;
    }
    if (!s->list_unknown)
      return fail(err, errlen, "%s: unknown setting %s.%.64s (see duro --help)",
                  path, s->name, it->string);
    duro_buf_t b = DURO_BUF_INIT;
    const char **names =
        duro_malloc((s->nrows ? s->nrows : 1) * sizeof(*names));
    for (size_t i = 0; i < s->nrows; i++)
      names[i] = s->rows[i].name;
    join_or(&b, names, s->nrows, "");
    duro_free(names);
    *duro_buf_reserve(&b, 1) = '\0';
    fail(err, errlen, "%s: unknown setting %s.%.64s (expected %s)", path,
         s->name, it->string, (const char *)b.data);
    duro_buf_free(&b);
    return DURO_EINVAL;
  }
  return 0;
}

void duro_options_usage(const duro_config_section_t *s, duro_buf_t *b) {
  static const char *const units[] = {"bytes", "count", "ms"};
  duro_buf_printf(b, "\n%s:\n", s->help_title);
  for (size_t i = 0; i < s->nrows; i++) {
    const duro_option_t *o = &s->rows[i];
    duro_buf_printf(b, "  %-28s ", o->name);
    switch (o->type) {
    case DURO_OPT_SIZE:
    case DURO_OPT_UINT:
    case DURO_OPT_MS:
      duro_buf_printf(b, "%llu (%s, %llu..%llu)", o->def, units[o->type],
                      o->min, o->max);
      break;
    case DURO_OPT_CHOICE: {
      size_t n = nchoices(o);
      duro_buf_printf(b, "%s (one of ", o->def < n ? o->choices[o->def] : "?");
      for (size_t k = 0; k < n; k++)
        duro_buf_printf(b, "%s%s", k ? ", " : "", o->choices[k]);
      duro_buf_printf(b, ")");
      break;
    }
    case DURO_OPT_BOOL:
      duro_buf_printf(b, "%s (true or false)", o->def ? "true" : "false");
      break;
    case DURO_OPT_STRING:
      duro_buf_printf(b, "none (a non-empty string)");
      break;
    case DURO_OPT_URL:
      duro_buf_printf(b, "none (an http:// URL%s%s)",
                      o->example ? " such as " : "",
                      o->example ? o->example : "");
      break;
    case DURO_OPT_STRINGS:
      duro_buf_printf(b, "none (an array of non-empty strings)");
      break;
    }
    duro_buf_printf(b, "\n  %-28s %s\n", "", o->doc);
  }
  if (s->help_footer)
    duro_buf_append_str(b, s->help_footer);
}
