// Security: a production pair (backend + frontend, every secret set) and
//  - the authorization matrix: every route of both roles × {valid
//    credentials (the positive control), none, wrong secret, expired token,
//    tampered token, foreign Origin}, one table, expected status per cell;
//  - path traversal and encoded-path tricks (nothing outside web/);
//  - request smuggling and malformed heads: one answer, then the
//    connection closes and the bytes after it are never a request;
//  - header injection through the one route that reflects a request
//    header (the sync CORS preflight); the object path is in
//    tests/unit/test_respond.c;
//  - malformed WebSocket frames through the production tunnel and on the
//    backend's bearer socket (the cells 50-websocket does not have).
// See docs/security.md for the threat model these cells encode.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startDuro, rawRequest, waitFor } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';

const SECRET = 'security-internal-secret-0123456789';
const SESSION_SECRET = 'security-session-secret-0123456789';
const LOGIN_SECRET = 'security-login-secret-0123456789';
const SYNC_SECRET = 'security-sync-secret-0123456789';
const EVIL = 'http://evil.example';

// ---- credentials --------------------------------------------------------------------

const now = () => Math.floor(Date.now() / 1000);
const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest('base64url');

// A session cookie value as duro signs it: v1.<exp>.<nonce>.<HMAC>.
function session(key, exp) {
  const data = `v1.${exp}.${randomBytes(12).toString('base64url')}`;
  return `duro_session=${data}.${hmac(key, data)}`;
}
function jwt(key, claims) {
  const data = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${data}.${hmac(key, data)}`;
}
// The same signature over other claims: an attacker's edit.
function tamperJwt(token, claims) {
  const [h, , s] = token.split('.');
  return `${h}.${b64url(claims)}.${s}`;
}

const validSession = () => session(SESSION_SECRET, now() + 3600);
const CREDS = {
  session: {
    valid: () => ({ Cookie: validSession() }),
    none: () => ({}),
    wrong: () => ({ Cookie: session('another-session-secret-abcdef', now() + 3600) }),
    expired: () => ({ Cookie: session(SESSION_SECRET, now() - 60) }),
    // the expiry pushed out by an attacker; the signature is the old one
    tampered: () => ({ Cookie: session(SESSION_SECRET, now() - 60).replace(/^duro_session=v1\.(\d+)\./, (m, e) => `duro_session=v1.${Number(e) + 7200}.`) }),
  },
  login: {
    valid: () => ({ Authorization: `Bearer ${jwt(LOGIN_SECRET, { sub: 'u', exp: now() + 60 })}` }),
    none: () => ({}),
    wrong: () => ({ Authorization: `Bearer ${jwt('another-login-secret-abcdef', { sub: 'u', exp: now() + 60 })}` }),
    expired: () => ({ Authorization: `Bearer ${jwt(LOGIN_SECRET, { sub: 'u', exp: now() - 60 })}` }),
    tampered: () => ({ Authorization: `Bearer ${tamperJwt(jwt(LOGIN_SECRET, { sub: 'u', exp: now() - 60 }), { sub: 'admin', exp: now() + 3600 })}` }),
  },
  bearer: {
    valid: () => ({ Authorization: `Bearer ${SECRET}` }),
    none: () => ({}),
    wrong: () => ({ Authorization: 'Bearer not-the-internal-secret-at-all' }),
    expired: null, // a static secret does not expire
    tampered: () => ({ Authorization: `Bearer ${SECRET.slice(0, -1)}${SECRET.endsWith('9') ? '8' : '9'}` }),
  },
  // LiveStore sync: the authToken in the payload query parameter
  sync: {
    valid: () => jwt(SYNC_SECRET, { exp: now() + 60 }),
    none: () => null,
    wrong: () => jwt('another-sync-secret-abcdef', { exp: now() + 60 }),
    expired: () => jwt(SYNC_SECRET, { exp: now() - 60 }),
    tampered: () => tamperJwt(jwt(SYNC_SECRET, { exp: now() - 60 }), { exp: now() + 3600 }),
  },
};
const CELLS = ['valid', 'none', 'wrong', 'expired', 'tampered', 'foreign'];

// ---- raw HTTP ------------------------------------------------------------------------

const WS_HEADERS = () => ({
  Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
});

// One request on a fresh connection; resolves with the status and head
// (for a 101 as soon as the head is in; the socket is then dropped).
async function send(port, method, path, { headers = {}, body } = {}) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  const upgrade = Object.keys(headers).some((k) => k.toLowerCase() === 'upgrade');
  if (!upgrade) head += 'Connection: close\r\n';
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  const b = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  if (body !== undefined) head += `Content-Length: ${b.length}\r\n`;
  const r = await rawRequest(port, Buffer.concat([Buffer.from(head + '\r\n'), b]), {
    timeout: 5000,
    until: (t) => {
      const i = t.indexOf('\r\n\r\n');
      if (i < 0) return false;
      if (/^HTTP\/1\.1 101 /.test(t)) return true;
      const m = /\r\ncontent-length: *(\d+)/i.exec(t.slice(0, i));
      return m && Buffer.byteLength(t, 'latin1') >= i + 4 + Number(m[1]);
    },
  });
  const end = r.text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no answer to ${method} ${path}: ${JSON.stringify(r.text)}`);
  const lines = r.text.slice(0, end).split('\r\n');
  const hs = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(lines[0].split(' ')[1]), headers: hs, body: r.buf.subarray(end + 4).toString('utf8') };
}

// Parses every complete response in a buffer.
function responses(buf) {
  const out = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    if (!m) break;
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ status: Number(m[1]), head, body: buf.subarray(end + 4, end + 4 + len).toString('latin1') });
    off = end + 4 + len;
  }
  return out;
}

function wrap(getHs) {
  return (fn) => async (t) => {
    try { await fn(t); } catch (e) {
      for (const h of getHs()) if (h) t.diagnostic(`duro log (pid ${h.pid}):\n${h.log.slice(-4000)}`);
      throw e;
    }
  };
}


// ---- the production pair ---------------------------------------------------------------

let backend, front;
const it = wrap(() => [backend, front]);
before(async () => {
  backend = await startDuro({ mode: 'production', env: { DURO_INTERNAL_SECRET: SECRET, DURO_SYNC_SECRET: SYNC_SECRET } });
  front = await startDuro({
    role: 'frontend', mode: 'production', args: ['--backend', backend.url],
    env: { DURO_INTERNAL_SECRET: SECRET, DURO_SESSION_SECRET: SESSION_SECRET, DURO_LOGIN_SECRET: LOGIN_SECRET },
  });
});
after(async () => {
  // the form action's positive control started the countdown
  if (backend) await send(backend.port, 'POST', '/_objects/COUNTDOWN_TIMER/global/stop', { headers: CREDS.bearer.valid() }).catch(() => {});
  await stopClean(front, backend);
});

// ---- the authorization matrix --------------------------------------------------------------

// A route: where it is, which credential it takes (null: a public route,
// sent the session cookie variants to show they change nothing), how a
// request looks, and the status per cell (null: does not apply).
const SYNC_PATH = (token, transport = 'ws') => {
  const q = new URLSearchParams({ storeId: 'security-store' });
  if (token !== null) q.set('payload', encodeURIComponent(JSON.stringify({ authToken: token })));
  q.set('transport', transport);
  return `/?${q}`;
};
const PING = JSON.stringify({ _tag: 'Request', id: '1', tag: 'SyncHttpRpc.Ping', payload: { storeId: 'security-store' }, headers: [] });

const all = (s) => Object.fromEntries(CELLS.map((c) => [c, s]));
const ROUTES = [
  // frontend
  { role: 'front', name: 'GET / (the page)', method: 'GET', path: '/', cred: null, expect: all(200) },
  { role: 'front', name: 'GET /de/ (the page)', method: 'GET', path: '/de/', cred: null, expect: all(200) },
  { role: 'front', name: 'POST /?/countdown (form action)', method: 'POST', path: '/?/countdown', body: '', cred: 'session',
    expect: { valid: 303, none: 401, wrong: 401, expired: 401, tampered: 401, foreign: 403 } },
  { role: 'front', name: 'GET /api/ws/connect (upgrade)', method: 'GET', path: '/api/ws/connect', ws: true, cred: 'session',
    expect: { valid: 101, none: 401, wrong: 401, expired: 401, tampered: 401, foreign: 403 } },
  { role: 'front', name: 'POST /api/login', method: 'POST', path: '/api/login', cred: 'login',
    expect: { valid: 204, none: 401, wrong: 401, expired: 401, tampered: 401, foreign: 403 } },
  ...['/app.js', '/ws-client.js', '/app.css', '/favicon.svg'].map((p) =>
    ({ role: 'front', name: `GET ${p} (asset)`, method: 'GET', path: p, cred: null, expect: all(200) })),
  { role: 'front', name: 'GET /nope (unknown)', method: 'GET', path: '/nope', cred: null, expect: all(404) },
  // backend: the binding protocol, every built-in binding
  { role: 'back', name: 'GET /_objects/TEST_DO/global/', method: 'GET', path: '/_objects/TEST_DO/global/', cred: 'bearer',
    expect: { valid: 200, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 200 } },
  { role: 'back', name: 'POST /_objects/COUNTDOWN_TIMER/global/stop', method: 'POST', path: '/_objects/COUNTDOWN_TIMER/global/stop', body: '', cred: 'bearer',
    expect: { valid: 200, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 200 } },
  { role: 'back', name: 'POST /_objects/MESSAGE_COORDINATOR/global/', method: 'POST', path: '/_objects/MESSAGE_COORDINATOR/global/', body: '{"matrix":1}', cred: 'bearer',
    expect: { valid: 200, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 200 } },
  { role: 'back', name: 'GET /_objects/MESSAGE_COORDINATOR/global/ws/connect (upgrade)', method: 'GET', path: '/_objects/MESSAGE_COORDINATOR/global/ws/connect', ws: true, cred: 'bearer',
    expect: { valid: 101, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 101 } },
  { role: 'back', name: 'GET /_objects/ROOMS/sec-room/websocket (upgrade)', method: 'GET', path: '/_objects/ROOMS/sec-room/websocket', ws: true, cred: 'bearer',
    expect: { valid: 101, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 101 } },
  // the bearer is checked before the binding: no binding-name oracle
  { role: 'back', name: 'GET /_objects/NO_SUCH_BINDING/x/', method: 'GET', path: '/_objects/NO_SUCH_BINDING/x/', cred: 'bearer',
    expect: { valid: 404, none: 401, wrong: 401, expired: null, tampered: 401, foreign: 404 } },
  // backend: the seed's routes. /ws/connect is closed in production, for
  // everyone: the socket goes through the frontend or /_objects.
  { role: 'back', name: 'GET /ws/connect (upgrade)', method: 'GET', path: '/ws/connect', ws: true, cred: 'bearer', expect: { ...all(401), expired: null } },
  // Open as in the seed: only as private as the backend's port (see
  // docs/security.md). A change of policy changes these rows.
  { role: 'back', name: 'POST /broadcast (open, as in the seed)', method: 'POST', path: '/broadcast', body: '{"matrix":2}', cred: null, expect: all(200) },
  { role: 'back', name: 'GET /api/rooms/sec-room/websocket (open, as in the seed)', method: 'GET', path: '/api/rooms/sec-room/websocket', ws: true, cred: null, expect: all(101) },
  { role: 'back', name: 'GET / (backend)', method: 'GET', path: '/', cred: null, expect: all(200) },
  // LiveStore sync: the payload's authToken (HS256 with DURO_SYNC_SECRET);
  // CORS is open by design (LiveStore clients live on any origin)
  { role: 'back', name: 'sync ?transport=ws (upgrade)', method: 'GET', sync: 'ws', ws: true, cred: 'sync',
    expect: { valid: 101, none: 400, wrong: 400, expired: 400, tampered: 400, foreign: 101 } },
  { role: 'back', name: 'sync ?transport=http (POST)', method: 'POST', sync: 'http', body: PING, cred: 'sync',
    expect: { valid: 200, none: 400, wrong: 400, expired: 400, tampered: 400, foreign: 200 } },
];

// Sends one cell; returns the status.
async function runCell(route, cell) {
  const port = route.role === 'front' ? front.port : backend.port;
  const headers = {};
  let path = route.path;
  const base = cell === 'foreign' ? 'valid' : cell;
  if (route.cred === 'sync') {
    path = SYNC_PATH(CREDS.sync[base](), route.sync);
  } else if (route.cred) {
    Object.assign(headers, CREDS[route.cred][base]());
  } else if (base !== 'valid' && base !== 'none') {
    Object.assign(headers, CREDS.session[base]()); // public: a bad cookie changes nothing
  }
  if (cell === 'foreign') headers.Origin = EVIL;
  else if (route.role === 'front') headers.Origin = `http://127.0.0.1:${port}`; // the page's own
  if (route.ws) Object.assign(headers, WS_HEADERS());
  const r = await send(port, route.method, path, { headers, body: route.body });
  if (r.status === 401 && route.cred === 'bearer' && path.startsWith('/_objects/'))
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/, `${route.name} / ${cell}: WWW-Authenticate`);
  return r.status;
}

describe('authorization matrix (production)', { timeout: 120000 }, () => {
  for (const route of ROUTES) {
    test(route.name, it(async () => {
      const got = {};
      const want = {};
      for (const cell of CELLS) {
        if (route.expect[cell] === null || (route.cred && CREDS[route.cred][cell === 'foreign' ? 'valid' : cell] === null)) continue;
        want[cell] = route.expect[cell];
        got[cell] = await runCell(route, cell);
      }
      assert.deepEqual(got, want, `${route.name}: status per cell`);
    }));
  }

  test('the matrix covers every route of both roles', () => {
    const names = ROUTES.map((r) => r.name).join('\n');
    for (const must of ['GET / (the page)', '/?/countdown', '/api/ws/connect', '/api/login', '/app.js', '/ws-client.js', '/app.css', '/favicon.svg',
      '/_objects/TEST_DO', '/_objects/COUNTDOWN_TIMER', '/_objects/MESSAGE_COORDINATOR', '/_objects/ROOMS', 'GET /ws/connect', '/broadcast',
      '/api/rooms/', 'GET / (backend)', 'sync ?transport=ws', 'sync ?transport=http'])
      assert.ok(names.includes(must), `no row for ${must}`);
  });

  test('a refused page session is replaced, never trusted', it(async () => {
    for (const cell of ['wrong', 'expired', 'tampered']) {
      const r = await send(front.port, 'GET', '/', { headers: CREDS.session[cell]() });
      assert.equal(r.status, 200);
      assert.match(r.headers['set-cookie'] ?? '', /^duro_session=v1\./, `${cell}: a fresh cookie`);
    }
    const r = await send(front.port, 'GET', '/', { headers: CREDS.session.valid() });
    assert.equal(r.headers['set-cookie'], undefined, 'a valid session is kept');
  }));
});

// ---- path traversal --------------------------------------------------------------------------

describe('path traversal and encoded paths', { timeout: 60000 }, () => {
  const secrets = [readFileSync('/etc/passwd', 'utf8').split('\n')[0], 'root:', '"durable_objects"', 'DURO_'];
  const TRICKS = [
    '/..%2f..%2f..%2fetc%2fpasswd', '/..%2F..%2F..%2Fetc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '/../../../etc/passwd', '/./../etc/passwd', '/app.js/../../etc/passwd',
    '/..%252f..%252fetc%252fpasswd', '/%252e%252e/%252e%252e/etc/passwd', // double encoding
    '/..\\..\\..\\etc\\passwd', '/..%5c..%5c..%5cetc%5cpasswd', '/%5c..%5c..%5cetc/passwd', // backslashes
    '/app.js%00', '/app.js%00.html', '/%00', '/app.js%2500', // NUL
    '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd', '/%e0%80%ae%e0%80%ae/etc/passwd', // overlong UTF-8 dots
    '//etc/passwd', '/.git/config', '/.dev.vars', '/duro.jsonc', '/web/app.js', '/index.html', '/web/index.html',
    '/%2fetc%2fpasswd', '/app.js%2f', '/APP.JS', '/app.js;.html', '/app.js?../../etc/passwd#x',
    `/${'a'.repeat(8000)}`, `/${'..%2f'.repeat(1500)}etc/passwd`,
  ];

  test('the frontend never serves a file outside web/: 400 or 404', it(async () => {
    for (const p of TRICKS) {
      const r = await send(front.port, 'GET', p);
      // '?…' after a real asset is a query: the asset itself, nothing more
      if (p.startsWith('/app.js?')) { assert.equal(r.status, 200, p); assert.match(r.body, /WebSocketManager|import|function/, p); continue; }
      assert.ok([400, 404].includes(r.status), `${p.slice(0, 60)} -> ${r.status}`);
      for (const s of secrets) assert.ok(!r.body.includes(s), `${p.slice(0, 60)}: the body holds ${JSON.stringify(s)}`);
    }
  }));

  test('the backend serves no files at all: its routes or 4xx, never file contents', it(async () => {
    for (const p of TRICKS) {
      const r = await send(backend.port, 'GET', p);
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${p.slice(0, 60)} -> ${r.status}`);
      if (r.status === 200) assert.equal(r.body, 'This worker exports Durable Objects', p.slice(0, 60));
      for (const s of secrets) assert.ok(!r.body.includes(s), p.slice(0, 60));
    }
    // a traversal in an object name is only a name
    const r = await send(backend.port, 'GET', '/_objects/TEST_DO/..%2f..%2fetc%2fpasswd/', { headers: CREDS.bearer.valid() });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { message: 'Hello from a Durable Object' });
  }));

  test('a request target over the header limit is 414 and closes', it(async () => {
    for (const port of [front.port, backend.port]) {
      const r = await rawRequest(port, `GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`, { timeout: 5000 });
      assert.notEqual(r.why, 'timeout', 'the connection closes');
      assert.deepEqual(responses(r.buf).map((x) => x.status), [414]);
    }
  }));
});

// ---- request smuggling and malformed heads ---------------------------------------------------

// Each case is followed on the same connection by a request for
// /smuggled?marker: whatever happens, that must never be answered.
const MARK = 'GET /ws/connect?smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const SMUGGLING = [
  ['chunk size not hex', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['negative chunk size', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-7\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['chunk size over 64 bits', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['empty chunk size', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['chunk data longer than its size', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['chunk data not followed by CRLF', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}XX0\r\n\r\n', 400],
  ['Transfer-Encoding twice', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['Transfer-Encoding: identity, chunked', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', 501],
  ['Transfer-Encoding: chunked, identity', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', [400, 501]],
  ['Transfer-Encoding: gzip', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', [400, 501]],
  ['Transfer-Encoding in an obs-fold', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['Transfer-Encoding with a space before the colon', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n', 400],
  ['Content-Length with a space before the colon', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length : 7\r\n\r\n{"a":1}', 400],
  ['Content-Length: +7', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: +7\r\n\r\n{"a":1}', 400],
  ['Content-Length: 7, 7', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 7, 7\r\n\r\n{"a":1}', 400],
  ['Content-Length: 0x7', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 0x7\r\n\r\n{"a":1}', 400],
  ['Content-Length over 64 bits', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{"a":1}', 400],
  ['a bare LF in a trailer', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\nX-T: y\n\n', 400],
  ['an obs-fold in a trailer', 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\nX-T: y\r\n z\r\n\r\n', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', 400],
  ['a header line starting with a tab', 'GET / HTTP/1.1\r\nHost: x\r\n\tX-A: a\r\n\r\n', 400],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: x\n\n', 400],
  ['a bare LF after the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 400],
  ['bare CR', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 400],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 400],
  ['header without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nX-A a\r\n\r\n', 400],
  ['NUL in the target', 'GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['lowercase method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['HTTP/1.1 with two spaces and garbage', 'GET  / HTTP/1.1 x\r\nHost: x\r\n\r\n', 400],
];

describe('request smuggling and malformed heads', { timeout: 60000 }, () => {
  for (const [what, bytes, status] of SMUGGLING) {
    test(`${what}: ${[].concat(status).join(' or ')}, closed, nothing after it is read`, it(async () => {
      for (const h of [backend, front]) {
        const r = await rawRequest(h.port, bytes + MARK, { timeout: 4000 });
        const got = responses(r.buf);
        assert.notEqual(r.why, 'timeout', `${h === front ? 'frontend' : 'backend'}: the connection must close (got ${JSON.stringify(r.text.slice(0, 200))})`);
        assert.equal(got.length, 1, `${h === front ? 'frontend' : 'backend'}: exactly one answer: ${JSON.stringify(r.text.slice(0, 300))}`);
        assert.ok([].concat(status).includes(got[0].status), `${h === front ? 'frontend' : 'backend'}: ${got[0].status} ${got[0].body}`);
        assert.match(got[0].head, /\r\nConnection: close/i);
      }
    }));
  }

  test('controls: the same framing done right is answered, and so is the request after it', it(async () => {
    const ok = [
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n',
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n3;ext=1\r\n{"a\r\n4\r\n":1}\r\n0\r\nX-Trailer: t\r\n\r\n',
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"a":1}',
      '\r\nGET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n', // a stray CRLF before a request is allowed
    ];
    for (const bytes of ok) {
      const r = await rawRequest(backend.port, bytes + MARK, { timeout: 4000, until: (t) => responses(Buffer.from(t, 'latin1')).length >= 2 });
      assert.deepEqual(responses(r.buf).map((x) => x.status), [200, 401], JSON.stringify(bytes));
    }
  }));

  // Trailers used to be appended to the buffer the request's header, path
  // and query pointers point into: a realloc left them dangling (a
  // heap-use-after-free under ASan, from any client, before any auth).
  test('large trailers are dropped and the request stays intact', it(async () => {
    for (const n of [10, 3000, 6000]) {
      const t = 'v'.repeat(n);
      const bytes = `POST /broadcast?x=1 HTTP/1.1\r\nHost: x\r\nX-Before: b\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\nX-Trailer: ${t}\r\nX-T2: ${t}\r\n\r\n`;
      const r = await rawRequest(backend.port, bytes + MARK, { timeout: 4000, until: (x) => responses(Buffer.from(x, 'latin1')).length >= 2 });
      assert.deepEqual(responses(r.buf).map((x) => [x.status, x.body.slice(0, 12)]), [[200, 'Message sent'], [401, 'Unauthorized']], `trailers of ${n} bytes`);
    }
  }));

  test('a chunked body split at every byte is joined exactly (CRLF checks across reads)', it(async () => {
    const body = '5\r\n{"a":\r\n9\r\n"chunked"\r\n1\r\n}\r\n0\r\n\r\n';
    const bytes = `POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}${MARK}`;
    const s = net.connect(backend.port, '127.0.0.1');
    s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    s.on('error', () => {});
    try {
      await new Promise((r) => s.once('connect', r));
      for (const ch of bytes) {
        s.write(ch);
        await new Promise((r) => setTimeout(r, 2));
      }
      await waitFor(() => responses(buf).length >= 2, 5000, 'two answers');
      assert.deepEqual(responses(buf).map((x) => [x.status, x.body.slice(0, 12)]), [[200, 'Message sent'], [401, 'Unauthorized']]);
      // and the split CR LF checks still refuse a bad terminator
      buf = Buffer.alloc(0);
      const bad = net.connect(backend.port, '127.0.0.1');
      bad.setNoDelay(true);
      let closedBad = false;
      bad.on('data', (d) => { buf = Buffer.concat([buf, d]); });
      bad.on('close', () => { closedBad = true; });
      bad.on('error', () => {});
      await new Promise((r) => bad.once('connect', r));
      bad.write('POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}');
      await new Promise((r) => setTimeout(r, 50));
      bad.write('\r');
      await new Promise((r) => setTimeout(r, 50));
      bad.write(`X0\r\n\r\n${MARK}`);
      await waitFor(() => closedBad, 5000, 'the server closes');
      assert.deepEqual(responses(buf).map((x) => x.status), [400]);
    } finally { s.destroy(); }
  }));
});

// ---- header injection ---------------------------------------------------------------------------

describe('header injection', { timeout: 30000 }, () => {
  // The sync CORS preflight copies Access-Control-Request-Headers into its
  // answer: the one route that reflects a request header.
  test('the reflected CORS header cannot carry a line break (obs-fold is 400)', it(async () => {
    const good = await send(backend.port, 'OPTIONS', '/?storeId=a&transport=ws', { headers: { 'Access-Control-Request-Headers': 'x-a, x-b' } });
    assert.equal(good.status, 204);
    assert.equal(good.headers['access-control-allow-headers'], 'x-a, x-b', 'the control: the header is reflected');
    for (const evil of ['x-a\r\n Set-Cookie: evil=1', 'x-a\r\n\tSet-Cookie: evil=1', 'x-a\rSet-Cookie: evil=1', 'x-a\nSet-Cookie: evil=1']) {
      const r = await rawRequest(backend.port, `OPTIONS /?storeId=a&transport=ws HTTP/1.1\r\nHost: x\r\nAccess-Control-Request-Headers: ${evil}\r\n\r\n`, { timeout: 4000 });
      const got = responses(r.buf);
      assert.equal(got.length, 1, JSON.stringify(r.text));
      assert.equal(got[0].status, 400, JSON.stringify(evil));
      assert.doesNotMatch(r.text, /set-cookie/i);
    }
  }));
});

// ---- WebSocket frames ------------------------------------------------------------------------------

function frame(opcode, payload = Buffer.alloc(0), { fin = true, len } = {}) {
  payload = Buffer.from(payload);
  const n = len ?? payload.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  if (n < 126) head.push(0x80 | n);
  else if (n < 65536) head.push(0x80 | 126, n >> 8, n & 255);
  else {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    head.push(0x80 | 127, ...b);
  }
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((x, i) => x ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, body]);
}
const closePayload = (code, reason = Buffer.alloc(0)) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
};

// Opens a raw socket (101 checked), writes bytes, and resolves with the
// close code the server sends and whether the TCP connection ended.
async function closeCodeFor(port, path, headers, bytes) {
  const key = randomBytes(16).toString('base64');
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  let buf = Buffer.alloc(0);
  let ended = false;
  s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  s.on('close', () => { ended = true; });
  try {
    await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
    let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    s.write(head + '\r\n');
    await waitFor(() => buf.includes('\r\n\r\n') || ended, 5000, 'the handshake answer');
    const i = buf.indexOf('\r\n\r\n');
    const status = buf.subarray(0, i).toString('latin1');
    assert.match(status, /^HTTP\/1\.1 101 /);
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.ok(status.includes(accept), 'Sec-WebSocket-Accept');
    buf = buf.subarray(i + 4);
    s.write(bytes);
    await waitFor(() => ended, 5000, 'the server closes the TCP connection');
    // find the close frame among what arrived
    let off = 0;
    while (off + 2 <= buf.length) {
      const op = buf[off] & 15;
      let len = buf[off + 1] & 127, p = off + 2;
      if (len === 126) { len = buf.readUInt16BE(p); p += 2; } else if (len === 127) { len = Number(buf.readBigUInt64BE(p)); p += 8; }
      if (op === 8) return len >= 2 ? buf.readUInt16BE(p) : 1005;
      off = p + len;
    }
    return null;
  } finally { s.destroy(); }
}

describe('malformed WebSocket frames', { timeout: 60000 }, () => {
  const BAD = [
    ['ping payload of 126 bytes', () => frame(9, Buffer.alloc(126)), 1002],
    ['fragmented ping', () => frame(9, 'x', { fin: false }), 1002],
    ['continuation without a start', () => frame(0, 'x'), 1002],
    ['close code 1005 on the wire', () => frame(8, closePayload(1005)), 1002],
  ];
  // the production path: browser -> frontend tunnel -> backend object
  for (const [what, bytes, code] of BAD) {
    test(`through the production frontend (/api/ws/connect): ${what} -> ${code}`, it(async () => {
      const got = await closeCodeFor(front.port, '/api/ws/connect', { Cookie: validSession(), Origin: `http://127.0.0.1:${front.port}` }, bytes());
      assert.equal(got, code);
    }));
  }

  const BACKEND = [
    ['pong payload of 126 bytes', () => frame(10, Buffer.alloc(126)), 1002],
    ['fragmented close', () => frame(8, closePayload(1000), { fin: false }), 1002],
    ...[1004, 1006, 1015, 1016, 2999, 5000, 65535].map((c) => [`close code ${c}`, () => frame(8, closePayload(c)), 1002]),
    ['a 64-bit length with the top bit set', () => Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]), 1002],
    ['2^40 bytes announced, none sent', () => frame(2, Buffer.alloc(0), { len: 2 ** 40 }), 1009],
    ['a close reason that is not UTF-8', () => frame(8, closePayload(1000, Buffer.from([0xc0, 0xaf]))), 1007],
  ];
  const AUTH = { Authorization: `Bearer ${SECRET}` };
  for (const [what, bytes, code] of BACKEND) {
    test(`on the backend's bearer socket: ${what} -> ${code}`, it(async () => {
      assert.equal(await closeCodeFor(backend.port, '/_objects/MESSAGE_COORDINATOR/global/ws/connect', AUTH, bytes()), code);
    }));
  }

  test('controls: close codes 1000, 3000 and 4999 are echoed', it(async () => {
    for (const c of [1000, 3000, 4999])
      assert.equal(await closeCodeFor(backend.port, '/_objects/MESSAGE_COORDINATOR/global/ws/connect', AUTH, frame(8, closePayload(c, 'bye'))), c);
    assert.equal(await closeCodeFor(front.port, '/api/ws/connect', { Cookie: validSession() }, frame(8, closePayload(3000))), 3000);
  }));
});
