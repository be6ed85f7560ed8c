/*
 * fuzz_sync_proto.c: libFuzzer target for the LiveStore sync message
 * parser and builders (src/sync/proto.c).
 *
 * The input is one client message (a WebSocket text frame or an HTTP
 * body). Oracles, beyond "no crash, no leak, no UB":
 *  - duro_sync_parse answers OK, DEFECT or DIE; OK implies the whole input is
 *    valid JSON by the independent duro_sync_json_valid;
 *  - every span lies inside the input; request ids are at most 64 bytes;
 *    at most events_cap events are stored;
 *  - each event's args is itself valid JSON;
 *  - what the builders make from the parsed spans (a batch item, a
 *    PullResponse, a Chunk, every Exit form, a Defect) is valid JSON;
 *  - decoding a string and escaping it again gives back the same text.
 *
 * make fuzz builds and runs it (mk/fuzz.mk); by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     -Iinclude tests/fuzz/fuzz_sync_proto.c src/sync/proto.c \
 *     src/core/alloc.c src/core/buf.c -o fuzz_sync_proto
 *   ./fuzz_sync_proto -dict=tests/fuzz/sync_proto.dict \
 *     -max_total_time=60 tests/fuzz/corpus/sync_proto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "sync/proto.h"

#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c))                                                                 \
      abort();                                                                \
  } while (0)

static const char *base;
static size_t base_len;

static void in_bounds(sync_span_t s) {
  if (!s.p)
    return;
  CHECK(s.p >= base && s.p + s.n <= base + base_len);
}

static void valid_json(duro_buf_t *b) {
  CHECK(duro_sync_json_valid((const char *)b->data, b->len));
  b->len = 0;
}

/* Decodes an escaped string and escapes it again: the decoded text must
 * survive the round trip. */
static void roundtrip(sync_span_t s) {
  if (!s.p)
    return;
  char *dec = duro_malloc(s.n + 1);
  size_t n;
  if (duro_sync_json_unescape(s.p, s.n, dec, &n) == 0) {
    CHECK(n <= s.n && dec[n] == '\0');
    duro_buf_t b = DURO_BUF_INIT;
    duro_sync_json_append_string(&b, dec, n);
    CHECK(duro_sync_json_valid((const char *)b.data, b.len));
    char *again = duro_malloc(b.len + 1);
    size_t m;
    CHECK(duro_sync_json_unescape((const char *)b.data + 1, b.len - 2, again,
                                  &m) == 0);
    CHECK(m == n && memcmp(again, dec, n) == 0);
    duro_free(again);
    duro_buf_free(&b);
  }
  duro_free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy, so reads past the end are caught by ASan. */
  char *msg = duro_malloc(size ? size : 1);
  memcpy(msg, data, size);
  base = msg;
  base_len = size;
  sync_event_t events[4];
  sync_msg_t m;
  const char *why = NULL;
  int rc = duro_sync_parse(msg, size, events, 4, &m, &why);
  CHECK(rc == 0 || rc == DURO_EPROTO || rc == DURO_EINVAL);
  duro_buf_t b = DURO_BUF_INIT;
  if (rc != 0) {
    CHECK(why != NULL);
    duro_sync_build_defect(&b, why);
    valid_json(&b);
  }
  if (rc == 0)
    CHECK(duro_sync_json_valid(msg, size));
  if (rc == 0 || rc == DURO_EINVAL) {
    in_bounds(m.id);
    if (m.id.p) {
      /* a token: a string with its quotes, or an integer's digits */
      CHECK(m.id.n <= SYNC_MAX_ID_TOKEN);
      CHECK(duro_sync_json_valid(m.id.p, m.id.n));
      sync_span_t text = duro_sync_id_text(m.id);
      CHECK(text.n <= SYNC_MAX_ID);
      if (duro_sync_id_is_number(m.id))
        for (size_t i = 0; i < m.id.n; i++)
          CHECK(m.id.p[i] >= '0' && m.id.p[i] <= '9');
      else
        roundtrip(text);
      duro_sync_build_exit_success(&b, m.id, 1);
      valid_json(&b);
      duro_sync_build_exit_success(&b, m.id, 0);
      valid_json(&b);
      duro_sync_build_server_ahead(&b, m.id, 5, 3);
      valid_json(&b);
      duro_sync_build_unknown_error(&b, m.id, why ? why : "x\"\n\x01");
      valid_json(&b);
      duro_sync_build_die(&b, m.id, why ? why : "x");
      valid_json(&b);
      duro_sync_build_interrupted(&b, m.id);
      valid_json(&b);
      duro_sync_build_exit_value(&b, m.id, "{\"_tag\":\"SyncMessage.Pong\"}");
      valid_json(&b);
    }
  }
  if (rc == 0 && m.kind == SYNC_MSG_REQUEST) {
    in_bounds(m.store_id);
    in_bounds(m.payload);
    in_bounds(m.cursor_backend_id);
    in_bounds(m.backend_id);
    in_bounds(m.batch);
    roundtrip(m.store_id);
    if (m.payload.p)
      CHECK(duro_sync_json_valid(m.payload.p, m.payload.n));
    if (m.has_backend_id)
      duro_sync_build_backend_mismatch(&b, m.id, "expected", m.backend_id);
    else if (m.has_cursor)
      duro_sync_build_backend_mismatch(&b, m.id, "expected",
                                       m.cursor_backend_id);
    if (b.len)
      valid_json(&b);
    size_t stored = m.nevents < 4 ? m.nevents : 4;
    duro_sync_build_chunk_head(&b, m.id);
    duro_buf_append_str(&b, duro_sync_response_head);
    for (size_t i = 0; i < stored; i++) {
      const sync_event_t *e = &m.events[i];
      in_bounds(e->name);
      in_bounds(e->args);
      in_bounds(e->client_id);
      in_bounds(e->session_id);
      roundtrip(e->name);
      if (e->args.p)
        CHECK(duro_sync_json_valid(e->args.p, e->args.n));
      CHECK(e->seq >= 0 && e->seq <= SYNC_MAX_SEQ);
      if (i)
        duro_buf_append(&b, ",", 1);
      duro_sync_build_item(&b, e->name.p, e->name.n, e->args.p, e->args.n,
                           e->seq, e->parent, e->client_id.p, e->client_id.n,
                           e->session_id.p, e->session_id.n,
                           "2025-05-08T10:15:30.123Z", 24);
    }
    duro_sync_build_response_tail(&b, m.nevents % 2 ? 7 : -1, "bid\"x");
    duro_buf_append_str(&b, duro_sync_chunk_tail);
    valid_json(&b);
  }
  duro_buf_free(&b);
  duro_free(msg);
  return 0;
}
