// The countdown page in a real Chromium against `duro dev` (both roles in
// one process, development mode: the page's script connects straight to
// the backend's /ws/connect, as the seed's does).
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { openWs, waitFor, closed } from '../integration/lib/duro.mjs';
import {
  artifactPath, assertFullCountdown, COUNTS, jsonMessages, launchBrowser, latestSeen, messageLines, newPage,
  openPage, assertSeedPage,
  startDev, stopAll, waitConnected, waitCountdownDone, watchHandshakes, watchLatest, withLogs,
} from './lib.mjs';

describe('browser: duro dev', { timeout: 90000 }, () => {
  let browser, setup;
  const pages = [];
  const it = withLogs(() => setup, () => pages);

  before(async () => {
    setup = await startDev();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopAll(setup);
  });

  test('the page shows the heading from TEST_DO and turns green', { timeout: 20000 }, it(async () => {
    const context = await browser.newContext();
    try {
      const page = await newPage(context);
      pages.push(page);
      const handshakes = await watchHandshakes(context, page);
      const res = await page.goto(setup.frontendUrl + '/');
      await assertSeedPage(page, res);
      assert.equal(await page.$('#backend-error'), null);
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      await waitConnected(page);
      assert.equal(await page.isEnabled('#start-countdown'), true);
      // development: straight to the backend, as the seed's client does
      assert.deepEqual(page.sockets, [`ws://127.0.0.1:${setup.backendPort}/ws/connect`]);
      // Chromium offers permessage-deflate, and duro takes it
      await waitFor(() => handshakes.length > 0, 5000, 'the handshake answer');
      assert.match(handshakes[0]['sec-websocket-extensions'] ?? '', /^permessage-deflate; server_no_context_takeover/);
      // the dot is green: its colour is a green, not amber or red
      const rgb = await page.$eval('#ws-status .status-dot', (el) => getComputedStyle(el).backgroundColor);
      const [r, g, b] = rgb.match(/\d+/g).map(Number);
      assert.ok(g > r && g > b, `a green dot, got ${rgb}`);
      assert.deepEqual(page.consoleErrors, []);
    } finally {
      await context.close();
    }
  }));

  test('Start Countdown: 10..0 in order on two pages (en and de), screenshot mid-way', { timeout: 40000 }, it(async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    try {
      const a = await newPage(context);
      const b = await newPage(context);
      pages.push(a, b);
      await a.goto(setup.frontendUrl + '/');
      await b.goto(setup.frontendUrl + '/de/');
      await waitConnected(a);
      await waitConnected(b, { text: 'Verbunden' });
      assert.equal(await a.$$eval('#messages li', (l) => l.length), 0);
      await watchLatest(a);
      await watchLatest(b);

      await a.click('#start-countdown');
      // mid-countdown: a screenshot for a human to look at
      await a.waitForFunction(() => document.querySelectorAll('#messages li').length >= 5, null, { timeout: 10000, polling: 50 });
      const shot = artifactPath('countdown.png');
      await a.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot) && statSync(shot).size > 1000);

      await waitCountdownDone(a);
      await waitCountdownDone(b);
      const en = await assertFullCountdown(a, 'en');
      const de = await assertFullCountdown(b, 'de');
      // the big number went 10, 9, ..., 0 and nothing else
      assert.deepEqual(await latestSeen(a), COUNTS.map(String));
      assert.deepEqual(await latestSeen(b), COUNTS.map(String));
      // the same messages (same timestamps) on both pages
      assert.deepEqual(de, en);
      // nothing after 0
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal((await messageLines(a)).length, 11);
      assert.deepEqual(a.consoleErrors, []);
      assert.deepEqual(b.consoleErrors, []);
    } finally {
      await context.close();
    }
  }));

  test('/de/ renders the German strings', { timeout: 20000 }, it(async () => {
    const context = await browser.newContext();
    try {
      const { page, res } = await openPage(context, setup.frontendUrl + '/de/', pages);
      assert.equal(res.status(), 200);
      assert.equal(await page.getAttribute('html', 'lang'), 'de');
      assert.equal((await page.textContent('#start-countdown')).trim(), 'Countdown starten');
      assert.equal((await page.textContent('#messages-title')).trim(), 'Empfangene Nachrichten');
      assert.equal((await page.textContent('#clear-messages')).trim(), 'Leeren');
      assert.equal((await page.textContent('#messages-empty')).trim(), 'Noch keine Nachrichten');
      assert.equal((await page.textContent('#demo-title')).trim(), 'WebSocket-Countdown-Demo');
      assert.match(await page.title(), /WebSocket-Countdown-Demo/);
      await waitConnected(page, { text: 'Verbunden' });
      // for a human: the German page, narrow and dark
      const dark = await browser.newContext({ viewport: { width: 390, height: 760 }, colorScheme: 'dark' });
      try {
        const p2 = await newPage(dark);
        await p2.goto(setup.frontendUrl + '/de/');
        await waitConnected(p2, { text: 'Verbunden' });
        await p2.screenshot({ path: artifactPath('countdown-de-dark-narrow.png'), fullPage: true });
      } finally {
        await dark.close();
      }
      // the English page is English
      await page.goto(setup.frontendUrl + '/');
      assert.equal((await page.textContent('#start-countdown')).trim(), 'Start Countdown');
      assert.equal((await page.textContent('#messages-title')).trim(), 'Messages received');
    } finally {
      await context.close();
    }
  }));

  test('without JavaScript the form starts the countdown (303 back to the page)', { timeout: 40000 }, it(async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const ws = await openWs(`ws://127.0.0.1:${setup.backendPort}/ws/connect`);
    try {
      const { page } = await openPage(context, setup.frontendUrl + '/', pages);
      assert.equal((await page.textContent('h1#heading')).trim(), 'Hello from a Durable Object');
      assert.equal(await page.isVisible('noscript p, .hint'), true, 'the noscript hint is shown');
      assert.equal(await page.isEnabled('#start-countdown'), true);
      const posts = [];
      page.on('response', (r) => { if (r.request().method() === 'POST') posts.push({ status: r.status(), location: r.headers().location }); });
      await Promise.all([page.waitForNavigation({ timeout: 10000 }), page.click('#start-countdown')]);
      assert.deepEqual(posts, [{ status: 303, location: '/?started=1' }]);
      assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/?started=1');
      assert.equal((await page.textContent('#notice')).trim(), 'Countdown started.');
      assert.equal((await page.textContent('h1#heading')).trim(), 'Hello from a Durable Object');
      await waitFor(() => jsonMessages(ws).some((m) => m.count === 0), 20000, 'the countdown over /ws/connect');
      const got = jsonMessages(ws);
      assert.deepEqual(got.map((m) => m.count), COUNTS);
      for (const m of got) assert.equal(typeof m.timestamp, 'number');
    } finally {
      ws.close(1000);
      await closed(ws);
      await context.close();
    }
  }));
});
