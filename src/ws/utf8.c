/*
 * utf8.c: the UTF-8 validation DFA of utf8.h.
 *
 * Each byte maps to one of 12 classes, and the state (what the current
 * character still needs) times 12 plus the class indexes the next state.
 * The constrained second bytes of RFC 3629 (E0 A0..BF, ED 80..9F, F0 90..BF,
 * F4 80..8F) each get a state of their own, which is how overlongs,
 * surrogates and code points past U+10FFFF are rejected without decoding.
 */
#include "ws/utf8.h"

#include <string.h>

/* Byte classes. */
enum {
  C_ASCII, /* 00..7F */
  C_80,    /* 80..8F continuation */
  C_90,    /* 90..9F continuation */
  C_A0,    /* A0..BF continuation */
  C_BAD,   /* C0, C1, F5..FF: never valid */
  C_2,     /* C2..DF: lead of 2 */
  C_E0,    /* E0: lead of 3, second byte A0..BF */
  C_3,     /* E1..EC, EE, EF: lead of 3 */
  C_ED,    /* ED: lead of 3, second byte 80..9F */
  C_F0,    /* F0: lead of 4, second byte 90..BF */
  C_4,     /* F1..F3: lead of 4 */
  C_F4,    /* F4: lead of 4, second byte 80..8F */
  NCLASS
};

/* States besides ACCEPT (0) and REJECT (1). */
enum {
  S_NEED1 = 2, /* one continuation byte left */
  S_NEED2,     /* two left */
  S_NEED3,     /* three left */
  S_E0,        /* after E0 */
  S_ED,        /* after ED */
  S_F0,        /* after F0 */
  S_F4,        /* after F4 */
  NSTATE
};

static const uint8_t byte_class[256] = {
    /* 00..7F */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 80..8F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 90..9F */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* A0..BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* C0, C1 bad, C2..DF */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* E0, E1..EC, ED, EE, EF */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7,
    /* F0, F1..F3, F4, F5..FF bad */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

#define A DURO_UTF8_ACCEPT
#define R DURO_UTF8_REJECT

static const uint8_t transition[NSTATE * NCLASS] = {
    /*           ASCII 80  90  A0  BAD 2        E0    3        ED    F0    4        F4 */
    /* ACCEPT */ A,    R,  R,  R,  R,  S_NEED1, S_E0, S_NEED2, S_ED, S_F0, S_NEED3, S_F4,
    /* REJECT */ R,    R,  R,  R,  R,  R,       R,    R,       R,    R,    R,       R,
    /* NEED1 */  R,    A,  A,  A,  R,  R,       R,    R,       R,    R,    R,       R,
    /* NEED2 */  R,    S_NEED1, S_NEED1, S_NEED1, R, R, R, R, R, R, R, R,
    /* NEED3 */  R,    S_NEED2, S_NEED2, S_NEED2, R, R, R, R, R, R, R, R,
    /* E0 */     R,    R,  R,  S_NEED1, R, R, R, R, R, R, R, R,
    /* ED */     R,    S_NEED1, S_NEED1, R, R, R, R, R, R, R, R, R,
    /* F0 */     R,    R,  S_NEED2, S_NEED2, R, R, R, R, R, R, R, R,
    /* F4 */     R,    S_NEED2, R, R, R, R, R, R, R, R, R, R,
};

#undef A
#undef R

uint32_t duro_utf8_validate(uint32_t state, const uint8_t *s, size_t len) {
  size_t i = 0;

  if (state >= NSTATE)
    return DURO_UTF8_REJECT;
  while (i < len) {
    if (state == DURO_UTF8_ACCEPT) {
      /* Between characters: skip whole words of ASCII. memcpy keeps the
       * load alignment-safe; it compiles to one unaligned load. */
      while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
          break;
        i += 8;
      }
      while (i < len && s[i] < 0x80)
        i++;
      if (i == len)
        break;
    }
    state = transition[state * NCLASS + byte_class[s[i++]]];
    if (state == DURO_UTF8_REJECT)
      break;
  }
  return state;
}
