/*
 * buf.h: byte buffers.
 *
 * duro_chunk_t is an immutable, reference-counted run of bytes. A broadcast
 * is framed once into one chunk and every recipient's send queue holds a
 * reference to it; the last release frees it. Chunks are only touched on
 * the loop thread, so the count is a plain integer.
 *
 * duro_buf_t is a growable byte buffer owned by exactly one holder (an
 * input buffer, a message being assembled, a response being built).
 */
#ifndef DURO_CORE_BUF_H
#define DURO_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct duro_chunk {
  uint32_t refs;
  uint32_t len;
  uint8_t data[];
} duro_chunk_t;

/* A chunk of len bytes with one reference, contents uninitialised. */
duro_chunk_t *duro_chunk_new(size_t len);
/* A chunk holding a copy of len bytes of data. */
duro_chunk_t *duro_chunk_from(const void *data, size_t len);

/* Room a block needs in front of its bytes to become a chunk in place. */
#define DURO_CHUNK_HEADROOM sizeof(duro_chunk_t)
/* Turns mem (from duro_malloc: DURO_CHUNK_HEADROOM bytes, then the len
 * bytes of the chunk) into a chunk with one reference, without a copy;
 * mem belongs to the chunk afterwards. For bytes built off the loop
 * thread (any thread may fill mem; only the loop makes it a chunk). */
duro_chunk_t *duro_chunk_adopt(void *mem, size_t len);

static inline duro_chunk_t *duro_chunk_ref(duro_chunk_t *c) {
  c->refs++;
  return c;
}

/* Drops one reference; frees the chunk when none is left. */
void duro_chunk_unref(duro_chunk_t *c);

typedef struct duro_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} duro_buf_t;

#define DURO_BUF_INIT {NULL, 0, 0}

/* Makes room for at least extra more bytes; returns a pointer to the end. */
uint8_t *duro_buf_reserve(duro_buf_t *b, size_t extra);
void duro_buf_append(duro_buf_t *b, const void *data, size_t len);
void duro_buf_append_str(duro_buf_t *b, const char *s);
/* v in decimal, without printf (hot paths: every event's seqNum). */
void duro_buf_append_i64(duro_buf_t *b, int64_t v);
/* printf-style append. */
void duro_buf_printf(duro_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void duro_buf_vprintf(duro_buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes, moving the rest to the front. */
void duro_buf_consume(duro_buf_t *b, size_t n);
/* Frees the storage and returns the buffer to empty. */
void duro_buf_free(duro_buf_t *b);
/* Hands the bytes over as a chunk and leaves the buffer empty. */
duro_chunk_t *duro_buf_to_chunk(duro_buf_t *b);

#endif
