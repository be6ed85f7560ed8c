/*
 * fuzz_ws_inflate.c: libFuzzer target for permessage-deflate's receive
 * side (src/ws/deflate.c with the frame reader of src/ws/frame.c): the
 * peer's bytes run through a server-side reader that negotiated the
 * extension, and every compressed message is inflated with a 64 KiB
 * bound, as wsconn.c does. The same input is also read as a
 * Sec-WebSocket-Extensions offer.
 *
 * Checks, besides no crash, leak or out-of-bounds read: an inflated
 * message is at most the bound (E2BIG past it, having written at most one
 * byte more); a compressed message never arrives without the extension;
 * a message that inflates, deflated again and inflated back, is the same
 * bytes (the sending side, on data the fuzzer shaped).
 *
 * Built and run by `make fuzz` (seeds in tests/fuzz/corpus/ws_inflate).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "ws/deflate.h"
#include "ws/frame.h"

#define MAX_MESSAGE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *msg, size_t len) {
  duro_buf_t z = DURO_BUF_INIT, back = DURO_BUF_INIT;
  if (duro_ws_deflate(msg, len, &z) == 0) {
    if (z.len >= len)
      abort();
    if (duro_ws_inflate(z.data, z.len, len, &back) != 0 || back.len != len ||
        (len && memcmp(back.data, msg, len) != 0))
      abort();
  }
  duro_buf_free(&z);
  duro_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *buf = duro_memdup(data, size);
  (void)duro_ws_deflate_accepts((const char *)buf, size);

  duro_ws_reader_t r;
  duro_ws_reader_init(&r, 1, MAX_MESSAGE);
  r.deflate = 1;
  duro_buf_t out = DURO_BUF_INIT;
  size_t off = 0;
  while (off < size) {
    duro_ws_event_t ev;
    ssize_t n = duro_ws_reader_feed(&r, buf + off, size - off, &ev);
    if (n <= 0)
      break;
    off += (size_t)n;
    if (ev.opcode != DURO_WS_OP_TEXT && ev.opcode != DURO_WS_OP_BINARY)
      continue;
    if (!ev.compressed) {
      roundtrip(ev.data, ev.len);
      continue;
    }
    int rc = duro_ws_inflate(ev.data, ev.len, MAX_MESSAGE, &out);
    if (rc == 0 && out.len > MAX_MESSAGE)
      abort();
    if (rc == DURO_E2BIG && out.len > MAX_MESSAGE + 1)
      abort();
    if (rc != 0 && rc != DURO_E2BIG && rc != DURO_EPROTO)
      abort();
    if (rc == 0)
      roundtrip(out.data, out.len);
  }
  duro_ws_reader_reset(&r);

  /* without the extension, RSV1 never yields a compressed message */
  memcpy(buf, data, size);
  duro_ws_reader_init(&r, 1, MAX_MESSAGE);
  off = 0;
  while (off < size) {
    duro_ws_event_t ev;
    ssize_t n = duro_ws_reader_feed(&r, buf + off, size - off, &ev);
    if (n <= 0)
      break;
    if (ev.compressed)
      abort();
    off += (size_t)n;
  }
  duro_ws_reader_reset(&r);
  duro_buf_free(&out);
  duro_free(buf);
  return 0;
}
