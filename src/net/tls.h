/*
 * tls.h: TLS on a listener's connections, with OpenSSL 3 and memory BIOs:
 * the socket stays libuv's, bytes go through the SSL object in memory, so
 * nothing ever blocks the loop. net/conn.c decrypts what it reads and
 * encrypts what is queued; the layers above see plaintext as before.
 *
 * TLS 1.2 and 1.3 only, ALPN "http/1.1", OpenSSL's default (modern)
 * ciphers. The certificate and key can be read again (SIGHUP): new
 * connections get the new pair, open ones keep theirs; a bad new pair is
 * refused with the reason and the old one stays.
 */
#ifndef DURO_NET_TLS_H
#define DURO_NET_TLS_H

#include <stddef.h>

#include "core/options.h"

typedef struct duro_tls duro_tls_t;

/* Handshakes in progress at once per duro_tls_t; a connection past it is
 * closed at accept, so a flood of half-open handshakes cannot starve the
 * served clients (each also has the header timeout to finish). */
#define DURO_TLS_MAX_HANDSHAKES 1024

/* The "tls" section of duro.jsonc: cert and key, paths relative to the
 * config file. */
typedef struct duro_tls_config {
  char *cert;
  char *key;
  char *backend_ca; /* the frontend's trust for an https backend */
} duro_tls_config_t;
extern const duro_config_section_t duro_tls_section;

/* Reads cert (PEM, the chain after the leaf) and key (PEM). NULL with err
 * naming the file and the reason when one is missing, unreadable, not a
 * certificate or key, or when they do not match. */
duro_tls_t *duro_tls_new(const char *cert, const char *key, char *err,
                         size_t errlen);
/* Reads the same files again. 0, or DURO_EINVAL with err (the old pair
 * stays in use). */
int duro_tls_reload(duro_tls_t *t, char *err, size_t errlen);
void duro_tls_free(duro_tls_t *t);

/* ---- the client side: reaching an https server (net/dial.h) ---- */

typedef struct duro_tls_client duro_tls_client_t;

/* What a client trusts: the PEM certificates of ca_file (any of them may
 * be the anchor, so a self-signed leaf or an intermediate works), or the
 * system's store when ca_file is NULL. With check_name, the server's
 * certificate must also name the host it is reached at (its IP address or
 * DNS name); without, the chain alone decides (for a peer whose exact
 * certificate is the anchor: duro dev's own backend). NULL with err
 * naming the file when it cannot be read. TLS 1.2 and 1.3, ALPN
 * http/1.1; the last session is kept and resumed, so that one request per
 * connection does not cost a full handshake each. */
duro_tls_client_t *duro_tls_client_new(const char *ca_file, int check_name,
                                       char *err, size_t errlen);
/* Reads ca_file again (SIGHUP): 0, or DURO_EINVAL with err (the old
 * trust stays). Nothing to do with the system's store. */
int duro_tls_client_reload(duro_tls_client_t *t, char *err, size_t errlen);
void duro_tls_client_free(duro_tls_client_t *t);

/* For net/dial.c: a client-side SSL on memory BIOs for a connection to
 * host (an IP literal or a DNS name: SNI for names, the name check for
 * both), or NULL when out of memory. */
struct ssl_st *duro_tls_connect(duro_tls_client_t *t, const char *host);

/* For net/: puts ssl on a new pair of memory BIOs (bytes come and go
 * through net/, never through a socket of OpenSSL's), freeing the pair it
 * had. 0, or -1 when out of memory (ssl unchanged). */
int duro_tls_fresh_bios(struct ssl_st *ssl);

/* For net/conn.c: a server-side SSL for a new connection, or NULL when
 * DURO_TLS_MAX_HANDSHAKES are in progress. duro_tls_handshake_done is
 * called once when its handshake ends (finished or not). */
struct ssl_st *duro_tls_accept(duro_tls_t *t);
void duro_tls_handshake_done(duro_tls_t *t);

#endif
