/*
 * fuzz_ws_frame.c: libFuzzer target for the WebSocket frame reader
 * (src/ws/frame.c) and UTF-8 validator.
 *
 * The input is a byte stream from a peer. It runs through a server-side
 * (masked) and a client-side (unmasked) reader with a 64 KiB message limit,
 * twice each: once with the whole input available, once arriving in
 * pieces whose sizes come from a PRNG seeded by the input. Both runs must
 * produce the same events and end the same way (the oracle for "returns 0
 * until a frame is whole"), every delivered event must satisfy the
 * reader's contract (text is valid UTF-8, control payloads <= 125 bytes,
 * messages <= the limit), and nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "ws/frame.h"
#include "ws/utf8.h"

#define MAX_MESSAGE (64 * 1024)

/* FNV-1a over the events, so two runs compare without storing them. */
static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * UINT64_C(1099511628211);
  return h;
}

static void check_event(const duro_ws_event_t *ev) {
  switch (ev->opcode) {
  case 0:
    break;
  case DURO_WS_OP_TEXT:
    if (duro_utf8_validate(DURO_UTF8_ACCEPT, ev->data, ev->len) !=
        DURO_UTF8_ACCEPT)
      abort();
    /* fall through */
  case DURO_WS_OP_BINARY:
    if (ev->len > MAX_MESSAGE || !ev->data)
      abort();
    break;
  case DURO_WS_OP_CLOSE:
    if (ev->len == 1 || (ev->len == 0 && ev->close_code != 1005) ||
        (ev->len >= 2 && !duro_ws_close_code_valid(ev->close_code)))
      abort();
    /* fall through */
  case DURO_WS_OP_PING:
  case DURO_WS_OP_PONG:
    if (ev->len > 125 || !ev->data)
      abort();
    break;
  default:
    abort();
  }
}

struct outcome {
  uint64_t hash;
  ssize_t last; /* final error code, or 0 */
  size_t consumed;
};

/*
 * Feeds data[0..size) to a fresh reader. With step_seed 0 all bytes are
 * available at once; otherwise they are appended to an input buffer in
 * pseudo-random pieces, feeding after each until the reader wants more.
 */
static struct outcome run(const uint8_t *data, size_t size, int masked,
                          uint32_t step_seed) {
  struct outcome o = {UINT64_C(14695981039346656037), 0, 0};
  duro_ws_reader_t r;
  duro_buf_t in = DURO_BUF_INIT;
  size_t avail = 0;
  uint32_t rng = step_seed;

  duro_ws_reader_init(&r, masked, MAX_MESSAGE);
  while (avail < size) {
    size_t step = size - avail;
    if (step_seed) {
      rng = rng * 1103515245u + 12345u;
      size_t want = ((rng >> 16) % 3 == 0) ? 1 : (rng >> 16) % 200 + 1;
      if (want < step)
        step = want;
    }
    duro_buf_append(&in, data + avail, step);
    avail += step;
    for (;;) {
      duro_ws_event_t ev;
      ssize_t n = duro_ws_reader_feed(&r, in.data, in.len, &ev);
      if (n == DURO_AGAIN)
        break;
      if (n < 0) {
        if (!ev.error_reason || (ev.error_code != 1002 &&
                                 ev.error_code != 1007 &&
                                 ev.error_code != 1009))
          abort();
        o.last = n;
        o.hash = mix(o.hash, &ev.error_code, sizeof(ev.error_code));
        goto done;
      }
      if ((size_t)n > in.len)
        abort();
      check_event(&ev);
      o.hash = mix(o.hash, &n, sizeof(n));
      o.hash = mix(o.hash, &ev.opcode, sizeof(ev.opcode));
      o.hash = mix(o.hash, &ev.close_code, sizeof(ev.close_code));
      if (ev.opcode)
        o.hash = mix(o.hash, ev.data, ev.len);
      o.consumed += (size_t)n;
      duro_buf_consume(&in, (size_t)n);
    }
  }
done:
  duro_ws_reader_reset(&r);
  duro_buf_free(&in);
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t seed = (uint32_t)size * 2654435761u + 1;
  if (size)
    seed ^= data[0] | (uint32_t)data[size - 1] << 8;
  if (!seed)
    seed = 1;
  for (int masked = 0; masked <= 1; masked++) {
    struct outcome whole = run(data, size, masked, 0);
    struct outcome parts = run(data, size, masked, seed);
    if (whole.hash != parts.hash || whole.last != parts.last ||
        whole.consumed != parts.consumed)
      abort();
  }
  /* The validator itself: one pass equals two halves. */
  size_t half = size / 2;
  uint32_t st = duro_utf8_validate(DURO_UTF8_ACCEPT, data, half);
  st = duro_utf8_validate(st, data + half, size - half);
  if (st != duro_utf8_validate(DURO_UTF8_ACCEPT, data, size))
    abort();
  return 0;
}
