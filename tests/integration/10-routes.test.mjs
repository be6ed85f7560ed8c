// Backend routes of the seed (spec: "Backend worker", "Rooms").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDuro, rawRequest, openWs, waitFor, closed } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';


// One request on its own connection; parses status, headers and body.
async function req(port, method, path, { headers = {}, body } = {}) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  const b = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  if (body !== undefined) head += `Content-Length: ${b.length}\r\n`;
  const r = await rawRequest(port, Buffer.concat([Buffer.from(head + '\r\n'), b]));
  return parse(r.buf);
}

function parse(buf) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete response head in ${JSON.stringify(text)}`);
  const lines = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]);
  assert.ok(m, `bad status line ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = buf.subarray(end + 4).toString('utf8');
  return { status: Number(m[1]), headers, body };
}

const UPGRADE = {
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

function onFail(h, t) {
  // Prints duro's log when a test fails, to see what the server said.
  return async (fn) => {
    try { await fn(); } catch (e) { t.diagnostic(`duro log:\n${h.log}`); throw e; }
  };
}

describe('backend routes (test mode)', () => {
  let h;
  const sockets = [];
  before(async () => { h = await startDuro(); });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await stopClean(h);
  });
  const ws = async (path, opts) => { const w = await openWs(h.ws + path, opts); sockets.push(w); return w; };

  test('GET / answers 200 with the worker text', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'This worker exports Durable Objects');
    const r2 = await req(h.port, 'GET', '/some/other/path?x=1');
    assert.equal(r2.status, 200);
    assert.equal(r2.body, 'This worker exports Durable Objects');
  }));

  test('/ws/connect without Upgrade is 426', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/ws/connect');
    assert.equal(r.status, 426);
    assert.equal(r.body, 'Expected Upgrade: websocket');
  }));

  test('/ws/connect with a WebSocket client opens', async (t) => onFail(h, t)(async () => {
    const w = await ws('/ws/connect');
    assert.equal(w.readyState, 1);
    w.close();
    await closed(w);
  }));

  test('POST /broadcast with JSON is 200 Message sent and reaches sockets', async (t) => onFail(h, t)(async () => {
    const w = await ws('/ws/connect');
    const r = await req(h.port, 'POST', '/broadcast', {
      headers: { 'Content-Type': 'application/json' },
      body: '{ "hello" : "world", "n": [1, 2] }',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'Message sent');
    await waitFor(() => w.messages.length >= 1, 3000, 'broadcast message');
    assert.deepEqual(JSON.parse(w.messages[0]), { hello: 'world', n: [1, 2] });
    w.close();
    await closed(w);
  }));

  test('POST /broadcast with a non-JSON body is 400 with a reason', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'POST', '/broadcast', { body: 'this is not json{' });
    assert.equal(r.status, 400);
    assert.match(r.body, /json/i);
    // The server is still fine afterwards.
    const r2 = await req(h.port, 'GET', '/');
    assert.equal(r2.status, 200);
  }));

  test('/api/rooms/abc/websocket opens', async (t) => onFail(h, t)(async () => {
    const w = await ws('/api/rooms/abc/websocket');
    await waitFor(() => w.messages.length >= 1, 3000, 'room greeting');
    assert.equal(w.messages[0], 'new connection!');
    const w64 = await ws(`/api/rooms/${'a'.repeat(64)}/websocket`);
    assert.equal(w64.readyState, 1);
    w.close(); w64.close();
    await Promise.all([closed(w), closed(w64)]);
  }));

  for (const [what, id] of [
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['a dot', 'a.b'],
    ['%20', 'a%20b'],
    ['!', 'a!b'],
  ]) {
    test(`room id that is ${what} is 400 with a reason`, async (t) => onFail(h, t)(async () => {
      for (const headers of [{}, UPGRADE]) {
        const r = await req(h.port, 'GET', `/api/rooms/${id}/websocket`, { headers });
        assert.equal(r.status, 400, `id ${JSON.stringify(id)} headers ${JSON.stringify(headers)}`);
        assert.match(r.body, /room id/i);
      }
    }));
  }

  test('/api/rooms/abc without /websocket is 404', async (t) => onFail(h, t)(async () => {
    for (const path of ['/api/rooms/abc', '/api/rooms/abc/', '/api/rooms/abc/other', '/api/rooms/abc/websocket/x']) {
      const r = await req(h.port, 'GET', path, { headers: UPGRADE });
      assert.equal(r.status, 404, path);
      assert.ok(r.body.length > 0, `404 for ${path} has a reason`);
    }
  }));

  test('non-upgrade request on a valid room path is 426', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/api/rooms/abc/websocket');
    assert.equal(r.status, 426);
    assert.match(r.body, /upgrade/i);
  }));

  test('room behaviour: announce, relay to others, isolation, dropping closed clients', async (t) => onFail(h, t)(async () => {
    const other = await ws('/api/rooms/r2/websocket');
    await waitFor(() => other.messages.length === 1, 3000, 'r2 greeting');

    const c1 = await ws('/api/rooms/r1/websocket');
    await waitFor(() => c1.messages.length === 1, 3000, 'c1 greeting');
    const c2 = await ws('/api/rooms/r1/websocket');
    await waitFor(() => c1.messages.length === 2 && c2.messages.length === 1, 3000, 'c2 announced');
    const c3 = await ws('/api/rooms/r1/websocket');
    await waitFor(() => c1.messages.length === 3 && c2.messages.length === 2 && c3.messages.length === 1,
      3000, 'c3 announced');
    assert.deepEqual(c1.messages, ['new connection!', 'new connection!', 'new connection!']);
    assert.deepEqual(c2.messages, ['new connection!', 'new connection!']);
    assert.deepEqual(c3.messages, ['new connection!']);

    // A message from c1 reaches c2 and c3, not c1.
    c1.send('from c1');
    await waitFor(() => c2.messages.includes('from c1') && c3.messages.includes('from c1'), 3000, 'relay of c1');
    // c2's message is relayed after c1's was: once c1 has it, an echo of
    // its own message would have arrived before.
    c2.send('from c2');
    await waitFor(() => c1.messages.includes('from c2') && c3.messages.includes('from c2'), 3000, 'relay of c2');
    assert.ok(!c1.messages.includes('from c1'), 'sender does not get its own message');
    assert.ok(!c2.messages.includes('from c2'), 'sender does not get its own message');
    // Binary messages are relayed as binary.
    c3.send(Buffer.from([0, 1, 2, 255]));
    await waitFor(() => c1.messages.some(Buffer.isBuffer) && c2.messages.some(Buffer.isBuffer), 3000, 'binary relay');
    assert.deepEqual([...c1.messages.find(Buffer.isBuffer)], [0, 1, 2, 255]);

    // Room r2 heard nothing of r1.
    assert.deepEqual(other.messages, ['new connection!']);

    // c3 closes cleanly; c2 goes away without a close frame. The others keep working.
    c3.close(1000, 'bye');
    await closed(c3);
    c2.terminate();
    await closed(c2);
    const c4 = await ws('/api/rooms/r1/websocket');
    await waitFor(() => c4.messages.length === 1 && c1.messages.filter((m) => m === 'new connection!').length === 4,
      3000, 'c4 announced to c1');
    c1.send('after close');
    await waitFor(() => c4.messages.includes('after close'), 3000, 'relay after a client went away');
    c4.send('to c1');
    await waitFor(() => c1.messages.includes('to c1'), 3000, 'relay to c1');
    assert.ok(!c1.messages.includes('after close'));
    assert.deepEqual(other.messages, ['new connection!']);
    for (const w of [c1, c4, other]) w.close();
    await Promise.all([c1, c4, other].map(closed));
  }));
});

describe('backend routes (production mode)', () => {
  let h;
  before(async () => {
    h = await startDuro({ mode: 'production', env: { DURO_INTERNAL_SECRET: 's3cret', DURO_SYNC_TOKEN: 'sync-token' } });
  });
  after(async () => { await stopClean(h); });

  test('/ws/connect is 401 for a plain GET', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/ws/connect');
    assert.equal(r.status, 401);
  }));

  test('/ws/connect is 401 for a real upgrade attempt', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/ws/connect', { headers: UPGRADE });
    assert.equal(r.status, 401);
    await assert.rejects(openWs(h.ws + '/ws/connect'), (e) => e.status === 401);
  }));

  test('other routes still work in production', async (t) => onFail(h, t)(async () => {
    const r = await req(h.port, 'GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'This worker exports Durable Objects');
    const b = await req(h.port, 'POST', '/broadcast', { body: '{"a":1}' });
    assert.equal(b.status, 200);
    assert.equal(b.body, 'Message sent');
  }));
});
