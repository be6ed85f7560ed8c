// permessage-deflate (RFC 7692): negotiated with the offers of `ws`,
// Chromium and Firefox; a broadcast compressed once reaches compressed
// and plain recipients byte-exact; small messages stay plain; compressed
// client messages are inflated and relayed; a deflate bomb closes with
// 1009 without growing the server; corrupt data closes with 1007; RSV1
// without the extension or on a continuation closes with 1002; and
// "ws_deflate": false turns it off. Raw sockets read the frames' RSV1 bit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import zlib from 'node:zlib';
import { closed, openWs, startDuro, waitFor } from './lib/duro.mjs';

const ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

// A raw client: the handshake (offering ext when given), then frames.
function rawWs(port, path, ext) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const c = { socket: s, frames: [], headers: null, closed: false };
    s.on('connect', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        (ext ? `Sec-WebSocket-Extensions: ${ext}\r\n` : '') + '\r\n');
    });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!c.headers) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) { reject(new Error(head)); s.destroy(); return; }
        c.headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
        }));
        buf = buf.subarray(end + 4);
        resolve(c);
      }
      for (;;) { // unmasked server frames
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        c.frames.push({ b0: buf[0], rsv1: (buf[0] & 0x40) !== 0, opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + len) });
        buf = buf.subarray(off + len);
      }
    });
    s.on('close', () => { c.closed = true; });
    s.on('error', () => {});
  });
}

// A masked client frame with first byte b0 (mask key zero: the payload as is).
function frame(b0, payload) {
  const p = Buffer.from(payload);
  const hdr = p.length < 126 ? Buffer.from([b0, 0x80 | p.length])
    : p.length < 65536 ? Buffer.from([b0, 0x80 | 126, p.length >> 8, p.length & 255])
      : Buffer.concat([Buffer.from([b0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(p.length)); return b; })()]);
  return Buffer.concat([hdr, Buffer.alloc(4), p]);
}

// One message as RFC 7692 puts it on the wire: a sync flush, its final
// 00 00 ff ff taken off (and put back to inflate).
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
const inflate = (payload) => zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), SYNC);
const deflate = (data) => { const z = zlib.deflateRawSync(data, SYNC); return z.subarray(0, z.length - 4); };
const closeCode = (c) => { const f = c.frames.find((x) => x.opcode === 8); return f ? f.payload.readUInt16BE(0) : null; };

describe('permessage-deflate', () => {
  let duro;
  before(async () => {
    duro = await startDuro({ config: JSON.stringify({ duro: { ws_max_message_bytes: 65536 } }), args: ['--admin-port', '0'] });
  });
  const deflated = async (direction) => {
    const port = Number(/admin: inspector on http:\/\/[^:]+:(\d+)\//.exec(duro.log)[1]);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Number(new RegExp(`duro_websocket_deflated_messages_total\\{direction="${direction}"\\} (\\d+)`).exec(text)[1]);
  };
  after(async () => { await duro.stop(); duro.cleanup(); });

  test('negotiated with the offers of ws, Chromium and Firefox; declined for a smaller server window', async () => {
    for (const offer of ['permessage-deflate; client_max_window_bits', 'permessage-deflate',
      'permessage-deflate; client_max_window_bits=15; server_no_context_takeover']) {
      const c = await rawWs(duro.port, '/ws/connect', offer);
      assert.equal(c.headers['sec-websocket-extensions'], ANSWER, offer);
      c.socket.destroy();
    }
    for (const offer of [null, 'permessage-deflate; server_max_window_bits=10', 'permessage-deflate; bogus']) {
      const c = await rawWs(duro.port, '/ws/connect', offer);
      assert.equal(c.headers['sec-websocket-extensions'], undefined, String(offer));
      c.socket.destroy();
    }
    const ws = await openWs(`${duro.ws}/ws/connect`);
    assert.match(ws.extensions, /permessage-deflate/);
    ws.close();
    await closed(ws);
  });

  test('a broadcast: compressed once, byte-exact for compressed and plain recipients; small ones stay plain', async () => {
    const z = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    const plain = await rawWs(duro.port, '/ws/connect', null);
    const wsz = await openWs(`${duro.ws}/ws/connect`);
    const wsp = await openWs(`${duro.ws}/ws/connect`, { perMessageDeflate: false });
    const out0 = await deflated('out');
    const big = { items: Array.from({ length: 60 }, (_, i) => ({ id: i, text: `message number ${i}` })) };
    const text = JSON.stringify(big);
    assert.ok(text.length > 2000);
    assert.equal((await fetch(`${duro.url}/broadcast`, { method: 'POST', body: text })).status, 200);
    assert.equal((await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"small":1}' })).status, 200);
    await waitFor(() => z.frames.length >= 2 && plain.frames.length >= 2 && wsz.messages.length >= 2 && wsp.messages.length >= 2,
      5000, 'every recipient');
    assert.ok(z.frames[0].rsv1, 'compressed for the socket that negotiated it');
    assert.ok(z.frames[0].payload.length < text.length / 3, `${z.frames[0].payload.length} bytes on the wire`);
    assert.equal(inflate(z.frames[0].payload).toString(), text);
    assert.ok(!plain.frames[0].rsv1);
    assert.equal(plain.frames[0].payload.toString(), text);
    assert.equal(wsz.messages[0], text);
    assert.equal(wsp.messages[0], text);
    // under ws_deflate_min_bytes (256): plain for everyone
    assert.ok(!z.frames[1].rsv1);
    assert.equal(z.frames[1].payload.toString(), '{"small":1}');
    assert.equal(await deflated('out') - out0, 2, 'the big broadcast, compressed for its two compressed recipients');
    for (const c of [z, plain]) c.socket.destroy();
    for (const w of [wsz, wsp]) { w.close(); await closed(w); }
  });

  test('compressed client messages are inflated and relayed; fragmented ones too', async () => {
    const in0 = await deflated('in');
    const sender = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    const plainReader = await openWs(`${duro.ws}/ws/connect`, { perMessageDeflate: false });
    const msg = 'x'.repeat(3000) + ' the end';
    sender.socket.write(frame(0x80 | 0x40 | 1, deflate(msg)));
    const z = deflate('fragmented ' + 'y'.repeat(500));
    sender.socket.write(frame(0x40 | 1, z.subarray(0, 5)));
    sender.socket.write(frame(0x80 | 0, z.subarray(5)));
    await waitFor(() => plainReader.messages.length >= 2, 5000, 'the relayed messages');
    assert.ok(await deflated('in') - in0 >= 2, 'the two compressed messages, inflated');
    assert.equal(plainReader.messages[0], msg);
    assert.equal(plainReader.messages[1], 'fragmented ' + 'y'.repeat(500));
    // and the ws client with deflate both ways
    const a = await openWs(`${duro.ws}/ws/connect`, { perMessageDeflate: { threshold: 0 } });
    a.send('z'.repeat(5000));
    await waitFor(() => a.messages.includes('z'.repeat(5000)), 5000, 'its own message back');
    sender.socket.destroy();
    for (const w of [plainReader, a]) { w.close(); await closed(w); }
  });

  test('a deflate bomb closes with 1009 and does not grow the server; corrupt data 1007', async () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${duro.pid}/status`, 'utf8'))[1]) * 1024;
    const bomb = deflate(Buffer.alloc(32 << 20)); // 32 MiB of zeros
    assert.ok(bomb.length < 40000, `${bomb.length} bytes`);
    const before = rss();
    const c = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    c.socket.write(frame(0x80 | 0x40 | 2, bomb));
    await waitFor(() => closeCode(c) !== null, 5000, 'the close');
    assert.equal(closeCode(c), 1009);
    assert.ok(rss() - before < 16 << 20, `RSS grew by ${rss() - before} bytes`);
    const d = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    d.socket.write(frame(0x80 | 0x40 | 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01])));
    await waitFor(() => closeCode(d) !== null, 5000, 'the close');
    assert.equal(closeCode(d), 1007);
    // text that inflates to invalid UTF-8: 1007 too
    const u = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    u.socket.write(frame(0x80 | 0x40 | 1, deflate(Buffer.from([0xc3, 0x28]))));
    await waitFor(() => closeCode(u) !== null, 5000, 'the close');
    assert.equal(closeCode(u), 1007);
    for (const x of [c, d, u]) x.socket.destroy();
  });

  test('RSV1 without the extension, or on a continuation, closes with 1002', async () => {
    const c = await rawWs(duro.port, '/ws/connect', null);
    c.socket.write(frame(0x80 | 0x40 | 1, deflate('hello')));
    await waitFor(() => closeCode(c) !== null, 5000, 'the close');
    assert.equal(closeCode(c), 1002);
    const d = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    d.socket.write(frame(0x01, 'a'));
    d.socket.write(frame(0x80 | 0x40 | 0, 'b'));
    await waitFor(() => closeCode(d) !== null, 5000, 'the close');
    assert.equal(closeCode(d), 1002);
    for (const x of [c, d]) x.socket.destroy();
  });
});

test('"ws_deflate": false: no extension is answered', async () => {
  const duro = await startDuro({ config: JSON.stringify({ duro: { ws_deflate: false } }) });
  try {
    const c = await rawWs(duro.port, '/ws/connect', 'permessage-deflate');
    assert.equal(c.headers['sec-websocket-extensions'], undefined);
    c.socket.destroy();
    const ws = await openWs(`${duro.ws}/ws/connect`);
    assert.equal(ws.extensions, '');
    ws.close();
    await closed(ws);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});
