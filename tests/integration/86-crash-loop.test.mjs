// Crash safety: 20 rounds on one data directory. Each round starts duro,
// runs LiveStore pushes to two stores, CountdownTimer starts (storage
// writes plus an alarm, answered only once durable) and lets earlier
// countdowns tick, then kill -9 at a random moment. After each restart:
// PRAGMA integrity_check is ok; every push that got its Success and every
// start that got its 200 is stored; the event logs are 1..head with no
// gap or duplicate and agree with a fresh pull and with context_7; each
// countdown's count, active flag and alarm agree (they commit together);
// and the alarms pending at the kill fire after the restart.
//
// The seed is printed; DURO_CRASH_SEED=<n> replays a run's choices.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDuro, sleep, waitFor } from './lib/duro.mjs';
import { RawSync, SUCCESS_PUSH, eventlogTable, sql, syncUrl } from './lib/sync.mjs';

const ROUNDS = 20;
const STORES = [`crash-loop-a-${process.pid}`, `crash-loop-b-${process.pid}`];
const KILL_AFTER_MS = [150, 1100]; // random moment of the kill, per round
const SEED = Number(process.env.DURO_CRASH_SEED) || (Date.now() % 2147483647);

// mulberry32: small, seedable, good enough to pick delays and sizes.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

// What the clients know. Per store: seq -> tag of every acknowledged
// event, and of every event sent but not (yet) acknowledged (it may or
// may not have committed before the kill).
const acked = STORES.map(() => new Map());
const unacked = STORES.map(() => new Map());
// CountdownTimer names whose start was acknowledged / only sent.
const startsAcked = new Set();
const startsSent = new Set();

// Pushes chains to one store until the connection dies (the kill) or stop.
async function pushLoop(url, k, round, state) {
  const storeId = STORES[k];
  let c;
  try { c = await RawSync.open(syncUrl(url, storeId)); } catch { return; }
  try {
    // Where the log stands now (it may hold unacked events of the last round).
    const p = c.pull({ storeId, live: false });
    let head = (await c.backlog(p)).events.length;
    for (let b = 0; !state.stop; b++) {
      const n = between(1, 10);
      const batch = [];
      for (let i = 0; i < n; i++) {
        const seq = head + 1 + i;
        const tag = `r${round}-s${k}-b${b}-${i}`;
        unacked[k].set(seq, tag);
        batch.push({ name: 'v1.Crash', args: { t: tag }, seqNum: seq, parentSeqNum: seq - 1, clientId: `c${k}`, sessionId: `r${round}` });
      }
      const id = c.push(batch, { storeId });
      const exit = await c.exit(id, 10000);
      assert.deepEqual(exit.exit, SUCCESS_PUSH, `push of ${n} after ${head} to ${storeId}`);
      for (const e of batch) {
        acked[k].set(e.seqNum, e.args.t);
        unacked[k].delete(e.seqNum);
      }
      head += n;
      state.pushes++;
      await sleep(between(2, 20)); // keeps the logs (and the checks) small
    }
  } catch (e) {
    if (c.closed === null && !state.stop) throw e; // not the kill: a real failure
  } finally {
    c.close();
  }
}

// Starts countdowns on fresh objects until the process dies or stop.
async function startLoop(url, round, worker, state) {
  for (let i = 0; !state.stop && i < 40; i++) {
    const name = `r${round}-w${worker}-${i}`;
    startsSent.add(name);
    let res;
    try {
      res = await fetch(`${url}/_objects/COUNTDOWN_TIMER/${name}/start`, { method: 'POST' });
    } catch {
      return; // killed: this start is not acknowledged
    }
    const body = await res.text().catch(() => null);
    if (body === null) return;
    assert.equal(res.status, 200, body);
    assert.match(body, /Countdown started/);
    startsAcked.add(name);
    state.starts++;
    await sleep(between(0, 40));
  }
}

// The event log of store k, checked against what the clients know: in
// aggregate over the whole log, row by row past what an earlier round
// already checked.
const checkedUpTo = STORES.map(() => 0);
function checkLog(dir, k, round) {
  const table = eventlogTable(STORES[k]);
  const exists = sql(dir, `SELECT count(*) FROM sqlite_master WHERE name = '${table}'`)[0][0] === '1';
  if (!exists) {
    assert.equal(acked[k].size, 0, `round ${round}: ${STORES[k]} lost its table`);
    return 0;
  }
  const [count, min, max, seqs, tags, parents] = sql(dir, `SELECT count(*), ifnull(min(seqNum), 0), ifnull(max(seqNum), 0),
      count(DISTINCT seqNum), count(DISTINCT json_extract(args, '$.t')),
      sum(parentSeqNum = seqNum - 1) FROM "${table}"`)[0].map(Number);
  const head = count;
  assert.deepEqual({ min, max, seqs, tags, parents: parents || 0 },
    { min: head ? 1 : 0, max: head, seqs: head, tags: head, parents: head },
    `round ${round}: ${STORES[k]}: the log is not 1..${head}, each event once`);
  const from = Math.min(checkedUpTo[k], head);
  const rows = sql(dir, `SELECT seqNum, json_extract(args, '$.t') FROM "${table}" WHERE seqNum > ${from} ORDER BY seqNum`);
  rows.forEach(([seq, tag], i) => {
    assert.equal(Number(seq), from + i + 1, `round ${round}: ${STORES[k]}: a gap at ${from + i + 1}`);
    const want = acked[k].get(from + i + 1) ?? unacked[k].get(from + i + 1);
    assert.equal(tag, want, `round ${round}: ${STORES[k]}: event ${seq} is not one the client sent there`);
  });
  checkedUpTo[k] = head;
  for (const [seq, tag] of acked[k])
    assert.ok(seq <= head, `round ${round}: ${STORES[k]}: acknowledged event ${seq} (${tag}) lost; head is ${head}`);
  const ctx = sql(dir, `SELECT currentHead FROM context_7 WHERE storeId = '${STORES[k]}'`);
  assert.deepEqual(ctx, [[String(head)]], `round ${round}: context_7 head of ${STORES[k]}`);
  // What survived is now known to be stored: it is no longer "maybe".
  for (let s = 1; s <= head; s++) if (unacked[k].has(s)) { acked[k].set(s, unacked[k].get(s)); unacked[k].delete(s); }
  for (const s of [...unacked[k].keys()]) if (s > head) unacked[k].delete(s);
  return head;
}

// name -> {count, active, alarms} for every CountdownTimer object.
function countdowns(dir) {
  const out = new Map();
  const rows = sql(dir, `SELECT o.name,
      (SELECT CAST(value AS TEXT) FROM kv WHERE object_id = o.id AND key = CAST('countdown' AS BLOB)),
      (SELECT CAST(value AS TEXT) FROM kv WHERE object_id = o.id AND key = CAST('active' AS BLOB)),
      (SELECT count(*) FROM alarms WHERE object_id = o.id)
    FROM objects o WHERE o.namespace = 'COUNTDOWN_TIMER'`);
  for (const [name, count, active, alarms] of rows)
    out.set(name, { count: count === '' ? null : Number(count), active, alarms: Number(alarms) });
  return out;
}

function checkCountdowns(dir, round) {
  const all = countdowns(dir);
  for (const name of startsAcked)
    assert.ok(all.has(name) && all.get(name).count !== null, `round ${round}: acknowledged start of ${name} lost`);
  for (const [name, c] of all) {
    assert.ok(startsSent.has(name), `round ${round}: an object nobody started: ${name}`);
    // count, active and the alarm are written by one event each: together.
    assert.ok(Number.isInteger(c.count) && c.count >= 0 && c.count <= 10, `round ${round}: ${name}: ${JSON.stringify(c)}`);
    if (c.count > 0) assert.deepEqual([c.active, c.alarms], ['true', 1], `round ${round}: ${name}: ${JSON.stringify(c)}`);
    else assert.deepEqual([c.active, c.alarms], ['', 0], `round ${round}: ${name}: ${JSON.stringify(c)}`);
  }
  return all;
}

test(`kill -9 at random moments, ${ROUNDS} rounds: nothing acknowledged is lost or doubled, alarms still fire`, { timeout: 300000 }, async (t) => {
  t.diagnostic(`seed ${SEED} (replay with DURO_CRASH_SEED=${SEED})`);
  let duro = await startDuro();
  const dir = duro.dir;
  const stats = { pushes: 0, starts: 0, ticked: 0 };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const state = { stop: false, pushes: 0, starts: 0 };
      const work = [
        ...STORES.map((_, k) => pushLoop(duro.ws, k, round, state)),
        startLoop(duro.url, round, 0, state),
        startLoop(duro.url, round, 1, state),
      ];
      await sleep(between(...KILL_AFTER_MS));
      await duro.kill9();
      state.stop = true;
      await Promise.all(work);
      stats.pushes += state.pushes;
      stats.starts += state.starts;

      duro = await startDuro({ dir });
      const integrity = sql(dir, 'PRAGMA integrity_check');
      assert.deepEqual(integrity, [['ok']], `round ${round}: integrity_check`);
      const heads = STORES.map((_, k) => checkLog(dir, k, round));

      // A fresh pull sees exactly the stored log.
      for (let k = 0; k < STORES.length; k++) {
        const c = await RawSync.open(syncUrl(duro.ws, STORES[k]));
        const { events } = await c.backlog(c.pull({ storeId: STORES[k], live: false }));
        c.close();
        assert.deepEqual(events.map((e) => e.eventEncoded.seqNum), Array.from({ length: heads[k] }, (_, i) => i + 1), `round ${round}: pull of ${STORES[k]}`);
      }

      // Countdowns that were running at the kill tick again after the restart.
      const before = checkCountdowns(dir, round);
      const pending = [...before].filter(([, c]) => c.count > 0);
      await waitFor(() => {
        const now = countdowns(dir);
        return pending.every(([name, c]) => now.get(name).count < c.count);
      }, 10000, `round ${round}: the ${pending.length} pending alarms to fire after the restart`);
      stats.ticked += pending.length;
    }
    // In the end every acknowledged countdown runs down to 0, its alarms gone.
    await waitFor(() => {
      const all = countdowns(dir);
      return [...startsAcked].every((n) => all.get(n).count === 0);
    }, 20000, 'every countdown to reach 0');
    checkCountdowns(dir, 'final');
    assert.deepEqual(sql(dir, 'SELECT count(*) FROM alarms'), [['0']]);
    t.diagnostic(`${stats.pushes} pushes and ${stats.starts} starts acknowledged; ${stats.ticked} alarms seen firing after a restart; heads ${STORES.map((_, k) => acked[k].size)}`);
    assert.ok(stats.pushes > ROUNDS, 'pushes were acknowledged');
    assert.ok(stats.starts > ROUNDS, 'starts were acknowledged');
    assert.ok(stats.ticked > 0, 'alarms were pending at some kill');
    await duro.stop();
  } catch (e) {
    t.diagnostic(`seed ${SEED}; duro log:\n${duro.log}`);
    throw e;
  } finally {
    if (duro.proc.exitCode === null) await duro.kill9();
    duro.cleanup();
  }
});
