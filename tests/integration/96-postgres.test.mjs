// `duro backend --postgres`: the objects' storage on a real PostgreSQL 15
// (a throwaway cluster from tests/pg.sh, one fresh database per test).
// 1. The core routes over real sockets: MessageCoordinator fan-out, the
//    countdown's alarms through a kill -9 and a restart, binary storage
//    byte-exact across the restart (tests/fixtures/flaky.c), a LiveStore
//    event log pushed, then pulled after the restart, and the admin
//    catalog read from PostgreSQL.
// 2. The rows, seen with psql: duro_objects, duro_kv, duro_alarms,
//    duro_eventlog.
// 3. Start-up errors: no DURO_INTERNAL_SECRET, nobody listening, a wrong
//    password, a second node on one database, a newer schema.
// 4. An outage: PostgreSQL stops under a running backend; requests that
//    need storage fail promptly with 5xx, then succeed again once it is
//    back, without restarting duro, and nothing written before is lost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DURO_BIN, assertSanitizerClean, openWs, runDuro, startDuro, waitFor,
} from './lib/duro.mjs';
import { startPostgres, withParam } from './lib/postgres.mjs';
import { RawSync, SUCCESS_PUSH, chain, syncUrl } from './lib/sync.mjs';

const SECRET = 'internal-secret-for-the-postgres-test';
const AUTH = { authorization: `Bearer ${SECRET}` };
const FLAKY = path.join(path.dirname(DURO_BIN), 'tests/fixtures/libflaky.so');
const CONFIG = JSON.stringify({
  classes: [{ class_name: 'Flaky', library: FLAKY }],
  durable_objects: { bindings: [
    { name: 'FLAKY', class_name: 'Flaky' },
    { name: 'MESSAGE_COORDINATOR', class_name: 'MessageCoordinator' },
    { name: 'COUNTDOWN_TIMER', class_name: 'CountdownTimer' },
    { name: 'LIVESTORE_SYNC', class_name: 'SyncBackend' },
  ] },
});

// The same node id across the restart below: its new life takes over the
// objects of the killed one once that one's lease lapsed (a new id would
// be another node, and the killed node's objects would wait for it).
const NODE = ['--node-id', 'pg-node'];

let pg;
const running = new Set(); // backends to stop if a test fails midway

before(async () => { pg = await startPostgres(); });
after(async () => {
  for (const d of running) {
    await d.kill9();
    d.cleanup();
  }
  await pg?.stop();
});

// A backend on conninfo, with the secret and an admin port; dir reuses
// the directory of an earlier one (its duro.jsonc).
async function backend(conninfo, { dir, args = [], joined = true } = {}) {
  const d = await startDuro({
    dir, config: CONFIG, env: { DURO_INTERNAL_SECRET: SECRET },
    args: ['--postgres', conninfo, '--admin-port', '0', ...args],
  });
  running.add(d);
  d.exited.then(() => running.delete(d));
  assert.match(d.log, /backend on http:\/\/\S+ \(mode test, data on PostgreSQL\)/);
  // a restarted node waits for its previous life's lease (2 s) to lapse
  if (joined) await waitFor(() => /: in the cluster at /.test(d.log), 8000, `the node joined:\n${d.log}`);
  return d;
}

// Stops a backend (SIGTERM: exit 0, no sanitizer report) and removes its
// directory whatever happens.
async function finish(d) {
  if (!d) return;
  try {
    const r = await d.stop();
    assert.equal(r.code, 0, `duro's exit on SIGTERM\n${d.log}`);
  } finally {
    d.cleanup();
  }
}

async function adminPort(duro) {
  const re = /admin: inspector on http:\/\/[^:]+:(\d+)\//;
  await waitFor(() => re.test(duro.log), 5000, `the admin line in the log:\n${duro.log}`);
  return Number(re.exec(duro.log)[1]);
}

async function api(port, p) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.json() };
}

// Runs `duro backend` expecting it to fail at start; returns its output.
async function refused(args, { env = { DURO_INTERNAL_SECRET: SECRET }, timeout = 15000, cwd } = {}) {
  const t0 = Date.now();
  const r = await runDuro(['backend', '--port', '0', '--mode', 'test', '--data', 'data', ...args],
    { env, timeout, cwd });
  r.ms = Date.now() - t0;
  assertSanitizerClean(r.stderr);
  assert.equal(r.signal, null, `killed after ${r.ms} ms (a hang?):\n${r.stderr}`);
  assert.notEqual(r.code, 0, `it started:\n${r.stderr}`);
  return r;
}

// A TCP port on 127.0.0.1 that nobody listens on (just freed).
function deadPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Binary bytes with every value but NUL first, then NUL (flaky's /state
// prints the value with %.*s, so up to the NUL).
const BYTES = Buffer.from([...Array.from({ length: 255 }, (_, i) => i + 1), 0]);

// The raw bytes of "stored" in flaky's /state answer (no JSON escaping).
function storedBytes(body) {
  const a = body.indexOf('"stored":"') + 10;
  const b = body.indexOf('","inits":', a);
  assert.ok(a >= 10 && b >= a, `a /state answer: ${body.toString('latin1')}`);
  return body.subarray(a, b);
}

// FLAKY/name: put a value (stored as key "k"), read its state; give up
// after ms.
const put = (d, name, body, ms = 10000) => fetch(`${d.url}/_objects/FLAKY/${name}/put`,
  { method: 'POST', headers: AUTH, body, signal: AbortSignal.timeout(ms) });
const stateOf = async (d, name, ms = 10000) => {
  const r = await fetch(`${d.url}/_objects/FLAKY/${name}/state`, { headers: AUTH, signal: AbortSignal.timeout(ms) });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
};
const state = stateOf;

// The value of key k of object FLAKY/name, as hex, read by psql.
async function kvHex(db, name, key = 'k') {
  const rows = await pg.psql(`SELECT encode(k.value, 'hex') FROM duro_kv k JOIN duro_objects o
    ON o.id = k.object_id WHERE o.namespace = 'FLAKY' AND o.name = '${name}'
    AND k.key = '\\x${Buffer.from(key).toString('hex')}'::bytea`, db);
  return rows.length ? rows[0][0] : null;
}

const counts = (ws) => ws.messages.map((m) => JSON.parse(m)).filter((m) => 'count' in m).map((m) => m.count);

describe('one backend on PostgreSQL, restarted', () => {
  let db, duro, dir, sync;
  const storeId = `pg-store-${process.pid}`;

  before(async () => {
    db = await pg.createDb();
    duro = await backend(db.conninfo, { args: NODE });
    dir = duro.dir;
  });
  after(() => finish(duro));

  test('MessageCoordinator: 20 sockets each get 30 broadcasts in order', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => openWs(`${duro.ws}/ws/connect`)));
    try {
      for (let i = 0; i < 30; i++) {
        const r = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: JSON.stringify({ seq: i }) });
        assert.equal(r.status, 200);
        assert.equal(await r.text(), 'Message sent');
      }
      await waitFor(() => clients.every((c) => c.messages.length >= 30), 10000, 'all deliveries');
      for (const c of clients)
        assert.deepEqual(c.messages.map((m) => JSON.parse(m).seq), Array.from({ length: 30 }, (_, i) => i));
      // a client's message reaches every client
      clients[3].send('from 3');
      await waitFor(() => clients.every((c) => c.messages.includes('from 3')), 5000, 'relay');
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('binary storage through /_objects (with the bearer) and a LiveStore push', async () => {
    const anon = await fetch(`${duro.url}/_objects/FLAKY/bin/state`);
    assert.equal(anon.status, 401, '/_objects needs the secret');
    await anon.arrayBuffer();
    const r = await put(duro, 'bin', BYTES);
    assert.equal(r.status, 200, duro.log);
    assert.equal(await r.text(), 'ok');
    const s = await state(duro, 'bin');
    assert.equal(s.status, 200);
    assert.deepEqual(storedBytes(s.body), BYTES.subarray(0, 255));

    const c = await RawSync.open(syncUrl(duro.ws, storeId));
    const p = c.pull({ storeId, live: false });
    const { responses, events } = await c.backlog(p);
    assert.deepEqual(events, []);
    const backendId = responses[0].backendId;
    assert.match(backendId, /^[A-Za-z0-9_-]{21}$/);
    const id = c.push(chain(1, 5, { clientId: 'pg' }), { backendId, storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    c.close();
    sync = { backendId };
  });

  test('a countdown on PostgreSQL alarms: 10..7, kill -9, restart on the same database, resumes to 0', async () => {
    let ws = await openWs(`${duro.ws}/ws/connect`);
    const start = await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/start`, { method: 'POST', headers: AUTH });
    assert.equal(start.status, 200);
    assert.deepEqual(await start.json(), { success: true, message: 'Countdown started' });
    await waitFor(() => counts(ws).includes(7), 10000, 'count 7');
    await duro.kill9();
    ws.close();
    assert.deepEqual(counts(ws).slice(0, 4), [10, 9, 8, 7]);
    // the pending alarm is a row in PostgreSQL
    const alarms = await pg.psql(`SELECT a.name, a.due_ms FROM duro_alarms a JOIN duro_objects o ON o.id = a.object_id
      WHERE o.namespace = 'COUNTDOWN_TIMER' AND o.name = 'global'`, db.name);
    assert.equal(alarms.length, 1, JSON.stringify(alarms));
    assert.ok(Math.abs(Number(alarms[0][1]) - Date.now()) < 5000, `due ${alarms[0][1]}`);

    // the same node id again: it serves once the killed life's lease
    // (2 s) lapsed
    duro = await backend(db.conninfo, { dir, args: NODE });
    ws = await openWs(`${duro.ws}/ws/connect`);
    await waitFor(() => counts(ws).includes(0), 15000, 'count 0 after the restart');
    const got = counts(ws);
    // the pending alarm fires late, never lost; an alarm may have
    // committed 6 just before the kill
    assert.ok(got[0] === 6 || got[0] === 5, `resumed at ${got[0]}`);
    assert.deepEqual(got, Array.from({ length: got[0] + 1 }, (_, i) => got[0] - i));
    ws.close();
    const rows = await pg.psql(`SELECT convert_from(k.key, 'UTF8'), convert_from(k.value, 'UTF8') FROM duro_kv k
      JOIN duro_objects o ON o.id = k.object_id WHERE o.namespace = 'COUNTDOWN_TIMER' ORDER BY 1`, db.name);
    assert.deepEqual(rows.find((r) => r[0] === 'countdown'), ['countdown', '0']);
  });

  test('after the restart: the admin catalog lists the objects and keys from PostgreSQL', async () => {
    const port = await adminPort(duro);
    const list = await api(port, '/api/namespaces/FLAKY/objects');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const bin = list.body.objects.find((o) => o.name === 'bin');
    assert.ok(bin, JSON.stringify(list.body));
    assert.equal(bin.active, false, 'not loaded since the restart');
    assert.equal(bin.keys, 1);
    assert.equal(bin.bytes, 1 + BYTES.length);
    assert.match(bin.id, /^[0-9a-f]{64}$/);
    const st = await api(port, '/api/namespaces/FLAKY/objects/bin/storage');
    assert.equal(st.status, 200);
    assert.deepEqual(st.body.entries, [{ key: 'k', value_hex: BYTES.toString('hex'), value_bytes: BYTES.length }]);
    const cd = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global/storage');
    assert.equal(cd.status, 200);
    assert.ok(cd.body.entries.some((e) => e.key === 'countdown'), JSON.stringify(cd.body));
    const ns = await api(port, '/api/namespaces');
    assert.deepEqual(ns.body.namespaces.map((n) => n.binding).sort(),
      ['COUNTDOWN_TIMER', 'FLAKY', 'LIVESTORE_SYNC', 'MESSAGE_COORDINATOR']);
  });

  test('after the restart: the binary value byte-exact, and the event log pulled back', async () => {
    const s = await state(duro, 'bin');
    assert.equal(s.status, 200);
    assert.deepEqual(storedBytes(s.body), BYTES.subarray(0, 255));
    assert.equal(await kvHex(db.name, 'bin'), BYTES.toString('hex'));

    const c = await RawSync.open(syncUrl(duro.ws, storeId));
    const p = c.pull({ storeId, live: false });
    const { responses, events } = await c.backlog(p);
    c.close();
    assert.equal(responses[0].backendId, sync.backendId, 'the backendId persisted');
    assert.deepEqual(events.map((e) => e.eventEncoded), chain(1, 5, { clientId: 'pg' }));
  });

  test('the rows in PostgreSQL: duro_objects, duro_kv, duro_alarms, duro_eventlog', async () => {
    const objects = await pg.psql('SELECT namespace, name FROM duro_objects ORDER BY 1, 2', db.name);
    for (const o of [['COUNTDOWN_TIMER', 'global'], ['FLAKY', 'bin']])
      assert.ok(objects.some((r) => r[0] === o[0] && r[1] === o[1]), JSON.stringify(objects));
    const ev = await pg.psql(`SELECT seq, parent, name, client_id FROM duro_eventlog WHERE store_id = '${storeId}' ORDER BY seq`, db.name);
    assert.deepEqual(ev, [1, 2, 3, 4, 5].map((n) => [String(n), String(n - 1), 'v1.Test', 'pg']));
    const ctx = await pg.psql(`SELECT head, backend_id FROM duro_eventlog_context WHERE store_id = '${storeId}'`, db.name);
    assert.deepEqual(ctx, [['5', sync.backendId]]);
    // the countdown ended: its alarm is consumed
    const alarms = await pg.psql('SELECT count(*) FROM duro_alarms', db.name);
    assert.deepEqual(alarms, [['0']]);
    assert.deepEqual(await pg.psql("SELECT value FROM duro_meta WHERE key = 'schema_version'", db.name), [['1']]);
  });
});

describe('start-up errors', () => {
  test('PostgreSQL without DURO_INTERNAL_SECRET: from --postgres, DURO_POSTGRES_URL and duro.jsonc', async () => {
    const msg = /storage on PostgreSQL \(cluster mode\) needs DURO_INTERNAL_SECRET/;
    let r = await refused(['--postgres', pg.conninfo], { env: {} });
    assert.equal(r.code, 1);
    assert.match(r.stderr, msg);
    r = await refused([], { env: { DURO_POSTGRES_URL: pg.conninfo } });
    assert.match(r.stderr, msg);
    const cwd = mkdtempSync(path.join(tmpdir(), 'duro-pg-cfg-'));
    try {
      writeFileSync(path.join(cwd, 'duro.jsonc'), JSON.stringify({ cluster: { postgres: pg.conninfo } }));
      r = await refused([], { env: {}, cwd });
      assert.match(r.stderr, msg);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('a port nobody listens on: exits within seconds, naming PostgreSQL', async () => {
    const port = await deadPort();
    const r = await refused(['--postgres', `host=127.0.0.1 port=${port} user=postgres dbname=postgres`]);
    assert.ok(r.ms < 7000, `took ${r.ms} ms`);
    assert.match(r.stderr, /PostgreSQL/);
    assert.match(r.stderr, /refused|could not connect/i);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
  });

  test('a wrong password over TCP: "password authentication failed", the password not shown', async () => {
    const r = await refused(['--postgres',
      `host=127.0.0.1 port=${pg.port} user=postgres password=not-the-pw-7f3a dbname=postgres`]);
    assert.match(r.stderr, /PostgreSQL.*password authentication failed/);
    assert.doesNotMatch(r.stderr, /not-the-pw-7f3a/);
    assert.ok(r.ms < 7000, `took ${r.ms} ms`);
  });

  test('a second backend with the same --node-id waits (503) while the first holds the id; it serves once the first stops', async () => {
    const db = await pg.createDb();
    const first = await backend(db.conninfo, { args: ['--node-id', 'same'] });
    let second;
    try {
      second = await backend(db.conninfo, { args: ['--node-id', 'same'], joined: false });
      await waitFor(() => /node id 'same' is held by a live node; waiting/.test(second.log), 5000,
        `the second one waits:\n${second.log}`);
      const early = await fetch(`http://127.0.0.1:${second.port}/_objects/FLAKY/still/state`, { headers: AUTH });
      assert.equal(early.status, 503);
      assert.equal(early.headers.get('retry-after'), '1');
      assert.match(await early.text(), /joining the cluster/);
      // the first one is untouched
      const p = await put(first, 'still', 'here');
      assert.equal(p.status, 200);
    } finally {
      await finish(first);
    }
    try {
      // SIGTERM released the lease: no 2 s wait
      await waitFor(() => /: in the cluster at /.test(second.log), 1500, `joined:\n${second.log}`);
      const s = await state(second, 'still');
      assert.equal(storedBytes(s.body).toString(), 'here');
    } finally {
      await finish(second);
    }
  });

  test('a newer schema version is refused, naming it', async () => {
    const db = await pg.createDb();
    await pg.psql(`CREATE TABLE duro_meta(key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
      INSERT INTO duro_meta VALUES ('schema_version', '2')`, db.name);
    const r = await refused(['--postgres', db.conninfo]);
    assert.match(r.stderr, /schema version 2 is not supported/);
    // and left as it was
    assert.deepEqual(await pg.psql("SELECT value FROM duro_meta WHERE key = 'schema_version'", db.name), [['2']]);
  });
});

// mode: how PostgreSQL goes away (tests/pg.sh pause): 'immediate' as in a
// crash (sessions killed without a word), 'fast' (each told first).
function outage(mode) {
  describe(`an outage of PostgreSQL (pg_ctl stop -m ${mode}) under a running backend`, () => {
    let db, duro, paused = false;
    before(async () => {
      db = await pg.createDb();
      duro = await backend(db.conninfo);
      assert.equal((await put(duro, 'before', 'written before')).status, 200);
      assert.equal((await put(duro, 'loaded', 'v1')).status, 200);
      await pg.pause(mode);
      paused = true;
    });
    after(async () => {
      try {
        if (paused) await pg.resume();
      } finally {
        await finish(duro);
      }
    });

    // A request's status, or 'no answer' when none came within ms.
    async function timed(req) {
      const t0 = Date.now();
      const status = await req().then((r) => r.status, (e) => (e.name === 'TimeoutError' ? 'no answer' : e.message));
      return { status, ms: Date.now() - t0 };
    }
    const is5xx = (s) => typeof s === 'number' && s >= 500 && s < 600;

    test('a write to a loaded object fails at once with 5xx', async () => {
      const r = await timed(() => put(duro, 'loaded', 'v2', 6000));
      assert.ok(is5xx(r.status), `status ${r.status} after ${r.ms} ms\n${duro.log}`);
      assert.ok(r.ms < 3000, `answered after ${r.ms} ms`);
    });

    test('a request for an object that must be loaded answers 5xx within 6 s, not a hang', async () => {
      const r = await timed(() => state(duro, 'fresh', 6000));
      assert.ok(is5xx(r.status), `status ${r.status} after ${r.ms} ms\n${duro.log}`);
    });

    test('PostgreSQL back: within seconds requests succeed again, without restarting duro; nothing lost', async () => {
      await pg.resume();
      paused = false;
      const t1 = Date.now();
      let last;
      try {
        await waitFor(async () => {
          last = await timed(() => put(duro, 'after', 'written after', 2000));
          return last.status === 200;
        }, 8000, 'a write to succeed');
      } catch (e) {
        e.message += ` after PostgreSQL came back (last: ${JSON.stringify(last)})\n${duro.log}`;
        throw e;
      }
      assert.ok(Date.now() - t1 < 6000, `recovered after ${Date.now() - t1} ms`);
      assert.match(duro.log, /reconnected to PostgreSQL/);

      // nothing lost, and the failed write left no trace. The node may
      // fence itself once more while its lease's own connection comes
      // back (503 with Retry-After): a client retries.
      const state = async (...a) => {
        let r;
        await waitFor(async () => (r = await stateOf(...a)).status !== 503, 5000, 'an answer but 503');
        return r;
      };
      const before = await state(duro, 'before');
      assert.equal(before.status, 200, `${JSON.stringify(before.body)}\n${duro.log}`);
      assert.equal(storedBytes(before.body).toString(), 'written before');
      const loaded = await state(duro, 'loaded');
      assert.equal(loaded.status, 200, `${JSON.stringify(loaded.body)}\n${duro.log}`);
      assert.equal(storedBytes(loaded.body).toString(), 'v1');
      const fresh = await state(duro, 'fresh');
      assert.equal(fresh.status, 200);
      assert.equal(storedBytes(fresh.body).toString(), '');
      assert.equal(await kvHex(db.name, 'before'), Buffer.from('written before').toString('hex'));
      assert.equal(await kvHex(db.name, 'loaded'), Buffer.from('v1').toString('hex'));
      assert.equal(await kvHex(db.name, 'after'), Buffer.from('written after').toString('hex'));
      // and the coordinator still fans out
      const ws = await openWs(`${duro.ws}/ws/connect`);
      const b = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"after":"outage"}' });
      assert.equal(b.status, 200);
      await waitFor(() => ws.messages.includes('{"after":"outage"}'), 5000, 'a broadcast after the outage');
      ws.close();
    });
  });
}

outage('immediate');
outage('fast');
