/*
 * assets.h: the page's files (web/), embedded into the binary at build
 * time by tools/embed.c, so nothing is read from disk at run time.
 */
#ifndef DURO_FRONTEND_ASSETS_H
#define DURO_FRONTEND_ASSETS_H

#include <stddef.h>

typedef struct duro_asset {
  const char *path;         /* "/app.js" */
  const char *content_type;
  const unsigned char *data;
  size_t len;
  const char *etag;         /* quoted strong ETag */
} duro_asset_t;

extern const duro_asset_t duro_assets[];
extern const size_t duro_assets_count;

/* The asset at path, or NULL. */
const duro_asset_t *duro_asset_find(const char *path, size_t len);

#endif
