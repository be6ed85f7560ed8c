// The /_objects/<BINDING>/<name>/<path> protocol that other processes
// (the frontend) use to reach this backend's objects, with a bearer secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDuro, runDuro, rawRequest, openWs, waitFor, closed } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';


const SECRET = 'test-secret';
const AUTH = { Authorization: `Bearer ${SECRET}` };

async function req(port, method, path, { headers = {}, body } = {}) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  const b = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  if (body !== undefined) head += `Content-Length: ${b.length}\r\n`;
  const r = await rawRequest(port, Buffer.concat([Buffer.from(head + '\r\n'), b]));
  const text = r.buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete response to ${method} ${path}: ${JSON.stringify(text)}`);
  const lines = text.slice(0, end).split('\r\n');
  const headersOut = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headersOut[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(lines[0].split(' ')[1]), headers: headersOut, body: r.buf.subarray(end + 4).toString('utf8') };
}

function wrap(getH) {
  return (fn) => async (t) => {
    try { await fn(t); } catch (e) { t.diagnostic(`duro log:\n${getH().log}`); throw e; }
  };
}

for (const mode of ['test', 'production']) {
  describe(`/_objects with DURO_INTERNAL_SECRET (mode ${mode})`, () => {
    let h;
    const it = wrap(() => h);
    before(async () => { h = await startDuro({ mode, env: { DURO_INTERNAL_SECRET: SECRET, DURO_SYNC_TOKEN: 'sync-token' } }); });
    after(async () => { await stopClean(h); });

    test('no Authorization is 401', it(async () => {
      const r = await req(h.port, 'GET', '/_objects/TEST_DO/global/');
      assert.equal(r.status, 401);
      assert.ok(r.body.length > 0);
    }));

    test('a wrong bearer is 401', it(async () => {
      for (const v of ['Bearer wrong', `Bearer ${SECRET}x`, `Bearer ${SECRET.slice(0, -1)}`, SECRET, `Basic ${SECRET}`,
        'Bearer ', `Bearer ${'x'.repeat(300)}`]) {
        const r = await req(h.port, 'GET', '/_objects/TEST_DO/global/', { headers: { Authorization: v } });
        assert.equal(r.status, 401, `Authorization: ${v.slice(0, 40)}`);
      }
    }));

    test('the right bearer reaches TEST_DO', it(async () => {
      const r = await req(h.port, 'GET', '/_objects/TEST_DO/global/', { headers: AUTH });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(JSON.parse(r.body), { message: 'Hello from a Durable Object' });
      // a path after the name, and no trailing slash at all
      for (const p of ['/_objects/TEST_DO/global/any/path?x=1', '/_objects/TEST_DO/global']) {
        const r2 = await req(h.port, 'POST', p, { headers: AUTH, body: 'x' });
        assert.equal(r2.status, 200, p);
        assert.deepEqual(JSON.parse(r2.body), { message: 'Hello from a Durable Object' });
      }
    }));

    test('an unknown binding is 404', it(async () => {
      const r = await req(h.port, 'GET', '/_objects/NO_SUCH_BINDING/global/', { headers: AUTH });
      assert.equal(r.status, 404);
      assert.ok(r.body.length > 0);
      const r2 = await req(h.port, 'GET', '/_objects/TEST_DO', { headers: AUTH });
      assert.equal(r2.status, 404);
    }));

    test('COUNTDOWN_TIMER: POST /stop and GET /', it(async () => {
      const r = await req(h.port, 'POST', '/_objects/COUNTDOWN_TIMER/global/stop', { headers: AUTH });
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { success: true, message: 'Countdown stopped' });
      const r2 = await req(h.port, 'GET', '/_objects/COUNTDOWN_TIMER/global/', { headers: AUTH });
      assert.equal(r2.status, 200);
      assert.equal(r2.body, 'CountdownTimer active');
    }));

    test('MESSAGE_COORDINATOR: status codes and bodies are forwarded unchanged', it(async () => {
      const active = await req(h.port, 'GET', '/_objects/MESSAGE_COORDINATOR/global/', { headers: AUTH });
      assert.equal(active.status, 200);
      assert.equal(active.body, 'MessageCoordinator active');
      const bad = await req(h.port, 'POST', '/_objects/MESSAGE_COORDINATOR/global/', { headers: AUTH, body: 'not json' });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /json/i);
      // the same object answers the same through the backend's own route
      const direct = await req(h.port, 'POST', '/broadcast', { body: 'not json' });
      assert.equal(direct.status, bad.status);
      assert.equal(direct.body, bad.body);
      const ok = await req(h.port, 'POST', '/_objects/MESSAGE_COORDINATOR/global/', { headers: AUTH, body: '{"a":1}' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body, 'Message sent');
    }));

    test('a WebSocket through /_objects/MESSAGE_COORDINATOR/global/ receives broadcasts', it(async () => {
      await assert.rejects(openWs(h.ws + '/_objects/MESSAGE_COORDINATOR/global/'), (e) => e.status === 401);
      const ws = await openWs(h.ws + '/_objects/MESSAGE_COORDINATOR/global/', { headers: AUTH });
      try {
        const r = await req(h.port, 'POST', '/broadcast', { body: '{"via":"objects"}' });
        assert.equal(r.status, 200);
        await waitFor(() => ws.messages.length >= 1, 3000, 'broadcast over the /_objects socket');
        assert.deepEqual(JSON.parse(ws.messages[0]), { via: 'objects' });
        // and a POST through /_objects reaches it as well
        await req(h.port, 'POST', '/_objects/MESSAGE_COORDINATOR/global/', { headers: AUTH, body: '[1,2]' });
        await waitFor(() => ws.messages.length >= 2, 3000, 'second broadcast');
        assert.deepEqual(JSON.parse(ws.messages[1]), [1, 2]);
      } finally {
        ws.close();
        await closed(ws);
      }
    }));

    test('percent-encoded names work; bad escapes are 400', it(async () => {
      for (const name of ['a%2Fb', 'caf%C3%A9', 'x%20y', 'A%2fb']) {
        const r = await req(h.port, 'GET', `/_objects/TEST_DO/${name}/`, { headers: AUTH });
        assert.equal(r.status, 200, name);
        assert.deepEqual(JSON.parse(r.body), { message: 'Hello from a Durable Object' });
      }
      for (const name of ['%zz', 'a%2', 'a%', '%g0', '%00']) {
        const r = await req(h.port, 'GET', `/_objects/TEST_DO/${name}/`, { headers: AUTH });
        assert.equal(r.status, 400, name);
        assert.ok(r.body.length > 0);
      }
      const empty = await req(h.port, 'GET', '/_objects/TEST_DO//', { headers: AUTH });
      assert.equal(empty.status, 400);
    }));
  });
}

describe('/_objects without a secret (mode test)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro(); });
  after(async () => { await stopClean(h); });

  test('loopback callers are let in, and the log warns about it', it(async () => {
    const r = await req(h.port, 'GET', '/_objects/TEST_DO/global/');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { message: 'Hello from a Durable Object' });
    assert.match(h.log, /DURO_INTERNAL_SECRET/);
  }));
});

test('production without DURO_INTERNAL_SECRET refuses to start', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'duro-bind-'));
  let r;
  try { r = await runDuro(['backend', '--mode', 'production', '--port', '0'], { cwd }); } finally { rmSync(cwd, { recursive: true, force: true }); }
  assert.notEqual(r.code, 0, `exit ${r.code} ${r.signal}`);
  assert.equal(r.signal, null, 'exits, not killed');
  assert.match(r.stdout + r.stderr, /DURO_INTERNAL_SECRET/);
});
