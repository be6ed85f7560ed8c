/*
 * alloc.h: allocation that never returns NULL.
 *
 * An allocation failure aborts the process (as redis and h2o do), so error
 * paths stay about the peer, not about malloc. Every size that a peer
 * controls must be checked against a configured limit before it gets here.
 */
#ifndef DURO_CORE_ALLOC_H
#define DURO_CORE_ALLOC_H

#include <stddef.h>

void *duro_malloc(size_t size);
void *duro_calloc(size_t n, size_t size);
void *duro_realloc(void *ptr, size_t size);
char *duro_strdup(const char *s);
/* Copy of len bytes plus a terminating NUL. */
char *duro_strndup(const char *s, size_t len);
void *duro_memdup(const void *p, size_t len);
#define duro_free free

#include <stdlib.h>

#endif
