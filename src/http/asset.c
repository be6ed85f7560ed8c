/*
 * asset.c: see asset.h.
 */
#include "http/asset.h"

#include <string.h>

const duro_asset_t *duro_asset_find(const duro_asset_t *table, size_t n,
                                    const char *path, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(table[i].path) == len && /* C string: built in */
        memcmp(table[i].path, path, len) == 0)
      return &table[i];
  return NULL;
}

void duro_asset_serve(duro_http_req_t *req, const duro_asset_t *a,
                      const char *cache_control) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    duro_header_t hs[1] = {{"Allow", 5, "GET, HEAD", 9}};
    duro_http_respond(req, 405, hs, 1, "Method Not Allowed", 18);
    return;
  }
  /* the table is generated at build time: C strings */
  size_t ctl = strlen(a->content_type), etl = strlen(a->etag); /* C string */
  duro_header_t hs[3] = {
      {"Content-Type", 12, a->content_type, ctl},
      {"ETag", 4, a->etag, etl},
      {"Cache-Control", 13, cache_control,
       strlen(cache_control)}, /* C string: a literal */
  };
  const duro_header_t *inm = duro_http_header(req, "If-None-Match");
  if (inm && inm->value_len == etl &&
      memcmp(inm->value, a->etag, inm->value_len) == 0) {
    duro_http_respond(req, 304, hs + 1, 2, "", 0);
    return;
  }
  duro_http_respond(req, 200, hs, 3, a->data, a->len);
}
