// MessageCoordinator fan-out through real sockets: many clients, many
// broadcasts, order and completeness; client-to-all relay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openWs, startDuro, waitFor } from './lib/duro.mjs';

let duro;
before(async () => { duro = await startDuro(); });
after(async () => { await duro.stop(); duro.cleanup(); });

test('200 clients each receive all of 100 broadcasts, in order', async () => {
  const clients = await Promise.all(
    Array.from({ length: 200 }, () => openWs(`${duro.ws}/ws/connect`)));
  try {
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${duro.url}/broadcast`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seq: i, text: `message ${i}` }),
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Message sent');
    }
    await waitFor(() => clients.every((c) => c.messages.length >= 100), 15000, 'all deliveries');
    for (const c of clients) {
      assert.equal(c.messages.length, 100);
      const seqs = c.messages.map((m) => JSON.parse(m).seq);
      assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i));
    }
    // the body is re-serialised compactly
    assert.equal(clients[0].messages[7], '{"seq":7,"text":"message 7"}');
  } finally {
    for (const c of clients) c.close();
  }
});

test('a message from one client reaches every client, the sender included', async () => {
  const clients = await Promise.all(Array.from({ length: 5 }, () => openWs(`${duro.ws}/ws/connect`)));
  try {
    clients[2].send('hello from 2');
    await waitFor(() => clients.every((c) => c.messages.includes('hello from 2')), 5000, 'relay');
    clients[0].send(Buffer.from([1, 2, 3]));
    await waitFor(() => clients.every((c) => c.messages.some((m) => Buffer.isBuffer(m) && m.equals(Buffer.from([1, 2, 3])))), 5000, 'binary relay');
  } finally {
    for (const c of clients) c.close();
  }
});

test('a pipelined burst of broadcasts arrives complete and ordered', async () => {
  const c = await openWs(`${duro.ws}/ws/connect`);
  try {
    const posts = [];
    for (let i = 0; i < 300; i++)
      posts.push(fetch(`${duro.url}/broadcast`, { method: 'POST', body: `{"n":${i}}` }));
    const statuses = (await Promise.all(posts)).map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200));
    await waitFor(() => c.messages.length >= 300, 10000, '300 messages');
    assert.equal(new Set(c.messages).size, 300);
  } finally {
    c.close();
  }
});
