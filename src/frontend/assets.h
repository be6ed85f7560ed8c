/*
 * assets.h: the page's files (web/), embedded into the binary at build
 * time by tools/embed.c (http/asset.h), so nothing is read from disk at
 * run time.
 */
#ifndef DURO_FRONTEND_ASSETS_H
#define DURO_FRONTEND_ASSETS_H

#include "http/asset.h"

extern const duro_asset_t duro_assets[];
extern const size_t duro_assets_count;

#endif
