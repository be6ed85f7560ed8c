// The page over https: a production `duro frontend` with --tls-cert and
// --tls-key in front of a `duro backend` that speaks TLS too, reached with
// https and --backend-ca (its certificate verified on every call). Chromium
// (ignoreHTTPSErrors: the CA is made here) loads the page, its socket is
// wss: to the page's own /api/ws/connect and negotiates permessage-deflate,
// the session cookie is Secure, and the countdown works end to end.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCerts } from '../integration/lib/certs.mjs';
import {
  artifactPath, assertFullCountdown, assertSeedPage, launchBrowser, newPage, startDuro, waitConnected,
  waitCountdownDone, watchHandshakes, withLogs,
} from './lib.mjs';

const ENV = {
  DURO_INTERNAL_SECRET: 'internal-secret-for-the-https-test',
  DURO_SESSION_SECRET: 'session-secret-0123456789abcdef',
  DURO_SYNC_TOKEN: 'sync-token-for-the-https-test',
};

describe('browser: the page over https (TLS frontend, TLS backend)', { timeout: 90000 }, () => {
  let browser, backend, frontend, certDir;
  const pages = [];
  const setup = {
    handles: () => [backend, frontend].filter(Boolean),
    get log() { return `--- backend ---\n${backend?.log}\n--- frontend ---\n${frontend?.log}`; },
  };
  const it = withLogs(() => setup, () => pages);

  before(async () => {
    certDir = mkdtempSync(path.join(tmpdir(), 'duro-https-'));
    const { ca, leaves: [leaf, backendLeaf] } = makeCerts(certDir, 2);
    backend = await startDuro({
      role: 'backend', mode: 'production', env: ENV,
      args: ['--tls-cert', backendLeaf.cert, '--tls-key', backendLeaf.key],
    });
    frontend = await startDuro({
      role: 'frontend', mode: 'production', env: ENV,
      args: ['--backend', backend.url, '--backend-ca', ca, '--tls-cert', leaf.cert, '--tls-key', leaf.key],
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    for (const h of [frontend, backend]) if (h) { await h.stop(); h.cleanup(); }
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  test('https page, wss socket with permessage-deflate, Secure cookie, the countdown', { timeout: 60000 }, it(async () => {
    assert.match(frontend.log, /frontend on https:\/\/127\.0\.0\.1:\d+ .*backend https:/);
    const url = `https://127.0.0.1:${frontend.port}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await newPage(context);
    pages.push(page);
    const handshakes = await watchHandshakes(context, page);
    const res = await page.goto(`${url}/`);
    await assertSeedPage(page, res);
    await waitConnected(page);
    assert.deepEqual(page.sockets, [`wss://127.0.0.1:${frontend.port}/api/ws/connect`]);
    assert.match(handshakes[0]?.['sec-websocket-extensions'] ?? '', /^permessage-deflate/);
    const session = (await context.cookies()).find((c) => c.name === 'duro_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.secure, true, 'Secure over https');
    await page.click('#start-countdown');
    await waitCountdownDone(page);
    await assertFullCountdown(page);
    await page.screenshot({ path: artifactPath('https-countdown.png'), fullPage: true });
    assert.deepEqual(page.consoleErrors, []);
  }));
});
