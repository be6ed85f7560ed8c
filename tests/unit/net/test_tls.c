/*
 * test_tls.c: TLS on a listener's connections (src/net/tls.c and the TLS
 * part of src/net/conn.c), seen from a client that reads the raw records:
 * the test's own OpenSSL client on memory BIOs over a loopback socket.
 *
 * - Frames queued in one loop turn leave sealed together: ten 29-byte
 *   sends arrive as one application-data record, in order; 40 KiB queued
 *   at once arrives in three records (16 KiB each at most).
 * - Output OpenSSL writes on its own (here: the session tickets after the
 *   handshake) still reaches the client, ahead of what is queued later.
 * - A certificate and key that do not match, or a missing file, are
 *   refused by duro_tls_new with the file named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"

static duro_conn_t *server_conn;

static size_t on_data(duro_conn_t *c, uint8_t *d, size_t n) { return n; }
static const duro_proto_t proto = {.on_data = on_data};

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  duro_conn_set_proto(c, &proto, NULL);
  server_conn = duro_conn_ref(c);
}

/* A self-signed P-256 certificate and its key, as PEM files in dir. */
static void make_pair(const char *dir, char *cert, char *key, size_t len) {
  EVP_PKEY *pkey = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  assert_non_null(pkey);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"test", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_set_pubkey(x, pkey);
  assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
  snprintf(cert, len, "%s/cert.pem", dir);
  snprintf(key, len, "%s/key.pem", dir);
  FILE *f = fopen(cert, "w");
  assert_non_null(f);
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key, "w");
  assert_non_null(f);
  PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(pkey);
}

typedef struct fixture {
  char dir[64], cert[128], key[128];
  uv_loop_t loop;
  duro_net_t net;
  duro_listener_t l;
  duro_tls_t *tls;
  int fd;
  SSL_CTX *cctx;
  SSL *ssl;
  duro_buf_t raw; /* bytes read from the socket, not yet given to ssl */
} fixture_t;

/* Moves what the client's SSL wrote to the socket, then turns the loop
 * and reads what the server sent into f->raw. */
static void pump(fixture_t *f) {
  char buf[65536];
  BIO *w = SSL_get_wbio(f->ssl);
  int n;
  while ((n = BIO_read(w, buf, sizeof(buf))) > 0)
    assert_int_equal(write(f->fd, buf, (size_t)n), n);
  for (int i = 0; i < 5; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
  ssize_t r;
  while ((r = read(f->fd, buf, sizeof(buf))) > 0)
    duro_buf_append(&f->raw, buf, (size_t)r);
}

/* Counts the complete records at the front of f->raw and gives them to
 * the client's SSL (a partial record stays). */
static int take_records(fixture_t *f, int *app_records) {
  size_t off = 0;
  int records = 0;
  *app_records = 0;
  while (f->raw.len - off >= 5) {
    size_t len = (size_t)f->raw.data[off + 3] << 8 | f->raw.data[off + 4];
    if (f->raw.len - off < 5 + len)
      break;
    if (f->raw.data[off] == 23)
      (*app_records)++;
    records++;
    off += 5 + len;
  }
  BIO_write(SSL_get_rbio(f->ssl), f->raw.data, (int)off);
  memmove(f->raw.data, f->raw.data + off, f->raw.len - off);
  f->raw.len -= off;
  return records;
}

static void setup(fixture_t *f) {
  memset(f, 0, sizeof(*f));
  strcpy(f->dir, "/tmp/duro-test-tls-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  make_pair(f->dir, f->cert, f->key, sizeof(f->cert));
  char err[256];
  f->tls = duro_tls_new(f->cert, f->key, err, sizeof(err));
  assert_non_null(f->tls);
  server_conn = NULL;
  uv_loop_init(&f->loop);
  duro_net_init(&f->net, &f->loop, 100, 1 << 20);
  assert_int_equal(duro_listener_start(&f->l, &f->net, "127.0.0.1", 0,
                                       on_accept, NULL, err, sizeof(err)),
                   0);
  f->l.tls = f->tls;
  f->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)duro_listener_port(&f->l))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  fcntl(f->fd, F_SETFL, O_NONBLOCK);
  f->cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(f->cctx, TLS1_3_VERSION);
  f->ssl = SSL_new(f->cctx);
  SSL_set_bio(f->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  BIO_set_mem_eof_return(SSL_get_rbio(f->ssl), -1);
  SSL_set_connect_state(f->ssl);
  int app;
  for (int i = 0; i < 200 && SSL_do_handshake(f->ssl) != 1; i++) {
    pump(f);
    take_records(f, &app);
  }
  assert_int_equal(SSL_is_init_finished(f->ssl), 1);
  pump(f); /* the client's Finished; the server's tickets come back */
  char sink[256];
  for (int i = 0; i < 50; i++) { /* read the tickets */
    pump(f);
    take_records(f, &app);
    (void)SSL_read(f->ssl, sink, sizeof(sink));
  }
  assert_int_equal(f->raw.len, 0);
  assert_non_null(server_conn);
}

static void teardown(fixture_t *f) {
  SSL_free(f->ssl);
  SSL_CTX_free(f->cctx);
  close(f->fd);
  duro_conn_close(server_conn);
  duro_conn_unref(server_conn);
  duro_listener_stop(&f->l);
  duro_net_close(&f->net);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_loop_close(&f->loop);
  duro_tls_free(f->tls);
  duro_buf_free(&f->raw);
  unlink(f->cert);
  unlink(f->key);
  rmdir(f->dir);
}

/* Reads len plaintext bytes from the client's SSL into out. */
static void read_plain(fixture_t *f, uint8_t *out, size_t len) {
  size_t got = 0;
  int app;
  for (int i = 0; i < 200 && got < len; i++) {
    int n = SSL_read(f->ssl, out + got, (int)(len - got));
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    pump(f);
    take_records(f, &app);
  }
  assert_int_equal(got, len);
}

static void test_one_turn_one_record(void **state) {
  fixture_t f;
  setup(&f);
  uint8_t want[290], got[290];
  for (int i = 0; i < 10; i++) {
    uint8_t frame[29];
    memset(frame, 'a' + i, sizeof(frame));
    memcpy(want + i * 29, frame, 29);
    assert_int_equal(duro_conn_send_copy(server_conn, frame, 29), 0);
  }
  for (int i = 0; i < 50 && f.raw.len < 5 + 290 + 17; i++)
    pump(&f);
  int app, records = take_records(&f, &app);
  assert_int_equal(records, 1); /* ten frames, one record */
  assert_int_equal(app, 1);
  read_plain(&f, got, sizeof(got));
  assert_memory_equal(got, want, sizeof(want));
  teardown(&f);
}

static void test_big_output_in_full_records(void **state) {
  fixture_t f;
  setup(&f);
  size_t total = 40 * 1024;
  uint8_t *want = malloc(total), *got = malloc(total);
  for (size_t i = 0; i < total; i++)
    want[i] = (uint8_t)(i * 7 + 3);
  for (size_t off = 0; off < total; off += 1000) { /* 41 sends */
    size_t n = total - off < 1000 ? total - off : 1000;
    assert_int_equal(duro_conn_send_copy(server_conn, want + off, n), 0);
  }
  int app = 0, records = 0, a;
  for (int i = 0; i < 200 && app < 3; i++) {
    pump(&f);
    records += take_records(&f, &a);
    app += a;
  }
  assert_int_equal(app, 3); /* 16 + 16 + 8 KiB */
  assert_int_equal(records, 3);
  read_plain(&f, got, total);
  assert_memory_equal(got, want, total);
  free(want);
  free(got);
  teardown(&f);
}

static void test_bad_pairs_name_the_file(void **state) {
  fixture_t f;
  setup(&f);
  char other[64] = "/tmp/duro-test-tls2-XXXXXX", cert2[128], key2[128];
  char err[512];
  assert_non_null(mkdtemp(other));
  make_pair(other, cert2, key2, sizeof(cert2));
  assert_null(duro_tls_new(f.cert, key2, err, sizeof(err)));
  assert_non_null(strstr(err, "does not match"));
  assert_non_null(strstr(err, key2));
  assert_null(duro_tls_new("/nonexistent/cert.pem", f.key, err, sizeof(err)));
  assert_non_null(strstr(err, "/nonexistent/cert.pem"));
  unlink(cert2);
  unlink(key2);
  rmdir(other);
  teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_turn_one_record),
      cmocka_unit_test(test_big_output_in_full_records),
      cmocka_unit_test(test_bad_pairs_name_the_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
