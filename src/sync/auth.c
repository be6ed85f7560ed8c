/*
 * auth.c: see auth.h.
 */
#include "sync/auth.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/b64url.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/url.h"
#include "sync/options.h"

/* ---- query -------------------------------------------------------------------- */

void duro_sync_query_parse(const char *query, size_t len, sync_query_t *q) {
  memset(q, 0, sizeof(*q));
  const char *store = NULL, *transport = NULL, *payload = NULL;
  size_t store_len = 0, transport_len = 0, payload_len = 0;
  for (size_t i = 0; i < len;) {
    const char *amp = memchr(query + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - query) : len;
    const char *kv = query + i;
    size_t kvlen = end - i;
    const char *eq = memchr(kv, '=', kvlen);
    size_t klen = eq ? (size_t)(eq - kv) : kvlen;
    const char *v = eq ? eq + 1 : kv + kvlen;
    size_t vlen = eq ? kvlen - klen - 1 : 0;
    /* The first occurrence wins, as URLSearchParams.get does. */
    if (klen == 7 && memcmp(kv, "storeId", 7) == 0 && !store)
      store = v, store_len = vlen;
    else if (klen == 9 && memcmp(kv, "transport", 9) == 0 && !transport)
      transport = v, transport_len = vlen;
    else if (klen == 7 && memcmp(kv, "payload", 7) == 0 && !payload)
      payload = v, payload_len = vlen;
    i = end + 1;
  }
  q->present = store || transport;
  q->why = "Invalid path";
  if (!store || !transport)
    return;
  if (transport_len == 2 && memcmp(transport, "ws", 2) == 0)
    q->transport = SYNC_TRANSPORT_WS;
  else if (transport_len == 4 && memcmp(transport, "http", 4) == 0)
    q->transport = SYNC_TRANSPORT_HTTP;
  else
    return;
  char *sid = duro_malloc(store_len + 1);
  long n = duro_pct_decode(store, store_len, sid, 1);
  if (n <= 0) {
    duro_free(sid);
    return;
  }
  if (n > SYNC_MAX_STORE_ID || memchr(sid, '\0', (size_t)n)) {
    duro_free(sid);
    q->why = "Invalid storeId: it must be 1 to 255 bytes without NUL";
    return;
  }
  q->store_id = sid;
  q->store_id_len = (size_t)n;
  if (payload) {
    char *once = duro_malloc(payload_len + 1);
    long n1 = duro_pct_decode(payload, payload_len, once, 1);
    char *twice = n1 >= 0 ? duro_malloc((size_t)n1 + 1) : NULL;
    long n2 = twice ? duro_pct_decode(once, (size_t)n1, twice, 0) : DURO_EINVAL;
    duro_free(once);
    cJSON *j = n2 > 0 && !memchr(twice, '\0', (size_t)n2)
                   ? cJSON_ParseWithLength(twice, (size_t)n2)
                   : NULL;
    if (!j) {
      duro_free(twice);
      return;
    }
    cJSON_Delete(j);
    q->payload = twice;
    q->payload_len = (size_t)n2;
  }
  q->valid = 1;
  q->why = NULL;
}

void duro_sync_query_free(sync_query_t *q) {
  duro_free(q->store_id);
  duro_free(q->payload);
  memset(q, 0, sizeof(*q));
}

/* ---- configuration ------------------------------------------------------------ */

static void add_token(sync_auth_t *a, const char *t, size_t len) {
  while (len && (*t == ' ' || *t == '\t'))
    t++, len--;
  while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
    len--;
  if (!len)
    return;
  a->tokens = duro_realloc(a->tokens, (a->ntokens + 1) * sizeof(char *));
  a->tokens[a->ntokens++] = duro_strndup(t, len);
}

int duro_sync_auth_init(sync_auth_t *a, const duro_config_t *cfg, char *err,
                        size_t errlen) {
  memset(a, 0, sizeof(*a));
  const duro_sync_config_t *sc = duro_sync_config(cfg);
  for (size_t i = 0; i < sc->ntokens; i++)
    add_token(a, sc->tokens[i],
              strlen(sc->tokens[i])); /* C string: a config value */
  const char *env = duro_config_var(cfg, "DURO_SYNC_TOKEN");
  size_t left = env ? strlen(env) : 0; /* C string: a config value */
  for (const char *p = env; left;) {
    const char *comma = memchr(p, ',', left);
    size_t n = comma ? (size_t)(comma - p) : left;
    add_token(a, p, n);
    if (!comma)
      break;
    p = comma + 1;
    left -= n + 1;
  }
  const char *secret = duro_config_var(cfg, "DURO_SYNC_SECRET");
  if (secret && *secret) {
    a->secret = duro_strdup(secret);
    a->secret_len = strlen(secret); /* C string: a config value */
  }
  switch (sc->auth) {
  case DURO_SYNC_AUTH_NONE:
    a->none = 1;
    return 0;
  case DURO_SYNC_AUTH_TOKEN:
    if (!a->ntokens) {
      duro_err_fmt(DURO_EINVAL, err, errlen,
                   "sync.auth is \"token\" but no token is configured (set "
                   "DURO_SYNC_TOKEN or sync.tokens)");
      duro_sync_auth_free(a);
      return DURO_EINVAL;
    }
    return 0;
  case DURO_SYNC_AUTH_HS256:
    if (!a->secret) {
      duro_err_fmt(DURO_EINVAL, err, errlen,
                   "sync.auth is \"hs256\" but DURO_SYNC_SECRET is not set");
      duro_sync_auth_free(a);
      return DURO_EINVAL;
    }
    return 0;
  case DURO_SYNC_AUTH_AUTO:
    break;
  }
  if (a->ntokens || a->secret)
    return 0;
  if (cfg->mode == DURO_MODE_PRODUCTION) {
    duro_err_fmt(DURO_EINVAL, err, errlen,
                 "production mode needs an auth check for LiveStore sync: set "
                 "DURO_SYNC_TOKEN (accepted authToken values) or "
                 "DURO_SYNC_SECRET (HS256 key), or set \"sync\": {\"auth\": "
                 "\"none\"} to accept any client knowingly");
    duro_sync_auth_free(a);
    return DURO_EINVAL;
  }
  a->open_dev = 1;
  return 0;
}

void duro_sync_auth_free(sync_auth_t *a) {
  for (size_t i = 0; i < a->ntokens; i++) {
    OPENSSL_cleanse(a->tokens[i],
                    strlen(a->tokens[i])); /* C string: strndup'd */
    duro_free(a->tokens[i]);
  }
  duro_free(a->tokens);
  if (a->secret) {
    OPENSSL_cleanse(a->secret, a->secret_len);
    duro_free(a->secret);
  }
  memset(a, 0, sizeof(*a));
}

int duro_sync_auth_check_config(const duro_config_t *cfg, char *err,
                                size_t errlen) {
  if (!duro_config_binding(cfg, "LIVESTORE_SYNC"))
    return 0;
  sync_auth_t a;
  int rc = duro_sync_auth_init(&a, cfg, err, errlen);
  if (rc == 0)
    duro_sync_auth_free(&a);
  return rc;
}

/* ---- the check ---------------------------------------------------------------- */

static int token_listed(const sync_auth_t *a, const char *t, size_t len) {
  int ok = 0;
  for (size_t i = 0; i < a->ntokens; i++) {
    size_t n = strlen(a->tokens[i]); /* C string: strndup'd */
    /* Constant time over the candidate; lengths are not secret. */
    if (n == len && CRYPTO_memcmp(a->tokens[i], t, n) == 0)
      ok = 1;
  }
  return ok;
}

static cJSON *b64_json(const char *in, size_t len) {
  unsigned char *buf = duro_malloc(len + 1);
  long n = duro_b64url_decode(in, len, buf, len + 1);
  cJSON *j = n > 0 ? cJSON_ParseWithLength((const char *)buf, (size_t)n) : NULL;
  duro_free(buf);
  return j;
}

/* Verifies an HS256 JWT. Returns NULL when fine, else the reason. */
static const char *jwt_check(const sync_auth_t *a, const char *tok,
                             size_t len, const char *store_id,
                             size_t store_id_len) {
  const char *d1 = memchr(tok, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
  if (!d1 || !d2)
    return "Invalid auth token";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  HMAC(EVP_sha256(), a->secret, (int)a->secret_len, (const unsigned char *)tok,
       (size_t)(d2 - tok), mac, &maclen);
  size_t siglen = len - (size_t)(d2 + 1 - tok);
  unsigned char sig[128];
  if (siglen > 100)
    return "Invalid auth token";
  long n = duro_b64url_decode(d2 + 1, siglen, sig, sizeof(sig));
  if (n != (long)maclen || CRYPTO_memcmp(sig, mac, maclen) != 0)
    return "Invalid auth token";
  cJSON *hdr = b64_json(tok, (size_t)(d1 - tok));
  const cJSON *alg = hdr ? cJSON_GetObjectItemCaseSensitive(hdr, "alg") : NULL;
  int alg_ok = cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0;
  cJSON_Delete(hdr);
  if (!alg_ok)
    return "Invalid auth token";
  cJSON *claims = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
  if (!cJSON_IsObject(claims)) {
    cJSON_Delete(claims);
    return "Invalid auth token";
  }
  const char *why = NULL;
  double now = (double)time(NULL);
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
  const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(claims, "storeId");
  if (exp && (!cJSON_IsNumber(exp) || exp->valuedouble <= now))
    why = "Expired auth token";
  else if (nbf && (!cJSON_IsNumber(nbf) || nbf->valuedouble > now))
    why = "Auth token not valid yet";
  else if (sid && (!cJSON_IsString(sid) ||
                   !duro_cstr_eq(sid->valuestring, store_id, store_id_len)))
    why = "Auth token is not valid for this store";
  cJSON_Delete(claims);
  return why;
}

int duro_sync_auth_check(sync_auth_t *a, const char *store_id,
                         size_t store_id_len, const char *payload,
                         size_t payload_len, char *why, size_t whylen) {
  if (a->none)
    return 0;
  if (a->open_dev) {
    if (!a->warned) {
      a->warned = 1;
      duro_log_warn("LiveStore sync: no auth check is configured, every "
                    "client is accepted (development/test only; set "
                    "DURO_SYNC_TOKEN or DURO_SYNC_SECRET)");
    }
    return 0;
  }
  cJSON *j = payload ? cJSON_ParseWithLength(payload, payload_len) : NULL;
  const cJSON *t =
      cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "authToken") : NULL;
  const char *reason = NULL;
  if (!cJSON_IsString(t)) {
    reason = "Missing auth token: the sync payload needs an authToken";
  } else {
    size_t n = strlen(t->valuestring); /* C string: a cJSON valuestring */
    if (a->ntokens && token_listed(a, t->valuestring, n))
      reason = NULL;
    else if (a->secret)
      reason = jwt_check(a, t->valuestring, n, store_id, store_id_len);
    else
      reason = "Invalid auth token";
  }
  cJSON_Delete(j);
  if (reason)
    return duro_err_fmt(-1, why, whylen, "%s", reason);
  return 0;
}
