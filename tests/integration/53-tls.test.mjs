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
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { makeCerts } from './lib/certs.mjs';
import { closed, runDuro, startDuro, waitFor } from './lib/duro.mjs';

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
    const dev = await runDuro(['dev', '--port', '0', '--frontend-port', '0', '--tls-cert', f('leaf1.crt'), '--tls-key', f('leaf1.key')]);
    assert.equal(dev.code, 1);
    assert.match(dev.stderr, /`duro dev` does not take --tls-cert yet/);
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
