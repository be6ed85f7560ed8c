/*
 * page.h: renders the countdown page from the embedded template
 * (web/index.html) and the locale's strings.
 */
#ifndef DURO_FRONTEND_PAGE_H
#define DURO_FRONTEND_PAGE_H

#include "core/buf.h"

typedef enum { DURO_LOCALE_EN, DURO_LOCALE_DE } duro_locale_t;

typedef struct duro_page_args {
  duro_locale_t locale;
  const char *heading;       /* the TEST_DO message, or NULL */
  const char *error;         /* shown instead of the heading, or NULL */
  const char *notice;        /* e.g. after a form POST without JS, or NULL */
  const char *mode;          /* "development", "test", "production" */
  int backend_port;
  const char *ws_host;       /* overrides, or NULL */
  const char *ws_path;
} duro_page_args_t;

/* Appends the rendered page to out. Returns 0, or DURO_ENOENT when the
 * template is missing from the embedded assets. */
int duro_page_render(duro_buf_t *out, const duro_page_args_t *a);

/* A string of the locale's table (NULL when unknown). */
const char *duro_page_string(duro_locale_t l, const char *key);

/* Appends s with &, <, >, ", ' escaped for HTML. */
void duro_html_escape(duro_buf_t *out, const char *s);

#endif
