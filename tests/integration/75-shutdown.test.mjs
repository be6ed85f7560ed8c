// Graceful shutdown. On SIGTERM or SIGINT duro stops accepting, answers
// the requests in flight, closes every WebSocket with 1001 "going away",
// flushes storage and exits 0 within 5 s; a second signal exits at once
// (status 1). Checked for the backend, dev and frontend roles.
//
// A request is kept in flight on purpose: a sqlite3 process holds the
// database's write lock, so the object's commit waits in SQLite's busy
// handler and the output gate holds the answer; the test lets go of the
// lock once it has seen the sockets closed and the port shut.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { closed, openWs, sessionCookie, startDuro, waitFor, sleep } from './lib/duro.mjs';
import { RawSync, sql, syncUrl } from './lib/sync.mjs';

const EXIT_WITHIN_MS = 5000;

// Holds the write lock of duro's database until release() is called.
async function holdWriteLock(dir) {
  const p = spawn('sqlite3', [path.join(dir, 'data', 'duro.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => p.on('exit', r));
  p.stdin.write(".timeout 5000\nBEGIN IMMEDIATE;\nSELECT 'lock' || 'ed';\n");
  await waitFor(() => out.includes('locked'), 5000, `sqlite3 taking the write lock (${out})`);
  return {
    async release() {
      if (p.exitCode !== null) return;
      p.stdin.end('COMMIT;\n.quit\n');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// 'refused' once nothing listens on the port, else 'open'.
function probe(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve('open'); });
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
  });
}

// Sends one request on a fresh connection and collects the answer. The
// returned promise resolves once the server has answered and closed.
function inflight(port, method, target, { sent } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => {
      // keep-alive on purpose: the shutdown must close it after the answer
      s.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);
      sent?.();
    });
    s.on('data', (d) => { buf += d.toString('latin1'); });
    s.on('close', () => resolve(buf));
    s.on('error', () => {});
  });
}

// Records how each socket was closed.
function watchClose(ws) {
  ws.closeInfo = null;
  ws.once('close', (code, reason) => { ws.closeInfo = { code, reason: reason.toString() }; });
  return ws;
}

function exitTimer(h) {
  let t0 = 0;
  return {
    signal(sig) { t0 = performance.now(); h.proc.kill(sig); },
    async exit() {
      const r = await Promise.race([h.exited, sleep(EXIT_WITHIN_MS + 3000).then(() => null)]);
      assert.ok(r, `duro did not exit within ${EXIT_WITHIN_MS + 3000} ms of the signal:\n${h.log}`);
      return { ...r, ms: performance.now() - t0 };
    },
  };
}

async function stopAndClean(h) {
  try { await h.stop(); } finally { h.cleanup(); }
}

// Asserts that CountdownTimer(name)'s start is stored: active, a count
// (10, or a little less if a tick ran before the signal) and its alarm.
function assertStarted(dir, name) {
  const kv = Object.fromEntries(sql(dir, `SELECT CAST(k.key AS TEXT), CAST(k.value AS TEXT) FROM kv k JOIN objects o ON o.id = k.object_id WHERE o.namespace = 'COUNTDOWN_TIMER' AND o.name = '${name}'`));
  const alarms = Number(sql(dir, `SELECT count(*) FROM alarms a JOIN objects o ON o.id = a.object_id WHERE o.name = '${name}'`)[0][0]);
  assert.equal(kv.active, 'true', `${name}: ${JSON.stringify(kv)}`);
  assert.ok(Number(kv.countdown) >= 5 && Number(kv.countdown) <= 10, `${name}: ${JSON.stringify(kv)}`);
  assert.equal(alarms, 1, `${name}: its alarm`);
}

async function drainsOn(sig) {
  const h = await startDuro();
  let lock = null;
  try {
    const before = await fetch(`${h.url}/_objects/COUNTDOWN_TIMER/before/start`, { method: 'POST' });
    assert.equal(before.status, 200);
    await before.text();
    const sockets = [
      await openWs(`${h.ws}/ws/connect`),
      await openWs(`${h.ws}/ws/connect`),
      await openWs(`${h.ws}/api/rooms/shutdown/websocket`),
    ].map(watchClose);
    const sync = await RawSync.open(syncUrl(h.ws, 'shutdown-store'));
    watchClose(sync.ws);
    sockets.push(sync.ws);

    lock = await holdWriteLock(h.dir);
    const answer = inflight(h.port, 'POST', '/_objects/COUNTDOWN_TIMER/inflight/start');
    // The object ran and its commit waits for the lock: no answer yet.
    await sleep(300);
    assert.equal(h.proc.exitCode, null);

    const timer = exitTimer(h);
    timer.signal(sig);
    await waitFor(async () => (await probe(h.port)) === 'refused', 3000, 'the port to stop accepting');
    await waitFor(() => sockets.every((w) => w.closeInfo), 3000, 'every WebSocket closed');
    for (const w of sockets) assert.deepEqual(w.closeInfo, { code: 1001, reason: 'going away' });
    assert.equal(h.proc.exitCode, null, 'still waiting for the answer in flight');

    await lock.release();
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 200 /, `the request in flight is answered: ${JSON.stringify(text)}`);
    assert.match(text, /\r\nConnection: close\r\n/i);
    assert.match(text, /Countdown started/);
    const r = await timer.exit();
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, h.log);
    assert.ok(r.ms < EXIT_WITHIN_MS, `exited ${Math.round(r.ms)} ms after ${sig}`);
    assert.match(h.log, new RegExp(`${sig}: shutting down`));

    // Both writes are in SQLite, alarms included (they fire after a restart).
    for (const name of ['before', 'inflight']) assertStarted(h.dir, name);
    await h.stop(); // sanitizer check
  } finally {
    await lock?.release();
    if (h.proc.exitCode === null) h.proc.kill('SIGKILL');
    h.cleanup();
  }
}

test('backend, SIGTERM: stops accepting, 1001 to every socket, answers the request in flight, exits 0', () => drainsOn('SIGTERM'));
test('backend, SIGINT: the same', () => drainsOn('SIGINT'));

// A raw WebSocket client that completes the upgrade, then never answers
// the close handshake (nor anything else).
function deafSocket(port, target) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
    s.on('data', (d) => { buf += d.toString('latin1'); if (/^HTTP\/1\.1 101 /.test(buf) && buf.includes('\r\n\r\n')) resolve(s); });
    s.on('error', reject);
    setTimeout(() => reject(new Error(`no 101: ${buf}`)), 3000);
  });
}

test('a client that never completes the close handshake delays the exit at most to the 5 s bound', async () => {
  const h = await startDuro();
  try {
    const deaf = await deafSocket(h.port, '/ws/connect');
    const polite = watchClose(await openWs(`${h.ws}/ws/connect`));
    const timer = exitTimer(h);
    timer.signal('SIGTERM');
    await waitFor(() => polite.closeInfo, 3000, 'the polite socket closed');
    assert.deepEqual(polite.closeInfo, { code: 1001, reason: 'going away' });
    const r = await timer.exit();
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, h.log);
    assert.ok(r.ms < EXIT_WITHIN_MS, `exited ${Math.round(r.ms)} ms after SIGTERM`);
    assert.ok(r.ms > 1000, `the deaf socket was waited for (${Math.round(r.ms)} ms)`);
    assert.match(h.log, /grace period over/);
    deaf.destroy();
    await h.stop();
  } finally { h.cleanup(); }
});

for (const [first, second] of [['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGTERM']]) {
  test(`a second signal during shutdown exits at once (${first}, then ${second}): status 1`, async () => {
    const h = await startDuro();
    try {
      const deaf = await deafSocket(h.port, '/ws/connect');
      const timer = exitTimer(h);
      timer.signal(first);
      // busy: the deaf socket keeps the shutdown waiting for seconds
      await waitFor(async () => (await probe(h.port)) === 'refused', 3000, 'shutdown started');
      await sleep(200);
      assert.equal(h.proc.exitCode, null, 'still shutting down');
      const t1 = performance.now();
      h.proc.kill(second);
      const r = await timer.exit();
      const ms = performance.now() - t1;
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 1, signal: null }, h.log);
      // at once: not after the grace period (which would also exit 0)
      assert.ok(ms < 1500, `exited ${Math.round(ms)} ms after the second signal`);
      assert.match(h.log, /second signal: exiting now/);
      deaf.destroy();
    } finally {
      if (h.proc.exitCode === null) h.proc.kill('SIGKILL');
      h.cleanup();
    }
  });
}

// GET the page to get a session cookie.

test('dev role, SIGTERM: direct and forwarded sockets get 1001, both ports close, requests in flight on both are answered', async () => {
  const h = await startDuro({ role: 'dev' });
  let lock = null;
  try {
    const cookie = await sessionCookie(h.frontendUrl);
    const sockets = [
      await openWs(`ws://127.0.0.1:${h.backendPort}/ws/connect`),
      await openWs(`ws://127.0.0.1:${h.frontendPort}/api/ws/connect`, { headers: { Cookie: cookie } }),
      await openWs(`ws://127.0.0.1:${h.frontendPort}/api/ws/connect`, { headers: { Cookie: cookie } }),
    ].map(watchClose);
    lock = await holdWriteLock(h.dir);
    const viaBackend = inflight(h.backendPort, 'POST', '/_objects/COUNTDOWN_TIMER/dev/start');
    const viaFrontend = inflight(h.frontendPort, 'POST', '/?/countdown');
    await sleep(300);
    const timer = exitTimer(h);
    timer.signal('SIGTERM');
    await waitFor(async () => (await probe(h.backendPort)) === 'refused' && (await probe(h.frontendPort)) === 'refused',
      3000, 'both ports to stop accepting');
    await waitFor(() => sockets.every((w) => w.closeInfo), 3000, 'every WebSocket closed');
    for (const w of sockets) assert.equal(w.closeInfo.code, 1001, JSON.stringify(w.closeInfo));
    assert.equal(sockets[0].closeInfo.reason, 'going away');
    await lock.release();
    const [a, b] = await Promise.all([viaBackend, viaFrontend]);
    assert.match(a, /^HTTP\/1\.1 200 [^]*Countdown started/, `backend: ${JSON.stringify(a)}`);
    assert.match(b, /^HTTP\/1\.1 303 /, `frontend: ${JSON.stringify(b)}`);
    const r = await timer.exit();
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, h.log);
    assert.ok(r.ms < EXIT_WITHIN_MS, `exited ${Math.round(r.ms)} ms after SIGTERM`);
    for (const name of ['dev', 'global']) assertStarted(h.dir, name);
    await h.stop();
  } finally {
    await lock?.release();
    if (h.proc.exitCode === null) h.proc.kill('SIGKILL');
    h.cleanup();
  }
});

test('frontend role, SIGTERM: stops accepting, answers the request in flight, 1001 to forwarded sockets, exits 0; the backend is unharmed', async () => {
  const backend = await startDuro();
  const h = await startDuro({ role: 'frontend', args: ['--backend', backend.url] });
  let lock = null;
  try {
    const cookie = await sessionCookie(h.url);
    const sockets = [
      await openWs(`${h.ws}/api/ws/connect`, { headers: { Cookie: cookie } }),
      await openWs(`${h.ws}/api/ws/connect`, { headers: { Cookie: cookie } }),
    ].map(watchClose);
    // Frames of each length encoding pass first: the frontend must still
    // know where one ends to put its close frame after it.
    const bodies = [1, 300, 70000].map((n) => JSON.stringify({ pad: 'x'.repeat(n) }));
    for (const body of bodies) {
      const r = await fetch(`${backend.url}/broadcast`, { method: 'POST', body });
      assert.equal(r.status, 200);
      await r.text();
    }
    await waitFor(() => sockets.every((w) => bodies.every((b) => w.messages.includes(b))), 5000, 'the broadcasts through the frontend');
    lock = await holdWriteLock(backend.dir);
    const answer = inflight(h.port, 'POST', '/?/countdown');
    await sleep(300);
    const timer = exitTimer(h);
    timer.signal('SIGTERM');
    await waitFor(async () => (await probe(h.port)) === 'refused', 3000, 'the port to stop accepting');
    await sleep(100);
    assert.equal(h.proc.exitCode, null, 'still waiting for the answer in flight');
    await lock.release();
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 303 /, `the request in flight is answered: ${JSON.stringify(text)}`);
    assert.match(text, /\r\nConnection: close\r\n/i);
    const r = await timer.exit();
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, h.log);
    assert.ok(r.ms < EXIT_WITHIN_MS, `exited ${Math.round(r.ms)} ms after SIGTERM`);
    // The frontend puts its own close frame between the backend's frames.
    await waitFor(() => sockets.every((w) => w.closeInfo), 3000, 'every forwarded socket closed');
    for (const w of sockets) assert.deepEqual(w.closeInfo, { code: 1001, reason: 'going away' });
    assert.equal(backend.proc.exitCode, null);
    const res = await fetch(`${backend.url}/`);
    assert.equal(res.status, 200);
    await res.text();
    assertStarted(backend.dir, 'global');
    await h.stop();
  } finally {
    await lock?.release();
    if (h.proc.exitCode === null) h.proc.kill('SIGKILL');
    h.cleanup();
    await stopAndClean(backend);
  }
});
