/*
 * test_auth.c: recognising LiveStore sync requests by their query and the
 * connect-time auth check (src/sync/auth.c): tokens, HS256 JWTs (signature,
 * alg, exp, nbf, storeId), the startup check, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64url.h"
#include "core/config.h"
#include "core/err.h"
#include "sync/auth.h"
#include "sync/options.h"

/* A hand-built config's "sync" section: the test's own struct. */
#define ATTACH_SYNC(cfg, sync, part)                                          \
  do {                                                                        \
    (part) = (duro_config_part_t){&duro_sync_section, &(sync)};               \
    (cfg).parts = &(part);                                                    \
    (cfg).nparts = 1;                                                         \
  } while (0)

static void test_query(void **state) {
  sync_query_t q;
  const char *s = "storeId=todo+app%2F1&payload=%257B%2522authToken%2522%253A%2522s3cr3t%2520x%2522%257D&transport=ws";
  duro_sync_query_parse(s, strlen(s), &q);
  assert_true(q.present && q.valid);
  assert_string_equal(q.store_id, "todo app/1");
  assert_int_equal(q.transport, SYNC_TRANSPORT_WS);
  assert_string_equal(q.payload, "{\"authToken\":\"s3cr3t x\"}");
  duro_sync_query_free(&q);
  static const char *bad[] = {"storeId=a", "transport=ws", "storeId=&transport=ws",
                              "storeId=a&transport=tcp", "storeId=a%00b&transport=ws",
                              "storeId=a&transport=ws&payload=%7Bx", "storeId=%zz&transport=http"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    duro_sync_query_parse(bad[i], strlen(bad[i]), &q);
    assert_true(q.present);
    assert_false(q.valid);
    assert_non_null(q.why);
    duro_sync_query_free(&q);
  }
  duro_sync_query_parse("a=1&b=2", 7, &q);
  assert_false(q.present);
  duro_sync_query_free(&q);
}

static void jwt(const char *claims, const char *secret, char *out) {
  char h[64], c[256], sig[64];
  const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  duro_b64url_encode((const uint8_t *)hdr, strlen(hdr), h);
  duro_b64url_encode((const uint8_t *)claims, strlen(claims), c);
  char signing[400];
  snprintf(signing, sizeof(signing), "%s.%s", h, c);
  unsigned char mac[32];
  unsigned int len;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signing, strlen(signing), mac, &len);
  duro_b64url_encode(mac, len, sig);
  sprintf(out, "%s.%s", signing, sig);
}

static void test_auth(void **state) {
  duro_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  duro_sync_config_t sync = {0};
  duro_config_part_t part;
  ATTACH_SYNC(cfg, sync, part);
  duro_var_t vars[2] = {{"DURO_SYNC_TOKEN", "one, two"}, {"DURO_SYNC_SECRET", "k"}};
  cfg.vars = vars;
  cfg.nvars = 1;
  cfg.mode = DURO_MODE_PRODUCTION;
  sync_auth_t a;
  char err[256], why[128];
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, "{\"authToken\":\"two\"}",
                                        19, why, sizeof(why)),
                   0);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, "{\"authToken\":\"three\"}",
                                        21, why, sizeof(why)),
                   -1);
  assert_string_equal(why, "Invalid auth token");
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, NULL, 0, why, sizeof(why)),
                   -1);
  assert_non_null(strstr(why, "Missing auth token"));
  duro_sync_auth_free(&a);

  /* HS256 */
  cfg.vars = vars + 1;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  char tok[512], payload[600];
  jwt("{\"sub\":\"u\",\"storeId\":\"s\",\"exp\":4102444800}", "k", tok);
  snprintf(payload, sizeof(payload), "{\"authToken\":\"%s\"}", tok);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, payload, strlen(payload),
                                        why, sizeof(why)),
                   0);
  assert_int_equal(duro_sync_auth_check(&a, "t", 1, payload, strlen(payload),
                                        why, sizeof(why)),
                   -1);
  assert_non_null(strstr(why, "not valid for this store"));
  jwt("{\"exp\":1000}", "k", tok);
  snprintf(payload, sizeof(payload), "{\"authToken\":\"%s\"}", tok);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, payload, strlen(payload),
                                        why, sizeof(why)),
                   -1);
  assert_string_equal(why, "Expired auth token");
  jwt("{}", "other key", tok);
  snprintf(payload, sizeof(payload), "{\"authToken\":\"%s\"}", tok);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, payload, strlen(payload),
                                        why, sizeof(why)),
                   -1);
  assert_string_equal(why, "Invalid auth token");
  duro_sync_auth_free(&a);

  /* nothing configured: production refuses, "none" accepts, dev is open */
  cfg.nvars = 0;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)),
                   DURO_EINVAL);
  assert_non_null(strstr(err, "production"));
  sync.auth = DURO_SYNC_AUTH_NONE;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, NULL, 0, why, sizeof(why)),
                   0);
  duro_sync_auth_free(&a);
  sync.auth = DURO_SYNC_AUTH_TOKEN;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)),
                   DURO_EINVAL);
  sync.auth = DURO_SYNC_AUTH_AUTO;
  cfg.mode = DURO_MODE_DEVELOPMENT;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  assert_int_equal(duro_sync_auth_check(&a, "s", 1, "{}", 2, why, sizeof(why)),
                   0);
  duro_sync_auth_free(&a);
}


/* A JWT with a header of our choosing, signed with secret. */
static void jwt_hdr(const char *hdr, const char *claims, const char *secret,
                    char *out) {
  char h[128], c[256], sig[64];
  duro_b64url_encode((const uint8_t *)hdr, strlen(hdr), h);
  duro_b64url_encode((const uint8_t *)claims, strlen(claims), c);
  char signing[400];
  snprintf(signing, sizeof(signing), "%s.%s", h, c);
  unsigned char mac[32];
  unsigned int len;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signing,
       strlen(signing), mac, &len);
  duro_b64url_encode(mac, len, sig);
  sprintf(out, "%s.%s", signing, sig);
}

static int check_token(sync_auth_t *a, const char *store, const char *tok,
                       char *why, size_t whylen) {
  char payload[800];
  snprintf(payload, sizeof(payload), "{\"authToken\":\"%.700s\"}", tok);
  return duro_sync_auth_check(a, store, strlen(store), payload,
                              strlen(payload), why, whylen);
}

static void test_jwt_claims(void **state) {
  duro_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  duro_var_t vars[1] = {{"DURO_SYNC_SECRET", "k"}};
  cfg.vars = vars;
  cfg.nvars = 1;
  cfg.mode = DURO_MODE_PRODUCTION;
  sync_auth_t a;
  char err[256], why[128], tok[512];
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  static const struct {
    const char *hdr, *claims, *why; /* why NULL: accepted */
  } cases[] = {
      {"{\"alg\":\"HS256\"}", "{}", NULL},
      {"{\"alg\":\"HS256\"}", "{\"storeId\":\"s\"}", NULL},
      {"{\"alg\":\"HS256\"}", "{\"nbf\":1000,\"exp\":4102444800}", NULL},
      {"{\"alg\":\"HS256\"}", "{\"nbf\":4102444800}",
       "Auth token not valid yet"},
      {"{\"alg\":\"HS256\"}", "{\"nbf\":\"soon\"}", "Auth token not valid yet"},
      {"{\"alg\":\"HS256\"}", "{\"exp\":\"never\"}", "Expired auth token"},
      {"{\"alg\":\"HS256\"}", "{\"storeId\":7}",
       "Auth token is not valid for this store"},
      {"{\"alg\":\"HS256\"}", "{\"storeId\":\"s2\"}",
       "Auth token is not valid for this store"},
      {"{\"alg\":\"none\"}", "{}", "Invalid auth token"},
      {"{\"alg\":\"HS512\"}", "{}", "Invalid auth token"},
      {"{}", "{}", "Invalid auth token"},
      {"{\"alg\":\"HS256\"}", "[1]", "Invalid auth token"},
      {"{\"alg\":\"HS256\"}", "not json", "Invalid auth token"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    jwt_hdr(cases[i].hdr, cases[i].claims, "k", tok);
    int rc = check_token(&a, "s", tok, why, sizeof(why));
    if (cases[i].why) {
      assert_int_equal(rc, -1);
      assert_string_equal(why, cases[i].why);
    } else {
      assert_int_equal(rc, 0);
    }
  }
  /* Malformed tokens: parts missing, a bad signature encoding, too long. */
  static const char *const bad[] = {"", "abc", "a.b", "a.b.c", "..", "a.b.!!!!"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(check_token(&a, "s", bad[i], why, sizeof(why)), -1);
    assert_string_equal(why, "Invalid auth token");
  }
  jwt_hdr("{\"alg\":\"HS256\"}", "{}", "k", tok);
  char longer[700];
  size_t tl = strlen(tok);
  memcpy(longer, tok, tl);
  memset(longer + tl, 'A', 120); /* a signature over 100 characters */
  longer[tl + 120] = '\0';
  assert_int_equal(check_token(&a, "s", longer, why, sizeof(why)), -1);
  /* A payload that is not an object with a string authToken. */
  static const char *const payloads[] = {"[]", "{\"authToken\":5}", "{}", "null"};
  for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
    assert_int_equal(duro_sync_auth_check(&a, "s", 1, payloads[i],
                                          strlen(payloads[i]), why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "Missing auth token"));
  }
  duro_sync_auth_free(&a);
}

static void test_tokens_and_modes(void **state) {
  duro_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  duro_sync_config_t sync = {0};
  duro_config_part_t part;
  ATTACH_SYNC(cfg, sync, part);
  char *cfg_tokens[] = {"from-file"};
  sync.tokens = cfg_tokens;
  sync.ntokens = 1;
  /* DURO_SYNC_TOKEN is a comma list; both sources count, and a token must
   * match exactly (no prefix, no trimming). */
  duro_var_t vars[2] = {{"DURO_SYNC_TOKEN", "a,bb"}, {"DURO_SYNC_SECRET", "k"}};
  cfg.vars = vars;
  cfg.nvars = 1;
  cfg.mode = DURO_MODE_PRODUCTION;
  sync_auth_t a;
  char err[256], why[128];
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  assert_int_equal(check_token(&a, "s", "from-file", why, sizeof(why)), 0);
  assert_int_equal(check_token(&a, "s", "a", why, sizeof(why)), 0);
  assert_int_equal(check_token(&a, "s", "bb", why, sizeof(why)), 0);
  assert_int_equal(check_token(&a, "s", "b", why, sizeof(why)), -1);
  assert_int_equal(check_token(&a, "s", "bbb", why, sizeof(why)), -1);
  assert_int_equal(check_token(&a, "s", "a,bb", why, sizeof(why)), -1);
  duro_sync_auth_free(&a);

  /* "token" with tokens only; "hs256" needs the secret. */
  sync.auth = DURO_SYNC_AUTH_TOKEN;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  duro_sync_auth_free(&a);
  sync.auth = DURO_SYNC_AUTH_HS256;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)),
                   DURO_EINVAL);
  assert_non_null(strstr(err, "DURO_SYNC_SECRET"));
  cfg.nvars = 2;
  assert_int_equal(duro_sync_auth_init(&a, &cfg, err, sizeof(err)), 0);
  duro_sync_auth_free(&a);

  /* The startup check: nothing to check without a LIVESTORE_SYNC binding;
   * with one, the same verdict as init. */
  memset(&cfg, 0, sizeof(cfg));
  memset(&sync, 0, sizeof(sync));
  ATTACH_SYNC(cfg, sync, part);
  cfg.mode = DURO_MODE_PRODUCTION;
  assert_int_equal(duro_sync_auth_check_config(&cfg, err, sizeof(err)), 0);
  duro_binding_t b = {"LIVESTORE_SYNC", "SyncBackend", NULL};
  cfg.bindings = &b;
  cfg.nbindings = 1;
  assert_int_equal(duro_sync_auth_check_config(&cfg, err, sizeof(err)),
                   DURO_EINVAL);
  assert_non_null(strstr(err, "production"));
  sync.auth = DURO_SYNC_AUTH_NONE;
  assert_int_equal(duro_sync_auth_check_config(&cfg, err, sizeof(err)), 0);
}

static void test_query_edges(void **state) {
  sync_query_t q;
  /* The first occurrence wins; other parameters are ignored. */
  const char *s = "x=1&transport=http&storeId=a&storeId=b&transport=ws";
  duro_sync_query_parse(s, strlen(s), &q);
  assert_true(q.valid);
  assert_string_equal(q.store_id, "a");
  assert_int_equal(q.transport, SYNC_TRANSPORT_HTTP);
  assert_null(q.payload);
  duro_sync_query_free(&q);
  /* 255 bytes is the longest storeId. */
  char big[400] = "transport=ws&storeId=";
  size_t n = strlen(big);
  memset(big + n, 'x', 255);
  big[n + 255] = '\0';
  duro_sync_query_parse(big, strlen(big), &q);
  assert_true(q.valid);
  assert_int_equal(q.store_id_len, 255);
  duro_sync_query_free(&q);
  big[n + 255] = 'x';
  big[n + 256] = '\0';
  duro_sync_query_parse(big, strlen(big), &q);
  assert_false(q.valid);
  assert_non_null(strstr(q.why, "255"));
  duro_sync_query_free(&q);
  /* The query is {ptr, len}: bytes past len are not read. */
  const char *cut = "storeId=ab&transport=wsXYZ";
  duro_sync_query_parse(cut, strlen(cut) - 3, &q);
  assert_true(q.valid);
  assert_int_equal(q.transport, SYNC_TRANSPORT_WS);
  duro_sync_query_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query),
      cmocka_unit_test(test_query_edges),
      cmocka_unit_test(test_auth),
      cmocka_unit_test(test_jwt_claims),
      cmocka_unit_test(test_tokens_and_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
