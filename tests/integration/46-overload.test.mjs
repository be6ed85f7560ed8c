// Overload: per-client rate limits (429 for connections, close 1008 for
// messages, off in development and test unless configured, loopback
// exempt by default), slowloris and idle cut-offs, slow readers dropped
// with the server's memory bounded, and running out of file descriptors
// without spinning.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { closed, openWs, rawRequest, sessionCookie, sleep, startDuro, waitFor } from './lib/duro.mjs';

// Stops duro on the way out and shows its log when a test failed.
function wrap(get) {
  return (fn) => async (t) => {
    try { await fn(t); } catch (e) { e.message += `\n--- duro log ---\n${get()?.log ?? ''}`; throw e; }
  };
}
async function stopClean(h) { if (h) { await h.stop(); h.cleanup(); } }

const GET = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

// One sample of duro's /metrics (the admin listener is not metered by
// the rate limits, so it answers however many connections were refused).
async function metric(h, name) {
  const port = Number(/admin: inspector on http:\/\/[^:]+:(\d+)\//.exec(h.log)[1]);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}
const status = (text) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

// One request on a fresh connection: its status and text.
async function getOnce(port) {
  const r = await rawRequest(port, GET, { timeout: 5000 });
  return { status: status(r.text), text: r.text };
}

// ---- raw WebSocket clients -------------------------------------------------------------------

// Opens a WebSocket over a raw TCP socket and keeps every byte the server
// sends after the 101. pause: stop reading right after the handshake.
function rawWs(port, path, { pause = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let head = Buffer.alloc(0), upgraded = false;
    const c = { s, ended: false, bytes: 0, chunks };
    s.on('data', (d) => {
      if (upgraded) { chunks.push(d); c.bytes += d.length; return; }
      head = Buffer.concat([head, d]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      const text = head.subarray(0, i).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(text)) { s.destroy(); reject(new Error(`no upgrade: ${text}`)); return; }
      upgraded = true;
      if (pause) s.pause();
      const rest = head.subarray(i + 4);
      if (rest.length) { chunks.push(rest); c.bytes += rest.length; }
      resolve(c);
    });
    s.on('end', () => { c.ended = true; });
    s.on('close', () => { c.ended = true; });
    s.on('error', (e) => { c.ended = true; if (!upgraded) reject(e); });
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  });
}

// The frames in what a raw client received: [{opcode, payload}], in order
// (the server sends unmasked frames); a cut-off last frame is dropped.
function frames(c) {
  const buf = Buffer.concat(c.chunks);
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    let len = buf[i + 1] & 0x7f, off = i + 2;
    if (len === 126) { if (off + 2 > buf.length) break; len = buf.readUInt16BE(off); off += 2; }
    else if (len === 127) { if (off + 8 > buf.length) break; len = Number(buf.readBigUInt64BE(off)); off += 8; }
    if (off + len > buf.length) break;
    out.push({ opcode: buf[i] & 0x0f, payload: buf.subarray(off, off + len) });
    i = off + len;
  }
  return out;
}

// ---- /proc sampling ----------------------------------------------------------------------------

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
// utime + stime in clock ticks (fields 14 and 15; the name in field 2 may hold spaces).
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
const openFds = (pid) => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; } };

// ---- rate limits --------------------------------------------------------------------------------

// Low limits that a test can reach quickly. Loopback is limited here:
// the tests can only connect from 127.0.0.1.
const LOW = {
  rate_limit_loopback: 'limit',
  rate_limit_connections_per_s: 1, rate_limit_connections_burst: 5,
  rate_limit_messages_per_s: 5, rate_limit_messages_burst: 20,
};
const cfg = (duro) => JSON.stringify({ duro });

describe('per-client connection rate (rate_limit on, 5 at once then 1/s)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: cfg({ rate_limit: 'on', ...LOW }), args: ['--admin-port', '0'] }); });
  after(async () => { await stopClean(h); });

  test('over the burst: 429 with Retry-After and a reason, for HTTP and upgrades; then served again', it(async () => {
    for (let i = 0; i < 5; i++) assert.equal((await getOnce(h.port)).status, 200, `connection ${i + 1} of the burst`);
    // Five more at once: at most a token or two came back meanwhile.
    const more = await Promise.all([1, 2, 3, 4, 5].map(() => getOnce(h.port)));
    const refused = more.filter((x) => x.status === 429);
    assert.ok(refused.length >= 3, `statuses ${more.map((x) => x.status)}`);
    const r = refused[0];
    const retry = Number(/\r\nRetry-After: (\d+)\r\n/i.exec(r.text)?.[1]);
    assert.ok(retry >= 1 && retry <= 2, `Retry-After ${retry}`);
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.match(r.text, /\r\n\r\nRate limit: too many connections/);
    await assert.rejects(openWs(`${h.ws}/ws/connect`), (e) => e.status === 429 && /Rate limit/.test(e.body));
    assert.match(h.log, /rate limit: refusing connections/);
    assert.ok(await metric(h, 'duro_connections_refused_total{reason="rate"}') >= refused.length + 1,
      'the refusals counted; the admin listener answers while the public one refuses');
    // The bucket refills at 1/s: after Retry-After a connection is served.
    await sleep(retry * 1000 + 100);
    assert.equal((await getOnce(h.port)).status, 200, 'served again after Retry-After');
  }));
});

describe('per-client message rate (20 at once then 5/s, across sockets)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => {
    h = await startDuro({ config: cfg({ rate_limit: 'on', ...LOW, rate_limit_connections_burst: 100 }),
      args: ['--admin-port', '0'] });
  });
  after(async () => { await stopClean(h); });

  test('messages within the budget are relayed and nothing is closed', it(async () => {
    const a = await openWs(`${h.ws}/api/rooms/ok/websocket`);
    const b = await openWs(`${h.ws}/api/rooms/ok/websocket`);
    // 8 + 8 messages: within the burst of 20; all relayed, both open.
    for (let i = 0; i < 8; i++) { a.send(`a${i}`); b.send(`b${i}`); }
    await waitFor(() => b.messages.includes('a7') && a.messages.includes('b7'), 5000, 'relayed messages');
    assert.equal(a.readyState, 1);
    assert.equal(b.readyState, 1);
    a.terminate(); b.terminate();
  }));

  test('two sockets of one client share the budget: 12 + 12 at once closes one with 1008', it(async () => {
    // A fresh budget for this client: earlier tests spent some of it.
    await sleep(4000);
    const a = await openWs(`${h.ws}/api/rooms/rl/websocket`);
    const b = await openWs(`${h.ws}/api/rooms/rl/websocket`);
    const ca = closed(a), cb = closed(b);
    // Neither socket alone passes the burst of 20; together they do.
    for (let i = 0; i < 12; i++) { a.send(`a${i}`); b.send(`b${i}`); }
    const first = await Promise.race([ca, cb]);
    assert.equal(first.code, 1008);
    assert.equal(first.reason, 'rate limit exceeded');
    assert.match(h.log, /over the per-client message rate: closing with 1008/);
    // the other socket may pass the shared budget too before it is told
    const closes = await metric(h, 'duro_websocket_rate_limited_total');
    assert.ok(closes >= 1 && closes <= 2, `${closes} closes`);
    assert.equal(await metric(h, 'duro_connections_refused_total{reason="rate"}'), 0);
    a.terminate(); b.terminate();
  }));
});

describe('per-client message rate on sockets relayed by the frontend', () => {
  let backend, h;
  const it = wrap(() => h);
  before(async () => {
    backend = await startDuro();
    h = await startDuro({ role: 'frontend', args: ['--backend', backend.url],
      config: cfg({ rate_limit: 'on', ...LOW, rate_limit_connections_burst: 100 }) });
  });
  after(async () => { await stopClean(h); await stopClean(backend); });

  // The backend sees every relayed socket as the frontend (loopback,
  // exempt): the frontend must count the browser's messages itself.
  test('within the burst the relay stays open; past it the browser gets 1008', it(async () => {
    const cookie = await sessionCookie(h.url);
    const ws = await openWs(`${h.ws}/api/ws/connect`, { headers: { Cookie: cookie } });
    const done = closed(ws);
    for (let i = 0; i < 10; i++) ws.send(JSON.stringify({ type: 'ping', i }));
    await sleep(300);
    assert.equal(ws.readyState, 1, 'open after 10 messages (burst 20)');
    for (let i = 0; i < 20; i++) ws.send(JSON.stringify({ type: 'ping', i }));
    const c = await done;
    assert.equal(c.code, 1008);
    assert.equal(c.reason, 'rate limit exceeded');
  }));
});

// 15 connections and 60 messages at once, three times the LOW bursts:
// all served when nothing limits them.
async function assertNotLimited(h) {
  for (let i = 0; i < 15; i++) assert.equal((await getOnce(h.port)).status, 200, `connection ${i + 1}`);
  const ws = await openWs(`${h.ws}/ws/connect`);
  for (let i = 0; i < 60; i++) ws.send(JSON.stringify({ i }));
  await waitFor(() => ws.messages.length >= 60, 5000, 'all 60 echoed');
  assert.equal(ws.readyState, 1);
  ws.close();
}

describe('rate limits are off in development and test mode unless turned on', () => {
  for (const mode of ['development', 'test']) {
    test(`${mode}: rate_limit auto does not limit connections or messages`, async () => {
      const h = await startDuro({ mode, config: cfg(LOW) });
      try {
        assert.doesNotMatch(h.log, /rate limits:/);
        await assertNotLimited(h);
      } catch (e) { e.message += `\n--- duro log ---\n${h.log}`; throw e; } finally { await stopClean(h); }
    });
  }

  test('production: rate_limit auto is on', async () => {
    const h = await startDuro({
      mode: 'production', config: cfg(LOW),
      env: { DURO_INTERNAL_SECRET: 's3cret', DURO_SYNC_TOKEN: 'sync-token' },
    });
    try {
      assert.match(h.log, /rate limits: 1 connections\/s \(burst 5\)/);
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await getOnce(h.port)).status);
      assert.deepEqual(codes, [200, 200, 200, 200, 200]);
      const more = await Promise.all([1, 2, 3, 4, 5].map(() => getOnce(h.port)));
      assert.ok(more.some((x) => x.status === 429), `statuses ${more.map((x) => x.status)}`);
    } catch (e) { e.message += `\n--- duro log ---\n${h.log}`; throw e; } finally { await stopClean(h); }
  });

  test('loopback is exempt by default (a frontend on this host speaks for many users)', async () => {
    const { rate_limit_loopback, ...rest } = LOW; // eslint-disable-line no-unused-vars
    const h = await startDuro({ config: cfg({ rate_limit: 'on', ...rest }) });
    try {
      assert.match(h.log, /loopback exempt/);
      await assertNotLimited(h);
    } catch (e) { e.message += `\n--- duro log ---\n${h.log}`; throw e; } finally { await stopClean(h); }
  });
});

// ---- slowloris and idle connections ----------------------------------------------------------------

// Connects, waits delayMs, then sends text one byte a second until the
// server answers or closes; resolves {text, sent, ms} (ms from connect).
function dribble(port, text, { delayMs = 0, maxMs = 15000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let t0 = Date.now(), got = '', sent = 0, done = false, timer, delay;
    const finish = () => {
      if (done) return;
      done = true; clearInterval(timer); clearTimeout(delay); s.destroy();
      resolve({ text: got, sent, ms: Date.now() - t0 });
    };
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('end', finish); s.on('close', finish); s.on('error', finish);
    s.on('connect', () => {
      t0 = Date.now();
      const step = () => {
        if (done) return;
        if (Date.now() - t0 > maxMs) return finish();
        s.write(text[sent % text.length]);
        sent++;
      };
      delay = setTimeout(() => { step(); timer = setInterval(step, 1000); }, delayMs);
    });
  });
}
const SLOW_HEAD = 'GET / HTTP/1.1\r\nX-Slow: ' + 'a'.repeat(100);

describe('slowloris: header_timeout_ms 2000, idle_timeout_ms 2000', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: cfg({ header_timeout_ms: 2000, idle_timeout_ms: 2000 }) }); });
  after(async () => { await stopClean(h); });

  test('one header byte a second is cut off by the header timeout (not reset by each byte)', it(async () => {
    // A header line that never ends: without a whole-phase timeout this
    // client would hold the connection forever.
    const r = await dribble(h.port, SLOW_HEAD);
    assert.equal(status(r.text), 408, `after ${r.sent} bytes in ${r.ms} ms: ${JSON.stringify(r.text)}`);
    // 2 s, swept once a second: well before 6 bytes have gone out.
    assert.ok(r.sent <= 5 && r.ms < 5500, `cut off after ${r.sent} bytes, ${r.ms} ms`);
  }));

  test('a WebSocket handshake that never completes is cut off', it(async () => {
    const t0 = Date.now();
    const r = await rawRequest(h.port, `GET /ws/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n', { timeout: 10000 });
    const ms = Date.now() - t0;
    assert.notEqual(r.why, 'timeout', 'the server closed the connection');
    assert.equal(status(r.text), 408, r.text);
    assert.doesNotMatch(r.text, / 101 /);
    assert.ok(ms < 5000, `closed after ${ms} ms`);
  }));

  test('a connection that sends nothing is closed', it(async () => {
    const t0 = Date.now();
    const r = await rawRequest(h.port, undefined, { timeout: 10000 });
    assert.notEqual(r.why, 'timeout', 'the server closed the connection');
    assert.equal(r.text, '');
    assert.ok(Date.now() - t0 < 5000, `closed after ${Date.now() - t0} ms`);
  }));

  test('an idle keep-alive connection is closed after idle_timeout_ms', it(async () => {
    const t0 = Date.now();
    const r = await rawRequest(h.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeout: 10000 });
    const ms = Date.now() - t0;
    assert.equal(status(r.text), 200);
    assert.doesNotMatch(r.text, /Connection: close/i, 'kept alive');
    assert.notEqual(r.why, 'timeout', 'the server closed the idle connection');
    assert.ok(ms >= 900 && ms < 5000, `closed after ${ms} ms`);
  }));
});

describe('the header timeout runs from accept (header_timeout_ms 5000)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: cfg({ header_timeout_ms: 5000 }) }); });
  after(async () => { await stopClean(h); });

  test('a client silent for 4 s, then one byte a second, is cut off about 5 s after connecting', it(async () => {
    // Re-arming the timeout at the first byte would let this client stay
    // until about 9 s; swept once a second, the cut comes at 4 to 6 s.
    const r = await dribble(h.port, SLOW_HEAD, { delayMs: 4000 });
    assert.ok(r.ms < 7500, `cut off ${r.ms} ms after connecting, after ${r.sent} bytes`);
    assert.ok(r.text === '' || status(r.text) === 408, JSON.stringify(r.text));
  }));
});

// ---- slow readers ------------------------------------------------------------------------------------

describe('slow readers: 50 non-reading sockets while 100 MB are broadcast', () => {
  const QUEUE = 256 * 1024;
  let h;
  const it = wrap(() => h);
  before(async () => {
    h = await startDuro({
      config: cfg({ ws_send_queue_bytes: QUEUE }),
      // ASan keeps freed memory in a quarantine (256 MB by default), which
      // would count in RSS; keep it small so RSS measures what duro holds.
      env: { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':') },
    });
  });
  after(async () => { await stopClean(h); });

  test('every slow reader is dropped (close 1008), RSS stays bounded, the fast reader gets everything', it(async (t) => {
    const room = '/api/rooms/flood/websocket';
    const slow = [];
    let fast, sender;
    try {
      for (let i = 0; i < 50; i++) slow.push(await rawWs(h.port, room, { pause: true }));
      fast = await openWs(h.ws + room);
      sender = await openWs(h.ws + room);
      let got = 0, gotBytes = 0;
      fast.removeAllListeners('message');
      fast.on('message', (d) => { if (d.length === 65536) { got++; gotBytes += d.length; } });
      await sleep(200);
      const base = rssKiB(h.pid);
      let peak = base;
      const sampler = setInterval(() => { try { peak = Math.max(peak, rssKiB(h.pid)); } catch {} }, 20);
      // 1600 x 64 KiB = 100 MiB, paced by the fast reader (at most 3
      // messages ahead of it) so that it is never a slow reader itself.
      const N = 1600, WINDOW = 3;
      const msg = Buffer.alloc(65536, 7);
      const t0 = Date.now();
      // Slow reader 0 reads again as soon as duro has dropped all fifty,
      // well within duro's linger time, so it must find the close 1008.
      const drops = () => (h.log.match(/closing slow WebSocket reader/g) || []).length;
      let resumedAt = -1;
      try {
        for (let i = 0; i < N; i++) {
          if (resumedAt < 0 && drops() >= 50) { slow[0].s.resume(); resumedAt = i; }
          if (i - got >= WINDOW) await waitFor(() => i - got < WINDOW || fast.readyState !== 1, 30000, `fast reader at ${got}/${i}`);
          assert.equal(fast.readyState, 1, `the fast reader is open at message ${i}`);
          sender.send(msg);
        }
        await waitFor(() => got === N, 30000, `fast reader gets all ${N} (has ${got})`);
      } finally { clearInterval(sampler); }
      peak = Math.max(peak, rssKiB(h.pid));
      t.diagnostic(`100 MiB in ${Date.now() - t0} ms; RSS base ${base} KiB, peak ${peak} KiB (+${peak - base} KiB)`);
      assert.equal(gotBytes, N * 65536);
      assert.equal(fast.readyState, 1, 'the fast reader stays connected');
      assert.equal(sender.readyState, 1, 'the sender stays connected');
      // Each slow socket's queue holds at most QUEUE bytes, plus the
      // message that overflows it; the 64 KiB frames are shared, so 50
      // full queues cost about one queue's worth. 50 x (QUEUE + 64 KiB)
      // = 16 MB is the worst case if nothing were shared; the rest of the
      // allowance is allocator slack. Keeping every frame would be 100 MB.
      const bound = 50 * (QUEUE + 65536) / 1024 + 32 * 1024;
      assert.ok(peak - base < bound, `RSS grew by ${peak - base} KiB (bound ${bound} KiB)`);
      // The slow readers: each was closed (its queue dropped, a close 1008
      // queued behind what its kernel buffers held) and got far less than
      // was sent. The close frame reaches only a reader that reads again
      // before duro's linger deadline; the others read long after it.
      assert.equal(drops(), 50, 'fifty slow readers closed');
      assert.ok(resumedAt >= 0, 'all fifty were dropped while the broadcast ran');
      t.diagnostic(`all fifty dropped by message ${resumedAt} of ${N}`);
      for (const c of slow) c.s.resume();
      await waitFor(() => slow.every((c) => c.ended), 20000, 'every slow reader connection ends');
      let withClose = 0;
      for (const [k, c] of slow.entries()) {
        const fs = frames(c);
        const last = fs[fs.length - 1];
        if (last?.opcode === 8) {
          withClose++;
          assert.equal(last.payload.readUInt16BE(0), 1008, `slow reader ${k} close code`);
          assert.match(last.payload.subarray(2).toString(), /slow reader/);
        }
        assert.ok(c.bytes < N * 65536 / 4, `slow reader ${k} received ${c.bytes} bytes`);
      }
      t.diagnostic(`${withClose} of 50 slow readers found the close frame`);
      const last0 = frames(slow[0]).pop();
      assert.equal(last0?.opcode, 8, 'slow reader 0, reading again in time, gets a close frame');
      assert.equal(last0.payload.readUInt16BE(0), 1008);
      assert.equal(last0.payload.subarray(2).toString(), 'slow reader: send queue full');
    } finally {
      for (const c of slow) c.s.destroy();
      fast?.terminate();
      sender?.terminate();
    }
  }));
});

// ---- out of file descriptors ----------------------------------------------------------------------------

describe('file descriptor exhaustion (RLIMIT_NOFILE 64)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ nofile: 64 }); });
  after(async () => { await stopClean(h); });

  test('accept backs off without spinning, warns once, and serves again once descriptors are free', it(async (t) => {
    assert.equal((await getOnce(h.port)).status, 200);
    const fds0 = openFds(h.pid);
    const socks = [];
    try {
      // More connections than descriptors: the last ones wait in the
      // kernel's backlog.
      for (let i = 0; i < 100; i++) {
        const s = net.connect(h.port, '127.0.0.1');
        s.on('error', () => {});
        socks.push(s);
      }
      await waitFor(() => /accept: Too many open files/.test(h.log), 10000, 'the out-of-descriptors warning');
      const fds = openFds(h.pid);
      t.diagnostic(`descriptors: ${fds0} before, ${fds} while exhausted`);
      assert.ok(fds >= 60, `duro holds ${fds} descriptors`);
      // Exhausted: duro must idle, not spin on the readable listener.
      const c0 = cpuTicks(h.pid), w0 = Date.now();
      await sleep(2000);
      const c1 = cpuTicks(h.pid), w1 = Date.now();
      const share = (c1 - c0) / 100 / ((w1 - w0) / 1000);
      t.diagnostic(`CPU while exhausted: ${(share * 100).toFixed(1)}% of one core`);
      assert.ok(share < 0.3, `duro used ${(share * 100).toFixed(1)}% of a core while out of descriptors`);
      assert.equal((h.log.match(/accept: Too many open files/g) || []).length, 1, 'one warning, not a flood');
    } finally {
      for (const s of socks) s.destroy();
    }
    // Descriptors come back as the clients go: the backlog drains and new
    // requests are served.
    await waitFor(async () => (await getOnce(h.port)).status === 200, 15000, 'served again');
    await waitFor(() => /accept: accepting again/.test(h.log), 5000, 'the recovery log line');
  }));
});
