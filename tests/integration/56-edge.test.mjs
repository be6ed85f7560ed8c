// Regression tests for the faults found by attacking the network edge
// (docs/security.md, "Findings of the edge-safety pass"), one test or more
// each, over real sockets: the tunnel's parse of the backend's 101, long
// secrets, a ping flood against the send-queue bound, chunked framing,
// object names measured decoded, HTTP and handshake conformance, and the
// wrong answers. Each duro this suite starts must exit 0 with a clean
// sanitizer log (stopClean), so an over-read under ASan fails here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { startDuro, runDuro, rawRequest, openWs, waitFor, closed, sleep, sessionCookie } from './lib/duro.mjs';
import { stopClean, wrap, parseAll, acceptFor, frame, parseFrames, rawWs } from './lib/wire.mjs';

const ASAN = /\/asan\//.test(process.env.DURO_BIN || '');

// One request on its own connection; the responses parsed, and whether
// the server closed the connection after them.
async function exchange(port, bytes, { timeout = 3000 } = {}) {
  const r = await rawRequest(port, bytes, { timeout });
  const { responses, rest } = parseAll(r.buf);
  return { responses, rest, closed: r.why === 'end' || r.why === 'close', text: r.text };
}

// Reads /proc/<pid>/status field (kB).
function procKb(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// ---- 1. the tunnel parses the backend's 101 within its length --------------------

// A stand-in backend for a frontend: answers the page's TEST_DO call, and
// plays `scenario(socket, key, head)` for each upgrade the frontend opens.
async function fakeBackend(scenario, httpAnswer) {
  const seen = [];
  const srv = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', function onData(d) {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      seen.push(head);
      const key = /\r\nSec-WebSocket-Key: (\S+)/i.exec(head)?.[1];
      if (!key) {
        const body = '{"message":"from the fake backend"}';
        s.end(httpAnswer ?? `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      scenario(s, key, head, rest);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, seen, close: () => new Promise((r) => srv.close(r)) };
}

// Writes bytes one at a time (the frontend sees the head in many reads).
async function trickle(s, bytes) {
  for (const b of Buffer.from(bytes, 'latin1')) {
    if (s.destroyed) return;
    s.write(Buffer.from([b]));
    await sleep(1);
  }
}

describe('1. the frontend tunnel and the backend\'s upgrade answer', { timeout: 120000 }, () => {
  let fe, h;
  const it = wrap(() => [fe, h]);
  test('a 101 that arrives byte by byte, then frames both ways, relayed unchanged', it(async () => {
    let upstream;
    const fromBrowser = [];
    const fb = await fakeBackend(async (s, key) => {
      upstream = s;
      s.on('data', (d) => fromBrowser.push(d));
      await trickle(s, `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`);
      s.write(frame(1, 'hello from upstream', { mask: false }));
    });
    fe = await startDuro({ role: 'frontend', args: ['--backend', fb.url] });
    try {
      const cookie = await sessionCookie(fe.url);
      const ws = await openWs(`ws://127.0.0.1:${fe.port}/api/ws/connect`, { headers: { Cookie: cookie } });
      await waitFor(() => ws.messages.includes('hello from upstream'), 5000, 'the backend\'s frame');
      ws.send('hello from the browser');
      await waitFor(() => parseFrames(Buffer.concat(fromBrowser)).frames.some((f) => f.payload.toString() === 'hello from the browser'), 5000, 'the browser\'s frame upstream');
      const f = parseFrames(Buffer.concat(fromBrowser)).frames[0];
      assert.ok(f.masked, 'the browser\'s frame is relayed as the browser masked it');
      ws.close(1000);
      upstream.destroy();
    } finally {
      await stopClean(fe);
      await fb.close();
    }
  }));

  // Each answer is refused with a clear status; none may be parsed past
  // its end (the regression: sscanf and strcasestr on the unterminated
  // head read past the buffer).
  const ANSWERS = [
    ['a status line only, no terminator', (k) => 'HTTP/1.1 101', 'close', 502],
    ['garbage', () => 'x'.repeat(300) + '\r\n\r\n', 'keep', 502],
    ['no accept key', () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'keep', 502],
    ['a wrong accept key', () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n', 'keep', 502],
    ['two accept keys', (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(k)}\r\nSec-WebSocket-Accept: ${acceptFor(k)}\r\n\r\n`, 'keep', 502],
    ['bare LF line ends', (k) => `HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: ${acceptFor(k)}\n\n`, 'keep', 502],
    // (the browser offers permessage-deflate, which the tunnel passes on:
    // another extension in the answer is one nobody offered)
    ['an extension we did not offer', (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(k)}\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n`, 'keep', 502],
    ['two extension answers', (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(k)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`, 'keep', 502],
    ['a subprotocol we did not offer', (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(k)}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`, 'keep', 502],
    ['the accept key cut off at the end of the head', () => 'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept:\r\n\r\n', 'keep', 502],
    ['a refusal (403)', () => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n', 'keep', 403],
    ['a 200 instead of a 101', () => 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'keep', 502],
  ];
  for (const [name, answer, after, want] of ANSWERS) {
    test(`the backend answers ${name}: the browser gets ${want}`, it(async () => {
      const fb = await fakeBackend(async (s, key) => {
        await trickle(s, answer(key));
        if (after === 'close') s.end();
      });
      fe = await startDuro({ role: 'frontend', args: ['--backend', fb.url] });
      try {
        const cookie = await sessionCookie(fe.url);
        const e = await openWs(`ws://127.0.0.1:${fe.port}/api/ws/connect`, { headers: { Cookie: cookie } })
          .then((ws) => { ws.close(); return { status: 101 }; }, (err) => err);
        assert.equal(e.status, want, `${name}: ${e}`);
        if (/extension/.test(name)) {
          // and permessage-deflate when the browser did not offer it either
          const f2 = await openWs(`ws://127.0.0.1:${fe.port}/api/ws/connect`, { headers: { Cookie: cookie }, perMessageDeflate: false })
            .then((ws) => { ws.close(); return { status: 101 }; }, (err) => err);
          assert.equal(f2.status, 502);
        }
      } finally {
        await stopClean(fe);
        await fb.close();
      }
    }));
  }

  // Found by fuzz_http_client: http-parser takes 1 to 3 digits as a
  // status, so "000" was a success with status 0 and no error text.
  for (const [answer, shows] of [
    ['HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n', /malformed status line/],
    ['HTTP/1.1 2 OK\r\nContent-Length: 0\r\n\r\n', /malformed status line/],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n{"message":"after 100"}', /<h1 id="heading">after 100<\/h1>/],
  ]) {
    test(`the backend answers ${JSON.stringify(answer.split('\r\n')[0])} to the page's call`, it(async () => {
      const fb = await fakeBackend(() => {}, answer);
      fe = await startDuro({ role: 'frontend', args: ['--backend', fb.url] });
      try {
        const r = await fetch(fe.url + '/');
        assert.equal(r.status, 200);
        assert.match(await r.text(), shows);
      } finally {
        await stopClean(fe);
        await fb.close();
      }
    }));
  }

  test('30 upgrades at once, some sending a frame at once, some reset, three rounds (duro dev)', it(async () => {
    h = await startDuro({ role: 'dev' });
    try {
      const cookie = await sessionCookie(h.frontendUrl);
      for (let round = 0; round < 3; round++) {
        const socks = [];
        for (let i = 0; i < 30; i++) {
          const s = net.connect(h.frontendPort, '127.0.0.1');
          s.on('error', () => {});
          socks.push(new Promise((resolve) => {
            s.on('connect', () => {
              let req = `GET /api/ws/connect HTTP/1.1\r\nHost: 127.0.0.1:${h.frontendPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nCookie: ${cookie}\r\n\r\n`;
              let bytes = Buffer.from(req);
              if (i % 3 === 1) bytes = Buffer.concat([bytes, frame(1, `early ${i}`)]);
              s.write(bytes);
              if (i % 3 === 2) setTimeout(() => { s.resetAndDestroy(); resolve('reset'); }, i % 2);
              else {
                let buf = '';
                s.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\r\n\r\n')) { s.destroy(); resolve(buf.split('\r\n')[0]); } });
                s.on('close', () => resolve(buf.split('\r\n')[0] || 'closed'));
              }
            });
          }));
        }
        const got = await Promise.all(socks);
        const upgraded = got.filter((g) => /^HTTP\/1\.1 101 /.test(g)).length;
        assert.ok(upgraded >= 20, `most upgrades succeed in round ${round}: ${JSON.stringify(got)}`);
      }
      // still serving
      const ws = await openWs(`ws://127.0.0.1:${h.frontendPort}/api/ws/connect`, { headers: { Cookie: cookie } });
      ws.send('still here');
      await waitFor(() => ws.messages.includes('still here'), 5000, 'the echo after the storm');
      ws.close(1000);
      await closed(ws);
    } finally { await stopClean(h); }
  }));
});

// ---- 2 and 4. secrets of any length up to the documented maximum ------------------------

describe('2, 4. DURO_INTERNAL_SECRET of 400 and 1024 bytes; over 1024 or with a space refused', { timeout: 60000 }, () => {
  let be, fe;
  const it = wrap(() => [be, fe]);
  for (const len of [400, 1024]) {
    test(`a ${len}-byte secret: the page and the tunnel work`, it(async () => {
      const secret = 's'.repeat(len - 4) + 'a1B2';
      be = await startDuro({ env: { DURO_INTERNAL_SECRET: secret } });
      fe = await startDuro({ role: 'frontend', args: ['--backend', be.url], env: { DURO_INTERNAL_SECRET: secret } });
      try {
        const page = await (await fetch(fe.url + '/')).text();
        assert.match(page, /Hello from a Durable Object/, 'the heading came from TEST_DO with the long secret');
        // the backend takes exactly this secret, and refuses one byte off
        const ok = await fetch(`${be.url}/_objects/TEST_DO/global/`, { headers: { Authorization: `Bearer ${secret}` } });
        assert.equal(ok.status, 200);
        await ok.text();
        const off = await fetch(`${be.url}/_objects/TEST_DO/global/`, { headers: { Authorization: `Bearer ${secret.slice(0, -1)}x` } });
        assert.equal(off.status, 401);
        await off.text();
        const longer = await fetch(`${be.url}/_objects/TEST_DO/global/`, { headers: { Authorization: `Bearer ${secret}x` } });
        assert.equal(longer.status, 401);
        await longer.text();
        const cookie = await sessionCookie(fe.url);
        const ws = await openWs(`ws://127.0.0.1:${fe.port}/api/ws/connect`, { headers: { Cookie: cookie } });
        ws.send('through the tunnel');
        await waitFor(() => ws.messages.includes('through the tunnel'), 5000, 'the echo');
        ws.close(1000);
        await closed(ws);
      } finally { await stopClean(fe, be); }
    }));
  }
  for (const [name, secret, why] of [
    ['1025 bytes', 'x'.repeat(1025), /DURO_INTERNAL_SECRET must be 1 to 1024 bytes long \(it is 1025\)/],
    ['a space', 'two words', /DURO_INTERNAL_SECRET may hold only visible ASCII/],
    ['a newline', 'line\nbreak', /DURO_INTERNAL_SECRET may hold only visible ASCII/],
  ]) {
    for (const role of ['backend', 'frontend']) {
      test(`a secret with ${name}: the ${role} refuses to start, naming the variable`, async () => {
        const args = role === 'frontend' ? ['frontend', '--backend', 'http://127.0.0.1:9', '--port', '0'] : ['backend', '--port', '0'];
        const r = await runDuro([...args, '--mode', 'test'], { env: { DURO_INTERNAL_SECRET: secret } });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, why);
      });
    }
  }
});

// ---- 3. a ping flood costs constant memory -----------------------------------------------

describe('3. a ping flood from a socket that never reads', { timeout: 180000 }, () => {
  let h;
  const it = wrap(() => h);
  // ASan's quarantine would hold every freed block: keep it small, so the
  // high-water mark measures duro, not the sanitizer.
  before(async () => { h = await startDuro({ env: { ASAN_OPTIONS: 'quarantine_size_mb=8:detect_leaks=1' } }); });
  after(async () => { await stopClean(h); });

  test('8 million empty pings: memory stays bounded, one pong answers the latest', it(async () => {
    const c = await rawWs(h.port, '/ws/connect', { pause: true });
    try {
      await sleep(200);
      const hwm0 = procKb(h.pid, 'VmHWM');
      // 8 M masked empty pings (6 bytes each), written as the kernel takes them
      const PINGS = ASAN ? 2_000_000 : 8_000_000;
      const block = Buffer.concat(Array.from({ length: 100_000 }, () => frame(9)));
      for (let sent = 0; sent < PINGS; sent += 100_000) {
        if (!c.s.write(block)) await new Promise((r) => c.s.once('drain', r));
        assert.ok(!c.ended, `duro closed the flooding socket after ${sent} pings`);
      }
      c.s.write(frame(9, 'the last ping'));
      // Now read: duro answers only the latest ping of a burst it could not
      // write yet, so far fewer pongs than pings come back, the last one
      // carrying the last ping's payload.
      c.s.resume();
      await waitFor(() => c.frames.some((f) => f.opcode === 10 && f.payload.toString() === 'the last ping'), 60000, 'the pong to the last ping');
      const hwm1 = procKb(h.pid, 'VmHWM');
      const pongs = c.frames.filter((f) => f.opcode === 10).length;
      assert.ok(!c.close(), 'no close: a ping flood is not over the send-queue bound');
      assert.ok(pongs < PINGS / 10, `${pongs} pongs for ${PINGS} pings`);
      // The old behaviour queued a chunk per pong: 82 MiB for 8 M pings.
      assert.ok(hwm1 - hwm0 < 16 * 1024, `peak RSS grew by ${hwm1 - hwm0} kB`);
      // the socket still works
      c.send(1, 'after the flood');
      await waitFor(() => c.data().some((f) => f.payload.toString() === 'after the flood'), 5000, 'the echo after the flood');
    } finally { c.destroy(); }
  }));
});

// ---- 5. chunked framing: every line ending is CR LF -------------------------------------------

describe('5. chunked bodies with loose line ends: one 400, then the connection closes', { timeout: 30000 }, () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro(); });
  after(async () => { await stopClean(h); });
  const head = 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
  const next = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const CASES = [
    ['the last chunk ended by a bare LF', '2\r\n{}\r\n0\r\n\n'],
    ['the last chunk ended by CR and another byte', '2\r\n{}\r\n0\r\n\rX'],
    ['a bare LF in a chunk extension', '2;ext\nX\r\n{}\r\n0\r\n\r\n'],
    ['a chunk-size line ended by a bare CR', '2\rX{}\r\n0\r\n\r\n'],
    ['a chunk-size line ended by a bare LF', '2\n{}\r\n0\r\n\r\n'],
    ['a trailer ended by a bare LF', '2\r\n{}\r\n0\r\nX-T: 1\n\r\n'],
    ['a trailer name with a space', '2\r\n{}\r\n0\r\nX T: 1\r\n\r\n'],
    ['a control byte in a chunk extension', '2;e=\x01\r\n{}\r\n0\r\n\r\n'],
    ['a chunk size of 17 hex digits', '00000000000000002\r\n{}\r\n0\r\n\r\n'],
  ];
  for (const [name, body] of CASES) {
    for (const split of [false, true]) {
      test(`${name}${split ? ' (one byte per write)' : ''}`, it(async () => {
        const bytes = Buffer.from(head + body + next, 'latin1');
        let r;
        if (!split) r = await exchange(h.port, bytes);
        else {
          const s = net.connect(h.port, '127.0.0.1');
          let buf = Buffer.alloc(0), ended = false;
          s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
          s.on('close', () => { ended = true; });
          s.on('error', () => {});
          await new Promise((res) => s.once('connect', res));
          for (const b of bytes) { if (ended) break; s.write(Buffer.from([b])); await sleep(0); }
          await waitFor(() => ended, 5000, 'the close');
          r = { ...parseAll(buf), closed: ended };
        }
        assert.equal(r.responses.length, 1, `one answer, nothing smuggled: ${JSON.stringify(r.responses)}`);
        assert.equal(r.responses[0].status, 400, r.responses[0].body);
        assert.ok(r.closed, 'the connection is closed after the 400');
      }));
    }
  }
  test('the control: well-formed chunked bodies with extensions and trailers, then a second request', it(async () => {
    const body = '2;name=value;x\r\n{}\r\n0\r\nX-Trailer: yes\r\n\r\n';
    const r = await exchange(h.port, head + body + 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
  }));
});

// ---- 6. object names: 1 to 512 bytes, decoded ------------------------------------------------

describe('6. object names are measured decoded', { timeout: 30000 }, () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro(); });
  after(async () => { await stopClean(h); });
  const get = async (name) => {
    const r = await fetch(`${h.url}/_objects/TEST_DO/${name}/`);
    return { status: r.status, body: await r.text() };
  };
  test('512 bytes decoded from %C3%A9 × 256 (1,536 on the wire) reach the object', it(async () => {
    assert.equal((await get('%C3%A9'.repeat(256))).status, 200);
  }));
  test('%2F × 171 (513 bytes on the wire, 171 decoded) reaches the object', it(async () => {
    assert.equal((await get('%2F'.repeat(171) + 'ab')).status, 200);
  }));
  test('513 bytes decoded are 400, however they are encoded', it(async () => {
    for (const n of ['%C3%A9'.repeat(256) + 'a', 'a'.repeat(513), '%41'.repeat(513), '%2F'.repeat(513)]) {
      const r = await get(n);
      assert.equal(r.status, 400, `${n.length} bytes on the wire`);
      assert.match(r.body, /1 to 512 bytes/);
    }
  }));
});

// ---- 7. HTTP conformance (RFC 9112, 9110) ---------------------------------------------------------

describe('7. HTTP conformance', { timeout: 30000 }, () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ role: 'dev' }); });
  after(async () => { await stopClean(h); });

  test('an HTTP/1.1 request without Host is 400; HTTP/1.0 without Host is served', it(async () => {
    const a = await exchange(h.backendPort, 'GET / HTTP/1.1\r\n\r\n');
    assert.equal(a.responses[0]?.status, 400);
    assert.match(a.responses[0].body, /Host/);
    const b = await exchange(h.backendPort, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(b.responses[0]?.status, 200);
  }));
  test('two Host lines are 400, equal or not; a malformed Host is 400', it(async () => {
    for (const hs of ['Host: a\r\nHost: a\r\n', 'Host: a\r\nHost: b\r\n', 'Host: a b\r\n', 'Host: a/b\r\n']) {
      const r = await exchange(h.backendPort, `GET / HTTP/1.1\r\n${hs}\r\n`);
      assert.equal(r.responses[0]?.status, 400, hs);
      assert.ok(r.closed);
    }
  }));
  test('CONNECT is refused (501), never a 2xx', it(async () => {
    for (const port of [h.backendPort, h.frontendPort]) {
      const r = await exchange(port, 'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n');
      assert.equal(r.responses[0]?.status, 501, r.text);
      assert.ok(r.closed);
    }
  }));
  test('an absolute-form target is routed by its path', it(async () => {
    const ws = await openWs(`ws://127.0.0.1:${h.backendPort}/ws/connect`);
    try {
      const body = '{"absolute":"form"}';
      const r = await exchange(h.backendPort,
        `POST http://127.0.0.1:${h.backendPort}/broadcast HTTP/1.1\r\nHost: 127.0.0.1:${h.backendPort}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      assert.equal(r.responses[0]?.status, 200);
      assert.equal(r.responses[0].body, 'Message sent');
      await waitFor(() => ws.messages.includes(body), 5000, 'the broadcast');
      const p = await exchange(h.frontendPort, `GET HTTP://127.0.0.1:${h.frontendPort}/de/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(p.responses[0]?.status, 200);
      assert.match(p.responses[0].body, /lang="de"/);
    } finally { ws.close(); }
  }));
  test('Transfer-Encoding with chunked not last is 400; another coding before it is 501', it(async () => {
    for (const [te, want] of [['chunked, identity', 400], ['chunked, chunked', 400], ['gzip', 400], [',chunked', 400], ['identity, chunked', 501], ['gzip, chunked', 501]]) {
      const r = await exchange(h.backendPort, `POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
      assert.equal(r.responses[0]?.status, want, te);
      assert.equal(r.responses.length, 1);
      assert.ok(r.closed);
    }
  }));
  test('204 and 304 carry no Content-Length', it(async () => {
    const app = await fetch(`${h.frontendUrl}/app.js`);
    await app.text();
    const etag = app.headers.get('etag');
    const r = await exchange(h.frontendPort, `GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.responses[0]?.status, 304);
    assert.equal(r.responses[0].headers['content-length'], undefined, r.text);
    // a 204: the LiveStore CORS preflight of the sync routes
    const p = await exchange(h.backendPort, 'OPTIONS /?storeId=s&transport=http HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\nConnection: close\r\n\r\n');
    assert.equal(p.responses[0]?.status, 204, p.text);
    assert.equal(p.responses[0].headers['content-length'], undefined, p.text);
  }));
  test('a header name with a space, a tab or another non-token byte is 400', it(async () => {
    for (const line of ['X Y: 1', 'X\tY: 1', 'X(Y): 1', 'X"Y": 1', ': no name']) {
      const r = await exchange(h.backendPort, `GET / HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 400, line);
      assert.ok(r.closed);
    }
    const ok = await exchange(h.backendPort, "GET / HTTP/1.1\r\nHost: x\r\nX-!#$%&'*+-.^_`|~: token chars\r\nConnection: close\r\n\r\n");
    assert.equal(ok.responses[0]?.status, 200, 'every tchar is allowed');
  }));
});

// ---- 8. the WebSocket handshake -----------------------------------------------------------------

describe('8. the WebSocket handshake', { timeout: 30000 }, () => {
  let h;
  const it = wrap(() => h);
  const SECRET = 'handshake-test-secret';
  before(async () => { h = await startDuro({ env: { DURO_INTERNAL_SECRET: SECRET } }); });
  after(async () => { await stopClean(h); });
  const upgrade = (path, { version = '1.1', extra = '', upgrade = 'websocket' } = {}) =>
    `GET ${path} HTTP/${version}\r\nHost: x\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
  const status = async (bytes) => {
    const r = await rawRequest(h.port, bytes, { until: (t) => t.includes('\r\n\r\n') });
    return Number(/^HTTP\/1\.1 (\d+)/.exec(r.text)?.[1]);
  };
  test('an HTTP/1.0 handshake is refused with 400', it(async () => {
    assert.equal(await status(upgrade('/ws/connect', { version: '1.0' })), 400);
    assert.equal(await status(upgrade('/api/rooms/r1/websocket', { version: '1.0' })), 400);
  }));
  test('Upgrade: websocket, h2c (a token list) upgrades on every route', it(async () => {
    const bearer = `Authorization: Bearer ${SECRET}\r\n`;
    assert.equal(await status(upgrade('/ws/connect', { upgrade: 'websocket, h2c' })), 101);
    assert.equal(await status(upgrade('/api/rooms/r1/websocket', { upgrade: 'h2c, WebSocket' })), 101);
    assert.equal(await status(upgrade('/_objects/MESSAGE_COORDINATOR/global/ws', { upgrade: 'websocket, h2c', extra: bearer })), 101);
    assert.equal(await status(upgrade('/ws/connect', { upgrade: 'h2c' })), 426);
  }));
  test('two Sec-WebSocket-Key (or Version) headers are 400', it(async () => {
    assert.equal(await status(upgrade('/ws/connect', { extra: 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' })), 400);
    assert.equal(await status(upgrade('/ws/connect', { extra: 'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n' })), 400);
    assert.equal(await status(upgrade('/ws/connect', { extra: 'Sec-WebSocket-Version: 13\r\n' })), 400);
  }));
  let fe;
  test('the frontend\'s /api/ws/connect accepts a token list too', wrap(() => fe)(async () => {
    fe = await startDuro({ role: 'frontend', args: ['--backend', h.url], env: { DURO_INTERNAL_SECRET: SECRET } });
    try {
      const cookie = await sessionCookie(fe.url);
      const r = await rawRequest(fe.port, upgrade('/api/ws/connect', { upgrade: 'websocket, h2c', extra: `Cookie: ${cookie}\r\n` }), { until: (t) => t.includes('\r\n\r\n') });
      assert.match(r.text, /^HTTP\/1\.1 101 /, r.text);
    } finally { await stopClean(fe); }
  }));
});

// ---- 9. the wrong answers -------------------------------------------------------------------------

describe('9. the right answers', { timeout: 30000 }, () => {
  const LOGIN = 'edge-login-secret-0123456789';
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ role: 'dev', env: { DURO_LOGIN_SECRET: LOGIN } }); });
  after(async () => { await stopClean(h); });
  test('/_objects/TEST_DO/ (no name) is 404, as docs/bindings.md says; an empty name is 400', it(async () => {
    const a = await fetch(`${h.url}/_objects/TEST_DO/`);
    assert.equal(a.status, 404);
    await a.text();
    const b = await fetch(`${h.url}/_objects/TEST_DO//x`);
    assert.equal(b.status, 400);
    await b.text();
  }));
  test('a JWT whose nbf is in the future is "not valid yet", not a bad signature', it(async () => {
    const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'u', nbf: now + 600, exp: now + 3600 })}`;
    const tok = `${data}.${createHmac('sha256', LOGIN).update(data).digest('base64url')}`;
    const r = await fetch(`${h.frontendUrl}/api/login`, { method: 'POST', headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(r.status, 401);
    assert.match(await r.text(), /not valid yet/);
  }));
  test('GET /de answers "308 Permanent Redirect"', it(async () => {
    const r = await exchange(h.frontendPort, 'GET /de HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.responses[0]?.statusLine, 'HTTP/1.1 308 Permanent Redirect');
    assert.equal(r.responses[0].headers.location, '/de/');
  }));
});
