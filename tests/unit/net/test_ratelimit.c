/*
 * test_ratelimit.c: the per-client token buckets (src/net/ratelimit.c).
 *
 * Burst then refill at the configured rate (connections and messages),
 * Retry-After style waits, messages counted across one peer's
 * connections, peers independent, loopback exemption, IPv6 keyed by /64
 * and IPv4-mapped addresses as IPv4, eviction of the longest idle entry
 * (never a busy one) and failing open when every entry is busy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/ratelimit.h"

static duro_rl_key_t key4(const char *ip) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
  duro_rl_key_t k;
  assert_true(duro_rl_key_from_sockaddr(&k, (struct sockaddr *)&a) >= 0);
  return k;
}

static duro_rl_key_t key6(const char *ip, int *loopback) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
  duro_rl_key_t k;
  int rc = duro_rl_key_from_sockaddr(&k, (struct sockaddr *)&a);
  assert_true(rc >= 0);
  if (loopback)
    *loopback = rc;
  return k;
}

static duro_ratelimit_t *make(unsigned cps, unsigned cburst, unsigned mps,
                              unsigned mburst, size_t cap, int exempt) {
  duro_ratelimit_opts_t o = {cps, cburst, mps, mburst, cap, exempt};
  return duro_ratelimit_new(&o, 42);
}

static void test_connection_burst_then_rate(void **state) {
  duro_ratelimit_t *rl = make(2, 3, 0, 0, 64, 0);
  duro_rl_key_t k = key4("192.0.2.1");
  uint32_t retry, slot;
  for (int i = 0; i < 3; i++) {
    slot = duro_ratelimit_connect(rl, &k, 1000, &retry);
    assert_int_not_equal(slot, 0);
    assert_int_equal(retry, 0);
    duro_ratelimit_disconnect(rl, slot);
  }
  /* The burst is spent: the fourth waits for half a second (2/s). */
  slot = duro_ratelimit_connect(rl, &k, 1000, &retry);
  assert_int_equal(retry, 500);
  duro_ratelimit_disconnect(rl, slot);
  /* A refused attempt costs nothing: 499 ms later still 1 ms to go. */
  slot = duro_ratelimit_connect(rl, &k, 1499, &retry);
  assert_int_equal(retry, 1);
  duro_ratelimit_disconnect(rl, slot);
  slot = duro_ratelimit_connect(rl, &k, 1500, &retry);
  assert_int_equal(retry, 0);
  duro_ratelimit_disconnect(rl, slot);
  /* A long pause refills to the burst, not beyond. */
  for (int i = 0; i < 3; i++) {
    slot = duro_ratelimit_connect(rl, &k, 100000000, &retry);
    assert_int_equal(retry, 0);
    duro_ratelimit_disconnect(rl, slot);
  }
  slot = duro_ratelimit_connect(rl, &k, 100000000, &retry);
  assert_true(retry > 0);
  duro_ratelimit_disconnect(rl, slot);
  duro_ratelimit_free(rl);
}

static void test_peers_are_independent(void **state) {
  duro_ratelimit_t *rl = make(1, 1, 0, 0, 64, 0);
  duro_rl_key_t a = key4("192.0.2.1"), b = key4("192.0.2.2");
  uint32_t retry;
  uint32_t s1 = duro_ratelimit_connect(rl, &a, 0, &retry);
  assert_int_equal(retry, 0);
  uint32_t s2 = duro_ratelimit_connect(rl, &a, 0, &retry);
  assert_true(retry > 0);
  assert_int_equal(s1, s2);
  uint32_t s3 = duro_ratelimit_connect(rl, &b, 0, &retry);
  assert_int_equal(retry, 0);
  assert_int_not_equal(s3, s1);
  assert_int_equal(duro_ratelimit_entries(rl), 2);
  duro_ratelimit_free(rl);
}

static void test_messages_shared_across_connections(void **state) {
  duro_ratelimit_t *rl = make(0, 0, 10, 5, 64, 0);
  duro_rl_key_t k = key4("198.51.100.7");
  uint32_t retry;
  uint32_t s1 = duro_ratelimit_connect(rl, &k, 0, &retry);
  uint32_t s2 = duro_ratelimit_connect(rl, &k, 0, &retry);
  assert_int_equal(retry, 0); /* no connection limit configured */
  assert_int_equal(s1, s2);
  /* Five messages over two sockets spend the one bucket. */
  for (int i = 0; i < 5; i++)
    assert_int_equal(duro_ratelimit_message(rl, i % 2 ? s1 : s2, 0), 0);
  assert_int_equal(duro_ratelimit_message(rl, s1, 0), 1);
  assert_int_equal(duro_ratelimit_message(rl, s2, 50), 1);
  /* 10/s: one token per 100 ms. */
  assert_int_equal(duro_ratelimit_message(rl, s2, 100), 0);
  assert_int_equal(duro_ratelimit_message(rl, s1, 100), 1);
  /* slot 0 (untracked) is never limited */
  assert_int_equal(duro_ratelimit_message(rl, 0, 100), 0);
  duro_ratelimit_free(rl);
}

static void test_loopback_exempt(void **state) {
  duro_ratelimit_t *rl = make(1, 1, 1, 1, 64, 1);
  duro_rl_key_t lo = key4("127.0.0.1"), lo2 = key4("127.1.2.3");
  int is_lo;
  duro_rl_key_t lo6 = key6("::1", &is_lo);
  assert_int_equal(is_lo, 1);
  uint32_t retry;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(duro_ratelimit_connect(rl, &lo, 0, &retry), 0);
    assert_int_equal(retry, 0);
    assert_int_equal(duro_ratelimit_connect(rl, &lo2, 0, &retry), 0);
    assert_int_equal(duro_ratelimit_connect(rl, &lo6, 0, &retry), 0);
    assert_int_equal(retry, 0);
  }
  assert_int_equal(duro_ratelimit_entries(rl), 0);
  duro_ratelimit_free(rl);
  /* Without the exemption loopback is limited like anyone. */
  rl = make(1, 1, 1, 1, 64, 0);
  assert_int_not_equal(duro_ratelimit_connect(rl, &lo, 0, &retry), 0);
  assert_int_equal(retry, 0);
  duro_ratelimit_connect(rl, &lo, 0, &retry);
  assert_true(retry > 0);
  duro_ratelimit_free(rl);
}

static void test_keys(void **state) {
  int lo;
  duro_rl_key_t a = key6("2001:db8:1:2::1", &lo);
  assert_int_equal(lo, 0);
  duro_rl_key_t b = key6("2001:db8:1:2:ffff:eeee:dddd:cccc", NULL);
  duro_rl_key_t c = key6("2001:db8:1:3::1", NULL);
  assert_memory_equal(a.b, b.b, 16); /* same /64 */
  assert_memory_not_equal(a.b, c.b, 16);
  duro_rl_key_t m = key6("::ffff:192.0.2.9", &lo);
  duro_rl_key_t v4 = key4("192.0.2.9");
  assert_memory_equal(m.b, v4.b, 16);
  key6("::ffff:127.0.0.1", &lo);
  assert_int_equal(lo, 1);
  struct sockaddr sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_family = AF_UNIX;
  duro_rl_key_t k;
  assert_int_equal(duro_rl_key_from_sockaddr(&k, &sa), DURO_EINVAL);
}

static void test_eviction_of_idle_entries(void **state) {
  /* 16 entries: the smallest table. */
  duro_ratelimit_t *rl = make(1, 1, 0, 0, 16, 0);
  uint32_t retry, slots[16];
  char ip[32];
  /* Peer 0 keeps a connection open; peers 1..15 come and go, in order. */
  for (int i = 0; i < 16; i++) {
    snprintf(ip, sizeof(ip), "10.0.0.%d", i);
    duro_rl_key_t k = key4(ip);
    slots[i] = duro_ratelimit_connect(rl, &k, (uint64_t)i, &retry);
    assert_int_not_equal(slots[i], 0);
    if (i)
      duro_ratelimit_disconnect(rl, slots[i]);
  }
  assert_int_equal(duro_ratelimit_entries(rl), 16);
  /* A 17th peer takes the longest idle entry: peer 1's. */
  duro_rl_key_t k16 = key4("10.0.1.0");
  uint32_t s16 = duro_ratelimit_connect(rl, &k16, 100, &retry);
  assert_int_equal(s16, slots[1]);
  assert_int_equal(duro_ratelimit_entries(rl), 16);
  /* Peer 1 was forgotten: it comes back with a fresh bucket (and takes
   * peer 2's entry, the next idle one). */
  duro_rl_key_t k1 = key4("10.0.0.1");
  uint32_t s1 = duro_ratelimit_connect(rl, &k1, 100, &retry);
  assert_int_equal(retry, 0);
  assert_int_equal(s1, slots[2]);
  /* Peer 0 is busy and keeps its (spent) bucket. */
  duro_rl_key_t k0 = key4("10.0.0.0");
  assert_int_equal(duro_ratelimit_connect(rl, &k0, 100, &retry), slots[0]);
  assert_true(retry > 0);
  duro_ratelimit_free(rl);
}

static void test_full_of_busy_entries_fails_open(void **state) {
  duro_ratelimit_t *rl = make(1, 1, 1, 1, 16, 0);
  uint32_t retry;
  char ip[32];
  for (int i = 0; i < 16; i++) {
    snprintf(ip, sizeof(ip), "10.0.0.%d", i);
    duro_rl_key_t k = key4(ip);
    assert_int_not_equal(duro_ratelimit_connect(rl, &k, 0, &retry), 0);
  }
  duro_rl_key_t k = key4("10.9.9.9");
  for (int i = 0; i < 5; i++) {
    assert_int_equal(duro_ratelimit_connect(rl, &k, 0, &retry), 0);
    assert_int_equal(retry, 0);
  }
  duro_ratelimit_disconnect(rl, 0); /* harmless */
  duro_ratelimit_free(rl);
}

static void test_many_peers_lookup(void **state) {
  /* Every peer of a full table is found again (chains intact after many
   * evictions). */
  duro_ratelimit_t *rl = make(1, 1, 0, 0, 1024, 0);
  uint32_t retry;
  char ip[32];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 1024; i++) {
      snprintf(ip, sizeof(ip), "10.%d.%d.%d", round, i / 256, i % 256);
      duro_rl_key_t k = key4(ip);
      uint32_t s = duro_ratelimit_connect(rl, &k, 0, &retry);
      assert_int_not_equal(s, 0);
      assert_int_equal(retry, 0);
      duro_ratelimit_disconnect(rl, s);
    }
    for (int i = 0; i < 1024; i++) {
      snprintf(ip, sizeof(ip), "10.%d.%d.%d", round, i / 256, i % 256);
      duro_rl_key_t k = key4(ip);
      uint32_t s = duro_ratelimit_connect(rl, &k, 0, &retry);
      if (retry == 0)
        fail_msg("round %d peer %s lost its bucket", round, ip);
      duro_ratelimit_disconnect(rl, s);
    }
  }
  assert_int_equal(duro_ratelimit_entries(rl), 1024);
  duro_ratelimit_free(rl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connection_burst_then_rate),
      cmocka_unit_test(test_peers_are_independent),
      cmocka_unit_test(test_messages_shared_across_connections),
      cmocka_unit_test(test_loopback_exempt),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_eviction_of_idle_entries),
      cmocka_unit_test(test_full_of_busy_entries_fails_open),
      cmocka_unit_test(test_many_peers_lookup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
