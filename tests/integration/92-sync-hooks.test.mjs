// A LiveStore sync backend with hooks, written in C and loaded from a
// library (tests/fixtures/sync_guard.c), bound as LIVESTORE_SYNC in place
// of the built-in one: its on_push refuses a forbidden event with the
// spec's UnknownError and stores nothing of that batch, its on_pull
// refuses a payload, its on_push_res observes each stored batch, and
// everything else syncs as with the built-in class.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DURO_BIN, startDuro, waitFor } from './lib/duro.mjs';
import { RawSync, SUCCESS_PUSH, chain, ev, eventlogTable, sql, syncUrl } from './lib/sync.mjs';

const LIB = path.join(path.dirname(DURO_BIN), 'tests/fixtures/libsync_guard.so');
let duro;

before(async () => {
  duro = await startDuro({
    config: JSON.stringify({
      classes: [{ class_name: 'GuardedSync', library: LIB }],
      durable_objects: { bindings: [{ name: 'LIVESTORE_SYNC', class_name: 'GuardedSync' }] },
    }),
  });
});
after(async () => { await duro?.stop(); duro?.cleanup(); });

test('allowed batches sync; a forbidden event is refused with UnknownError and stores nothing', async () => {
  const storeId = 'guarded';
  const c = await RawSync.open(syncUrl(duro.ws, storeId));
  try {
    const pull = c.pull({ storeId });
    await c.backlog(pull);
    let id = c.push(chain(1, 3), { storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    assert.deepEqual((await c.liveEvents(pull, 3)).map((e) => e.eventEncoded.seqNum), [1, 2, 3]);

    id = c.push([ev(4), ev(5, { name: 'v1.Forbidden' })], { storeId });
    const cause = (await c.exit(id)).exit.cause;
    assert.equal(cause._tag, 'Fail');
    assert.equal(cause.error._tag, 'UnknownError');
    assert.match(JSON.stringify(cause.error), /v1\.Forbidden is not allowed in store guarded/);

    // The refused batch left nothing behind: the next push continues at 4.
    id = c.push(chain(4, 1), { storeId });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    assert.deepEqual(sql(duro.dir, `SELECT seqNum, name FROM "${eventlogTable(storeId)}" ORDER BY seqNum`),
      [['1', 'v1.Test'], ['2', 'v1.Test'], ['3', 'v1.Test'], ['4', 'v1.Test']]);
    // on_push_res saw both stored batches.
    await waitFor(() => /guard: stored 1 events, head 4/.test(duro.log), 5000, 'the on_push_res log line');
    assert.match(duro.log, /guard: stored 3 events, head 3/);
  } finally {
    c.close();
  }
});

test('on_pull refuses a pull by its payload; other pulls are served', async () => {
  const storeId = 'guarded-pull';
  const c = await RawSync.open(syncUrl(duro.ws, storeId));
  try {
    const denied = c.pull({ storeId, payload: { deny: true } });
    const exit = await c.exit(denied);
    assert.equal(exit.exit.cause.error._tag, 'UnknownError');
    assert.match(JSON.stringify(exit.exit.cause.error), /pulls with deny are refused/);
    const ok = c.pull({ storeId, payload: { deny: false } });
    const { events } = await c.backlog(ok);
    assert.deepEqual(events, []);
  } finally {
    c.close();
  }
});
