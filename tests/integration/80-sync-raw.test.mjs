// LiveStore sync protocol (livestore-sync-v0.4.md) spoken raw over real
// sockets: routing and rejection, Pull/Push semantics, every error path,
// ordering, limits and storage. No LiveStore here; see 81-livestore.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest, startDuro, sleep } from './lib/duro.mjs';
import { RawSync, SUCCESS_PUSH, chain, ev, eventlogTable, sql, syncUrl } from './lib/sync.mjs';

let duro;
let storeN = 0;
const freshStore = (p = 'raw') => `${p}-${process.pid}-${storeN++}`;

before(async () => {
  duro = await startDuro({ config: '{"sync": {"max_message_bytes": 200000}}' });
});
after(async () => { await duro.stop(); duro.cleanup(); });

async function connect(storeId, opts) {
  return RawSync.open(syncUrl(duro.ws, storeId, opts));
}

// Pushes count events after head on a fresh connection; returns backendId.
async function seed(storeId, count) {
  const c = await connect(storeId);
  const p = c.pull({ storeId, live: false });
  const { responses } = await c.backlog(p);
  const backendId = responses[0].backendId;
  let head = responses.flatMap((r) => r.batch).length;
  while (count > 0) {
    const n = Math.min(100, count);
    const id = c.push(chain(head + 1, n), { backendId, storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    head += n;
    count -= n;
  }
  c.close();
  return backendId;
}

describe('routing', () => {
  test('GET / without a sync query is the backend text', async () => {
    const r = await fetch(`${duro.url}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'This worker exports Durable Objects');
  });

  test('malformed sync queries get 400 Invalid path', async () => {
    for (const q of ['storeId=a', 'transport=ws', 'storeId=&transport=ws', 'storeId=a&transport=udp',
      'storeId=a&transport=ws&payload=%257Bnot-json', 'storeId=a&transport=ws&payload=%25zz']) {
      const r = await fetch(`${duro.url}/?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(await r.text(), 'Invalid path', q);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    }
    const w = await fetch(`${duro.url}/some/websocket`);
    assert.equal(w.status, 400);
    assert.equal(await w.text(), 'Invalid path');
  });

  test('a store id over 255 bytes or with NUL is refused', async () => {
    let r = await fetch(`${duro.url}/?storeId=${'x'.repeat(256)}&transport=ws`);
    assert.equal(r.status, 400);
    assert.match(await r.text(), /storeId/);
    r = await fetch(`${duro.url}/?storeId=a%00b&transport=ws`);
    assert.equal(r.status, 400);
    const ok = await connect('y'.repeat(255));
    ok.close();
  });

  test('transport=ws without Upgrade gets 426 with CORS headers', async () => {
    const r = await fetch(`${duro.url}/?storeId=a&transport=ws`);
    assert.equal(r.status, 426);
    assert.equal(await r.text(), 'Durable Object expected Upgrade: websocket');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS');
  });

  test('OPTIONS preflight gets 204 and echoes the requested headers', async () => {
    const r = await fetch(`${duro.url}/?storeId=a&transport=http`, {
      method: 'OPTIONS', headers: { 'access-control-request-headers': 'content-type,x-livestore-store-id' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-headers'), 'content-type,x-livestore-store-id');
  });

  test('the upgrade works on any path, and the payload may be encoded once or twice', async () => {
    for (const pathname of ['/', '/sync', '/api/websocket']) {
      const c = await connect(freshStore(), { pathname, payload: { authToken: 'x y%z' } });
      c.close();
    }
    const once = `${duro.ws}/?storeId=a&payload=${encodeURIComponent('{"authToken":"t"}')}&transport=ws`;
    (await RawSync.open(once)).close();
  });
});

describe('protocol', () => {
  test('Ping is answered with Pong within 100 ms', async () => {
    const c = await connect(freshStore());
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      c.send({ _tag: 'Ping' });
      const m = await c.next((x) => x._tag === 'Pong', 1000, 'Pong');
      assert.equal(m._raw, '{"_tag":"Pong"}');
      assert.ok(m._at - t0 < 100, `pong after ${m._at - t0} ms`);
    }
    c.close();
  });

  test('a pull on an empty store gets exactly one empty NoMore chunk', async () => {
    const storeId = freshStore();
    const c = await connect(storeId);
    const id = c.pull({ storeId });
    const m = await c.next((x) => x.requestId === id);
    assert.equal(m._tag, 'Chunk');
    assert.equal(m.values.length, 1);
    assert.deepEqual(m.values[0].batch, []);
    assert.deepEqual(m.values[0].pageInfo, { _tag: 'NoMore' });
    assert.match(m.values[0].backendId, /^[A-Za-z0-9_-]{21}$/);
    await sleep(200);
    assert.equal(c.peek(id).length, 0, 'nothing else for a live pull on an empty store');
    c.close();
  });

  test('push: Success {value:{}}, echoed to every live pull including the pusher', async () => {
    const storeId = freshStore();
    const a = await connect(storeId);
    const b = await connect(storeId);
    const pa = a.pull({ storeId });
    const pb = b.pull({ storeId });
    const backendId = (await a.backlog(pa)).responses[0].backendId;
    await b.backlog(pb);
    const batch = chain(1, 3, { clientId: 'A' });
    const id = a.push(batch, { backendId, storeId });
    const exit = await a.exit(id);
    assert.deepEqual(exit.exit, SUCCESS_PUSH);
    assert.match(exit._raw, /"exit":\{"_tag":"Success","value":\{\}\}/);
    for (const [c, p] of [[a, pa], [b, pb]]) {
      const got = await c.liveEvents(p, 3);
      assert.deepEqual(got.map((e) => e.eventEncoded), batch);
      for (const e of got) {
        assert.equal(e.metadata._tag, 'Some');
        assert.equal(e.metadata.value._tag, 'SyncMessage.SyncMetadata');
        assert.match(e.metadata.value.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
    }
    a.close();
    b.close();
  });

  test('stale parent and parent beyond the head: ServerAheadError', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 5);
    const c = await connect(storeId);
    let id = c.push(chain(3, 2), { backendId, storeId });
    assert.deepEqual((await c.exit(id)).exit, {
      _tag: 'Failure',
      cause: { _tag: 'Fail', error: { _tag: 'ServerAheadError', minimumExpectedNum: 5, providedNum: 2 } },
    });
    id = c.push(chain(9, 1), { backendId, storeId });
    assert.deepEqual((await c.exit(id)).exit.cause.error,
      { _tag: 'ServerAheadError', minimumExpectedNum: 5, providedNum: 8 });
    // nothing was stored by the refused pushes
    assert.deepEqual(sql(duro.dir, `SELECT count(*), max(seqNum) FROM "${eventlogTable(storeId)}"`), [['5', '5']]);
    c.close();
  });

  test('wrong backendId: BackendIdMismatchError on push and on a pull cursor', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 2);
    const c = await connect(storeId);
    const id = c.push(chain(3, 1), { backendId: 'not-the-id', storeId });
    assert.deepEqual((await c.exit(id)).exit.cause, {
      _tag: 'Fail', error: { _tag: 'BackendIdMismatchError', expected: backendId, received: 'not-the-id' },
    });
    const p = c.pull({ storeId, cursor: { backendId: 'other', eventSequenceNumber: 1 } });
    const m = await c.next((x) => x.requestId === p);
    assert.equal(m._tag, 'Exit', 'no chunk before the mismatch');
    assert.deepEqual(m.exit.cause.error, { _tag: 'BackendIdMismatchError', expected: backendId, received: 'other' });
    c.close();
  });

  test('backlog pages: at most 100 events, MoreKnown{remaining}, then NoMore, then live', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 250);
    const c = await connect(storeId);
    const p = c.pull({ storeId });
    const { responses, events } = await c.backlog(p);
    assert.deepEqual(responses.map((r) => r.batch.length), [100, 100, 50]);
    assert.deepEqual(responses.map((r) => r.pageInfo), [
      { _tag: 'MoreKnown', remaining: 150 }, { _tag: 'MoreKnown', remaining: 50 }, { _tag: 'NoMore' }]);
    assert.deepEqual(events.map((e) => e.eventEncoded.seqNum), Array.from({ length: 250 }, (_, i) => i + 1));
    assert.ok(responses.every((r) => r.backendId === backendId));
    const id = c.push(chain(251, 2), { backendId, storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    assert.deepEqual((await c.liveEvents(p, 2)).map((e) => e.eventEncoded.seqNum), [251, 252]);
    c.close();
  });

  test('a cursor serves only what follows it; live:false ends with Exit Success', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 30);
    const c = await connect(storeId);
    const p = c.pull({ storeId, live: false, cursor: { backendId, eventSequenceNumber: 27 } });
    const { events } = await c.backlog(p);
    assert.deepEqual(events.map((e) => e.eventEncoded.seqNum), [28, 29, 30]);
    const exit = await c.exit(p);
    assert.deepEqual(exit.exit, { _tag: 'Success' });
    const p2 = c.pull({ storeId, live: false, cursor: { backendId, eventSequenceNumber: 99 } });
    const { responses } = await c.backlog(p2);
    assert.deepEqual(responses.map((r) => r.batch.length), [0], 'a cursor beyond the head is not an error');
    c.close();
  });

  // The event-log table's SQL was built in fixed buffers: from 229 bytes
  // of storeId a pull failed, at 255 a push ("storage error").
  test('storeIds of 200, 230 and 255 bytes (the longest allowed) push and pull', async () => {
    for (const n of [200, 230, 255]) {
      const storeId = 's'.repeat(n - 6) + String(storeN++).padStart(6, '0');
      const backendId = await seed(storeId, 3);
      const c = await connect(storeId);
      const p = c.pull({ storeId, live: false, cursor: { backendId, eventSequenceNumber: 1 } });
      const { events } = await c.backlog(p);
      assert.deepEqual(events.map((e) => e.eventEncoded.seqNum), [2, 3], `storeId of ${n} bytes`);
      c.close();
    }
  });

  test('backlog is paced by acks and arrives complete, in order, before live events', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 3000);
    // a client that never acks gets a bounded window, not the whole backlog
    const lazy = await connect(storeId);
    const pl = lazy.pull({ storeId });
    await sleep(500);
    const got = lazy.peek(pl).length;
    assert.ok(got >= 1 && got < 30, `unacked chunks: ${got}`);
    lazy.close();
    // a client that acks gets everything; pushes during the backlog come after it
    const c = await connect(storeId);
    const writer = await connect(storeId);
    const p = c.pull({ storeId });
    await c.next((x) => x.requestId === p, 5000, 'first chunk');
    const w = writer.push(chain(3001, 5), { backendId, storeId });
    assert.deepEqual((await writer.exit(w)).exit, SUCCESS_PUSH);
    const seqs = [];
    c.inbox.unshift(...[]);
    for (;;) {
      const m = await c.next((x) => x.requestId === p && x._tag === 'Chunk', 10000, 'chunk');
      c.ack(p);
      for (const v of m.values) for (const e of v.batch) seqs.push(e.eventEncoded.seqNum);
      if (seqs.length >= 3005 - 100) {
        if (seqs.at(-1) === 3005) break;
      }
    }
    // the first chunk (100 events) was taken above
    assert.deepEqual(seqs, Array.from({ length: 2905 }, (_, i) => i + 101));
    c.close();
    writer.close();
  });

  test('Interrupt after Push still stores the batch; Interrupt of a pull stops it', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 1);
    const c = await connect(storeId);
    const p = c.pull({ storeId });
    await c.backlog(p);
    const id = c.push(chain(2, 10), { backendId, storeId });
    c.send({ _tag: 'Interrupt', requestId: id });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    assert.equal((await c.liveEvents(p, 10)).length, 10);
    assert.deepEqual(sql(duro.dir, `SELECT count(*) FROM "${eventlogTable(storeId)}"`), [['11']]);
    c.send({ _tag: 'Interrupt', requestId: p });
    const ie = await c.exit(p);
    assert.equal(ie.exit.cause._tag, 'Interrupt');
    const other = await connect(storeId);
    const oid = other.push(chain(12, 1), { backendId, storeId });
    assert.deepEqual((await other.exit(oid)).exit, SUCCESS_PUSH);
    await sleep(200);
    assert.equal(c.peek(p).length, 0, 'no chunk after the interrupt');
    c.close();
    other.close();
  });

  test('Defect only for garbage; Die for a malformed payload', async () => {
    const c = await connect(freshStore());
    for (const bad of ['not json', '[1,2]', '{"_tag":"Nope"}', '{"_tag":"Request","id":-7,"tag":"SyncWsRpc.Pull","payload":{}}', '{"_tag":"Request","id":7.5,"tag":"SyncWsRpc.Pull","payload":{}}',
      '{"_tag":"Request","id":"1","tag":"SyncWsRpc.Foo","payload":{}}', '{"_tag":"Ack"}', '{"_tag":"Ping"} x']) {
      c.send(bad);
      const m = await c.next(() => true, 2000, `answer to ${bad}`);
      assert.equal(m._tag, 'Defect', bad);
      assert.equal(typeof m.defect, 'string');
    }
    c.send({ _tag: 'Request', id: '50', tag: 'SyncWsRpc.Pull', payload: { storeId: 'x', cursor: { _tag: 'None' } }, headers: [] });
    const die = await c.exit('50');
    assert.equal(die.exit._tag, 'Failure');
    assert.equal(die.exit.cause._tag, 'Die');
    c.send({ _tag: 'Request', id: '51', tag: 'SyncWsRpc.Push', payload: { storeId: 'x', batch: [{ name: 'a' }], backendId: { _tag: 'None' } }, headers: [] });
    assert.equal((await c.exit('51')).exit.cause._tag, 'Die');
    // the connection is still usable
    c.send({ _tag: 'Ping' });
    await c.next((x) => x._tag === 'Pong');
    c.close();
  });

  test('limits: over 100 events or over the message limit is UnknownError; broken chains store nothing', async () => {
    const storeId = freshStore();
    await seed(storeId, 0);
    const c = await connect(storeId);
    let id = c.push(chain(1, 101), { storeId });
    let e = (await c.exit(id)).exit.cause;
    assert.equal(e._tag, 'Fail');
    assert.equal(e.error._tag, 'UnknownError');
    id = c.push([ev(1, { args: { big: 'x'.repeat(210000) } })], { storeId });
    e = (await c.exit(id)).exit.cause;
    assert.equal(e.error._tag, 'UnknownError');
    const broken = chain(1, 3);
    broken[2].parentSeqNum = 1;
    broken[2].seqNum = 5;
    id = c.push(broken, { storeId });
    assert.equal((await c.exit(id)).exit.cause.error._tag, 'UnknownError');
    assert.deepEqual(sql(duro.dir, `SELECT count(*) FROM "${eventlogTable(storeId)}"`), [['0']]);
    // a frame over the WebSocket limit closes that socket (1009), nothing else
    const big = await connect(storeId);
    big.send('x'.repeat(1100000));
    await new Promise((r) => big.ws.once('close', (code) => { assert.equal(code, 1009); r(); }));
    id = c.push(chain(1, 1), { storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    c.close();
  });

  test('at most 64 pulls open on one socket', async () => {
    const storeId = freshStore();
    const c = await connect(storeId);
    const ids = Array.from({ length: 65 }, () => c.pull({ storeId }));
    for (const id of ids.slice(0, 64)) assert.equal((await c.next((x) => x.requestId === id))._tag, 'Chunk');
    const last = await c.exit(ids[64]);
    assert.equal(last.exit.cause.error._tag, 'UnknownError');
    c.send({ _tag: 'Interrupt', requestId: ids[0] });
    await c.exit(ids[0]);
    const again = c.pull({ storeId });
    assert.equal((await c.next((x) => x.requestId === again))._tag, 'Chunk');
    c.close();
  });

  test('args come back as the same JSON value, large integers included', async () => {
    const storeId = freshStore();
    const c = await connect(storeId);
    const p = c.pull({ storeId });
    const { responses } = await c.backlog(p);
    const args = '{"big":1152921504606846977,"f":1.5e-7,"s":"\u00e9\\u0000\\"\ud83d\ude00","n":null,"a":[true,false,{"x":[]}]}';
    const raw = `{"_tag":"Request","id":"900","tag":"SyncWsRpc.Push","payload":{"storeId":"${storeId}","batch":[{"name":"v1.\\u0041","args":${args},"seqNum":1,"parentSeqNum":0,"clientId":"c\\"1","sessionId":"s"}],"backendId":{"_tag":"Some","value":"${responses[0].backendId}"}},"headers":[]}`;
    c.send(raw);
    assert.deepEqual((await c.exit('900')).exit, SUCCESS_PUSH);
    const live = await c.next((x) => x.requestId === p && x._tag === 'Chunk');
    assert.ok(live._raw.includes(`"args":${args}`), 'live args verbatim');
    assert.equal(live.values[0].batch[0].eventEncoded.name, 'v1.A');
    assert.equal(live.values[0].batch[0].eventEncoded.clientId, 'c"1');
    // and from storage
    const c2 = await connect(storeId);
    const p2 = c2.pull({ storeId, live: false });
    const m = await c2.next((x) => x.requestId === p2 && x._tag === 'Chunk');
    assert.ok(m._raw.includes(`"args":${args}`), 'stored args verbatim');
    assert.equal(m.values[0].batch[0].eventEncoded.name, 'v1.A');
    assert.equal(m.values[0].batch[0].eventEncoded.clientId, 'c"1');
    assert.deepEqual(sql(duro.dir, `SELECT name, clientId FROM "${eventlogTable(storeId)}"`), [['v1.A', 'c"1']]);
    c.close();
    c2.close();
  });

  test('concurrent pushers to one store serialise: a gapless chain, each batch once', async () => {
    const storeId = freshStore();
    const backendId = await seed(storeId, 0);
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(storeId)));
    const perClient = 10;
    await Promise.all(clients.map(async (c, k) => {
      let head = 0;
      const p = c.pull({ storeId });
      let done = 0;
      const seen = [];
      const pump = async () => {
        const end = Date.now() + 30000;
        while (!(done === perClient && seen.filter((e) => e.clientId === `k${k}`).length >= perClient * 3)) {
          assert.ok(Date.now() < end, 'own events confirmed in time');
          let m;
          try { m = await c.next((x) => x.requestId === p && x._tag === 'Chunk', 100, 'chunk'); } catch { continue; }
          c.ack(p);
          for (const v of m.values) for (const e of v.batch) { seen.push(e.eventEncoded); head = e.eventEncoded.seqNum; }
        }
        // every subscriber saw the same gapless sequence
        assert.deepEqual(seen.map((e) => e.seqNum), Array.from({ length: seen.length }, (_, i) => i + 1));
      };
      const reader = pump();
      while (done < perClient) {
        const id = c.push(chain(head + 1, 3, { clientId: `k${k}`, args: { k, i: done } }), { backendId, storeId });
        const x = await c.exit(id, 20000);
        if (x.exit._tag === 'Success') done++;
        else {
          assert.equal(x.exit.cause.error._tag, 'ServerAheadError');
          await sleep(Math.random() * 5);
        }
      }
      await reader;
    }));
    const rows = sql(duro.dir, `SELECT seqNum, parentSeqNum, clientId, args FROM "${eventlogTable(storeId)}" ORDER BY seqNum`);
    assert.equal(rows.length, 8 * perClient * 3);
    rows.forEach((r, i) => { assert.equal(Number(r[0]), i + 1); assert.equal(Number(r[1]), i); });
    const batches = new Set(rows.map((r) => `${r[2]}:${r[3]}`));
    assert.equal(batches.size, 8 * perClient);
    for (const c of clients) c.close();
  });
});

describe('HTTP transport, raw', () => {
  const post = (storeId, body) => fetch(syncUrl(duro.url, storeId, { transport: 'http' }), {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-livestore-store-id': storeId }, body: JSON.stringify(body),
  });

  test('Ping, Push and Pull answer JSON arrays of envelope messages', async () => {
    const storeId = freshStore();
    let r = await post(storeId, { _tag: 'Request', id: '1', tag: 'SyncHttpRpc.Ping', payload: { storeId }, headers: [] });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(await r.json(), [{ _tag: 'Exit', requestId: '1', exit: { _tag: 'Success', value: { _tag: 'SyncMessage.Pong' } } }]);
    r = await post(storeId, { _tag: 'Request', id: '2', tag: 'SyncHttpRpc.Push', payload: { storeId, batch: chain(1, 2), backendId: { _tag: 'None' } }, headers: [] });
    assert.deepEqual(await r.json(), [{ _tag: 'Exit', requestId: '2', exit: SUCCESS_PUSH }]);
    r = await post(storeId, { _tag: 'Request', id: '3', tag: 'SyncHttpRpc.Pull', payload: { storeId, cursor: { _tag: 'None' } }, headers: [] });
    const msgs = await r.json();
    assert.equal(msgs.length, 2);
    assert.equal(msgs[0]._tag, 'Chunk');
    assert.deepEqual(msgs[0].values[0].batch.map((e) => e.eventEncoded.seqNum), [1, 2]);
    assert.deepEqual(msgs[0].values[0].pageInfo, { _tag: 'NoMore' });
    assert.deepEqual(msgs[1], { _tag: 'Exit', requestId: '3', exit: { _tag: 'Success' } });
    r = await post(storeId, { _tag: 'Request', id: '4', tag: 'SyncHttpRpc.Push', payload: { storeId, batch: chain(1, 1), backendId: { _tag: 'None' } }, headers: [] });
    assert.equal((await r.json())[0].exit.cause.error._tag, 'ServerAheadError');
    const g = await rawRequest(duro.port, `POST /?storeId=${storeId}&transport=http HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`, { until: (t) => t.includes(']') });
    assert.match(g.text, /"_tag":"Defect"/);
  });

  test('an x-livestore-store-id header that disagrees with the query is refused', async () => {
    const storeId = freshStore();
    const r = await fetch(syncUrl(duro.url, storeId, { transport: 'http' }), {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-livestore-store-id': `${storeId}-other` },
      body: JSON.stringify({ _tag: 'Request', id: '1', tag: 'SyncHttpRpc.Ping', payload: { storeId }, headers: [] }),
    });
    assert.equal(r.status, 400);
    assert.equal(await r.text(), 'x-livestore-store-id does not match the storeId query');
  });
});

describe('webhook', () => {
  test('each accepted batch is POSTed in order, retried on failure, never blocking the push', async () => {
    const http = await import('node:http');
    const got = [];
    let failFirst = true;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        if (failFirst) { failFirst = false; res.writeHead(500); res.end(); return; }
        got.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const hooked = await startDuro({ config: JSON.stringify({ sync: { webhook: `http://127.0.0.1:${server.address().port}/hook` } }) });
    try {
      const storeId = 'hooked store/1';
      const c = await RawSync.open(syncUrl(hooked.ws, storeId));
      for (let i = 0; i < 3; i++) {
        const id = c.push(chain(i * 2 + 1, 2), { storeId });
        assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
      }
      const refused = c.push(chain(1, 1), { storeId });
      assert.equal((await c.exit(refused)).exit._tag, 'Failure');
      const end = Date.now() + 5000;
      while (got.length < 3 && Date.now() < end) await sleep(20);
      assert.equal(got.length, 3, 'three accepted batches, the refused one not');
      assert.deepEqual(got.map((g) => g.body.head), [2, 4, 6]);
      assert.equal(got[0].path, '/hook');
      assert.equal(got[0].type, 'application/json');
      assert.equal(got[0].body.storeId, storeId);
      assert.match(got[0].body.createdAt, /Z$/);
      assert.deepEqual(got[1].body.batch, chain(3, 2));
      c.close();
      // a dead receiver does not slow pushes down
      server.close();
      const c2 = await RawSync.open(syncUrl(hooked.ws, storeId));
      const t0 = performance.now();
      const id = c2.push(chain(7, 1), { storeId });
      assert.deepEqual((await c2.exit(id)).exit, SUCCESS_PUSH);
      assert.ok(performance.now() - t0 < 1000);
      c2.close();
    } finally {
      server.close();
      await hooked.stop();
      hooked.cleanup();
    }
  });
});
