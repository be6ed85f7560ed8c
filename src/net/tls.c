/*
 * tls.c: see tls.h.
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

static const duro_option_t rows[] = {
    DURO_ROW("cert", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_tls_config_t, cert),
             "certificate chain, PEM (relative to this file; --tls-cert "
             "overrides)"),
    DURO_ROW("key", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_tls_config_t, key),
             "its private key, PEM (--tls-key overrides)"),
    DURO_ROW("backend_ca", DURO_OPT_STRING, 0, 0, 0, NULL,
             offsetof(duro_tls_config_t, backend_ca),
             "frontend: the CA certificates (PEM) an https backend's "
             "certificate must chain to; default the system's (--backend-ca "
             "overrides)"),
};

const duro_config_section_t duro_tls_section = {
    .name = "tls",
    .size = sizeof(duro_tls_config_t),
    .rows = rows,
    .nrows = sizeof(rows) / sizeof(rows[0]),
    .help_title = "settings of the \"tls\" section (https and wss on the "
                  "role's listeners; SIGHUP reads the files again)",
    .list_unknown = 1,
};

struct duro_tls {
  SSL_CTX *ctx;
  char *cert, *key;
  unsigned handshakes; /* in progress */
};

/* The last OpenSSL error, for a message. */
static const char *ssl_reason(void) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  return r ? r : "unknown error";
}

/* ALPN: http/1.1 when the client offers it; no ALPN otherwise (a client
 * that offers only h2 still gets HTTP/1.1, as without ALPN). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg) {
  static const unsigned char h11[] = "\x08http/1.1";
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *load(const char *cert, const char *key, char *err,
                     size_t errlen) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    duro_err_fmt(DURO_ENOMEM, err, errlen, "tls: %s", ssl_reason());
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* The chain is the file's as given: no chain building per handshake. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
  /* Resumption by ticket only (stateless, TLS 1.2 and 1.3): no server-side
   * session cache to insert into and sweep on every handshake, and one
   * ticket per connection rather than OpenSSL's two. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    duro_err_fmt(DURO_EINVAL, err, errlen,
                 "tls: certificate %s: %s", cert, ssl_reason());
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_last_error();
    const char *why = ssl_reason();
    if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      duro_err_fmt(DURO_EINVAL, err, errlen,
                   "tls: key %s does not match certificate %s", key, cert);
    else
      duro_err_fmt(DURO_EINVAL, err, errlen, "tls: key %s: %s", key, why);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    duro_err_fmt(DURO_EINVAL, err, errlen,
                 "tls: key %s does not match certificate %s", key, cert);
  } else {
    return ctx;
  }
  SSL_CTX_free(ctx);
  return NULL;
}

duro_tls_t *duro_tls_new(const char *cert, const char *key, char *err,
                         size_t errlen) {
  SSL_CTX *ctx = load(cert, key, err, errlen);
  if (!ctx)
    return NULL;
  duro_tls_t *t = duro_calloc(1, sizeof(*t));
  t->ctx = ctx;
  t->cert = duro_strdup(cert);
  t->key = duro_strdup(key);
  return t;
}

int duro_tls_reload(duro_tls_t *t, char *err, size_t errlen) {
  SSL_CTX *ctx = load(t->cert, t->key, err, errlen);
  if (!ctx)
    return DURO_EINVAL;
  /* open connections hold their own reference to the old context */
  SSL_CTX_free(t->ctx);
  t->ctx = ctx;
  return 0;
}

void duro_tls_free(duro_tls_t *t) {
  if (!t)
    return;
  SSL_CTX_free(t->ctx);
  duro_free(t->cert);
  duro_free(t->key);
  duro_free(t);
}

int duro_tls_fresh_bios(SSL *ssl) {
  BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return -1;
  }
  /* an empty read BIO means "want more", not end of file */
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl, rbio, wbio); /* frees a pair it had */
  return 0;
}

SSL *duro_tls_accept(duro_tls_t *t) {
  if (t->handshakes >= DURO_TLS_MAX_HANDSHAKES)
    return NULL;
  SSL *ssl = SSL_new(t->ctx);
  if (!ssl || duro_tls_fresh_bios(ssl) < 0) {
    SSL_free(ssl);
    return NULL;
  }
  SSL_set_accept_state(ssl);
  t->handshakes++;
  return ssl;
}

void duro_tls_handshake_done(duro_tls_t *t) {
  if (t->handshakes)
    t->handshakes--;
}

/* ---- the client side ---------------------------------------------------------- */

struct duro_tls_client {
  SSL_CTX *ctx;
  SSL_SESSION *session; /* the newest one the server gave, to resume */
  char *ca_file;        /* NULL: the system's store */
  int check_name;
};

/* A new session (TLS 1.3 sends them after the handshake): kept in place
 * of the last. Returning 1 keeps OpenSSL's reference for us. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  duro_tls_client_t *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  SSL_SESSION_free(t->session);
  t->session = sess;
  return 1;
}

/* The certificates of ca_file as a trust store in which any of them may
 * be the anchor (a self-signed leaf or an intermediate works). */
static X509_STORE *trust_file(const char *ca_file, char *err, size_t errlen) {
  X509_STORE *st = X509_STORE_new();
  if (st && X509_STORE_load_file(st, ca_file) == 1) {
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    return st;
  }
  duro_err_fmt(DURO_EINVAL, err, errlen, "tls: CA file %s: %s", ca_file,
               ssl_reason());
  X509_STORE_free(st);
  return NULL;
}

duro_tls_client_t *duro_tls_client_new(const char *ca_file, int check_name,
                                       char *err, size_t errlen) {
  ERR_clear_error();
  X509_STORE *st = NULL;
  if (ca_file && !(st = trust_file(ca_file, err, errlen)))
    return NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx || (!st && SSL_CTX_set_default_verify_paths(ctx) != 1)) {
    duro_err_fmt(DURO_EINVAL, err, errlen, "tls: the system's CA "
                 "certificates: %s", ssl_reason());
    X509_STORE_free(st);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (st)
    SSL_CTX_set_cert_store(ctx, st); /* takes it */
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  static const unsigned char h11[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, h11, sizeof(h11) - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  duro_tls_client_t *t = duro_calloc(1, sizeof(*t));
  t->ctx = ctx;
  t->check_name = check_name;
  t->ca_file = ca_file ? duro_strdup(ca_file) : NULL;
  SSL_CTX_set_app_data(ctx, t);
  return t;
}

int duro_tls_client_reload(duro_tls_client_t *t, char *err, size_t errlen) {
  if (!t->ca_file)
    return 0;
  ERR_clear_error();
  X509_STORE *st = trust_file(t->ca_file, err, errlen);
  if (!st)
    return DURO_EINVAL;
  SSL_CTX_set_cert_store(t->ctx, st); /* frees the old one */
  /* a session of the old trust would skip the new check */
  SSL_SESSION_free(t->session);
  t->session = NULL;
  return 0;
}

void duro_tls_client_free(duro_tls_client_t *t) {
  if (!t)
    return;
  SSL_SESSION_free(t->session);
  SSL_CTX_free(t->ctx);
  duro_free(t->ca_file);
  duro_free(t);
}

SSL *duro_tls_connect(duro_tls_client_t *t, const char *host) {
  SSL *ssl = SSL_new(t->ctx);
  if (!ssl || duro_tls_fresh_bios(ssl) < 0) {
    SSL_free(ssl);
    return NULL;
  }
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, host, ip) == 1 ||
              inet_pton(AF_INET6, host, ip) == 1;
  if (!is_ip)
    SSL_set_tlsext_host_name(ssl, host); /* SNI takes names only */
  if (t->check_name &&
      (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
             : SSL_set1_host(ssl, host)) != 1) {
    SSL_free(ssl);
    return NULL;
  }
  if (t->session && SSL_SESSION_is_resumable(t->session))
    SSL_set_session(ssl, t->session);
  SSL_set_connect_state(ssl);
  return ssl;
}
