/*
 * asset.h: static files embedded into the binary at build time
 * (tools/embed.c turns a folder into a table of these), and serving one:
 * GET and HEAD, a strong ETag and 304 for a matching If-None-Match.
 * web/ becomes the frontend's table, inspector/ the admin listener's.
 */
#ifndef DURO_HTTP_ASSET_H
#define DURO_HTTP_ASSET_H

#include <stddef.h>

#include "http/http.h"

typedef struct duro_asset {
  const char *path;         /* "/app.js" */
  const char *content_type;
  const unsigned char *data; /* len bytes, then a NUL */
  size_t len;
  const char *etag;         /* quoted strong ETag */
} duro_asset_t;

/* The asset of table[0..n) at path, or NULL. */
const duro_asset_t *duro_asset_find(const duro_asset_t *table, size_t n,
                                    const char *path, size_t len);

/* Answers req with a: 200 (HEAD: the head only), 304 when the request's
 * If-None-Match is a's ETag, 405 for another method than GET or HEAD.
 * cache_control is the Cache-Control value. */
void duro_asset_serve(duro_http_req_t *req, const duro_asset_t *a,
                      const char *cache_control);

#endif
