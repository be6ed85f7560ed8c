/*
 * test_proto.c: the LiveStore sync codec (src/sync/proto.c),
 * table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "sync/proto.h"

static int parse(const char *s, sync_msg_t *m, sync_event_t *ev, size_t cap,
                 const char **why) {
  return duro_sync_parse(s, strlen(s), ev, cap, m, why);
}

static int span_eq(sync_span_t sp, const char *s) {
  return sp.p && sp.n == strlen(s) && memcmp(sp.p, s, sp.n) == 0;
}

static void test_parse_messages(void **state) {
  sync_msg_t m;
  sync_event_t ev[4];
  const char *why;
  assert_int_equal(parse("{\"_tag\":\"Ping\"}", &m, ev, 4, &why), 0);
  assert_int_equal(m.kind, SYNC_MSG_PING);
  assert_int_equal(
      parse(" {\"_tag\" : \"Ack\", \"requestId\":\"3\"} ", &m, ev, 4, &why), 0);
  assert_int_equal(m.kind, SYNC_MSG_ACK);
  assert_true(span_eq(m.id, "\"3\""));
  assert_true(span_eq(duro_sync_id_text(m.id), "3"));
  assert_int_equal(duro_sync_id_is_number(m.id), 0);
  assert_int_equal(
      parse("{\"_tag\":\"Interrupt\",\"requestId\":\"12\"}", &m, ev, 4, &why),
      0);
  assert_int_equal(m.kind, SYNC_MSG_INTERRUPT);

  const char *pull =
      "{\"_tag\":\"Request\",\"id\":\"5\",\"tag\":\"SyncWsRpc.Pull\",\"payload\":"
      "{\"storeId\":\"todo app/1\",\"payload\":{\"authToken\":\"abc\"},\"live\":true,"
      "\"cursor\":{\"_tag\":\"Some\",\"value\":{\"backendId\":\"Qm\\u0037c2\","
      "\"eventSequenceNumber\":42}}},\"traceId\":\"t\",\"sampled\":false,\"headers\":[]}";
  assert_int_equal(parse(pull, &m, ev, 4, &why), 0);
  assert_int_equal(m.kind, SYNC_MSG_REQUEST);
  assert_int_equal(m.rpc, SYNC_RPC_PULL);
  assert_int_equal(m.http, 0);
  assert_true(span_eq(m.id, "\"5\""));
  assert_true(span_eq(m.store_id, "todo app/1"));
  assert_true(span_eq(m.payload, "{\"authToken\":\"abc\"}"));
  assert_int_equal(m.live, 1);
  assert_int_equal(m.has_cursor, 1);
  assert_int_equal(m.cursor_seq, 42);
  char dec[32];
  size_t n;
  assert_int_equal(duro_sync_json_unescape(m.cursor_backend_id.p,
                                           m.cursor_backend_id.n, dec, &n),
                   0);
  assert_string_equal(dec, "Qm7c2");

  const char *push =
      "{\"_tag\":\"Request\",\"id\":\"7\",\"tag\":\"SyncWsRpc.Push\",\"payload\":"
      "{\"storeId\":\"s\",\"batch\":[{\"name\":\"a\",\"args\":{\"x\":[1,2e3]},"
      "\"seqNum\":1,\"parentSeqNum\":0,\"clientId\":\"c\",\"sessionId\":\"s\"},"
      "{\"name\":\"b\",\"args\":null,\"seqNum\":2,\"parentSeqNum\":1,\"clientId\":"
      "\"c\",\"sessionId\":\"s\"}],\"backendId\":{\"_tag\":\"None\"}}}";
  assert_int_equal(parse(push, &m, ev, 4, &why), 0);
  assert_int_equal(m.rpc, SYNC_RPC_PUSH);
  assert_int_equal(m.nevents, 2);
  assert_int_equal(m.has_backend_id, 0);
  assert_true(span_eq(ev[0].args, "{\"x\":[1,2e3]}"));
  assert_null(ev[1].args.p); /* null is the same as absent */
  assert_int_equal(ev[1].seq, 2);
  assert_true(m.batch.p && m.batch.p[0] == '[' && m.batch.p[m.batch.n - 1] == ']');
  /* more events than room: counted, not stored */
  assert_int_equal(parse(push, &m, ev, 1, &why), 0);
  assert_int_equal(m.nevents, 2);

  assert_int_equal(
      parse("{\"_tag\":\"Request\",\"id\":\"9\",\"tag\":\"SyncHttpRpc.Ping\","
            "\"payload\":{\"storeId\":\"s\"}}",
            &m, ev, 4, &why),
      0);
  assert_int_equal(m.rpc, SYNC_RPC_PING);
  assert_int_equal(m.http, 1);
}

static void test_parse_errors(void **state) {
  static const struct {
    const char *in;
    int want;
  } cases[] = {
      {"", DURO_EPROTO},
      {"not json", DURO_EPROTO},
      {"[1]", DURO_EPROTO},
      {"{\"_tag\":\"Ping\"} x", DURO_EPROTO},
      {"{\"_tag\":\"Ping\",}", DURO_EPROTO},
      {"{\"a\":1}", DURO_EPROTO},
      {"{\"_tag\":\"Nope\"}", DURO_EPROTO},
      {"{\"_tag\":\"Ack\"}", DURO_EPROTO},
      {"{\"_tag\":\"Ack\",\"requestId\":-3}", DURO_EPROTO},
      {"{\"_tag\":\"Ack\",\"requestId\":3.5}", DURO_EPROTO},
      {"{\"_tag\":\"Ack\",\"requestId\":true}", DURO_EPROTO},
      {"{\"_tag\":\"Interrupt\",\"requestId\":null}", DURO_EPROTO},
      {"{\"_tag\":\"Request\",\"id\":7e2,\"tag\":\"SyncWsRpc.Pull\",\"payload\":{"
       "}}",
       DURO_EPROTO},
      {"{\"_tag\":\"Request\",\"id\":[7],\"tag\":\"SyncWsRpc.Pull\",\"payload\":{"
       "}}",
       DURO_EPROTO},
      {"{\"_tag\":\"Request\",\"id\":012,\"tag\":\"SyncWsRpc.Pull\",\"payload\":{"
       "}}",
       DURO_EPROTO},
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Foo\","
       "\"payload\":{}}",
       DURO_EPROTO},
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Pull\","
       "\"payload\":"
       "{\"storeId\":\"x\",\"cursor\":{\"_tag\":\"None\"}}}",
       DURO_EINVAL}, /* live missing */
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Pull\","
       "\"payload\":"
       "{\"storeId\":\"x\",\"live\":true,\"cursor\":null}}",
       DURO_EINVAL}, /* an Option is never null */
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Push\","
       "\"payload\":"
       "{\"storeId\":\"x\",\"batch\":[{\"name\":\"a\"}],\"backendId\":{\"_"
       "tag\":\"None\"}}}",
       DURO_EINVAL},
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Push\","
       "\"payload\":"
       "{\"storeId\":\"x\",\"batch\":[{\"name\":\"a\",\"seqNum\":1.5,"
       "\"parentSeqNum\":0,"
       "\"clientId\":\"c\",\"sessionId\":\"s\"}],\"backendId\":{\"_tag\":"
       "\"None\"}}}",
       DURO_EINVAL}, /* seqNum must be an integer */
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Push\","
       "\"payload\":"
       "{\"storeId\":\"x\",\"batch\":[],\"backendId\":{\"_tag\":\"Some\"}}}",
       DURO_EINVAL},
      {"{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncWsRpc.Pull\"}",
       DURO_EINVAL},
      {"{\"s\":\"\\x\"}", DURO_EPROTO},
      {"{\"s\":\"\x01\"}", DURO_EPROTO},
      {"{\"s\":\"\xc3\x28\"}", DURO_EPROTO}, /* bad UTF-8 */
      /* UTF-8 in strings (keys too), in an otherwise valid message */
      {"{\"_tag\":\"Ping\",\"x\":\"\xc3\xa9 \xf0\x9f\x98\x80\"}", 0},
      {"{\"_tag\":\"Ping\",\"\xe2\x82\xac\":1}", 0},
      {"{\"_tag\":\"Ping\",\"x\":\"\xc3\x28\"}", DURO_EPROTO},
      {"{\"_tag\":\"Ping\",\"x\":\"\xc0\xaf\"}", DURO_EPROTO}, /* overlong */
      {"{\"_tag\":\"Ping\",\"x\":\"\xed\xa0\x80\"}", DURO_EPROTO}, /* surrogate */
      {"{\"_tag\":\"Ping\",\"x\":\"\xf4\x90\x80\x80\"}", DURO_EPROTO}, /* > U+10FFFF */
      {"{\"_tag\":\"Ping\",\"x\":\"\xe2\x82\"}", DURO_EPROTO}, /* cut at the quote */
      {"{\"_tag\":\"Ping\",\"x\":\"\xe2\x82" "z\"}", DURO_EPROTO}, /* cut by ASCII */
      {"{\"_tag\":\"Ping\",\"\xff\":1}", DURO_EPROTO},
      {"{\"_tag\":\"Ping\",\"n\":01}", DURO_EPROTO},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sync_msg_t m;
    sync_event_t ev[2];
    const char *why = NULL;
    int rc = parse(cases[i].in, &m, ev, 2, &why);
    if (rc != cases[i].want)
      fail_msg("case %zu (%s): got %d, want %d", i, cases[i].in, rc, cases[i].want);
    if (rc != 0)
      assert_non_null(why);
  }
  /* nesting is bounded */
  char deep[1000];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof(deep), "{\"_tag\":\"Ping\",\"x\":");
  for (int i = 0; i < 300; i++)
    deep[n++] = '[';
  deep[n] = '\0';
  sync_msg_t m;
  const char *why;
  assert_int_equal(parse(deep, &m, NULL, 0, &why), DURO_EPROTO);
}

/* LiveStore's next protocol: numeric ids, any fiber id in Interrupt. */
static void test_parse_next_protocol(void **state) {
  sync_msg_t m;
  sync_event_t ev[4];
  const char *why;
  const char *pull =
      "{\"_tag\":\"Request\",\"id\":5,\"tag\":\"SyncWsRpc.Pull\",\"payload\":"
      "{\"storeId\":\"s\",\"live\":true,\"cursor\":{\"_tag\":\"None\"}},"
      "\"headers\":[]}";
  assert_int_equal(parse(pull, &m, ev, 4, &why), 0);
  assert_int_equal(m.kind, SYNC_MSG_REQUEST);
  assert_true(span_eq(m.id, "5"));
  assert_int_equal(duro_sync_id_is_number(m.id), 1);
  assert_true(span_eq(duro_sync_id_text(m.id), "5"));
  assert_int_equal(parse("{\"_tag\":\"Ack\",\"requestId\":0}", &m, ev, 4, &why), 0);
  assert_int_equal(m.kind, SYNC_MSG_ACK);
  assert_true(span_eq(m.id, "0"));
  /* the fiber id of an Interrupt: a number, absent, 0.4.0's object */
  const char *interrupts[] = {
      "{\"_tag\":\"Interrupt\",\"requestId\":12,\"fiberId\":3}",
      "{\"_tag\":\"Interrupt\",\"requestId\":12}",
      "{\"_tag\":\"Interrupt\",\"requestId\":12,\"interruptors\":[3,4]}",
      "{\"_tag\":\"Interrupt\",\"requestId\":\"12\",\"interruptors\":"
      "[{\"_tag\":\"Runtime\",\"id\":1,\"startTimeMillis\":2}]}",
  };
  for (size_t i = 0; i < sizeof(interrupts) / sizeof(interrupts[0]); i++) {
    assert_int_equal(parse(interrupts[i], &m, ev, 4, &why), 0);
    assert_int_equal(m.kind, SYNC_MSG_INTERRUPT);
    assert_true(span_eq(duro_sync_id_text(m.id), "12"));
  }
  /* 64 digits are an id, 65 are not */
  char big[200];
  memset(big, '9', 65);
  big[65] = '\0';
  char msg[300];
  snprintf(msg, sizeof(msg), "{\"_tag\":\"Ack\",\"requestId\":%s}", big);
  assert_int_equal(parse(msg, &m, ev, 4, &why), DURO_EPROTO);
  big[64] = '\0';
  snprintf(msg, sizeof(msg), "{\"_tag\":\"Ack\",\"requestId\":%s}", big);
  assert_int_equal(parse(msg, &m, ev, 4, &why), 0);
  assert_int_equal(m.id.n, 64);
}

/* Answers to a numeric id: the id a number, the causes arrays. */
static void test_builders_next_protocol(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  sync_span_t id = {"7", 1};
#define EXPECT_NEXT(want)                                                      \
  do {                                                                         \
    assert_int_equal(b.len, strlen(want));                                     \
    assert_memory_equal(b.data, want, b.len);                                  \
    assert_true(duro_sync_json_valid((const char *)b.data, b.len));            \
    b.len = 0;                                                                 \
  } while (0)
  duro_sync_build_exit_success(&b, id, 1);
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Success\",\"value\":{}}}");
  duro_sync_build_exit_success(&b, id, 0);
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Success\"}}");
  duro_sync_build_exit_value(&b, id, "{\"_tag\":\"Pong\"}");
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Success\",\"value\":"
              "{\"_tag\":\"Pong\"}}}");
  duro_sync_build_server_ahead(&b, id, 42, 40);
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Failure\",\"cause\":"
              "[{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"ServerAheadError\",\"minimumExpectedNum\":42,"
              "\"providedNum\":40}}]}}");
  duro_sync_build_backend_mismatch(&b, id, "srv", (sync_span_t){"cli", 3});
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Failure\",\"cause\":"
              "[{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"BackendIdMismatchError\",\"expected\":"
              "\"srv\",\"received\":\"cli\"}}]}}");
  duro_sync_build_unknown_error(&b, id, "x");
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Failure\",\"cause\":"
              "[{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"UnknownError\",\"cause\":\"x\","
              "\"note\":\"x\"}}]}}");
  duro_sync_build_die(&b, id, "Invalid");
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Failure\",\"cause\":"
              "[{\"_tag\":\"Die\",\"defect\":\"Invalid\"}]}}");
  duro_sync_build_interrupted(&b, id);
  EXPECT_NEXT("{\"_tag\":\"Exit\",\"requestId\":7,\"exit\":{\"_tag\":\"Failure\",\"cause\":"
              "[{\"_tag\":\"Interrupt\"}]}}");
  duro_sync_build_chunk_head(&b, id);
  duro_buf_append_str(&b, duro_sync_response_head);
  duro_sync_build_response_tail(&b, -1, "B");
  duro_buf_append_str(&b, duro_sync_chunk_tail);
  EXPECT_NEXT("{\"_tag\":\"Chunk\",\"requestId\":7,\"values\":[{\"batch\":[],"
              "\"pageInfo\":{\"_tag\":\"NoMore\"},\"backendId\":\"B\"}]}");
#undef EXPECT_NEXT
  duro_buf_free(&b);
}

static void test_builders(void **state) {
  duro_buf_t b = DURO_BUF_INIT;
  sync_span_t id = {"\"7\"", 3};
#define EXPECT_BUF(want)                                                       \
  do {                                                                         \
    assert_int_equal(b.len, strlen(want));                                     \
    assert_memory_equal(b.data, want, b.len);                                  \
    assert_true(duro_sync_json_valid((const char *)b.data, b.len));            \
    b.len = 0;                                                                 \
  } while (0)
  duro_sync_build_exit_success(&b, id, 1);
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Success\",\"value\":{}}}");
  duro_sync_build_exit_success(&b, id, 0);
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Success\"}}");
  duro_sync_build_server_ahead(&b, id, 42, 40);
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Failure\",\"cause\":"
             "{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"ServerAheadError\",\"minimumExpectedNum\":42,"
             "\"providedNum\":40}}}}");
  duro_sync_build_backend_mismatch(&b, id, "srv", (sync_span_t){"cli", 3});
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Failure\",\"cause\":"
             "{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"BackendIdMismatchError\",\"expected\":"
             "\"srv\",\"received\":\"cli\"}}}}");
  duro_sync_build_unknown_error(&b, id, "bad \"x\"\n");
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Failure\",\"cause\":"
             "{\"_tag\":\"Fail\",\"error\":{\"_tag\":\"UnknownError\",\"cause\":\"bad \\\"x\\\"\\n\","
             "\"note\":\"bad \\\"x\\\"\\n\"}}}}");
  duro_sync_build_die(&b, id, "Invalid");
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Failure\",\"cause\":"
             "{\"_tag\":\"Die\",\"defect\":\"Invalid\"}}}");
  duro_sync_build_interrupted(&b, id);
  EXPECT_BUF("{\"_tag\":\"Exit\",\"requestId\":\"7\",\"exit\":{\"_tag\":\"Failure\",\"cause\":"
             "{\"_tag\":\"Interrupt\",\"fiberId\":{\"_tag\":\"None\"}}}}");
  duro_sync_build_defect(&b, "Unknown request tag: Foo");
  EXPECT_BUF("{\"_tag\":\"Defect\",\"defect\":\"Unknown request tag: Foo\"}");
  duro_sync_build_chunk_head(&b, id);
  duro_buf_append_str(&b, duro_sync_response_head);
  duro_sync_build_item(&b, "n", 1, NULL, 0, 1, 0, "c", 1, "s", 1,
                       "2025-05-08T10:15:30.123Z", 24);
  duro_sync_build_response_tail(&b, 150, "B");
  duro_buf_append_str(&b, duro_sync_chunk_tail);
  EXPECT_BUF("{\"_tag\":\"Chunk\",\"requestId\":\"7\",\"values\":[{\"batch\":[{\"eventEncoded\":"
             "{\"name\":\"n\",\"args\":null,\"seqNum\":1,\"parentSeqNum\":0,\"clientId\":\"c\","
             "\"sessionId\":\"s\"},\"metadata\":{\"_tag\":\"Some\",\"value\":{\"_tag\":"
             "\"SyncMessage.SyncMetadata\",\"createdAt\":\"2025-05-08T10:15:30.123Z\"}}}],"
             "\"pageInfo\":{\"_tag\":\"MoreKnown\",\"remaining\":150},\"backendId\":\"B\"}]}");
  duro_buf_free(&b);
  char t[25];
  duro_sync_format_time(1746699330123LL, t);
  assert_string_equal(t, "2025-05-08T10:15:30.123Z");
}

static void test_strings(void **state) {
  char out[64];
  size_t n;
  const char *in = "a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\\ud800x";
  assert_int_equal(duro_sync_json_unescape(in, strlen(in), out, &n), 0);
  assert_string_equal(out, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
  assert_int_equal(duro_sync_json_unescape("a\\u0000", 7, out, &n), -1);
  duro_buf_t b = DURO_BUF_INIT;
  duro_sync_json_append_string(&b, "q\"\\\x01\t", 5);
  assert_int_equal(b.len, strlen("\"q\\\"\\\\\\u0001\\t\""));
  assert_memory_equal(b.data, "\"q\\\"\\\\\\u0001\\t\"", b.len);
  duro_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_messages), cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_builders),       cmocka_unit_test(test_strings),
      cmocka_unit_test(test_parse_next_protocol),
      cmocka_unit_test(test_builders_next_protocol),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
