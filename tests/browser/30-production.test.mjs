// Production mode, two processes, both with DURO_INTERNAL_SECRET and
// DURO_SESSION_SECRET: the backend's direct socket is closed (401), the
// frontend's /api/ws/connect wants the page's session and Origin, and the
// page's own script (which in production connects to the page's origin)
// gets the countdown end to end, also across a backend restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWs, closed, sessionCookie } from '../integration/lib/duro.mjs';
import {
  assertFullCountdown, COUNTS, launchBrowser, latestSeen, messageLines, newPage,
  openPage, assertSeedPage, parseLines,
  startPair, stopAll, waitConnected, waitCountdownDone, watchHandshakes, watchLatest, withLogs,
} from './lib.mjs';

const ENV = {
  DURO_INTERNAL_SECRET: 'internal-secret-for-the-browser-tests',
  DURO_SESSION_SECRET: 'session-secret-0123456789abcdef',
};
const BEARER = { Authorization: `Bearer ${ENV.DURO_INTERNAL_SECRET}` };


describe('browser: production mode (two processes)', { timeout: 120000 }, () => {
  let browser, setup;
  const pages = [];
  const it = withLogs(() => setup, () => pages);

  before(async () => {
    // a production backend also wants an auth check for LiveStore sync
    setup = await startPair({ mode: 'production', env: ENV, backendEnv: { ...ENV, DURO_SYNC_TOKEN: 'sync-token-for-the-tests' } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopAll(setup);
  });

  test('the backend refuses its direct /ws/connect with 401', { timeout: 10000 }, it(async () => {
    await assert.rejects(openWs(`ws://127.0.0.1:${setup.backendPort}/ws/connect`), (e) => e.status === 401);
    const r = await fetch(`${setup.backendUrl}/ws/connect`);
    assert.equal(r.status, 401);
    await r.text();
  }));

  test('/api/ws/connect: 401 without a session, 403 for a foreign Origin', { timeout: 10000 }, it(async () => {
    const url = `ws://127.0.0.1:${setup.frontendPort}/api/ws/connect`;
    await assert.rejects(openWs(url), (e) => e.status === 401 && /session/i.test(e.body));
    await assert.rejects(openWs(url, { origin: `http://127.0.0.1:${setup.frontendPort}` }), (e) => e.status === 401);
    const cookie = await sessionCookie(setup.frontendUrl);
    for (const origin of ['http://evil.example', `http://127.0.0.1:${setup.backendPort}`, 'null']) {
      await assert.rejects(openWs(url, { origin }), (e) => e.status === 403, `no session, Origin ${origin}`);
      await assert.rejects(openWs(url, { origin, headers: { Cookie: cookie } }), (e) => e.status === 403, `Origin ${origin}`);
    }
    // with the session and the page's own Origin it opens
    const ws = await openWs(url, { origin: `http://127.0.0.1:${setup.frontendPort}`, headers: { Cookie: cookie } });
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  }));

  test('the page connects to its own /api/ws/connect and the countdown works end to end', { timeout: 40000 }, it(async () => {
    const context = await browser.newContext();
    try {
      const page = await newPage(context);
      pages.push(page);
      const handshakes = await watchHandshakes(context, page);
      const res = await page.goto(setup.frontendUrl + '/');
      await assertSeedPage(page, res);
      await waitConnected(page);
      assert.deepEqual(page.sockets, [`ws://127.0.0.1:${setup.frontendPort}/api/ws/connect`]);
      // permessage-deflate through the frontend's tunnel: offered by
      // Chromium, carried up, answered by the backend, carried down
      assert.match(handshakes[0]?.['sec-websocket-extensions'] ?? '', /^permessage-deflate; server_no_context_takeover/);
      const cookies = await context.cookies();
      const s = cookies.find((c) => c.name === 'duro_session');
      assert.ok(s, 'a session cookie');
      assert.equal(s.httpOnly, true);
      assert.equal(s.sameSite, 'Lax');
      assert.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: invisible to the script');
      await watchLatest(page);
      await page.click('#start-countdown');
      await waitCountdownDone(page);
      await assertFullCountdown(page);
      assert.deepEqual(await latestSeen(page), COUNTS.map(String));
      assert.equal(await page.isVisible('#form-error'), false);
      assert.deepEqual(page.consoleErrors, []);
    } finally {
      await context.close();
    }
  }));

  test('through the frontend: SIGKILL the backend, restart it on the same port, green again and a countdown arrives',
    { timeout: 60000 }, it(async () => {
      const context = await browser.newContext();
      try {
        const { page } = await openPage(context, setup.frontendUrl + '/', pages);
        await waitConnected(page);
        const port = setup.backendPort;
        await setup.killBackend();
        await page.waitForSelector('#ws-status:not([data-state="connected"])', { timeout: 5000 });
        await setup.restartBackend();
        assert.equal(setup.backend.port, port);
        await waitConnected(page, { timeout: 20000 });
        // every attempt went to the page's own origin
        for (const u of page.sockets) assert.equal(u, `ws://127.0.0.1:${setup.frontendPort}/api/ws/connect`);
        assert.ok(page.sockets.length >= 2);
        await page.click('#start-countdown');
        await page.waitForFunction(() => document.querySelectorAll('#messages li').length >= 2, null, { timeout: 10000, polling: 100 });
        const r = await fetch(`${setup.backendUrl}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST', headers: BEARER });
        assert.equal(r.status, 200);
        await r.text();
        const got = parseLines(await messageLines(page)).map((p) => p.count);
        assert.deepEqual(got.slice(0, 2), [10, 9]);
      } finally {
        await context.close();
      }
    }));
});
