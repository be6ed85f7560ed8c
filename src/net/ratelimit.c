/*
 * ratelimit.c: per-client token buckets; see ratelimit.h.
 *
 * Layout: one array of entries, one array of hash bucket heads, both
 * allocated in duro_ratelimit_new. Links are entry indexes plus one, so 0
 * means "none" and a zeroed table is empty. Chains are singly linked (an
 * eviction walks its chain to unlink, which is short with a seeded hash
 * and a load factor of at most 1); the idle list is doubly linked so an
 * entry leaves it in O(1) when a connection from its peer arrives.
 */
#include "net/ratelimit.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/err.h"

/* Tokens are kept in thousandths: a rate of r per second then refills
 * exactly r thousandths per millisecond. */
#define MILLI 1000ull

typedef struct bucket {
  uint64_t milli; /* tokens x 1000 */
  uint64_t at_ms; /* when milli was last brought up to date */
} bucket_t;

typedef struct entry {
  duro_rl_key_t key;
  bucket_t conn, msg;
  uint32_t chain;          /* next entry in the hash chain */
  uint32_t idle_prev, idle_next;
  uint32_t open;           /* connections from this peer now open */
} entry_t;

struct duro_ratelimit {
  duro_ratelimit_opts_t o;
  uint64_t seed;
  uint32_t cap, mask;
  uint32_t *heads;         /* cap hash chains */
  entry_t *e;              /* cap entries */
  uint32_t next_fresh;     /* entries [next_fresh, cap) were never used */
  uint32_t idle_head, idle_tail;
  size_t nused;
};

/* ---- keys and hashing ----------------------------------------------------- */

int duro_rl_key_from_sockaddr(duro_rl_key_t *key, const struct sockaddr *sa) {
  memset(key, 0, sizeof(*key));
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
    memcpy(key->b, &a->sin_addr, 4);
    key->b[15] = 4;
    return key->b[0] == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a =
        (const struct sockaddr_in6 *)(const void *)sa;
    const uint8_t *p = a->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(p, mapped, 12) == 0) {
      memcpy(key->b, p + 12, 4);
      key->b[15] = 4;
      return key->b[0] == 127;
    }
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                      0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(key->b, p, 8);
    key->b[15] = 6;
    return memcmp(p, loop6, 16) == 0;
  }
  return DURO_EINVAL;
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static uint32_t hash(const duro_ratelimit_t *rl, const duro_rl_key_t *k) {
  uint64_t a, b;
  memcpy(&a, k->b, 8);
  memcpy(&b, k->b + 8, 8);
  return (uint32_t)mix(mix(a ^ rl->seed) ^ b) & rl->mask;
}

/* ---- buckets ---------------------------------------------------------------- */

/* Refills b at per_s tokens a second up to burst, then takes one token if
 * there is one. Returns 0 when taken, else the ms until one is back. */
static uint32_t take(bucket_t *b, unsigned per_s, unsigned burst,
                     uint64_t now_ms) {
  uint64_t full = (uint64_t)burst * MILLI;
  if (now_ms > b->at_ms) {
    uint64_t dt = now_ms - b->at_ms;
    /* dt * per_s cannot overflow for any sane clock and rate, but an
     * entry idle for ages is simply full. */
    if (dt >= full / (per_s ? per_s : 1) + 1)
      b->milli = full;
    else if ((b->milli += dt * per_s) > full)
      b->milli = full;
  }
  b->at_ms = now_ms;
  if (b->milli >= MILLI) {
    b->milli -= MILLI;
    return 0;
  }
  uint64_t wait = (MILLI - b->milli + per_s - 1) / per_s;
  return wait ? (uint32_t)wait : 1;
}

/* ---- the table ------------------------------------------------------------- */

duro_ratelimit_t *duro_ratelimit_new(const duro_ratelimit_opts_t *opts,
                                     uint64_t seed) {
  duro_ratelimit_t *rl = duro_calloc(1, sizeof(*rl));
  rl->o = *opts;
  if (rl->o.conn_burst == 0)
    rl->o.conn_burst = 1;
  if (rl->o.msg_burst == 0)
    rl->o.msg_burst = 1;
  uint32_t cap = 16;
  while (cap < opts->capacity && cap < (1u << 24))
    cap <<= 1;
  rl->cap = cap;
  rl->mask = cap - 1;
  rl->seed = mix(seed ^ 0x9e3779b97f4a7c15ull);
  rl->heads = duro_calloc(cap, sizeof(*rl->heads));
  rl->e = duro_calloc(cap, sizeof(*rl->e));
  return rl;
}

void duro_ratelimit_free(duro_ratelimit_t *rl) {
  if (!rl)
    return;
  duro_free(rl->heads);
  duro_free(rl->e);
  duro_free(rl);
}

size_t duro_ratelimit_entries(const duro_ratelimit_t *rl) { return rl->nused; }

static void idle_remove(duro_ratelimit_t *rl, uint32_t i) {
  entry_t *e = &rl->e[i - 1];
  if (e->idle_prev)
    rl->e[e->idle_prev - 1].idle_next = e->idle_next;
  else
    rl->idle_head = e->idle_next;
  if (e->idle_next)
    rl->e[e->idle_next - 1].idle_prev = e->idle_prev;
  else
    rl->idle_tail = e->idle_prev;
  e->idle_prev = e->idle_next = 0;
}

static void idle_append(duro_ratelimit_t *rl, uint32_t i) {
  entry_t *e = &rl->e[i - 1];
  e->idle_next = 0;
  e->idle_prev = rl->idle_tail;
  if (rl->idle_tail)
    rl->e[rl->idle_tail - 1].idle_next = i;
  else
    rl->idle_head = i;
  rl->idle_tail = i;
}

static void chain_remove(duro_ratelimit_t *rl, uint32_t i) {
  uint32_t *link = &rl->heads[hash(rl, &rl->e[i - 1].key)];
  while (*link && *link != i)
    link = &rl->e[*link - 1].chain;
  if (*link)
    *link = rl->e[i - 1].chain;
}

/* Finds key's entry or makes one (fresh, else the longest idle one).
 * Returns its index plus one, or 0 when every entry is busy. */
static uint32_t lookup(duro_ratelimit_t *rl, const duro_rl_key_t *key,
                       uint64_t now_ms) {
  uint32_t h = hash(rl, key);
  for (uint32_t i = rl->heads[h]; i; i = rl->e[i - 1].chain)
    if (memcmp(rl->e[i - 1].key.b, key->b, sizeof(key->b)) == 0)
      return i;
  uint32_t i;
  if (rl->next_fresh < rl->cap) {
    i = ++rl->next_fresh;
    rl->nused++;
  } else if (rl->idle_head) {
    i = rl->idle_head;
    idle_remove(rl, i);
    chain_remove(rl, i);
  } else {
    return 0;
  }
  entry_t *e = &rl->e[i - 1];
  memset(e, 0, sizeof(*e));
  e->key = *key;
  e->conn.milli = (uint64_t)rl->o.conn_burst * MILLI;
  e->msg.milli = (uint64_t)rl->o.msg_burst * MILLI;
  e->conn.at_ms = e->msg.at_ms = now_ms;
  e->chain = rl->heads[h];
  rl->heads[h] = i;
  /* A new entry is idle until connect() counts its connection. */
  idle_append(rl, i);
  return i;
}

uint32_t duro_ratelimit_connect(duro_ratelimit_t *rl, const duro_rl_key_t *key,
                                uint64_t now_ms, uint32_t *retry_ms) {
  *retry_ms = 0;
  if (rl->o.exempt_loopback) {
    static const uint8_t loop6[8] = {0};
    if ((key->b[15] == 4 && key->b[0] == 127) ||
        (key->b[15] == 6 && memcmp(key->b, loop6, 8) == 0))
      return 0; /* ::/64 holds ::1; nothing else real lives there */
  }
  uint32_t i = lookup(rl, key, now_ms);
  if (!i)
    return 0;
  entry_t *e = &rl->e[i - 1];
  if (e->open++ == 0)
    idle_remove(rl, i);
  if (rl->o.conn_per_s)
    *retry_ms = take(&e->conn, rl->o.conn_per_s, rl->o.conn_burst, now_ms);
  return i;
}

void duro_ratelimit_disconnect(duro_ratelimit_t *rl, uint32_t slot) {
  if (!slot || slot > rl->cap)
    return;
  entry_t *e = &rl->e[slot - 1];
  if (e->open && --e->open == 0)
    idle_append(rl, slot);
}

int duro_ratelimit_message(duro_ratelimit_t *rl, uint32_t slot,
                           uint64_t now_ms) {
  if (!slot || slot > rl->cap || !rl->o.msg_per_s)
    return 0;
  entry_t *e = &rl->e[slot - 1];
  return take(&e->msg, rl->o.msg_per_s, rl->o.msg_burst, now_ms) != 0;
}
