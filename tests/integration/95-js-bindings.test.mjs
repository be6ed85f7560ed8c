// clients/js (@duro/bindings) against a running `duro backend`: the env
// of bindings, ids as the backend derives them, stub.fetch with method,
// headers, query, a 1 MiB streamed body and status codes both ways, the
// secret, a backend that is down, and WebSocket upgrades relayed through
// a Node HTTP server (text, binary, close codes, 200 sockets x 100
// broadcasts in order). The Echo fixture (tests/fixtures/echo.c) answers
// with what it got.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { DURO_BIN, closed, openWs, startDuro, waitFor } from './lib/duro.mjs';
import {
  BindingError, DurableObjectId, UpgradeResponse, acceptWebSocket, createEnv, objectId,
} from '../../clients/js/src/index.js';

const ECHO = path.join(path.dirname(DURO_BIN), 'tests/fixtures/libecho.so');
const SECRET = 'internal-secret-for-the-js-bindings-test';
const config = JSON.stringify({
  classes: [{ class_name: 'Echo', library: ECHO }],
  durable_objects: { bindings: [
    { name: 'ECHO', class_name: 'Echo' },
    { name: 'TEST_DO', class_name: 'TestDurableObject' },
    { name: 'MESSAGE_COORDINATOR', class_name: 'MessageCoordinator' },
    { name: 'COUNTDOWN_TIMER', class_name: 'CountdownTimer' },
    { name: 'ROOMS', class_name: 'Room' },
  ] },
});

// A Node HTTP server that hands every upgrade to the object the path
// names (/echo/<name> or /coordinator), as an app's route would.
function relayServer(env) {
  const server = http.createServer((req, res) => { res.writeHead(404).end(); });
  server.on('upgrade', async (req, socket, head) => {
    try {
      const stub = req.url.startsWith('/echo/')
        ? env.ECHO.getByName(decodeURIComponent(req.url.slice(6)))
        : env.MESSAGE_COORDINATOR.getByName('global');
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      const res = await stub.fetch(`http://do${req.url.startsWith('/echo/') ? '/ws' : '/ws/connect'}`, { headers });
      await acceptWebSocket(res, socket, head);
    } catch (e) {
      socket.destroy(e);
    }
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('@duro/bindings against duro backend', { timeout: 120000 }, () => {
  let duro, env, server;
  before(async () => {
    duro = await startDuro({ config, env: { DURO_INTERNAL_SECRET: SECRET } });
    env = await createEnv({ backend: duro.url, secret: SECRET, vars: { GREETING: 'hi' } });
    server = await relayServer(env);
  });
  after(async () => {
    server?.close();
    await duro?.stop();
    duro?.cleanup();
  });

  test('the env: every bound namespace with its class, and the vars', () => {
    for (const b of ['TEST_DO', 'MESSAGE_COORDINATOR', 'COUNTDOWN_TIMER', 'ROOMS', 'ECHO'])
      assert.equal(env[b].binding, b);
    assert.equal(env.ECHO.className, 'Echo');
    assert.equal(env.MESSAGE_COORDINATOR.className, 'MessageCoordinator');
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.NOPE, undefined);
  });

  test('ids: the backend\'s, by name and from a string; bad input throws as on Workers', async () => {
    const id = env.ECHO.idFromName('a name/with ünïcode');
    assert.match(String(id), /^[0-9a-f]{64}$/);
    assert.equal(String(id), objectId('ECHO', 'a name/with ünïcode'));
    assert.ok(id.equals(env.ECHO.idFromName('a name/with ünïcode')));
    assert.notEqual(String(env.ROOMS.idFromName('a name/with ünïcode')), String(id), 'the namespace is in the id');
    const res = await env.ECHO.get(id).fetch('http://ignored.host/x');
    assert.equal(res.headers.get('x-echo-id'), String(id));
    // header bytes come back as latin1 code points: the name's UTF-8
    assert.equal(Buffer.from(res.headers.get('x-echo-name'), 'latin1').toString('utf8'), 'a name/with ünïcode');
    await res.arrayBuffer();
    // by id only: the object with that id, created without a name
    const hex = env.ECHO.newUniqueId().toString();
    const byId = env.ECHO.idFromString(hex);
    assert.ok(byId instanceof DurableObjectId);
    const r2 = await env.ECHO.get(byId).fetch('http://do/');
    assert.equal(r2.headers.get('x-echo-id'), hex);
    assert.equal(r2.headers.get('x-echo-name'), '');
    await r2.arrayBuffer();
    // another namespace, reached by name the same way
    const tdo = await env.TEST_DO.getByName('global').fetch('http://do/');
    assert.equal(tdo.status, 200);
    await tdo.text();
    assert.throws(() => env.ECHO.idFromString('xyz'), BindingError);
    assert.throws(() => env.ECHO.idFromString('A'.repeat(64)), /64 lowercase hex digits/);
    assert.throws(() => env.ECHO.idFromName('x'.repeat(513)), /1 to 512 bytes/);
    assert.throws(() => env.ECHO.idFromName(''), BindingError);
    assert.throws(() => env.ECHO.get('not an id'), BindingError);
  });

  test('fetch: method, headers, path, query, a 1 MiB streamed body, status codes both ways', async () => {
    const stub = env.ECHO.getByName('fetch');
    const MiB = 1 << 20;
    const data = Buffer.alloc(MiB);
    for (let i = 0; i < MiB; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent >= MiB) { c.close(); return; }
        const n = Math.min(64 * 1024, MiB - sent);
        c.enqueue(data.subarray(sent, sent + n));
        sent += n;
      },
    });
    const res = await stub.fetch('https://my-app.example/some/path?q=1&r=two', {
      method: 'PUT', body, duplex: 'half',
      headers: { 'x-custom': 'yes', 'x-echo-status': '201', 'content-type': 'application/x-test',
        authorization: 'Bearer the-browser-token' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-echo-method'), 'PUT');
    assert.equal(res.headers.get('x-echo-path'), '/some/path');
    assert.equal(res.headers.get('x-echo-query'), 'q=1&r=two');
    assert.equal(res.headers.get('x-echoed-x-custom'), 'yes');
    // the caller's own Authorization reaches the object (the secret has a header of its own)
    assert.equal(res.headers.get('x-echo-authorization'), 'Bearer the-browser-token');
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, MiB);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    // a Request as input, and statuses the object picks
    for (const status of [204, 404, 418, 500, 503]) {
      const r = await stub.fetch(new Request('http://do/s', { method: 'POST', body: 'b', headers: { 'x-echo-status': String(status) } }));
      assert.equal(r.status, status);
      await r.arrayBuffer();
    }
    // a bare path is the object's path
    const p = await stub.fetch('/only/a/path');
    assert.equal(p.headers.get('x-echo-path'), '/only/a/path');
    await p.arrayBuffer();
  });

  test('bad input: a body over the backend\'s limit is a 413, not a hang', async () => {
    const r = await env.ECHO.getByName('big').fetch('http://do/', { method: 'POST', body: Buffer.alloc((1 << 20) + 1) });
    assert.equal(r.status, 413);
    await r.arrayBuffer();
  });

  test('the protocol\'s new routes: the binding list and objects by id, with their errors', async () => {
    const auth = { authorization: `Bearer ${SECRET}` };
    const list = await fetch(`${duro.url}/_objects`, { headers: auth });
    assert.equal(list.status, 200);
    assert.deepEqual((await list.json()).bindings.find((b) => b.name === 'ECHO'), { name: 'ECHO', class: 'Echo' });
    assert.equal((await fetch(`${duro.url}/_objects/`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${duro.url}/_objects`)).status, 401);
    assert.equal((await fetch(`${duro.url}/_objects`, { method: 'POST', headers: auth })).status, 405);
    const id = 'ab'.repeat(32);
    const ok = await fetch(`${duro.url}/_object_ids/ECHO/${id}/p?x=1`, { headers: auth });
    assert.equal(ok.headers.get('x-echo-id'), id);
    assert.equal(ok.headers.get('x-echo-path'), '/p');
    assert.equal(ok.headers.get('x-echo-query'), 'x=1');
    await ok.arrayBuffer();
    const root = await fetch(`${duro.url}/_object_ids/ECHO/${id}`, { headers: auth });
    assert.equal(root.headers.get('x-echo-path'), '/');
    await root.arrayBuffer();
    for (const [p, status, re] of [
      [`/_object_ids/ECHO/${'AB'.repeat(32)}/`, 400, /64 lowercase hex/],
      ['/_object_ids/ECHO/abc', 400, /64 lowercase hex/],
      [`/_object_ids/NOPE/${id}`, 404, /No such binding/],
      ['/_object_ids/', 404, /Expected/],
    ]) {
      const r = await fetch(`${duro.url}${p}`, { headers: auth });
      assert.equal(r.status, status, p);
      assert.match(await r.text(), re, p);
    }
    assert.equal((await fetch(`${duro.url}/_object_ids/ECHO/${id}`)).status, 401);
    // the secret in its own header, or as the bearer: either opens the door
    assert.equal((await fetch(`${duro.url}/_objects`, { headers: { 'x-duro-internal-secret': SECRET } })).status, 200);
    assert.equal((await fetch(`${duro.url}/_objects`, { headers: { 'x-duro-internal-secret': `${SECRET}x` } })).status, 401);
    assert.equal((await fetch(`${duro.url}/_objects`, { headers: { 'x-duro-internal-secret': '' } })).status, 401);
  });

  test('the secret: a wrong or missing one surfaces the backend\'s 401', async () => {
    await assert.rejects(createEnv({ backend: duro.url, secret: 'wrong-secret' }),
      (e) => e.status === 401 && /401/.test(e.message));
    await assert.rejects(createEnv({ backend: duro.url, secret: '' }), (e) => e.status === 401);
  });

  test('an upgrade through acceptWebSocket: text and binary both ways, close codes both ways', async () => {
    const port = server.address().port;
    const ws = await openWs(`ws://127.0.0.1:${port}/echo/sock`);
    ws.send('hello');
    ws.send(Buffer.from([0, 1, 2, 255]));
    await waitFor(() => ws.messages.length === 2, 5000, 'the echoes');
    assert.equal(ws.messages[0], 'hello');
    assert.deepEqual([...ws.messages[1]], [0, 1, 2, 255]);
    // the object closes with a code: the browser sees it
    const c1 = closed(ws);
    ws.send('close:4003');
    const got = await c1;
    assert.equal(got.code, 4003);
    // the browser closes with a code: the close handshake completes with it
    const ws2 = await openWs(`ws://127.0.0.1:${port}/echo/sock2`);
    const c2 = closed(ws2);
    ws2.close(4004, 'from the browser');
    assert.equal((await c2).code, 4004);
    // a stub's upgrade answered directly is a 101 with the tunnel
    const stub = env.ECHO.getByName('direct');
    const res = await stub.fetch('http://do/ws', { headers: {
      upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.alloc(16, 7).toString('base64'),
    } });
    assert.ok(res instanceof UpgradeResponse);
    assert.equal(res.status, 101);
    assert.ok(res.headers.get('sec-websocket-accept'));
    res.webSocket.socket.destroy();
    // an object that refuses the upgrade: its answer reaches the browser
    const bad = await stub.fetch('http://do/ws', { headers: { upgrade: 'websocket', connection: 'Upgrade' } });
    assert.equal(bad.status, 426, 'no Sec-WebSocket-Version: the object\'s accept refuses');
    await bad.text();
  });

  test('200 tunnelled sockets receive 100 broadcasts in order', async () => {
    const port = server.address().port;
    const clients = await Promise.all(Array.from({ length: 200 }, () => openWs(`ws://127.0.0.1:${port}/coordinator`)));
    try {
      const mc = env.MESSAGE_COORDINATOR.getByName('global');
      for (let i = 0; i < 100; i++) {
        const r = await mc.fetch('http://do/broadcast', { method: 'POST', body: JSON.stringify({ seq: i }) });
        assert.equal(r.status, 200);
        await r.text();
      }
      await waitFor(() => clients.every((c) => c.messages.length >= 100), 20000, 'every delivery');
      for (const c of clients)
        assert.deepEqual(c.messages.map((m) => JSON.parse(m).seq), Array.from({ length: 100 }, (_, i) => i));
    } finally {
      for (const c of clients) { c.close(); await closed(c); }
    }
  });
});

// A port nobody listens on: bound, then closed.
const freePort = () => new Promise((r) => {
  const s = http.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => r(port)); });
});

test('a backend that is down: a clear error naming it', async () => {
  const port = await freePort();
  await assert.rejects(createEnv({ backend: `http://127.0.0.1:${port}`, secret: 's' }),
    new RegExp(`duro backend http://127\\.0\\.0\\.1:${port} is unreachable: ECONNREFUSED`));
  const duro = await startDuro({ config, env: { DURO_INTERNAL_SECRET: SECRET } });
  const env = await createEnv({ backend: duro.url, secret: SECRET });
  await duro.stop();
  duro.cleanup();
  await assert.rejects(env.ECHO.getByName('x').fetch('http://do/'), (e) =>
    e.message.startsWith(`duro backend ${duro.url} is unreachable`));
  await assert.rejects(env.ECHO.getByName('x').fetch('http://do/ws', { headers: { upgrade: 'websocket' } }),
    /is unreachable/);
});
