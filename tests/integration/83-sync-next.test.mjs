// LiveStore's next protocol (sync-cf on Effect v4), spoken raw: numeric
// request ids echoed as numbers, failure causes as arrays of reasons, a
// numeric or absent fiber id in Interrupt. 0.4.0's shapes keep working on
// the same connection (80-sync-raw, 81-livestore cover them in full).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDuro, sleep } from './lib/duro.mjs';
import { RawSync, SUCCESS_PUSH, chain, syncUrl } from './lib/sync.mjs';

let duro;
let storeN = 0;
const freshStore = () => `next-${process.pid}-${storeN++}`;

before(async () => { duro = await startDuro(); });
after(async () => { await duro.stop(); duro.cleanup(); });

const pullReq = (id, storeId, live = true) => ({
  _tag: 'Request', id, tag: 'SyncWsRpc.Pull',
  payload: { storeId, live, cursor: { _tag: 'None' } }, headers: [],
});
const pushReq = (id, storeId, batch, backendId) => ({
  _tag: 'Request', id, tag: 'SyncWsRpc.Push',
  payload: { storeId, batch, backendId: backendId ? { _tag: 'Some', value: backendId } : { _tag: 'None' } },
  headers: [],
});
const forId = (id, tag) => (m) => m.requestId === id && (!tag || m._tag === tag);

describe('next protocol over WebSocket', () => {
  test('numeric ids come back as numbers on chunks and exits', async () => {
    const storeId = freshStore();
    const c = await RawSync.open(syncUrl(duro.ws, storeId));
    try {
      c.send(pullReq(0, storeId));
      const first = await c.next(forId(0, 'Chunk'));
      assert.match(first._raw, /"requestId":0,/);
      assert.deepEqual(first.values[0].pageInfo, { _tag: 'NoMore' });
      c.send({ _tag: 'Ack', requestId: 0 });
      const backendId = first.values[0].backendId;
      c.send(pushReq(1, storeId, chain(1, 3), backendId));
      const exit = await c.next(forId(1, 'Exit'));
      assert.match(exit._raw, /"requestId":1,/);
      assert.deepEqual(exit.exit, SUCCESS_PUSH);
      const live = await c.next(forId(0, 'Chunk'));
      assert.deepEqual(live.values[0].batch.map((e) => e.eventEncoded.seqNum), [1, 2, 3]);
      // a 0.4.0 request on the same socket is answered in 0.4.0's shape
      c.send(pushReq('2', storeId, chain(1, 1), backendId));
      const old = await c.next(forId('2', 'Exit'));
      assert.match(old._raw, /"requestId":"2",/);
      assert.equal(old.exit.cause._tag, 'Fail');
      assert.equal(old.exit.cause.error._tag, 'ServerAheadError');
    } finally { c.close(); }
  });

  test('failures carry their cause as an array of reasons', async () => {
    const storeId = freshStore();
    const c = await RawSync.open(syncUrl(duro.ws, storeId));
    try {
      c.send(pushReq(7, storeId, chain(1, 2)));
      assert.deepEqual((await c.next(forId(7, 'Exit'))).exit, SUCCESS_PUSH);
      c.send(pushReq(8, storeId, chain(1, 1)));
      const ahead = await c.next(forId(8, 'Exit'));
      assert.equal(ahead.exit._tag, 'Failure');
      assert.ok(Array.isArray(ahead.exit.cause), ahead._raw);
      assert.equal(ahead.exit.cause.length, 1);
      assert.equal(ahead.exit.cause[0]._tag, 'Fail');
      assert.deepEqual(ahead.exit.cause[0].error, { _tag: 'ServerAheadError', minimumExpectedNum: 2, providedNum: 0 });
      // a payload that does not match the schema: Die, in an array
      c.send({ _tag: 'Request', id: 9, tag: 'SyncWsRpc.Pull', payload: { live: true }, headers: [] });
      const die = await c.next(forId(9, 'Exit'));
      assert.ok(Array.isArray(die.exit.cause), die._raw);
      assert.equal(die.exit.cause[0]._tag, 'Die');
      assert.equal(typeof die.exit.cause[0].defect, 'string');
      // a fractional or negative id is not an id: a Defect, the socket stays
      c.send({ _tag: 'Request', id: -1, tag: 'SyncWsRpc.Pull', payload: {}, headers: [] });
      const defect = await c.next((m) => m._tag === 'Defect');
      assert.equal(typeof defect.defect, 'string');
      c.send(pushReq(10, storeId, chain(3, 1)));
      assert.deepEqual((await c.next(forId(10, 'Exit'))).exit, SUCCESS_PUSH);
    } finally { c.close(); }
  });

  test('Interrupt with a numeric or absent fiber id stops a pull', async () => {
    const storeId = freshStore();
    for (const extra of [{ fiberId: 5 }, {}, { interruptors: [3] }]) {
      const c = await RawSync.open(syncUrl(duro.ws, storeId));
      try {
        c.send(pullReq(20, storeId));
        await c.next(forId(20, 'Chunk'));
        c.send({ _tag: 'Ack', requestId: 20 });
        c.send({ _tag: 'Interrupt', requestId: 20, ...extra });
        const ie = await c.next(forId(20, 'Exit'));
        assert.ok(Array.isArray(ie.exit.cause), ie._raw);
        assert.equal(ie.exit.cause[0]._tag, 'Interrupt');
        // nothing more for the interrupted pull, though the store moves on
        const head = await headOf(storeId);
        const w = await RawSync.open(syncUrl(duro.ws, storeId));
        w.send(pushReq(1, storeId, chain(head + 1, 1)));
        assert.deepEqual((await w.next(forId(1, 'Exit'))).exit, SUCCESS_PUSH);
        w.close();
        await sleep(150);
        assert.equal(c.peek(20).length, 0, JSON.stringify(extra));
      } finally { c.close(); }
    }
  });
});

// The store's head, read with a non-live pull.
async function headOf(storeId) {
  const c = await RawSync.open(syncUrl(duro.ws, storeId));
  try {
    c.send(pullReq(99, storeId, false));
    let n = 0;
    for (;;) {
      const m = await c.next(forId(99));
      if (m._tag === 'Exit') return n;
      c.send({ _tag: 'Ack', requestId: 99 });
      for (const v of m.values) n += v.batch.length;
    }
  } finally { c.close(); }
}

describe('next protocol over HTTP', () => {
  const post = (storeId, body) => fetch(syncUrl(duro.url, storeId, { transport: 'http' }), {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-livestore-store-id': storeId }, body: JSON.stringify(body),
  });

  test('Ping, Push and Pull echo numeric ids; a failure cause is an array', async () => {
    const storeId = freshStore();
    let r = await post(storeId, { _tag: 'Request', id: 1, tag: 'SyncHttpRpc.Ping', payload: { storeId }, headers: [] });
    assert.deepEqual(await r.json(), [{ _tag: 'Exit', requestId: 1, exit: { _tag: 'Success', value: { _tag: 'SyncMessage.Pong' } } }]);
    r = await post(storeId, { _tag: 'Request', id: 2, tag: 'SyncHttpRpc.Push', payload: { storeId, batch: chain(1, 2), backendId: { _tag: 'None' } }, headers: [] });
    assert.deepEqual(await r.json(), [{ _tag: 'Exit', requestId: 2, exit: SUCCESS_PUSH }]);
    r = await post(storeId, { _tag: 'Request', id: 3, tag: 'SyncHttpRpc.Pull', payload: { storeId, cursor: { _tag: 'None' } }, headers: [] });
    const msgs = await r.json();
    assert.equal(msgs.length, 2);
    assert.equal(msgs[0].requestId, 3);
    assert.deepEqual(msgs[0].values[0].batch.map((e) => e.eventEncoded.seqNum), [1, 2]);
    assert.deepEqual(msgs[1], { _tag: 'Exit', requestId: 3, exit: { _tag: 'Success' } });
    r = await post(storeId, { _tag: 'Request', id: 4, tag: 'SyncHttpRpc.Push', payload: { storeId, batch: chain(1, 1), backendId: { _tag: 'None' } }, headers: [] });
    const [fail] = await r.json();
    assert.equal(fail.requestId, 4);
    assert.ok(Array.isArray(fail.exit.cause));
    assert.equal(fail.exit.cause[0].error._tag, 'ServerAheadError');
  });
});
