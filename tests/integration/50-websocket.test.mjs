// RFC 6455 over raw sockets against /ws/connect (MessageCoordinator:
// a message from a client goes to every socket, the sender included,
// which serves as the echo).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startDuro, rawRequest, openWs, waitFor, closed } from './lib/duro.mjs';
import { stopClean, wrap, acceptFor, frame, closePayload, parseFrames, rawWs } from './lib/wire.mjs';

// Sends a bad frame and expects a close frame with `code`, then TCP close.
async function expectProtocolClose(port, bytes, code) {
  const c = await rawWs(port);
  try {
    c.s.write(bytes);
    await waitFor(() => c.ended, 3000, `TCP close after a frame that earns ${code}`);
    const cl = c.close();
    assert.ok(cl, `a close frame arrives (frames: ${JSON.stringify(c.frames.map((f) => f.opcode))})`);
    assert.equal(cl.code, code);
    // nothing was echoed from the bad frame
    assert.equal(c.data().length, 0);
  } finally { c.destroy(); }
}

describe('WebSocket protocol', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: '{"duro": {"ws_max_message_bytes": 4096}}' }); });
  after(async () => { await stopClean(h); });

  test('handshake: Sec-WebSocket-Accept for the RFC key', it(async () => {
    const r = await rawRequest(h.port,
      'GET /ws/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      { until: (t) => t.includes('\r\n\r\n') });
    assert.match(r.text, /^HTTP\/1\.1 101 /);
    assert.match(r.text, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.match(r.text, /\r\nUpgrade: websocket\r\n/i);
    assert.match(r.text, /\r\nConnection: Upgrade\r\n/i);
    // and a random key (checked inside rawWs)
    const c = await rawWs(h.port);
    c.destroy();
  }));

  test('handshake: version 8 is 426 with Sec-WebSocket-Version: 13', it(async () => {
    const r = await rawRequest(h.port,
      'GET /ws/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 426 /);
    assert.match(r.text, /\r\nSec-WebSocket-Version: 13\r\n/i);
  }));

  test('handshake: missing key is 400', it(async () => {
    const r = await rawRequest(h.port,
      'GET /ws/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 13\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 400 /);
    const bad = await rawRequest(h.port,
      'GET /ws/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n');
    assert.match(bad.text, /^HTTP\/1\.1 400 /);
  }));

  test('text and binary messages are echoed', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(1, 'héllo wörld');
      await waitFor(() => c.data().length >= 1, 3000, 'text echo');
      const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      c.send(2, bin);
      const big = Buffer.alloc(3000, 'x'); // 16-bit length
      c.send(1, big);
      await waitFor(() => c.data().length >= 3, 3000, 'binary echo');
      const [t, b, l] = c.data();
      assert.equal(t.opcode, 1);
      assert.equal(t.fin, true);
      assert.equal(t.masked, false, 'server frames are not masked');
      assert.equal(t.payload.toString(), 'héllo wörld');
      assert.equal(b.opcode, 2);
      assert.deepEqual(b.payload, bin);
      assert.equal(l.payload.length, 3000);
    } finally { c.destroy(); }
  }));

  test('a message fragmented into 3 frames with a ping between arrives whole', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(1, 'Hel', { fin: false });
      c.send(9, 'mid');
      c.send(0, 'lo, ', { fin: false });
      c.send(0, 'world');
      await waitFor(() => c.data().length >= 1, 3000, 'reassembled message');
      const pong = c.frames.find((f) => f.opcode === 10);
      assert.ok(pong, 'ping between fragments is answered');
      assert.equal(pong.payload.toString(), 'mid');
      const [m] = c.data();
      assert.equal(m.opcode, 1);
      assert.equal(m.fin, true);
      assert.equal(m.payload.toString(), 'Hello, world');
      // fragmented binary, split inside a UTF-8 sequence for text
      const euro = Buffer.from('€'); // 3 bytes
      c.send(1, euro.subarray(0, 1), { fin: false });
      c.send(0, euro.subarray(1, 2), { fin: false });
      c.send(0, euro.subarray(2));
      await waitFor(() => c.data().length >= 2, 3000, 'split UTF-8 message');
      assert.equal(c.data()[1].payload.toString(), '€');
    } finally { c.destroy(); }
  }));

  test('ping is answered by a pong with the same payload', it(async () => {
    const c = await rawWs(h.port);
    try {
      // One ping at a time: pings that arrive in one burst may be answered
      // by a single pong for the latest (RFC 6455 5.5.3), so each waits.
      const pongs = () => c.frames.filter((f) => f.opcode === 10);
      c.send(9, 'abc123');
      await waitFor(() => pongs().length >= 1, 3000, 'pong 1');
      c.send(9, Buffer.alloc(125, 7));
      await waitFor(() => pongs().length >= 2, 3000, 'pong 2');
      c.send(9);
      await waitFor(() => pongs().length >= 3, 3000, 'pong 3');
      const [p1, p2, p3] = pongs();
      assert.equal(p1.payload.toString(), 'abc123');
      assert.deepEqual(p2.payload, Buffer.alloc(125, 7));
      assert.equal(p3.payload.length, 0);
      assert.equal(c.ended, false);
    } finally { c.destroy(); }
  }));

  test('a burst of pings is answered, the last pong carrying the last ping', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(9, 'first');
      c.send(9, 'second');
      c.send(9, 'third');
      const pongs = () => c.frames.filter((f) => f.opcode === 10);
      await waitFor(() => pongs().some((f) => f.payload.toString() === 'third'), 3000, 'pong for the last ping');
      const n = pongs().length;
      assert.ok(n >= 1 && n <= 3, `${n} pongs for 3 pings`);
      assert.equal(pongs()[n - 1].payload.toString(), 'third');
      assert.equal(c.ended, false);
    } finally { c.destroy(); }
  }));

  test('close 4000 is answered with close 4000 and the TCP connection closes', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(8, closePayload(4000, 'done'));
      await waitFor(() => c.ended, 3000, 'TCP close');
      const cl = c.close();
      assert.ok(cl, 'close frame');
      assert.equal(cl.code, 4000);
    } finally { c.destroy(); }
  }));

  test('an empty close is answered and the TCP connection closes', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(8);
      await waitFor(() => c.ended, 3000, 'TCP close');
      assert.ok(c.close(), 'close frame');
      assert.ok(c.close().payload.length === 0 || c.close().code === 1000);
    } finally { c.destroy(); }
  }));

  test('unmasked client frame: close 1002', it(() =>
    expectProtocolClose(h.port, frame(1, 'hi', { mask: false }), 1002)));
  test('RSV bit set: close 1002', it(() =>
    expectProtocolClose(h.port, frame(1, 'hi', { rsv: 4 }), 1002)));
  test('unknown opcode: close 1002', it(() =>
    expectProtocolClose(h.port, frame(3, 'hi'), 1002)));
  test('invalid UTF-8 text: close 1007', it(() =>
    expectProtocolClose(h.port, frame(1, Buffer.from([0x68, 0xc0, 0xaf, 0xff])), 1007)));
  test('invalid UTF-8 across fragments: close 1007', it(() =>
    expectProtocolClose(h.port, Buffer.concat([frame(1, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x41]))]), 1007)));
  test('a message over ws_max_message_bytes: close 1009', it(() =>
    expectProtocolClose(h.port, frame(2, Buffer.alloc(5000)), 1009)));
  test('a fragmented message over ws_max_message_bytes: close 1009', it(() =>
    expectProtocolClose(h.port, Buffer.concat([frame(2, Buffer.alloc(3000), { fin: false }), frame(0, Buffer.alloc(3000))]), 1009)));
  test('ping payload of 126 bytes: close 1002', it(() =>
    expectProtocolClose(h.port, frame(9, Buffer.alloc(126)), 1002)));
  test('fragmented control frame: close 1002', it(() =>
    expectProtocolClose(h.port, frame(9, 'x', { fin: false }), 1002)));
  test('continuation without a start: close 1002', it(() =>
    expectProtocolClose(h.port, frame(0, 'x'), 1002)));
  test('a new message inside a fragmented one: close 1002', it(() =>
    expectProtocolClose(h.port, Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]), 1002)));
  test('close code 1005 on the wire: close 1002', it(() =>
    expectProtocolClose(h.port, frame(8, closePayload(1005)), 1002)));
  test('close code 999 on the wire: close 1002', it(() =>
    expectProtocolClose(h.port, frame(8, closePayload(999)), 1002)));
  test('close payload of 1 byte: close 1002', it(() =>
    expectProtocolClose(h.port, frame(8, Buffer.from([3])), 1002)));

  test('the server still works after all that', it(async () => {
    const c = await rawWs(h.port);
    try {
      c.send(1, 'still alive');
      await waitFor(() => c.data().length >= 1, 3000, 'echo');
      assert.equal(c.data()[0].payload.toString(), 'still alive');
    } finally { c.destroy(); }
  }));
});

describe('WebSocket keepalive', () => {
  let h;
  const it = wrap(() => h);
  before(async () => {
    h = await startDuro({ config: '{"duro": {"ws_ping_interval_ms": 1000, "ws_pong_timeout_ms": 1000}}' });
  });
  after(async () => { await stopClean(h); });

  test('a silent peer is pinged and dropped; an answering peer stays', it(async () => {
    const t0 = Date.now();
    const raw = await rawWs(h.port);
    const good = await openWs(h.ws + '/ws/connect');
    let pings = 0;
    good.on('ping', () => { pings++; });
    try {
      await waitFor(() => raw.frames.some((f) => f.opcode === 9), 3500, 'a ping to the silent client');
      const tPing = Date.now() - t0;
      assert.ok(tPing < 3500, `ping after ${tPing} ms`);
      await waitFor(() => raw.ended, 6500 - (Date.now() - t0), 'the silent client is disconnected');
      const tEnd = Date.now() - t0;
      assert.ok(tEnd < 6500, `dropped after ${tEnd} ms`);
      // The ws client answers its pings (ws does that by itself) and is
      // still here, now and over at least two more ping rounds.
      assert.equal(good.readyState, 1, `the answering client is still connected when the silent one is dropped (pings so far: ${pings}, close: ${good._closeCode})`);
      const target = pings + 2;
      await waitFor(() => pings >= target || good.readyState !== 1, 5000, 'further pings to the ws client');
      assert.equal(good.readyState, 1, `the answering client stays connected (close code ${good._closeCode})`);
      good.send('ping-pong ok');
      await waitFor(() => good.messages.includes('ping-pong ok'), 3000, 'echo on the kept socket');
    } finally {
      raw.destroy();
      good.terminate();
    }
  }));
});

describe('WebSocket slow reader', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: '{"duro": {"ws_send_queue_bytes": 65536}}' }); });
  after(async () => { await stopClean(h); });

  test('a reader that never reads is dropped; 50 readers get every message in order', it(async (t) => {
    const readers = [];
    let slow;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body) => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/broadcast', agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    try {
      // The non-reader stops reading right after the handshake.
      slow = await rawWs(h.port, '/ws/connect', { pause: true });
      for (let i = 0; i < 50; i++) {
        const w = await openWs(h.ws + '/ws/connect');
        // keep only the sequence numbers (the payloads add up to megabytes)
        w.removeAllListeners('message');
        w.seqs = [];
        w.on('message', (d) => { w.seqs.push(JSON.parse(d).seq); });
        readers.push(w);
      }
      // The kernel's socket buffers take a few MB before duro's own
      // 64 KiB queue fills; send 4 KB messages until duro drops the
      // non-reader (its log says so), then 100 more.
      const pad = 'p'.repeat(4000);
      const dropped = () => /slow/i.test(h.log);
      let n = 0, extra = 0;
      while (n < 4000 && extra < 100) {
        const r = await post(JSON.stringify({ seq: n++, pad }));
        assert.equal(r.status, 200, r.text);
        if (dropped()) extra++;
      }
      assert.ok(dropped(), `the server dropped the non-reader within ${n} messages:\n${h.log}`);
      await waitFor(() => readers.every((w) => w.seqs.length >= n), 20000, 'all readers get all messages');
      for (const [k, w] of readers.entries()) {
        assert.equal(w.seqs.length, n, `reader ${k}`);
        for (let i = 0; i < n; i++) if (w.seqs[i] !== i) assert.fail(`reader ${k}: message ${i} has seq ${w.seqs[i]}`);
        assert.equal(w.readyState, 1, `reader ${k} stays connected`);
      }
      // Once it reads, the non-reader finds fewer than n messages, then
      // (if it is there) a close 1008, then the end of the connection.
      slow.s.resume();
      await waitFor(() => slow.ended, 10000, 'the slow reader TCP connection closes');
      const got = slow.data().length;
      t.diagnostic(`sent ${n} messages; the non-reader got ${got}, close ${slow.close()?.code}`);
      assert.ok(got < n, `the slow reader got ${got} of ${n} messages`);
      const seqs = slow.data().map((f) => JSON.parse(f.payload).seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i), 'what it got is a prefix, in order');
      const cl = slow.close();
      if (cl) assert.equal(cl.code, 1008);
    } finally {
      agent.destroy();
      slow?.destroy();
      for (const w of readers) w.terminate();
    }
  }));
});
