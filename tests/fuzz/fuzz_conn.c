/*
 * fuzz_conn.c: the whole connection path of the backend, fed hostile
 * bytes over a real loopback socket: HTTP/1.1 parsing and limits, the
 * backend's routing (including /_objects and rooms), the WebSocket
 * handshake and the frame reader after an upgrade, and the objects behind
 * them. One duro (runtime, store, listener) lives for the whole run; each
 * input is one client connection that sends the bytes, half-closes and
 * reads until the server is done with it.
 *
 * The first input byte picks how the rest is split into writes, so the
 * parsers also see requests cut at arbitrary points.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "backend/backend.h"
#include "classes/classes.h"
#include "core/config.h"
#include "core/log.h"
#include "net/conn.h"
#include "objects/runtime.h"
#include "store/store.h"

static uv_loop_t loop;
static duro_config_t cfg;
static duro_net_t net;
static duro_store_t *store;
static duro_runtime_t *rt;
static duro_backend_t backend;
static int port;

static duro_binding_t bindings[] = {
    {"TEST_DO", "TestDurableObject", NULL},
    {"MESSAGE_COORDINATOR", "MessageCoordinator", NULL},
    {"COUNTDOWN_TIMER", "CountdownTimer", NULL},
    {"ROOMS", "Room", NULL},
};
static duro_var_t vars[] = {{"DURO_INTERNAL_SECRET", "fuzz-secret"}};

static void setup(void) {
  char dir[] = "/tmp/duro-fuzz-XXXXXX";
  char err[256], path[128];
  if (!mkdtemp(dir))
    abort();
  snprintf(path, sizeof(path), "%s/duro.db", dir);
  duro_log_level = DURO_LOG_ERROR;
  uv_loop_init(&loop);
  duro_limits_defaults(&cfg.limits);
  cfg.limits.max_body_bytes = 4096;
  cfg.limits.ws_max_message_bytes = 4096;
  cfg.limits.durability_full = 0;
  cfg.mode = DURO_MODE_TEST;
  cfg.host = "127.0.0.1";
  cfg.bindings = bindings;
  cfg.nbindings = sizeof(bindings) / sizeof(bindings[0]);
  cfg.vars = vars;
  cfg.nvars = 1;
  if (duro_store_open(&loop, path, 0, &store, err, sizeof(err)) < 0)
    abort();
  rt = duro_runtime_new(&loop, store, &cfg);
  for (size_t i = 0; duro_builtin_classes[i]; i++)
    duro_runtime_register(rt, duro_builtin_classes[i]);
  if (duro_runtime_bind(rt, err, sizeof(err)) < 0)
    abort();
  duro_net_init(&net, &loop, 1000, 1 << 20);
  if (duro_backend_start(&backend, &net, rt, &cfg, 0, err, sizeof(err)) < 0)
    abort();
  duro_runtime_start(rt);
  port = duro_listener_port(&backend.listener);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!rt)
    setup();
  if (size == 0 || size > 64 * 1024)
    return 0;
  size_t step = (size_t)data[0] % 64 + 1; /* bytes per write */
  data++;
  size--;

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    abort();
  fcntl(fd, F_SETFL, O_NONBLOCK);
  size_t off = 0;
  char buf[65536];
  int done = 0;
  /* Bounded: every input ends within a few thousand loop turns. */
  for (int turn = 0; turn < 4000 && !done; turn++) {
    if (off < size) {
      size_t n = size - off < step ? size - off : step;
      ssize_t w = write(fd, data + off, n);
      if (w > 0)
        off += (size_t)w;
      else if (w < 0 && errno != EAGAIN)
        off = size; /* the server closed on us */
      if (off == size)
        shutdown(fd, SHUT_WR);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r == 0 || (r < 0 && errno != EAGAIN))
      done = off == size;
  }
  close(fd);
  /* let the server notice the close and free the connection */
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
