// Raw-socket helpers shared by the suites that speak HTTP/1.1 and RFC 6455
// byte by byte: response and frame parsers, a raw WebSocket client, and
// the stop-and-check of a duro the suite started.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { waitFor } from './duro.mjs';

// Stops duro (SIGTERM), removes its directory, and fails if it did not
// exit cleanly or its log holds a sanitizer report (DURO_BIN=build/asan/duro).
export async function stopClean(...hs) {
  for (const h of hs) {
    if (!h) continue;
    try {
      const r = await h.stop(); // the harness checks for sanitizer reports too
      assert.doesNotMatch(h.log, /AddressSanitizer|LeakSanitizer|runtime error:|invalid pointer|double free/,
        `sanitizer report in duro's log:\n${h.log}`);
      assert.deepEqual(r, { code: 0, signal: null }, `duro did not exit cleanly on SIGTERM:\n${h.log}`);
    } finally {
      h.cleanup();
    }
  }
}

// Wraps a test body so that a failure prints the logs of the duros that
// getHs() returns (one handle or an array).
export function wrap(getHs) {
  return (fn) => async (t) => {
    try { await fn(t); } catch (e) {
      const hs = [getHs()].flat();
      for (const h of hs) if (h) t.diagnostic(`duro log (pid ${h.pid}):\n${h.log}`);
      throw e;
    }
  };
}

// Parses as many complete responses as buf holds. A response to HEAD has
// no body whatever its Content-Length says: pass heads = [true, ...].
export function parseAll(buf, heads = []) {
  const out = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (end < 0) break;
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]);
    assert.ok(m, `bad status line ${JSON.stringify(lines[0])}`);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const isHead = heads[out.length] === true;
    const len = isHead ? 0 : Number(headers['content-length'] ?? 0);
    if (end + 4 + len > buf.length) break;
    out.push({ status: Number(m[1]), statusLine: lines[0], headers, body: buf.subarray(end + 4, end + 4 + len).toString('utf8') });
    off = end + 4 + len;
  }
  return { responses: out, rest: buf.subarray(off) };
}

// An open socket that records what arrives and when it closes.
export function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.buf = Buffer.alloc(0);
    s.ended = false;
    s.on('data', (d) => { s.buf = Buffer.concat([s.buf, d]); });
    s.on('close', () => { s.ended = true; });
    s.on('error', () => {});
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const acceptFor = (key) => crypto.createHash('sha1').update(key + GUID).digest('base64');

// A client frame; masked unless mask is false.
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true } = {}) {
  payload = Buffer.from(payload);
  const n = payload.length;
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 255);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

export const closePayload = (code, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

// Parses frames from buf (a server's, or a client's masked ones, which are
// unmasked); returns {frames, rest}.
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off], b1 = buf[off + 1];
    let len = b1 & 127, p = off + 2;
    if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(p); p += 2; }
    else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(p)); p += 8; }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    let payload = buf.subarray(p, p + len);
    if (masked) payload = Buffer.from(payload.map((x, i) => x ^ key[i & 3]));
    const f = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 15, masked, payload };
    if (f.opcode === 8) {
      f.code = len >= 2 ? payload.readUInt16BE(0) : undefined;
      f.reason = len > 2 ? payload.subarray(2).toString() : '';
    }
    frames.push(f);
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

// A raw WebSocket client: handshake done, frames collected in c.frames.
// headers: extra request header lines.
export async function rawWs(port, path = '/ws/connect', { pause = false, headers = {} } = {}) {
  const key = crypto.randomBytes(16).toString('base64');
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  const c = { s, frames: [], ended: false, head: null, buf: Buffer.alloc(0), bytes: 0 };
  s.on('close', () => { c.ended = true; });
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  let extra = '';
  for (const [k, v] of Object.entries(headers)) extra += `${k}: ${v}\r\n`;
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  s.on('data', (d) => {
    c.bytes += d.length;
    c.buf = Buffer.concat([c.buf, d]);
    if (!c.head) {
      const i = c.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      c.head = c.buf.subarray(0, i).toString('latin1');
      c.buf = c.buf.subarray(i + 4);
    }
    const { frames, rest } = parseFrames(c.buf);
    c.frames.push(...frames);
    c.buf = rest;
  });
  await waitFor(() => c.head || c.ended, 3000, 'handshake answer');
  assert.match(c.head ?? '', /^HTTP\/1\.1 101 /, `handshake: ${c.head}`);
  assert.match(c.head, new RegExp(`\\r\\nsec-websocket-accept: ${acceptFor(key).replace(/[+/]/g, '\\$&')}(\\r|$)`, 'i'));
  if (pause) s.pause();
  c.send = (...a) => s.write(frame(...a));
  c.data = () => c.frames.filter((f) => f.opcode === 1 || f.opcode === 2);
  c.close = () => c.frames.find((f) => f.opcode === 8);
  c.destroy = () => s.destroy();
  return c;
}
