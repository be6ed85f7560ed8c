/*
 * test_hooks.c: the public sync hooks (duro_sync_class_init) on a
 * real backend in this process: a user class validates pushes and pulls
 * and observes results; a refusal becomes the spec's UnknownError and
 * stores nothing. A blocking HTTP-transport client runs in a thread while
 * the loop runs here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "backend/backend.h"
#include "core/config.h"
#include "net/conn.h"
#include "objects/runtime.h"
#include "store/store.h"
#include "sync/options.h"

/* ---- the user's class ------------------------------------------------------ */

static int pushes_seen, pulls_seen, push_results, pull_results;
static int64_t last_head;
static char last_store[64], last_payload[64];
static void *seen_ud;

static int on_push(duro_object_t *o, const duro_sync_info_t *in, char *err,
                   size_t errlen) {
  pushes_seen++;
  seen_ud = duro_sync_hooks_ud(o);
  snprintf(last_store, sizeof(last_store), "%.*s", (int)in->store_id_len,
           in->store_id);
  snprintf(last_payload, sizeof(last_payload), "%.*s", (int)in->payload_len,
           in->payload ? in->payload : "");
  if (memmem(in->json, in->json_len, "v1.Forbidden", 12)) {
    snprintf(err, errlen, "v1.Forbidden is not allowed here");
    return -1;
  }
  return 0;
}

static int on_pull(duro_object_t *o, const duro_sync_info_t *in, char *err,
                   size_t errlen) {
  pulls_seen++;
  if (in->payload && strstr(in->payload, "\"deny\"")) {
    snprintf(err, errlen, "pulls denied");
    return -1;
  }
  return 0;
}

static int on_push_res(duro_object_t *o, const duro_sync_info_t *in,
                       char *err, size_t errlen) {
  push_results++;
  last_head = in->head;
  return 0;
}

static int on_pull_res(duro_object_t *o, const duro_sync_info_t *in,
                       char *err, size_t errlen) {
  pull_results++;
  /* the PullResponse itself */
  assert_true(in->json_len > 10 && memcmp(in->json, "{\"batch\":[", 10) == 0);
  return 0;
}

static duro_sync_class_t hooked;
static int ud_marker;

/* ---- an HTTP-transport client in a thread ------------------------------------ */

static int g_port;
static char answers[6][2048];
static volatile int client_done;

static void post(int k, const char *body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    return;
  char req[4096];
  int n = snprintf(req, sizeof(req),
                   "POST /?storeId=hooked&transport=http HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/json\r\nConnection: close\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
  if (write(fd, req, (size_t)n) != n)
    return;
  size_t got = 0;
  ssize_t r;
  while (got < sizeof(answers[k]) - 1 &&
         (r = read(fd, answers[k] + got, sizeof(answers[k]) - 1 - got)) > 0)
    got += (size_t)r;
  answers[k][got] = '\0';
  close(fd);
}

static void *client(void *arg) {
  post(0, "{\"_tag\":\"Request\",\"id\":\"1\",\"tag\":\"SyncHttpRpc.Push\","
          "\"payload\":{\"storeId\":\"hooked\",\"payload\":{\"user\":\"ann\"},"
          "\"batch\":[{\"name\":\"v1.Ok\",\"args\":{},\"seqNum\":1,"
          "\"parentSeqNum\":0,\"clientId\":\"c\",\"sessionId\":\"s\"}],"
          "\"backendId\":{\"_tag\":\"None\"}},\"headers\":[]}");
  post(1, "{\"_tag\":\"Request\",\"id\":\"2\",\"tag\":\"SyncHttpRpc.Push\","
          "\"payload\":{\"storeId\":\"hooked\",\"batch\":[{\"name\":"
          "\"v1.Forbidden\",\"args\":{},\"seqNum\":2,\"parentSeqNum\":1,"
          "\"clientId\":\"c\",\"sessionId\":\"s\"}],\"backendId\":{\"_tag\":"
          "\"None\"}},\"headers\":[]}");
  post(2, "{\"_tag\":\"Request\",\"id\":\"3\",\"tag\":\"SyncHttpRpc.Pull\","
          "\"payload\":{\"storeId\":\"hooked\",\"payload\":\"deny\","
          "\"cursor\":{\"_tag\":\"None\"}},\"headers\":[]}");
  post(3, "{\"_tag\":\"Request\",\"id\":\"4\",\"tag\":\"SyncHttpRpc.Pull\","
          "\"payload\":{\"storeId\":\"hooked\",\"cursor\":{\"_tag\":\"None\"}},"
          "\"headers\":[]}");
  client_done = 1;
  return NULL;
}

/* ---- the test ------------------------------------------------------------------ */

static void store_closed(void *data) { *(int *)data = 1; }

static void test_hooks(void **state) {
  char dir[] = "/tmp/duro-test-hooks-XXXXXX", db[96], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(db, sizeof(db), "%s/duro.db", dir);

  duro_sync_hooks_t h = {.on_push = on_push, .on_pull = on_pull,
                         .on_push_res = on_push_res,
                         .on_pull_res = on_pull_res, .ud = &ud_marker};
  duro_sync_class_init(&hooked, "HookedSync", &h);

  duro_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  duro_binding_t binding = {"LIVESTORE_SYNC", "HookedSync", NULL};
  cfg.bindings = &binding;
  cfg.nbindings = 1;
  cfg.mode = DURO_MODE_TEST;
  cfg.host = "127.0.0.1";
  duro_sync_config_t sync = {.auth = DURO_SYNC_AUTH_NONE,
                            .cors = 1,
                            .max_message_bytes = 1 << 20};
  duro_config_part_t part = {&duro_sync_section, &sync};
  cfg.parts = &part;
  cfg.nparts = 1;
  duro_limits_defaults(&cfg.limits);

  uv_loop_t loop;
  uv_loop_init(&loop);
  duro_store_t *store;
  assert_int_equal(duro_store_open(&loop, db, 0, &store, err, sizeof(err)), 0);
  duro_runtime_t *rt = duro_runtime_new(&loop, store, &cfg);
  assert_int_equal(duro_runtime_register(rt, &hooked.cls), 0);
  assert_int_equal(duro_runtime_bind(rt, err, sizeof(err)), 0);
  duro_runtime_start(rt);
  duro_net_t net;
  duro_net_init(&net, &loop, 100, 1 << 20);
  duro_backend_t be;
  assert_int_equal(duro_backend_start(&be, &net, rt, &cfg, 0, err, sizeof(err)), 0);
  g_port = duro_listener_port(&be.listener);
  /* the engine's settings sit in the runtime's slot: one setup per runtime */
  sync_ctx_t *again = NULL;
  assert_int_equal(duro_sync_setup(rt, &cfg, &loop, &again, err, sizeof(err)),
                   DURO_EEXIST);
  assert_null(again);
  assert_non_null(strstr(err, "already set up"));

  pthread_t th;
  pthread_create(&th, NULL, client, NULL);
  for (int i = 0; i < 5000 && !client_done; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  pthread_join(th, NULL);
  assert_true(client_done);

  /* accepted push: stored, observed */
  assert_non_null(strstr(answers[0], "\"exit\":{\"_tag\":\"Success\",\"value\":{}}"));
  assert_string_equal(last_store, "hooked");
  assert_ptr_equal(seen_ud, &ud_marker);
  assert_int_equal(last_head, 1);
  /* refused push: UnknownError with the hook's text */
  assert_non_null(strstr(answers[1], "\"_tag\":\"UnknownError\""));
  assert_non_null(strstr(answers[1], "v1.Forbidden is not allowed here"));
  assert_int_equal(pushes_seen, 2);
  assert_int_equal(push_results, 1);
  /* refused pull */
  assert_non_null(strstr(answers[2], "pulls denied"));
  /* allowed pull: only the accepted event was stored */
  assert_non_null(strstr(answers[3], "\"name\":\"v1.Ok\""));
  assert_null(strstr(answers[3], "v1.Forbidden"));
  assert_int_equal(pulls_seen, 2);
  assert_int_equal(pull_results, 1);

  duro_backend_stop(&be);
  int done = 0;
  duro_runtime_shutdown(rt, NULL, NULL);
  for (int i = 0; i < 200; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  duro_store_close(store, store_closed, &done);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  for (duro_conn_t *c = duro_net_next_conn(&net, NULL); c;
       c = duro_net_next_conn(&net, c))
    duro_conn_close(c);
  duro_runtime_free(rt);
  duro_net_close(&net);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hooks)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
