// The countdown page in a real Chromium against two processes: `duro
// backend` and `duro frontend --backend http://127.0.0.1:<port>`, which
// reach each other only through the binding protocol. Includes killing the
// backend (SIGKILL) and restarting it on the same port.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWs, waitFor, closed } from '../integration/lib/duro.mjs';
import {
  assertFullCountdown, COUNTS, jsonMessages, launchBrowser, latestSeen, messageLines, newPage,
  openPage, assertSeedPage,
  parseLines, startPair, stopAll, waitConnected, waitCountdownDone, watchLatest, withLogs,
} from './lib.mjs';

// Stops a running countdown through the binding protocol (test mode, no
// secret: loopback callers are let in).
async function stopCountdown(backendUrl, headers = {}) {
  const r = await fetch(`${backendUrl}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST', headers });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
}

describe('browser: duro backend + duro frontend', { timeout: 120000 }, () => {
  let browser, setup;
  const pages = [];
  const it = withLogs(() => setup, () => pages);

  before(async () => {
    setup = await startPair({ mode: 'test' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopAll(setup);
  });

  test('the page shows the heading from TEST_DO and turns green', { timeout: 20000 }, it(async () => {
    const context = await browser.newContext();
    try {
      const { page, res } = await openPage(context, setup.frontendUrl + '/', pages);
      await assertSeedPage(page, res);
      assert.equal(await page.$('#backend-error'), null);
      await waitConnected(page);
      assert.equal(await page.getAttribute('#ws-status', 'data-state'), 'connected');
      assert.equal(await page.isEnabled('#start-countdown'), true);
      assert.deepEqual(page.consoleErrors, []);
    } finally {
      await context.close();
    }
  }));

  test('two pages receive the same countdown, 10..0 in order', { timeout: 40000 }, it(async () => {
    const ctxA = await browser.newContext();
    const ctxB = await browser.newContext(); // another browser profile: its own session
    try {
      const a = await newPage(ctxA);
      const b = await newPage(ctxB);
      pages.push(a, b);
      await a.goto(setup.frontendUrl + '/');
      await b.goto(setup.frontendUrl + '/');
      await waitConnected(a);
      await waitConnected(b);
      await watchLatest(a);
      await watchLatest(b);
      await b.click('#start-countdown');
      await waitCountdownDone(a);
      await waitCountdownDone(b);
      const la = await assertFullCountdown(a);
      const lb = await assertFullCountdown(b);
      assert.deepEqual(lb, la);
      assert.deepEqual(await messageLines(a), await messageLines(b));
      assert.deepEqual(await latestSeen(a), COUNTS.map(String));
      assert.deepEqual(await latestSeen(b), COUNTS.map(String));
      // Clear empties the list and the big number
      await a.click('#clear-messages');
      assert.equal((await messageLines(a)).length, 0);
      assert.equal((await a.textContent('#latest-count')).trim(), '–');
      assert.equal(await a.isVisible('#messages-empty'), true);
      assert.deepEqual([...a.consoleErrors, ...b.consoleErrors], []);
    } finally {
      await ctxA.close();
      await ctxB.close();
    }
  }));

  test('SIGKILL the backend: the indicator leaves green; restarted on the same port it is green again and a countdown arrives',
    { timeout: 60000 }, it(async () => {
      const context = await browser.newContext();
      try {
        const { page } = await openPage(context, setup.frontendUrl + '/', pages);
        await waitConnected(page);
        const port = setup.backendPort;

        await setup.killBackend();
        await page.waitForSelector('#ws-status:not([data-state="connected"])', { timeout: 5000 });
        const state = await page.getAttribute('#ws-status', 'data-state');
        assert.ok(['connecting', 'disconnected'].includes(state), state);
        assert.notEqual((await page.textContent('#ws-status-text')).trim(), 'Connected');
        assert.equal(await page.isDisabled('#start-countdown'), true, 'no start while disconnected');

        // meanwhile a fresh page load shows the backend error instead of the heading
        const other = await newPage(context);
        pages.push(other);
        await other.goto(setup.frontendUrl + '/');
        assert.match(await other.textContent('#backend-error'), /The backend is unavailable/);
        assert.equal(await other.$('h1#heading'), null);
        await other.close();

        const down = Date.now();
        await setup.restartBackend();
        assert.equal(setup.backendPort, port);
        assert.equal(setup.backend.port, port);
        // the client retries at 1 s, 2 s, 4 s, ... after the close: well within 20 s
        await waitConnected(page, { timeout: 20000 });
        const after = Date.now() - down;

        await watchLatest(page);
        await page.click('#start-countdown');
        await page.waitForFunction(() => {
          const l = document.querySelectorAll('#messages li');
          return l.length >= 3;
        }, null, { timeout: 10000, polling: 100 });
        await stopCountdown(setup.backendUrl);
        const got = parseLines(await messageLines(page)).map((p) => p.count);
        assert.deepEqual(got.slice(0, 3), [10, 9, 8], JSON.stringify(got));
        assert.ok(after < 20000);
      } finally {
        await context.close();
      }
    }));

  test('without JavaScript the form starts the countdown (303 back to the page)', { timeout: 40000 }, it(async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const ws = await openWs(`ws://127.0.0.1:${setup.backendPort}/ws/connect`);
    try {
      const { page } = await openPage(context, setup.frontendUrl + '/de/', pages);
      assert.equal((await page.textContent('#start-countdown')).trim(), 'Countdown starten');
      const posts = [];
      page.on('response', (r) => { if (r.request().method() === 'POST') posts.push({ status: r.status(), location: r.headers().location }); });
      await Promise.all([page.waitForNavigation({ timeout: 10000 }), page.click('#start-countdown')]);
      assert.deepEqual(posts, [{ status: 303, location: '/de/?started=1' }]);
      const u = new URL(page.url());
      assert.equal(u.pathname + u.search, '/de/?started=1');
      assert.equal((await page.textContent('#notice')).trim(), 'Countdown gestartet.');
      assert.equal(await page.getAttribute('html', 'lang'), 'de');
      await waitFor(() => jsonMessages(ws).some((m) => m.count === 0), 20000, 'the countdown over /ws/connect');
      assert.deepEqual(jsonMessages(ws).map((m) => m.count), COUNTS);
    } finally {
      ws.close(1000);
      await closed(ws);
      await context.close();
    }
  }));
});
