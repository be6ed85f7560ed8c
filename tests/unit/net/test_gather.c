/*
 * test_gather.c: the gathering policy of net/gather.c, fed with made-up
 * times (duro_gather_decide is pure), so that every rule is checked
 * without depending on this machine's speed. test_conn.c checks it on a
 * real loop and socket.
 *
 * - Off (max_us 0), a turn without input, or one whose output all went to
 *   the connections read from: write now.
 * - A lone message: a brief hold (spin) that ends after 50 us without
 *   input, or at max_us while input keeps coming.
 * - Input read right after a pass that took long: a sustained hold
 *   (sleep) for a quarter of the pass, clamped to [max_us, 8 max_us], not
 *   ended by quiet; input after a short pass or after a pause: brief.
 * - A full send (64 frames or 64 KiB queued) ends any hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/gather.h"

#define US 1000ull
#define MS (1000ull * US)

static duro_gather_policy_t policy(unsigned max_us) {
  duro_gather_policy_t p;
  memset(&p, 0, sizeof(p));
  p.max_us = max_us;
  return p;
}

/* A hold, then a pass from pass_start to pass_end. */
static void pass(duro_gather_policy_t *p, uint64_t start, uint64_t end) {
  p->holding = 0;
  duro_gather_written(p, start, end);
}

static void test_writes_at_once(void **state) {
  duro_gather_policy_t off = policy(0);
  assert_int_equal(duro_gather_decide(&off, 1 * MS, 1, 1), DURO_GATHER_WRITE);
  duro_gather_policy_t p = policy(1000);
  assert_int_equal(duro_gather_decide(&p, 1 * MS, 0, 1), DURO_GATHER_WRITE);
  assert_int_equal(duro_gather_decide(&p, 1 * MS, 1, 0), DURO_GATHER_WRITE);
  assert_false(p.holding);
}

static void test_brief_hold(void **state) {
  duro_gather_policy_t p = policy(1000);
  p.turn_read_at = 10 * MS;
  assert_int_equal(duro_gather_decide(&p, 10 * MS, 1, 1), DURO_GATHER_SPIN);
  assert_false(p.sustained);
  assert_int_equal(duro_gather_decide(&p, 10 * MS + 49 * US, 0, 1), DURO_GATHER_KEEP);
  assert_int_equal(duro_gather_decide(&p, 10 * MS + 50 * US, 0, 1), DURO_GATHER_WRITE);

  /* input every 40 us: held until max_us, not longer */
  uint64_t t = 20 * MS;
  assert_int_equal(duro_gather_decide(&p, t, 1, 1), DURO_GATHER_SPIN);
  duro_gather_step_t s;
  do {
    t += 40 * US;
    s = duro_gather_decide(&p, t, 1, 1);
  } while (s == DURO_GATHER_KEEP && t < 30 * MS);
  assert_int_equal(s, DURO_GATHER_WRITE);
  assert_true(t >= 21 * MS && t < 21 * MS + 40 * US);
}

static void test_sustained_hold(void **state) {
  duro_gather_policy_t p = policy(1000);
  /* a pass of 8 ms, and input read 5 us after it: a quarter, 2 ms */
  pass(&p, 10 * MS, 18 * MS);
  p.turn_read_at = 18 * MS + 5 * US;
  assert_int_equal(duro_gather_decide(&p, 18 * MS + 9 * US, 1, 1), DURO_GATHER_SLEEP);
  assert_true(p.sustained);
  assert_int_equal(p.hold_ns, 2 * MS);
  /* no input for a while: still held (the writes are what is behind) */
  assert_int_equal(duro_gather_decide(&p, 19 * MS, 0, 1), DURO_GATHER_KEEP);
  assert_int_equal(duro_gather_decide(&p, 20 * MS + 8 * US, 0, 1), DURO_GATHER_KEEP);
  assert_int_equal(duro_gather_decide(&p, 20 * MS + 9 * US, 0, 1), DURO_GATHER_WRITE);

  /* a pass of 2 ms: at least max_us */
  pass(&p, 30 * MS, 32 * MS);
  p.turn_read_at = 32 * MS + 1 * US;
  assert_int_equal(duro_gather_decide(&p, 32 * MS + 2 * US, 1, 1), DURO_GATHER_SLEEP);
  assert_int_equal(p.hold_ns, 1 * MS);
  p.holding = 0;

  /* a pass of 100 ms: at most 8 max_us */
  pass(&p, 40 * MS, 140 * MS);
  p.turn_read_at = 140 * MS + 1 * US;
  assert_int_equal(duro_gather_decide(&p, 140 * MS + 2 * US, 1, 1), DURO_GATHER_SLEEP);
  assert_int_equal(p.hold_ns, 8 * MS);
  p.holding = 0;
}

static void test_brief_after_pause_or_short_pass(void **state) {
  duro_gather_policy_t p = policy(1000);
  /* long pass, but the input came 60 us after it: the client paused */
  pass(&p, 10 * MS, 18 * MS);
  p.turn_read_at = 18 * MS + 60 * US;
  assert_int_equal(duro_gather_decide(&p, 18 * MS + 61 * US, 1, 1), DURO_GATHER_SPIN);
  assert_false(p.sustained);
  p.holding = 0;
  /* a pass of 20 us and input 10 us after it: a lone message that came
   * soon, not writes that are behind */
  pass(&p, 30 * MS, 30 * MS + 20 * US);
  p.turn_read_at = 30 * MS + 30 * US;
  assert_int_equal(duro_gather_decide(&p, 30 * MS + 31 * US, 1, 1), DURO_GATHER_SPIN);
  assert_false(p.sustained);
}

static void test_full_send_ends_hold(void **state) {
  duro_gather_t g;
  memset(&g, 0, sizeof(g));
  g.p = policy(1000);
  pass(&g.p, 10 * MS, 18 * MS);
  g.p.turn_read_at = 18 * MS + 1 * US;
  assert_int_equal(duro_gather_decide(&g.p, 18 * MS + 2 * US, 1, 1), DURO_GATHER_SLEEP);
  duro_gather_note_queue(&g, DURO_GATHER_FULL_FRAMES - 1, 1000);
  assert_int_equal(duro_gather_decide(&g.p, 18 * MS + 3 * US, 1, 1), DURO_GATHER_KEEP);
  duro_gather_note_queue(&g, DURO_GATHER_FULL_FRAMES, 1000);
  assert_int_equal(duro_gather_decide(&g.p, 18 * MS + 4 * US, 1, 1), DURO_GATHER_WRITE);

  /* bytes too, and the mark does not outlive its hold */
  g.p.turn_read_at = 30 * MS;
  assert_int_equal(duro_gather_decide(&g.p, 30 * MS, 1, 1), DURO_GATHER_SPIN);
  assert_int_equal(duro_gather_decide(&g.p, 30 * MS + 1 * US, 1, 1), DURO_GATHER_KEEP);
  duro_gather_note_queue(&g, 3, DURO_GATHER_FULL_BYTES);
  assert_int_equal(duro_gather_decide(&g.p, 30 * MS + 2 * US, 1, 1), DURO_GATHER_WRITE);
  /* not holding: a full queue marks nothing */
  duro_gather_note_queue(&g, 1000, 1 << 20);
  assert_false(g.p.full);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writes_at_once),
      cmocka_unit_test(test_brief_hold),
      cmocka_unit_test(test_sustained_hold),
      cmocka_unit_test(test_brief_after_pause_or_short_pass),
      cmocka_unit_test(test_full_send_ends_hold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
