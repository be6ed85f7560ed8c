/*
 * fuzz_conn.c: the whole connection path of the backend, fed hostile
 * bytes over a real loopback socket: HTTP/1.1 parsing and limits, the
 * backend's routing (including /_objects and rooms), the WebSocket
 * handshake and the frame reader after an upgrade, and the objects behind
 * them, in plain TCP and behind TLS (net/tls.h, the TLS part of
 * net/conn.c). One duro (runtime, store, a plain and a TLS listener of the
 * backend) lives for the whole run; each input is one client connection
 * that sends the bytes, half-closes and reads until the server is done
 * with it. The TLS listener's certificate is a throwaway one (self-signed
 * P-256) made at setup in the run's temporary folder.
 *
 * Input:
 *   byte 0   bits 0-5: bytes per write minus one (1..64), so the parsers
 *            also see requests (and TLS records) cut at arbitrary points;
 *            bits 6-7: the mode:
 *              0, 1  plain: the rest goes as it is to the plain listener
 *              2     raw TLS: the rest goes as it is to the TLS listener,
 *                    for the ClientHello and record parsing and the
 *                    failed handshake (net/conn.c tls_input)
 *              3     TLS session: the harness completes a handshake with
 *                    the TLS listener as a client, then sends the rest as
 *                    application data (one record per write), so the
 *                    decrypt path and everything behind it see it
 *   byte 1   (mode 3 only) how the client behaves:
 *            bit 0: TLS 1.2, else 1.3;
 *            bit 1: it offers ALPN, "h2" and "http/1.1" (bit 3: "h2"
 *            alone, which the server does not acknowledge);
 *            bit 2: its end is a close_notify before the FIN, else the
 *            FIN alone;
 *            bit 4: after the handshake the rest goes raw, not encrypted,
 *            so the server meets records it cannot decrypt;
 *            bit 5: it asks for a key update (1.3) or a renegotiation
 *            (1.2, which the server refuses) before the first write.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
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
#include "net/tls.h"
#include "objects/runtime.h"
#include "store/store.h"

static uv_loop_t loop;
static duro_config_t cfg;
static duro_net_t net;
static duro_store_t *store;
static duro_runtime_t *rt;
static duro_backend_t backend;
static int port;
static duro_tls_t *tls;
static duro_backend_t tls_backend; /* the same routes, behind TLS */
static int tls_port;
static SSL_CTX *client_ctx;

static duro_binding_t bindings[] = {
    {"TEST_DO", "TestDurableObject", NULL},
    {"MESSAGE_COORDINATOR", "MessageCoordinator", NULL},
    {"COUNTDOWN_TIMER", "CountdownTimer", NULL},
    {"ROOMS", "Room", NULL},
};
static duro_var_t vars[] = {{"DURO_INTERNAL_SECRET", "fuzz-secret"}};

/* A throwaway self-signed certificate for 127.0.0.1 and its P-256 key,
 * written as PEM to cert and key. */
static void make_cert(const char *cert, const char *key) {
  EVP_PKEY *pkey = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!pkey || !x)
    abort();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)"127.0.0.1", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, pkey);
  if (!X509_sign(x, pkey, EVP_sha256()))
    abort();
  FILE *f = fopen(cert, "w");
  if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
    abort();
  f = fopen(key, "w");
  if (!f || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) ||
      fclose(f) != 0)
    abort();
  X509_free(x);
  EVP_PKEY_free(pkey);
}

static void setup(void) {
  char dir[] = "/tmp/duro-fuzz-XXXXXX";
  char err[256], path[128], cert[128], key[128];
  if (!mkdtemp(dir))
    abort();
  signal(SIGPIPE, SIG_IGN); /* writes after the server has closed */
  snprintf(path, sizeof(path), "%s/duro.db", dir);
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
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
  make_cert(cert, key);
  if (!(tls = duro_tls_new(cert, key, err, sizeof(err)))) {
    fprintf(stderr, "fuzz_conn: %s\n", err);
    abort();
  }
  if (duro_backend_start(&tls_backend, &net, rt, &cfg, 0, err,
                         sizeof(err)) < 0)
    abort();
  tls_backend.listener.tls = tls; /* before the loop accepts any */
  duro_runtime_start(rt);
  port = duro_listener_port(&backend.listener);
  tls_port = duro_listener_port(&tls_backend.listener);

  /* the harness's side of the TLS sessions: trusts anything */
  client_ctx = SSL_CTX_new(TLS_client_method());
  if (!client_ctx)
    abort();
  SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
}

/* A non-blocking client socket connected to 127.0.0.1:p. */
static int dial(int p) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)p)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    abort();
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* Modes 0-2: the bytes as they are, step at a time. */
static void run_raw(int p, const uint8_t *data, size_t size, size_t step) {
  int fd = dial(p);
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
}

/* 1 when an SSL call that returned rc only has to be repeated later. */
static int tls_again(SSL *ssl, int rc) {
  int e = SSL_get_error(ssl, rc);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Mode 3: a TLS client on a non-blocking socket, the loop stepped between
 * its calls, so that no call waits. */
static void run_tls(const uint8_t *data, size_t size, size_t step) {
  static const unsigned char alpn[] = "\x02h2\x08http/1.1";
  uint8_t opts = 0;
  if (size) {
    opts = data[0];
    data++;
    size--;
  }
  int fd = dial(tls_port);
  SSL *ssl = SSL_new(client_ctx);
  if (!ssl)
    abort();
  if (opts & 1)
    SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
  if (opts & 2)
    SSL_set_alpn_protos(ssl, alpn, (opts & 8) ? 3 : sizeof(alpn) - 1);
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  size_t off = 0;
  char buf[16384];
  int shook = 0; /* the handshake is done */
  int broken = 0; /* a fatal error: no more calls on ssl */
  int ended = 0;  /* our side is shut */
  int over = 0;   /* the server's side is */
  for (int turn = 0; turn < 4000 && !(over && ended); turn++) {
    /* the server leaves its errors in this thread's queue too */
    ERR_clear_error();
    if (!shook && !broken) {
      int rc = SSL_do_handshake(ssl);
      if (rc == 1) {
        shook = 1;
        if ((opts & 32) && SSL_version(ssl) == TLS1_3_VERSION)
          SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED);
        else if (opts & 32)
          SSL_renegotiate(ssl);
        if (opts & 32)
          SSL_do_handshake(ssl); /* sends it; the answer comes later */
      } else if (!tls_again(ssl, rc))
        broken = 1, off = size; /* refused, or the server closed */
    } else if (!ended) {
      if (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (opts & 16) {
          ssize_t w = write(fd, data + off, n);
          if (w > 0)
            off += (size_t)w;
          else if (w < 0 && errno != EAGAIN)
            off = size; /* the server closed on us */
        } else {
          /* one that must be repeated is, with the same bytes */
          int w = SSL_write(ssl, data + off, (int)n);
          if (w > 0)
            off += (size_t)w;
          else if (!tls_again(ssl, w))
            broken = 1, off = size; /* the server closed on us */
        }
      }
      if (off == size) {
        if ((opts & 4) && !broken)
          SSL_shutdown(ssl); /* sends close_notify, does not wait */
        shutdown(fd, SHUT_WR);
        ended = 1;
      }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    if (over || (!shook && !broken))
      continue; /* the handshake reads for itself */
    if (broken) {
      ssize_t r = read(fd, buf, sizeof(buf));
      over = r == 0 || (r < 0 && errno != EAGAIN);
      continue;
    }
    /* what the server sent: records until there is none (at most 64) */
    for (int i = 0; i < 64; i++) {
      ERR_clear_error();
      int r = SSL_read(ssl, buf, sizeof(buf));
      if (r > 0)
        continue;
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN) {
        over = 1; /* close_notify */
      } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        over = broken = 1; /* closed, or a bad record */
        off = size;
      }
      break;
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!rt)
    setup();
  if (size == 0 || size > 64 * 1024)
    return 0;
  size_t step = (size_t)data[0] % 64 + 1; /* bytes per write */
  int mode = data[0] >> 6;
  data++;
  size--;
  if (mode == 3)
    run_tls(data, size, step);
  else
    run_raw(mode == 2 ? tls_port : port, data, size, step);
  /* let the server notice the close and free the connection */
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
