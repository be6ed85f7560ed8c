// The frontend role (`duro frontend --backend URL`) as a separate process
// in front of `duro backend`: the binding protocol as the frontend uses it
// (internal secret, backend down, forwarded answers, WebSocket frames both
// ways through /api/ws/connect), sessions, the login hook, static assets
// and the production start-up checks. No browser: fetch, raw TCP and ws.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import net from 'node:net';
import { startDuro, runDuro, rawRequest, openWs, waitFor, closed } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';

const SECRET = 'frontend-test-internal-secret';
const SESSION_SECRET = 'frontend-test-session-secret-0123';
const LOGIN_SECRET = 'frontend-test-login-secret-abcdef';
const BEARER = { Authorization: `Bearer ${SECRET}` };

// ---- helpers ---------------------------------------------------------------------


function wrap(getHs) {
  return (fn) => async (t) => {
    try { await fn(t); } catch (e) {
      for (const h of getHs()) if (h) t.diagnostic(`duro log (pid ${h.pid}):\n${h.log}`);
      throw e;
    }
  };
}

const frontendOf = (backend, opts = {}) =>
  startDuro({ role: 'frontend', ...opts, args: ['--backend', typeof backend === 'string' ? backend : backend.url, ...(opts.args || [])] });

// One raw HTTP/1.1 request (Connection: close); exact bytes of the answer.
async function req(port, method, path, { headers = {}, body } = {}) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  const b = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  if (body !== undefined) head += `Content-Length: ${b.length}\r\n`;
  const r = await rawRequest(port, Buffer.concat([Buffer.from(head + '\r\n'), b]), { timeout: 5000 });
  const text = r.buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete response to ${method} ${path}: ${JSON.stringify(text)}`);
  const lines = text.slice(0, end).split('\r\n');
  const hs = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    hs[k] = k in hs ? `${hs[k]}, ${v}` : v;
  }
  return { status: Number(lines[0].split(' ')[1]), headers: hs, raw: r.buf.subarray(end + 4), body: r.buf.subarray(end + 4).toString('utf8') };
}

// GET the page; returns {res, html, cookie ('duro_session=...'), setCookie}.
async function page(url, headers = {}) {
  const res = await fetch(url, { headers });
  const html = await res.text();
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('duro_session=')) ?? null;
  return { res, html, setCookie, cookie: setCookie ? setCookie.split(';')[0] : null };
}

function cookieAttrs(setCookie) {
  return setCookie.split(';').slice(1).map((s) => s.trim());
}

const wsUrl = (h) => `ws://127.0.0.1:${h.port}/api/ws/connect`;

// Resolves with the HTTP status (and body) that refused the upgrade.
async function refused(url, opts) {
  try {
    const ws = await openWs(url, opts);
    ws.close(1000);
    return { status: 101, body: '' };
  } catch (e) {
    assert.ok(e.status, `an HTTP answer, not ${e}`);
    return { status: e.status, body: e.body, headers: e.headers };
  }
}

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function jwt(secret, claims, header = { alg: 'HS256', typ: 'JWT' }) {
  const data = `${b64url(header)}.${b64url(claims)}`;
  return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
}

// Changes one character in the middle of the last '.'-part (the signature).
function flipSignature(token) {
  const i = token.lastIndexOf('.') + 8;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function stopCountdown(backend) {
  const r = await fetch(`${backend.url}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST', headers: BEARER });
  assert.equal(r.status, 200);
  await r.text();
}

// ---- the internal secret ----------------------------------------------------------------

describe('frontend and backend with DURO_INTERNAL_SECRET', { timeout: 60000 }, () => {
  let backend, right, wrong;
  const it = wrap(() => [backend, right, wrong]);
  before(async () => {
    backend = await startDuro({ env: { DURO_INTERNAL_SECRET: SECRET } });
    right = await frontendOf(backend, { env: { DURO_INTERNAL_SECRET: SECRET } });
    wrong = await frontendOf(backend, { env: { DURO_INTERNAL_SECRET: 'not-the-secret' } });
  });
  after(async () => { await stopClean(right, wrong, backend); });

  test('a wrong secret: the page shows #backend-error instead of the heading', it(async () => {
    const p = await page(wrong.url + '/');
    assert.equal(p.res.status, 200);
    assert.match(p.res.headers.get('content-type'), /^text\/html/);
    assert.match(p.html, /<p id="backend-error"[^>]*>[^<]*The backend is unavailable[^<]*401/);
    assert.doesNotMatch(p.html, /id="heading"/);
    assert.doesNotMatch(p.html, /Hello from a Durable Object/);
  }));

  test('a wrong secret: /api/ws/connect is refused with the backend\'s 401', it(async () => {
    const { cookie } = await page(wrong.url + '/');
    assert.ok(cookie);
    const r = await refused(wsUrl(wrong), { headers: { Cookie: cookie } });
    assert.equal(r.status, 401);
    assert.match(r.body, /401/);
  }));

  test('a wrong secret: the form action fails with 502 and a reason', it(async () => {
    const plain = await fetch(wrong.url + '/?/countdown', { method: 'POST', redirect: 'manual' });
    assert.equal(plain.status, 502);
    assert.match(await plain.text(), /refused/);
    const enhanced = await fetch(wrong.url + '/?/countdown', { method: 'POST', headers: { 'x-duro-enhanced': '1' } });
    assert.equal(enhanced.status, 502);
    assert.match(enhanced.headers.get('content-type'), /^application\/json/);
    const j = await enhanced.json();
    assert.equal(j.type, 'error');
    assert.equal(j.status, 502);
    assert.equal(typeof j.error, 'string');
  }));

  test('the right secret: the heading comes from TEST_DO', it(async () => {
    const p = await page(right.url + '/');
    assert.equal(p.res.status, 200);
    assert.match(p.html, /<h1 id="heading">Hello from a Durable Object<\/h1>/);
    assert.doesNotMatch(p.html, /backend-error/);
    assert.equal(p.res.headers.get('cache-control'), 'no-store');
    assert.equal(p.res.headers.get('content-language'), 'en');
  }));

  test('WebSocket frames both ways through /api/ws/connect (text, binary, large, close)', it(async () => {
    const { cookie } = await page(right.url + '/');
    const a = await openWs(wsUrl(right), { headers: { Cookie: cookie } });
    const b = await openWs(wsUrl(right), { headers: { Cookie: cookie } });
    const c = await openWs(`${backend.ws}/_objects/MESSAGE_COORDINATOR/global/ws/connect`, { headers: BEARER });
    const all = [a, b, c];
    try {
      // text from a client through the tunnel: everyone, the sender too
      a.send('hello through the frontend');
      await waitFor(() => all.every((w) => w.messages.includes('hello through the frontend')), 5000, 'the text everywhere');
      // binary stays binary, byte for byte
      const bin = Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]);
      b.send(bin, { binary: true });
      await waitFor(() => all.every((w) => w.messages.some((m) => Buffer.isBuffer(m) && m.equals(bin))), 5000, 'the binary everywhere');
      // from the backend side to the tunnelled clients
      c.send('{"from":"backend"}');
      await waitFor(() => all.every((w) => w.messages.includes('{"from":"backend"}')), 5000, 'the backend side\'s message');
      // a large text frame in both directions (several reads and writes)
      const big = 'x'.repeat(300000) + 'end';
      a.send(big);
      await waitFor(() => all.every((w) => w.messages.includes(big)), 10000, 'the large frame everywhere');
      // the order is kept
      for (let i = 0; i < 20; i++) a.send(`seq ${i}`);
      await waitFor(() => all.every((w) => w.messages.filter((m) => typeof m === 'string' && m.startsWith('seq ')).length === 20), 5000, 'twenty in a row');
      for (const w of all) {
        assert.deepEqual(w.messages.filter((m) => typeof m === 'string' && m.startsWith('seq ')),
          Array.from({ length: 20 }, (_, i) => `seq ${i}`));
      }
      // a POST to the coordinator reaches the tunnelled sockets too
      const r = await fetch(`${backend.url}/broadcast`, { method: 'POST', body: '{"via":"broadcast"}' });
      assert.equal(r.status, 200);
      await r.text();
      await waitFor(() => [a, b].every((w) => w.messages.includes('{"via":"broadcast"}')), 5000, 'the broadcast');

      // the client closes: a clean close handshake through the tunnel
      a.close(1000, 'bye');
      const ca = await closed(a);
      assert.equal(ca.code, 1000);
      const before = a.messages.length;
      b.send('after a left');
      await waitFor(() => [b, c].every((w) => w.messages.includes('after a left')), 5000, 'the others still talk');
      assert.equal(a.messages.length, before);
    } finally {
      for (const w of all) w.close(1000);
      await Promise.all(all.map(closed));
    }
  }));

  test('/api/ws/connect without Upgrade is 426; a foreign Origin is 403', it(async () => {
    const { cookie } = await page(right.url + '/');
    const r = await fetch(right.url + '/api/ws/connect', { headers: { Cookie: cookie } });
    assert.equal(r.status, 426);
    assert.match(await r.text(), /websocket/i);
    const f = await refused(wsUrl(right), { origin: 'http://evil.example', headers: { Cookie: cookie } });
    assert.equal(f.status, 403);
    // the page's own origin is fine
    const ws = await openWs(wsUrl(right), { origin: right.url, headers: { Cookie: cookie } });
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  }));

  test('the form action: enhanced POST answers JSON, a plain one 303 back to the page', it(async () => {
    const ws = await openWs(`${backend.ws}/ws/connect`);
    try {
      const enhanced = await fetch(right.url + '/?/countdown', {
        method: 'POST', headers: { 'x-duro-enhanced': '1', accept: 'application/json' }, body: '',
      });
      assert.equal(enhanced.status, 200);
      assert.match(enhanced.headers.get('content-type'), /^application\/json/);
      assert.deepEqual(await enhanced.json(), { type: 'success', status: 200 });
      // the countdown really started: 10 arrives at once
      await waitFor(() => ws.messages.some((m) => typeof m === 'string' && JSON.parse(m).count === 10), 5000, 'count 10');

      for (const [path, location] of [['/', '/?started=1'], ['/de/', '/de/?started=1']]) {
        const plain = await fetch(right.url + path + '?/countdown', {
          method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '',
        });
        assert.equal(plain.status, 303, path);
        assert.equal(plain.headers.get('location'), location);
        await plain.arrayBuffer();
      }
      const landed = await page(right.url + '/?started=1');
      assert.match(landed.html, /<p id="notice"[^>]*>Countdown started\.<\/p>/);
      const de = await page(right.url + '/de/?started=1');
      assert.match(de.html, /<p id="notice"[^>]*>Countdown gestartet\.<\/p>/);
      assert.doesNotMatch((await page(right.url + '/')).html, /id="notice"/);

      // a foreign Origin may not start it; an unknown action is 404
      const foreign = await fetch(right.url + '/?/countdown', { method: 'POST', headers: { Origin: 'http://evil.example' } });
      assert.equal(foreign.status, 403);
      await foreign.text();
      const unknown = await fetch(right.url + '/?/nope', { method: 'POST' });
      assert.equal(unknown.status, 404);
      await unknown.text();
    } finally {
      await stopCountdown(backend);
      ws.close(1000);
      await closed(ws);
    }
  }));
});

// ---- the backend is down -------------------------------------------------------------

describe('frontend with the backend down', { timeout: 30000 }, () => {
  let front;
  const it = wrap(() => [front]);
  before(async () => { front = await frontendOf(`http://127.0.0.1:${await closedPort()}`); });
  after(async () => { await stopClean(front); });

  test('the page renders with #backend-error', it(async () => {
    const p = await page(front.url + '/');
    assert.match(p.res.headers.get('content-type'), /^text\/html/);
    assert.match(p.html, /<p id="backend-error"[^>]*>The backend is unavailable: [^<]+<\/p>/);
    assert.doesNotMatch(p.html, /id="heading"/);
    assert.match(p.html, /id="start-countdown"/, 'the rest of the page is there');
    const de = await page(front.url + '/de/');
    assert.match(de.html, /<p id="backend-error"[^>]*>Das Backend ist nicht erreichbar: [^<]+<\/p>/);
  }));

  test('POST ?/countdown is 502 with a reason', it(async () => {
    const plain = await fetch(front.url + '/?/countdown', { method: 'POST', redirect: 'manual' });
    assert.equal(plain.status, 502);
    assert.match(await plain.text(), /^Bad Gateway: .*not started.*\(.+\)/);
    const enhanced = await fetch(front.url + '/?/countdown', { method: 'POST', headers: { 'x-duro-enhanced': '1' } });
    assert.equal(enhanced.status, 502);
    assert.deepEqual(await enhanced.json(), { type: 'error', status: 502, error: 'backend unavailable' });
  }));

  test('/api/ws/connect with the page\'s session is 502 with a reason', it(async () => {
    const { cookie } = await page(front.url + '/');
    assert.ok(cookie, 'the page still sets a session');
    const r = await refused(wsUrl(front), { headers: { Cookie: cookie } });
    assert.equal(r.status, 502);
    assert.match(r.body, /Bad Gateway: .*backend/);
  }));

  test('the assets are still served', it(async () => {
    const r = await fetch(front.url + '/app.js');
    assert.equal(r.status, 200);
    assert.ok((await r.text()).length > 100);
  }));
});

// ---- sessions ---------------------------------------------------------------------------

describe('sessions', { timeout: 30000 }, () => {
  let backend, front, other, shortLived;
  const it = wrap(() => [backend, front, other, shortLived]);
  before(async () => {
    backend = await startDuro({});
    front = await frontendOf(backend, { env: { DURO_SESSION_SECRET: SESSION_SECRET } });
    other = await frontendOf(backend, { env: { DURO_SESSION_SECRET: 'another-session-secret-9876' } });
    shortLived = await frontendOf(backend, { devVars: 'DURO_SESSION_TTL=1\n' });
  });
  after(async () => { await stopClean(front, other, shortLived, backend); });

  test('the page sets duro_session: HttpOnly, SameSite=Lax, Path=/, Secure only behind https', it(async () => {
    const p = await page(front.url + '/');
    assert.ok(p.setCookie, 'Set-Cookie: duro_session=...');
    const attrs = cookieAttrs(p.setCookie);
    assert.ok(attrs.includes('HttpOnly'), p.setCookie);
    assert.ok(attrs.includes('SameSite=Lax'), p.setCookie);
    assert.ok(attrs.includes('Path=/'), p.setCookie);
    assert.ok(!attrs.some((a) => /^secure$/i.test(a)), `no Secure over http: ${p.setCookie}`);
    assert.ok(attrs.some((a) => /^Max-Age=\d+$/.test(a)), p.setCookie);

    const s = await page(front.url + '/', { 'X-Forwarded-Proto': 'https' });
    const sattrs = cookieAttrs(s.setCookie);
    assert.ok(sattrs.includes('Secure'), s.setCookie);
    assert.ok(sattrs.includes('HttpOnly') && sattrs.includes('SameSite=Lax') && sattrs.includes('Path=/'), s.setCookie);
    const de = await page(front.url + '/de/', { 'X-Forwarded-Proto': 'http' });
    assert.ok(!cookieAttrs(de.setCookie).includes('Secure'), de.setCookie);
  }));

  test('a valid session opens /api/ws/connect', it(async () => {
    const { cookie } = await page(front.url + '/');
    const ws = await openWs(wsUrl(front), { headers: { Cookie: `theme=dark; ${cookie}; other=1` } });
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  }));

  test('missing, tampered, foreign and malformed sessions are 401', it(async () => {
    const { cookie } = await page(front.url + '/');
    const cases = {
      missing: {},
      'other cookies only': { Cookie: 'a=b; duro_sessionx=1' },
      tampered: { Cookie: flipSignature(cookie) },
      'tampered expiry': { Cookie: cookie.replace(/^duro_session=v1\.(\d+)\./, (m, e) => `duro_session=v1.${Number(e) + 1000}.`) },
      'from another frontend': { Cookie: (await page(other.url + '/')).cookie },
      malformed: { Cookie: 'duro_session=garbage' },
      empty: { Cookie: 'duro_session=' },
    };
    for (const [what, headers] of Object.entries(cases)) {
      const r = await refused(wsUrl(front), { headers });
      assert.equal(r.status, 401, what);
      assert.match(r.body, /^Unauthorized/, what);
    }
    assert.match((await refused(wsUrl(front), {})).body, /no session/);
    assert.match((await refused(wsUrl(front), { headers: cases.tampered })).body, /signature/);
  }));

  test('an expired session is 401', it(async () => {
    const { cookie, setCookie } = await page(shortLived.url + '/');
    assert.match(setCookie, /Max-Age=1(;|$)/);
    let last;
    await waitFor(async () => { last = await refused(wsUrl(shortLived), { headers: { Cookie: cookie } }); return last.status !== 101; },
      4000, 'the session to expire');
    assert.equal(last.status, 401);
    assert.match(last.body, /expired/);
  }));

  test('DURO_SESSION_TTL from the environment is honoured', it(async () => {
    const f = await frontendOf(backend, { env: { DURO_SESSION_TTL: '1' } });
    try {
      const { setCookie } = await page(f.url + '/');
      assert.match(setCookie, /Max-Age=1(;|$)/, `env DURO_SESSION_TTL=1 ignored: ${setCookie}`);
    } finally {
      await stopClean(f);
    }
  }));
});

// ---- the login hook -----------------------------------------------------------------------

for (const how of ['.dev.vars', 'environment']) {
  describe(`POST /api/login (DURO_LOGIN_SECRET from ${how})`, { timeout: 30000 }, () => {
    let backend, front;
    const it = wrap(() => [backend, front]);
    before(async () => {
      backend = await startDuro({});
      front = how === 'environment'
        ? await frontendOf(backend, { env: { DURO_LOGIN_SECRET: LOGIN_SECRET } })
        : await frontendOf(backend, { devVars: `DURO_LOGIN_SECRET=${LOGIN_SECRET}\n` });
    });
    after(async () => { await stopClean(front, backend); });

    const login = (token, headers = {}) => fetch(front.url + '/api/login', {
      method: 'POST', headers: { ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    });

    test('a valid HS256 token: 204 and a session usable on /api/ws/connect', it(async () => {
      const now = Math.floor(Date.now() / 1000);
      const r = await login(jwt(LOGIN_SECRET, { sub: 'user-1', exp: now + 60 }));
      assert.equal(r.status, 204, await r.clone().text());
      assert.equal((await r.arrayBuffer()).byteLength, 0);
      const sc = r.headers.getSetCookie().find((c) => c.startsWith('duro_session='));
      assert.ok(sc, 'Set-Cookie: duro_session');
      const attrs = cookieAttrs(sc);
      assert.ok(attrs.includes('HttpOnly') && attrs.includes('SameSite=Lax') && attrs.includes('Path=/'), sc);
      const ws = await openWs(wsUrl(front), { headers: { Cookie: sc.split(';')[0] } });
      ws.close(1000);
      assert.equal((await closed(ws)).code, 1000);
      const secure = await login(jwt(LOGIN_SECRET, { exp: now + 60 }), { 'X-Forwarded-Proto': 'https' });
      assert.equal(secure.status, 204);
      assert.ok(cookieAttrs(secure.headers.getSetCookie()[0]).includes('Secure'));
    }));

    test('expired, tampered, wrong-key, alg none and missing tokens are 401', it(async () => {
      const now = Math.floor(Date.now() / 1000);
      const good = jwt(LOGIN_SECRET, { sub: 'user-1', exp: now + 60 });
      const [h, , s] = good.split('.');
      const cases = {
        expired: [jwt(LOGIN_SECRET, { sub: 'user-1', exp: now - 10 }), /expired/],
        'tampered signature': [flipSignature(good), /signature/],
        'tampered claims': [`${h}.${b64url({ sub: 'admin', exp: now + 60 })}.${s}`, /signature/],
        'wrong key': [jwt('some-other-key-entirely', { exp: now + 60 }), /signature/],
        'alg none': [`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ exp: now + 60 })}.`, /./],
        'no exp': [jwt(LOGIN_SECRET, { sub: 'user-1' }), /./],
        garbage: ['not-a-jwt', /./],
        missing: [undefined, /bearer token is required/],
      };
      for (const [what, [token, re]] of Object.entries(cases)) {
        const r = await login(token);
        const body = await r.text();
        assert.equal(r.status, 401, `${what}: ${body}`);
        assert.match(body, re, what);
        assert.equal(r.headers.getSetCookie().length, 0, what);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/, what);
      }
      const basic = await fetch(front.url + '/api/login', { method: 'POST', headers: { Authorization: `Basic ${good}` } });
      assert.equal(basic.status, 401);
      await basic.text();
    }));
  });
}

describe('POST /api/login without DURO_LOGIN_SECRET', { timeout: 20000 }, () => {
  let backend, front;
  const it = wrap(() => [backend, front]);
  before(async () => {
    backend = await startDuro({});
    front = await frontendOf(backend);
  });
  after(async () => { await stopClean(front, backend); });

  test('is 404, with or without a token', it(async () => {
    const token = jwt(LOGIN_SECRET, { exp: Math.floor(Date.now() / 1000) + 60 });
    for (const headers of [{}, { Authorization: `Bearer ${token}` }]) {
      const r = await fetch(front.url + '/api/login', { method: 'POST', headers });
      assert.equal(r.status, 404);
      assert.match(await r.text(), /DURO_LOGIN_SECRET/);
      assert.equal(r.headers.getSetCookie().length, 0);
    }
  }));
});

// ---- the README's variables, from .dev.vars and from the environment ------------------

for (const how of ['.dev.vars', 'environment']) {
  describe(`DURO_ALLOWED_ORIGINS, VITE_WS_HOST and VITE_WS_PATH from ${how}`, { timeout: 20000 }, () => {
    let backend, front;
    const it = wrap(() => [backend, front]);
    const vars = { DURO_ALLOWED_ORIGINS: 'http://a.example, http://b.example', VITE_WS_HOST: 'ws.example:9999', VITE_WS_PATH: '/custom/ws' };
    before(async () => {
      backend = await startDuro({});
      front = how === 'environment'
        ? await frontendOf(backend, { env: vars })
        : await frontendOf(backend, { devVars: Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join('') });
    });
    after(async () => { await stopClean(front, backend); });

    test('an allowed Origin opens /api/ws/connect, another is 403', it(async () => {
      const { cookie } = await page(front.url + '/');
      for (const origin of ['http://a.example', 'http://b.example']) {
        const r = await refused(wsUrl(front), { origin, headers: { Cookie: cookie } });
        assert.equal(r.status, 101, `Origin ${origin} (DURO_ALLOWED_ORIGINS from ${how}): ${r.status} ${r.body}`);
      }
      assert.equal((await refused(wsUrl(front), { origin: 'http://c.example', headers: { Cookie: cookie } })).status, 403);
    }));

    test('the page\'s config carries wsHost and wsPath', it(async () => {
      const { html } = await page(front.url + '/');
      const cfg = JSON.parse(/<script type="application\/json" id="duro-config">(.*?)<\/script>/s.exec(html)[1]);
      assert.equal(cfg.wsHost, 'ws.example:9999', `VITE_WS_HOST from ${how}`);
      assert.equal(cfg.wsPath, '/custom/ws', `VITE_WS_PATH from ${how}`);
    }));
  });
}

// ---- static assets and routes ------------------------------------------------------------

describe('static assets and unknown paths', { timeout: 20000 }, () => {
  let backend, front;
  const it = wrap(() => [backend, front]);
  before(async () => {
    backend = await startDuro({});
    front = await frontendOf(backend);
  });
  after(async () => { await stopClean(front, backend); });

  test('/app.js: text/javascript, an ETag, and 304 without a body on If-None-Match', it(async () => {
    const r = await req(front.port, 'GET', '/app.js');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/javascript/);
    const etag = r.headers.etag;
    assert.ok(etag && /^(W\/)?".+"$/.test(etag), `a quoted ETag: ${etag}`);
    assert.match(r.body, /WebSocketManager/);
    assert.equal(Number(r.headers['content-length']), r.raw.length);

    const nm = await req(front.port, 'GET', '/app.js', { headers: { 'If-None-Match': etag } });
    assert.equal(nm.status, 304);
    assert.equal(nm.raw.length, 0, `no body: ${JSON.stringify(nm.body)}`);
    assert.equal(nm.headers.etag, etag);
    assert.ok(!nm.headers['content-length'] || nm.headers['content-length'] === '0' ||
      Number(nm.headers['content-length']) === r.raw.length, 'a 304 claims no body of its own');

    const stale = await req(front.port, 'GET', '/app.js', { headers: { 'If-None-Match': '"stale"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.raw.length, r.raw.length);

    const head = await req(front.port, 'HEAD', '/app.js');
    assert.equal(head.status, 200);
    assert.equal(head.raw.length, 0);
  }));

  test('the other assets have their types and ETags', it(async () => {
    const types = { '/ws-client.js': /^text\/javascript/, '/app.css': /^text\/css/, '/favicon.svg': /^image\/svg\+xml/ };
    const etags = new Set();
    for (const [p, re] of Object.entries(types)) {
      const r = await fetch(front.url + p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type'), re, p);
      assert.ok(r.headers.get('etag'), p);
      etags.add(r.headers.get('etag'));
      await r.arrayBuffer();
    }
    assert.equal(etags.size, 3, 'a different ETag per asset');
    const post = await fetch(front.url + '/app.js', { method: 'POST' });
    assert.equal(post.status, 405);
    await post.text();
  }));

  test('/index.html and unknown paths are 404; /de redirects to /de/', it(async () => {
    for (const p of ['/index.html', '/nope', '/de/app.js', '/api/ws', '/api/ws/connect/x', '/app.js/']) {
      const r = await fetch(front.url + p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(await r.text(), /\{\{/, p);
    }
    const de = await fetch(front.url + '/de', { redirect: 'manual' });
    assert.ok([301, 302, 307, 308].includes(de.status), String(de.status));
    assert.equal(de.headers.get('location'), '/de/');
    await de.arrayBuffer();
    const put = await fetch(front.url + '/', { method: 'PUT' });
    assert.equal(put.status, 405);
    await put.text();
  }));

  test('/de/ is German: lang, strings, Content-Language', it(async () => {
    const p = await page(front.url + '/de/');
    assert.equal(p.res.status, 200);
    assert.match(p.html, /<html lang="de">/);
    assert.match(p.html, /Countdown starten/);
    assert.match(p.html, /Empfangene Nachrichten/);
    assert.equal(p.res.headers.get('content-language'), 'de');
    assert.doesNotMatch(p.html, /\{\{/);
  }));
});

// ---- production ------------------------------------------------------------------------------

describe('production start-up', { timeout: 30000 }, () => {
  test('a production frontend without DURO_SESSION_SECRET refuses to start', async () => {
    const backendUrl = `http://127.0.0.1:${await closedPort()}`;
    const r = await runDuro(['frontend', '--port', '0', '--mode', 'production', '--backend', backendUrl],
      { env: { DURO_INTERNAL_SECRET: SECRET } });
    assert.notEqual(r.code, 0, `exited ${r.code}:\n${r.stderr}`);
    assert.equal(r.signal, null, 'it exits by itself');
    assert.match(r.stderr, /DURO_SESSION_SECRET/);
    const short = await runDuro(['frontend', '--port', '0', '--mode', 'production', '--backend', backendUrl],
      { env: { DURO_INTERNAL_SECRET: SECRET, DURO_SESSION_SECRET: 'too-short' } });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /DURO_SESSION_SECRET/);
  });
});

describe('a production pair', { timeout: 30000 }, () => {
  let backend, front;
  const it = wrap(() => [backend, front]);
  const env = { DURO_INTERNAL_SECRET: SECRET, DURO_SESSION_SECRET: SESSION_SECRET };
  before(async () => {
    // a production backend also wants an auth check for LiveStore sync
    backend = await startDuro({ mode: 'production', env: { ...env, DURO_SYNC_TOKEN: 'sync-token-for-the-tests' } });
    front = await frontendOf(backend, { mode: 'production', env });
  });
  after(async () => { await stopClean(front, backend); });

  test('the backend\'s /ws/connect is 401; the frontend\'s wants a session', it(async () => {
    assert.equal((await refused(`${backend.ws}/ws/connect`)).status, 401);
    assert.equal((await refused(wsUrl(front))).status, 401);
    const p = await page(front.url + '/');
    assert.match(p.html, /<h1 id="heading">Hello from a Durable Object<\/h1>/);
    assert.match(p.html, /"mode":"production"/);
    assert.equal((await refused(wsUrl(front), { origin: 'http://evil.example', headers: { Cookie: p.cookie } })).status, 403);
    const ws = await openWs(wsUrl(front), { origin: front.url, headers: { Cookie: p.cookie } });
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  }));

  test('the form action wants the session in production', it(async () => {
    const none = await fetch(front.url + '/?/countdown', { method: 'POST', redirect: 'manual' });
    assert.equal(none.status, 401);
    await none.text();
    const { cookie } = await page(front.url + '/');
    try {
      const ok = await fetch(front.url + '/?/countdown', { method: 'POST', redirect: 'manual', headers: { Cookie: cookie } });
      assert.equal(ok.status, 303);
      await ok.arrayBuffer();
    } finally {
      await stopCountdown(backend);
    }
  }));
});
