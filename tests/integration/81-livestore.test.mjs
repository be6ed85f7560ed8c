// The real LiveStore 0.4.0 client (@livestore/livestore, adapter-node,
// sync-cf) syncing through a running duro: confirmation, concurrent
// clients, offline catch-up with a cursor, auth, the HTTP transport.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { startDuro, sleep, waitFor } from './lib/duro.mjs';
import { allTodos, confirmedEvents, openStore, todo } from './lib/livestore.mjs';
import { RawSync, eventlogTable, sql, syncUrl } from './lib/sync.mjs';

let duro;
let n = 0;
const fresh = (p) => `${p}-${process.pid}-${n++}`;
const work = mkdtempSync(path.join(tmpdir(), 'duro-ls-'));

before(async () => { duro = await startDuro(); });
after(async () => {
  await duro.stop();
  duro.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test('1: one client commits 100 events; all confirmed; 100 rows with the right parents', async () => {
  const storeId = fresh('one');
  const store = await openStore({ url: duro.ws, storeId, clientId: 'solo' });
  try {
    for (let i = 0; i < 100; i++) todo(store, `t${String(i).padStart(3, '0')}`, `todo ${i}`, i);
    const got = await confirmedEvents(store, 100, 30000);
    assert.equal(got.length, 100);
    assert.deepEqual(got.map((e) => e.seq), Array.from({ length: 100 }, (_, i) => i + 1));
    const rows = sql(duro.dir, `SELECT seqNum, parentSeqNum, name, clientId, sessionId, json_extract(args, '$.n') FROM "${eventlogTable(storeId)}" ORDER BY seqNum`);
    assert.equal(rows.length, 100);
    rows.forEach((r, i) => assert.deepEqual(r, [String(i + 1), String(i), 'v1.TodoCreated', 'solo', 'static', String(i)]));
    assert.deepEqual(sql(duro.dir, `SELECT currentHead FROM context_7 WHERE storeId = '${storeId}'`), [['100']]);
  } finally {
    await store.shutdownPromise();
  }
});

test('2: three clients commit 200 events each at once; all converge on the same 600', async () => {
  const storeId = fresh('three');
  const stores = await Promise.all(['a', 'b', 'c'].map((clientId) => openStore({ url: duro.ws, storeId, clientId })));
  try {
    await Promise.all(stores.map(async (s, k) => {
      for (let i = 0; i < 200; i++) {
        todo(s, `${k}-${String(i).padStart(3, '0')}`, `from ${k}`, i);
        if (i % 20 === 19) await sleep(5); // interleave the three writers
      }
    }));
    const logs = await Promise.all(stores.map((s) => confirmedEvents(s, 600, 60000)));
    for (const log of logs) {
      assert.equal(log.length, 600);
      assert.deepEqual(log.map((e) => e.seq), Array.from({ length: 600 }, (_, i) => i + 1), 'no gaps');
      assert.equal(new Set(log.map((e) => e.id)).size, 600, 'no duplicates');
    }
    assert.deepEqual(logs[1], logs[0]);
    assert.deepEqual(logs[2], logs[0]);
    // the sessions' state follows the confirmed log
    await waitFor(() => stores.every((s) => s.query(allTodos).length === 600), 20000, 'state of 600 todos');
    const rows = sql(duro.dir, `SELECT count(*), min(seqNum), max(seqNum), count(DISTINCT json_extract(args, '$.id')) FROM "${eventlogTable(storeId)}"`);
    assert.deepEqual(rows, [['600', '1', '600', '600']]);
  } finally {
    await Promise.all(stores.map((s) => s.shutdownPromise()));
  }
});

// A WebSocket proxy in front of duro that records what the client sends
// and what it receives, to see the cursor and the catch-up on the wire.
async function recordingProxy(target) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const log = [];
  wss.on('connection', (client, req) => {
    const up = new WebSocket(`${target}${req.url}`);
    const pending = [];
    up.on('open', () => { for (const m of pending.splice(0)) up.send(m); });
    client.on('message', (d) => { const t = d.toString(); log.push({ dir: 'out', msg: JSON.parse(t) }); if (up.readyState === 1) up.send(t); else pending.push(t); });
    up.on('message', (d) => { const t = d.toString(); log.push({ dir: 'in', msg: JSON.parse(t) }); if (client.readyState === 1) client.send(t); });
    up.on('close', () => client.close());
    client.on('close', () => up.close());
    up.on('error', () => client.close());
  });
  return { url: `ws://127.0.0.1:${wss.address().port}`, log, close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }) };
}

test('3: a client that was offline comes back with a cursor and receives only what it missed', async () => {
  const storeId = fresh('offline');
  const dir = path.join(work, 'fs-client');
  const other = await openStore({ url: duro.ws, storeId, clientId: 'other' });
  try {
    // the offline client syncs 10 events, then goes away
    let c = await openStore({ url: duro.ws, storeId, clientId: 'roamer', storage: { type: 'fs', baseDirectory: dir } });
    for (let i = 0; i < 10; i++) todo(c, `r${i}`, 'mine', i);
    assert.equal((await confirmedEvents(c, 10)).length, 10);
    await c.shutdownPromise();
    // meanwhile 50 events from elsewhere
    for (let i = 0; i < 50; i++) todo(other, `o${i}`, 'theirs', i);
    assert.equal((await confirmedEvents(other, 60)).length, 60);
    // it comes back through a recording proxy
    const proxy = await recordingProxy(duro.ws);
    try {
      c = await openStore({ url: proxy.url, storeId, clientId: 'roamer', storage: { type: 'fs', baseDirectory: dir } });
      const got = await confirmedEvents(c, 60, 20000);
      assert.equal(got.length, 60);
      await waitFor(() => c.query(allTodos).length === 60, 10000, 'state of 60 todos');
      const pulls = proxy.log.filter((e) => e.dir === 'out' && e.msg._tag === 'Request' && e.msg.tag === 'SyncWsRpc.Pull');
      assert.ok(pulls.length >= 1);
      const cursor = pulls[0].msg.payload.cursor;
      assert.equal(cursor._tag, 'Some');
      assert.equal(cursor.value.eventSequenceNumber, 10);
      const served = proxy.log.filter((e) => e.dir === 'in' && e.msg._tag === 'Chunk')
        .flatMap((e) => e.msg.values.flatMap((v) => v.batch.map((b) => b.eventEncoded.seqNum)));
      assert.deepEqual(served, Array.from({ length: 50 }, (_, i) => i + 11), 'exactly the missed events');
      await c.shutdownPromise();
    } finally {
      await proxy.close();
    }
  } finally {
    await other.shutdownPromise();
  }
});

test('5: a wrong authToken is refused: the client never syncs, a raw upgrade gets 400 with the reason', async () => {
  const secured = await startDuro({ env: { DURO_SYNC_TOKEN: 'good-token,other-token' } });
  try {
    const storeId = fresh('auth');
    await assert.rejects(RawSync.open(syncUrl(secured.ws, storeId, { payload: { authToken: 'bad' } })),
      (e) => e.status === 400 && e.body === 'Invalid auth token');
    await assert.rejects(RawSync.open(syncUrl(secured.ws, storeId)),
      (e) => e.status === 400 && /Missing auth token/.test(e.body));
    const bad = await openStore({ url: secured.ws, storeId, clientId: 'intruder', authToken: 'bad' });
    const good = await openStore({ url: secured.ws, storeId, clientId: 'member', authToken: 'other-token' });
    try {
      todo(bad, 'x1', 'should not sync', 1);
      todo(good, 'g1', 'syncs', 1);
      assert.equal((await confirmedEvents(good, 1)).length, 1);
      assert.equal((await confirmedEvents(bad, 1, 3000)).length, 0);
      const rows = sql(secured.dir, `SELECT clientId FROM "${eventlogTable(storeId)}"`);
      assert.deepEqual(rows, [['member']]);
      assert.equal(good.query(allTodos).length, 1, 'the refused client\'s todo never arrived');
    } finally {
      await Promise.all([bad.shutdownPromise(), good.shutdownPromise()]);
    }
  } finally {
    await secured.stop();
    secured.cleanup();
  }
});

test('6: a makeHttpSync client syncs the same store as a WebSocket client', async () => {
  const storeId = fresh('http');
  const ws = await openStore({ url: duro.ws, storeId, clientId: 'ws-client' });
  const http = await openStore({ url: duro.url, storeId, clientId: 'http-client', http: true, pollInterval: 200 });
  try {
    for (let i = 0; i < 20; i++) todo(ws, `w${i}`, 'over ws', i);
    for (let i = 0; i < 20; i++) todo(http, `h${i}`, 'over http', i);
    const [a, b] = await Promise.all([confirmedEvents(ws, 40, 30000), confirmedEvents(http, 40, 30000)]);
    assert.equal(a.length, 40);
    assert.deepEqual(b, a);
    await waitFor(() => ws.query(allTodos).length === 40 && http.query(allTodos).length === 40, 10000, 'state of 40 todos');
    const byClient = sql(duro.dir, `SELECT clientId, count(*) FROM "${eventlogTable(storeId)}" GROUP BY clientId ORDER BY clientId`);
    assert.deepEqual(byClient, [['http-client', '20'], ['ws-client', '20']]);
  } finally {
    await Promise.all([ws.shutdownPromise(), http.shutdownPromise()]);
  }
});
