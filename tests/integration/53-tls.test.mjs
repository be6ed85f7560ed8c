// https and wss: --tls-cert and --tls-key (or the "tls" section) make the
// role's listener speak TLS only. Certificates are made here with
// `openssl req` (a CA and leaves), nothing checked in that could expire.
// Node's https and ws over wss (with and without permessage-deflate),
// openssl s_client for the protocol versions and ALPN, SIGHUP with a new
// certificate, and clear start-up errors for bad files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { makeCerts } from './lib/certs.mjs';
import { closed, openWs, runDuro, startDuro, waitFor } from './lib/duro.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'duro-tls-'));
const f = (n) => path.join(dir, n);

// A CA, and two leaves for 127.0.0.1 with serials 0x1001 and 0x1002; the
// server's files start as the first.
function makeServerCerts() {
  makeCerts(dir, 2);
  copyFileSync(f('leaf1.crt'), f('server.crt'));
  copyFileSync(f('leaf1.key'), f('server.key'));
}

const get = (port, p = '/') => new Promise((resolve, reject) => {
  https.get({ host: '127.0.0.1', port, path: p, ca: readFileSync(f('ca.crt')) }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve({ status: res.statusCode, body }));
  }).on('error', reject);
});

const serialOf = (port) => new Promise((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(f('ca.crt')), servername: 'localhost' }, () => {
    const serial = s.getPeerCertificate().serialNumber;
    s.end();
    resolve(serial);
  });
  s.on('error', reject);
});

const wss = (port, opts = {}) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws/connect`, { ca: readFileSync(f('ca.crt')), ...opts });
  ws.messages = [];
  ws.on('message', (d, bin) => ws.messages.push(bin ? d : d.toString()));
  ws.once('open', () => resolve(ws));
  ws.once('error', reject);
});

const sClient = (port, ...args) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`,
  '-CAfile', f('ca.crt'), ...args], { input: '', timeout: 10000 }).stdout.toString();

describe('TLS on the backend', () => {
  let duro;
  before(async () => {
    makeServerCerts();
    duro = await startDuro({ args: ['--tls-cert', f('server.crt'), '--tls-key', f('server.key')] });
  });
  after(async () => { await duro?.stop(); duro?.cleanup(); });

  test('https: the log says so, the routes answer; plain HTTP on the port gets nothing', async () => {
    assert.match(duro.log, /backend on https:\/\/127\.0\.0\.1:\d+/);
    const r = await get(duro.port);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'This worker exports Durable Objects');
    const plain = await new Promise((resolve) => {
      const s = net.connect(duro.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    assert.doesNotMatch(plain, /This worker exports/);
    assert.equal((await get(duro.port)).status, 200, 'still serving');
  });

  test('openssl s_client: TLS 1.1 refused, 1.2 and 1.3 accepted, ALPN http/1.1', () => {
    assert.match(sClient(duro.port, '-tls1_1'), /Cipher is \(NONE\)/, 'no session with TLS 1.1');
    const v12 = sClient(duro.port, '-tls1_2', '-alpn', 'http/1.1');
    assert.match(v12, /Protocol\s*:\s*TLSv1\.2/);
    assert.match(v12, /ALPN protocol: http\/1\.1/);
    assert.match(v12, /Verify return code: 0 \(ok\)/);
    assert.match(sClient(duro.port, '-tls1_3'), /TLSv1\.3/);
  });

  test('wss: 200 clients x 100 broadcasts in order; relay; close codes; compressed and plain byte-exact', { timeout: 60000 }, async () => {
    const clients = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      wss(duro.port, i % 2 ? { perMessageDeflate: false } : {})));
    try {
      assert.match(clients[0].extensions, /permessage-deflate/);
      assert.equal(clients[1].extensions, '');
      const agent = new https.Agent({ ca: readFileSync(f('ca.crt')), keepAlive: true });
      for (let i = 0; i < 100; i++) {
        await new Promise((resolve, reject) => {
          const body = JSON.stringify({ seq: i, pad: 'p'.repeat(i % 3 ? 10 : 400) });
          const req = https.request({ host: '127.0.0.1', port: duro.port, path: '/broadcast', method: 'POST', agent }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode)))));
          });
          req.on('error', reject);
          req.end(body);
        });
      }
      agent.destroy();
      await waitFor(() => clients.every((c) => c.messages.length >= 100), 30000, 'every delivery');
      const want = clients[1].messages;
      for (const c of clients) {
        assert.deepEqual(c.messages.map((m) => JSON.parse(m).seq), Array.from({ length: 100 }, (_, i) => i));
        assert.deepEqual(c.messages, want, 'compressed and plain recipients, byte-exact');
      }
      clients[3].send('from a wss client');
      await waitFor(() => clients.every((c) => c.messages.includes('from a wss client')), 10000, 'the relay');
      const c0 = closed(clients[0]);
      clients[0].close(4001, 'bye');
      assert.equal((await c0).code, 4001);
    } finally {
      for (const c of clients) c.terminate();
    }
  });

  test('SIGHUP: a new certificate for new connections; an open socket stays and keeps receiving', async () => {
    assert.equal(await serialOf(duro.port), '1001');
    const old = await wss(duro.port);
    copyFileSync(f('leaf2.crt'), f('server.crt'));
    copyFileSync(f('leaf2.key'), f('server.key'));
    process.kill(duro.pid, 'SIGHUP');
    await waitFor(() => /SIGHUP: certificate and key read again/.test(duro.log), 5000, 'the reload');
    assert.equal(await serialOf(duro.port), '1002');
    const r = await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: duro.port, path: '/broadcast', method: 'POST', ca: readFileSync(f('ca.crt')) },
        (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', reject);
      req.end('{"after":"reload"}');
    });
    assert.equal(r, 200);
    await waitFor(() => old.messages.includes('{"after":"reload"}'), 5000, 'the old socket still receives');
    // a bad new pair is refused, the current one stays
    writeFileSync(f('server.key'), 'not a key');
    process.kill(duro.pid, 'SIGHUP');
    await waitFor(() => /SIGHUP: tls: key .* keeping the certificate in use/.test(duro.log), 5000, 'the refusal');
    assert.equal(await serialOf(duro.port), '1002');
    old.close();
    await closed(old);
  });
});

test('over TLS, a connection over the per-client rate gets its 429 after the handshake', async () => {
  const duro = await startDuro({
    config: JSON.stringify({ duro: { rate_limit: 'on', rate_limit_loopback: 'limit',
      rate_limit_connections_per_s: 1, rate_limit_connections_burst: 2 } }),
    args: ['--tls-cert', f('leaf1.crt'), '--tls-key', f('leaf1.key')],
  });
  try {
    const once = () => new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: duro.port, path: '/', ca: readFileSync(f('ca.crt')), agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, retry: res.headers['retry-after'], body }));
      }).on('error', reject);
    });
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await once());
    const refused = got.filter((r) => r.status === 429);
    assert.ok(refused.length >= 2, JSON.stringify(got.map((r) => r.status)));
    assert.ok(Number(refused[0].retry) >= 1);
    assert.match(refused[0].body, /Rate limit: too many connections/);
    assert.equal(got[0].status, 200);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

// One request with node's http or https (trusting the test CA); the whole
// answer as {status, headers, body}.
function request(url, { method = 'GET', headers = {}, body, ca } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const r = mod.request(u, { method, headers, ca, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const cookieOf = (res) => (res.headers['set-cookie'] || []).find((c) => c.startsWith('duro_session='))?.split(';')[0];

describe('the frontend reaches an https backend, verifying its certificate', { timeout: 60000 }, () => {
  const SECRET = 'tls-frontend-internal-secret';
  const env = { DURO_INTERNAL_SECRET: SECRET };
  const cdir = mkdtempSync(path.join(tmpdir(), 'duro-tls-front-'));
  const c = (n) => path.join(cdir, n);
  let backend, elsewhere, trusting, untrusting, misnamed;
  before(async () => {
    makeCerts(cdir, 1);
    // a leaf of the same CA that names another host only
    writeFileSync(c('other.cnf'), 'subjectAltName=DNS:elsewhere.example\n');
    spawnSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key',
      '-out', 'other.csr', '-subj', '/CN=elsewhere.example'], { cwd: cdir });
    spawnSync('openssl', ['x509', '-req', '-in', 'other.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x2001',
      '-out', 'other.crt', '-days', '2', '-extfile', 'other.cnf'], { cwd: cdir });
    copyFileSync(c('ca.crt'), c('trust.crt'));
    backend = await startDuro({ env, args: ['--tls-cert', c('leaf1.crt'), '--tls-key', c('leaf1.key')] });
    elsewhere = await startDuro({ env, args: ['--tls-cert', c('other.crt'), '--tls-key', c('other.key')] });
    const front = (b, ...args) => startDuro({ role: 'frontend', env, args: ['--backend', b.url, ...args] });
    trusting = await front(backend, '--backend-ca', c('trust.crt'));
    untrusting = await front(backend);
    misnamed = await front(elsewhere, '--backend-ca', c('ca.crt'));
  });
  after(async () => {
    for (const h of [trusting, untrusting, misnamed, backend, elsewhere]) if (h) { await h.stop(); h.cleanup(); }
    rmSync(cdir, { recursive: true, force: true });
  });

  test('trusted: the page, the form action and a relayed socket (deflate on one side) all go over TLS', async () => {
    assert.match(backend.url, /^https:/);
    assert.match(trusting.log, /backend https:\/\/127\.0\.0\.1:\d+/);
    const p = await request(trusting.url + '/');
    assert.equal(p.status, 200);
    assert.match(p.body, /<h1 id="heading">Hello from a Durable Object<\/h1>/);
    const cookie = cookieOf(p);
    assert.ok(cookie, 'a session');
    // two sockets through /api/ws/connect (one negotiating deflate up to
    // the backend), a message relayed from one to both, a broadcast
    const url = `ws://127.0.0.1:${trusting.port}/api/ws/connect`;
    const a = await openWs(url, { headers: { Cookie: cookie } });
    const b = await openWs(url, { headers: { Cookie: cookie }, perMessageDeflate: false });
    try {
      assert.match(a.extensions, /permessage-deflate/);
      assert.equal(b.extensions, '');
      a.send('through two TLS hops? one: frontend to backend');
      await waitFor(() => b.messages.includes('through two TLS hops? one: frontend to backend'), 5000, 'the relay');
      const big = JSON.stringify({ big: 'x'.repeat(5000) });
      const r = await request(`${backend.url}/broadcast`, { method: 'POST', body: big, ca: readFileSync(c('ca.crt')) });
      assert.equal(r.status, 200);
      await waitFor(() => a.messages.includes(big) && b.messages.includes(big), 5000, 'the broadcast on both');
      // the form action reaches the countdown over https
      const act = await request(trusting.url + '/?/countdown', { method: 'POST', headers: { 'x-duro-enhanced': '1', Cookie: cookie } });
      assert.equal(act.status, 200, act.body);
      assert.deepEqual(JSON.parse(act.body), { type: 'success', status: 200 });
    } finally {
      await request(`${backend.url}/_objects/COUNTDOWN_TIMER/global/stop`, {
        method: 'POST', headers: { Authorization: `Bearer ${SECRET}` }, ca: readFileSync(c('ca.crt')),
      });
      a.close();
      b.close();
      await Promise.all([closed(a), closed(b)]);
    }
  });

  test('not trusted (no --backend-ca: the system\'s store) or not its name: no request goes through', async () => {
    for (const [h, why] of [[untrusting, /certificate is not trusted: (self-signed|unable to get local issuer)/],
      [misnamed, /certificate is not trusted: IP address mismatch/]]) {
      const p = await request(h.url + '/');
      assert.equal(p.status, 200);
      assert.match(p.body, /id="backend-error"/);
      assert.doesNotMatch(p.body, /Hello from a Durable Object/);
      const act = await request(h.url + '/?/countdown', { method: 'POST', headers: { 'x-duro-enhanced': '1' } });
      assert.equal(act.status, 502);
      const cookie = cookieOf(p);
      const r = await openWs(`ws://127.0.0.1:${h.port}/api/ws/connect`, { headers: { Cookie: cookie } }).then(
        (ws) => { ws.close(); return 101; }, (e) => e.status);
      assert.equal(r, 502);
      await waitFor(() => why.test(h.log), 5000, `the reason in the log: ${why}`);
    }
  });

  test('SIGHUP reads the CA file again; a broken one is refused and the trust kept', async () => {
    writeFileSync(c('trust.crt'), 'not a certificate');
    process.kill(trusting.pid, 'SIGHUP');
    await waitFor(() => /SIGHUP: tls: CA file .*trust\.crt.*keeping the trust in use/.test(trusting.log), 5000, 'the refusal');
    const p = await request(trusting.url + '/');
    assert.match(p.body, /Hello from a Durable Object/);
  });
});

describe('duro dev with --tls-cert: both listeners https, the frontend trusts its own backend', { timeout: 60000 }, () => {
  const ddir = mkdtempSync(path.join(tmpdir(), 'duro-tls-dev-'));
  let dev, ca;
  before(async () => {
    makeCerts(ddir, 1);
    ca = readFileSync(path.join(ddir, 'ca.crt'));
    dev = await startDuro({ role: 'dev', args: ['--tls-cert', path.join(ddir, 'leaf1.crt'), '--tls-key', path.join(ddir, 'leaf1.key')] });
  });
  after(async () => {
    if (dev) { await dev.stop(); dev.cleanup(); }
    rmSync(ddir, { recursive: true, force: true });
  });

  test('the page over https, its socket wss to the backend, the countdown started through the frontend', async () => {
    assert.match(dev.log, /backend on https:/);
    assert.match(dev.log, /frontend on https:\/\/127\.0\.0\.1:\d+ \(mode test, backend https:\/\/127\.0\.0\.1:\d+\)/);
    const p = await request(dev.frontendUrl + '/', { ca });
    assert.equal(p.status, 200);
    assert.match(p.body, /Hello from a Durable Object/);
    const ws = await openWs(`wss://127.0.0.1:${dev.backendPort}/ws/connect`, { ca });
    try {
      const act = await request(dev.frontendUrl + '/?/countdown', { method: 'POST', headers: { 'x-duro-enhanced': '1', Cookie: cookieOf(p) }, ca });
      assert.equal(act.status, 200, act.body);
      await waitFor(() => ws.messages.some((m) => JSON.parse(m).count === 10), 5000, 'count 10 over wss');
    } finally {
      await request(`${dev.url}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST', ca });
      ws.close();
      await closed(ws);
    }
  });
});

describe('TLS handshakes are bounded: the header timeout covers them, at most 1,024 at once', { timeout: 60000 }, () => {
  const hdir = mkdtempSync(path.join(tmpdir(), 'duro-tls-flood-'));
  let duro, ca;
  before(async () => {
    makeCerts(hdir, 1);
    ca = readFileSync(path.join(hdir, 'ca.crt'));
    duro = await startDuro({
      config: JSON.stringify({ duro: { header_timeout_ms: 2000 } }),
      args: ['--tls-cert', path.join(hdir, 'leaf1.crt'), '--tls-key', path.join(hdir, 'leaf1.key')],
    });
  });
  after(async () => {
    if (duro) { await duro.stop(); duro.cleanup(); }
    rmSync(hdir, { recursive: true, force: true });
  });

  // A TCP connection that never finishes its handshake: resolves with the
  // milliseconds until the server closed it.
  const halfOpen = (hello) => new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(duro.port, '127.0.0.1', () => { if (hello) s.write(hello); });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve(Date.now() - t0));
    s.setTimeout(10000, () => s.destroy());
  });

  test('a silent connection and a cut ClientHello are closed after the header timeout', async () => {
    // the first bytes of a TLS 1.2 ClientHello record, then nothing
    const cut = Buffer.from('160301020001000200', 'hex');
    const [silent, partial] = await Promise.all([halfOpen(null), halfOpen(cut)]);
    for (const ms of [silent, partial]) {
      assert.ok(ms >= 1800 && ms < 6000, `closed after ${ms} ms`);
    }
  });

  test('a flood of half-open handshakes: past 1,024 they are closed at once, served clients keep being served', async () => {
    const ws = await new Promise((resolve, reject) => {
      const w = new WebSocket(`wss://127.0.0.1:${duro.port}/ws/connect`, { ca });
      w.messages = [];
      w.on('message', (d) => w.messages.push(d.toString()));
      w.once('open', () => resolve(w));
      w.once('error', reject);
    });
    // a publisher connected before the flood (keep-alive): a served client
    const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
    const publish = (body) => new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: duro.port, path: '/broadcast', method: 'POST', agent },
        (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(await publish('{"before":"the flood"}'), 200);
    const sockets = [];
    const closedAt = [];
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 1100 }, () => new Promise((resolve) => {
      const s = net.connect(duro.port, '127.0.0.1', resolve);
      s.on('error', () => {});
      s.on('close', () => closedAt.push(Date.now() - t0));
      sockets.push(s);
    })));
    try {
      // the ones over the bound go at once, long before the timeout
      await waitFor(() => closedAt.length >= 1100 - 1024, 1500, 'the connections past the bound closed');
      assert.ok(closedAt.filter((ms) => ms < 1500).length >= 1100 - 1024 - 5);
      // the served clients are still served, at once: the publisher's
      // request during the flood, the socket's delivery
      assert.equal(await publish('{"during":"the flood"}'), 200);
      await waitFor(() => ws.messages.includes('{"during":"the flood"}'), 2000, 'the broadcast during the flood');
      // and a new client is refused (closed) while every slot is taken
      assert.ok(closedAt.length < 1100, 'the half-open ones still hold their slots');
      const refused = await new Promise((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: duro.port, ca }, () => { s.destroy(); resolve(false); });
        s.on('error', () => resolve(true));
      });
      assert.ok(refused, 'a new handshake past the bound fails');
      // the header timeout frees the slots: a new client gets in
      await waitFor(() => closedAt.length >= 1100, 8000, 'every half-open connection closed');
      const after = await new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: duro.port, path: '/broadcast', method: 'POST', ca, agent: false },
          (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
        req.on('error', reject);
        req.end('{"after":"the flood"}');
      });
      assert.equal(after, 200);
      await waitFor(() => ws.messages.includes('{"after":"the flood"}'), 2000, 'the open socket still receives');
    } finally {
      for (const s of sockets) s.destroy();
      agent.destroy();
      ws.terminate();
    }
  });
});

describe('TLS start-up errors name the file', () => {
  // the certificates of the first group (node:test runs the groups in order)
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  test('a missing certificate, a key that does not match, only one of the two', async () => {
    const missing = await runDuro(['backend', '--port', '0', '--tls-cert', f('nope.crt'), '--tls-key', f('leaf1.key')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`certificate ${f('nope.crt').replace(/[.]/g, '\\.')}`));
    const mismatch = await runDuro(['backend', '--port', '0', '--tls-cert', f('leaf1.crt'), '--tls-key', f('leaf2.key')]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /does not match certificate/);
    const half = await runDuro(['backend', '--port', '0', '--tls-cert', f('leaf1.crt')]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, /TLS needs a certificate and its key/);
    const noCa = await runDuro(['frontend', '--port', '0', '--backend', 'https://127.0.0.1:1', '--backend-ca', f('nope-ca.crt')]);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, new RegExp(`CA file ${f('nope-ca.crt').replace(/[.]/g, '\\.')}`));
    const scheme = await runDuro(['frontend', '--port', '0', '--backend', 'ftp://127.0.0.1:1']);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /expected an http:\/\/ or https:\/\/ URL/);
  });

  test('the "tls" section, with paths relative to the config file', async () => {
    // the config file in a folder of its own, the certificate beside it:
    // duro runs elsewhere (the harness's directory), so only a path taken
    // relative to the file finds it
    const conf = mkdtempSync(path.join(tmpdir(), 'duro-tls-conf-'));
    copyFileSync(f('leaf1.crt'), path.join(conf, 'site.crt'));
    copyFileSync(f('leaf1.key'), path.join(conf, 'site.key'));
    writeFileSync(path.join(conf, 'duro.jsonc'), JSON.stringify({ tls: { cert: 'site.crt', key: 'site.key' } }));
    const duro = await startDuro({ args: ['--config', path.join(conf, 'duro.jsonc')] });
    try {
      assert.match(duro.log, /backend on https:/);
      assert.equal((await get(duro.port)).status, 200);
    } finally {
      await duro.stop();
      duro.cleanup();
      rmSync(conf, { recursive: true, force: true });
    }
  });
});
