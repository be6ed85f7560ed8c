// The inspector page on the admin listener, in Debian's Chromium: the live
// charts fill from /api/live and move while a test publishes; the browser
// walks from the overview to a namespace, an object, its sockets, alarms
// and storage, and acts on them (delete an alarm). In production the
// page asks for DURO_ADMIN_TOKEN and then works with it, the live feed
// included. Screenshots go to tests/artifacts/.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { openWs, closed } from '../integration/lib/duro.mjs';
import { artifactPath, launchBrowser, newPage, startDuro, stopAll, waitFor, withLogs } from './lib.mjs';

const adminRe = /admin: inspector on http:\/\/[^:]+:(\d+)\//;
const adminPort = async (h) => {
  await waitFor(() => adminRe.test(h.log), 5000, `the admin line:\n${h.log}`);
  return Number(adminRe.exec(h.log)[1]);
};
const single = (h) => ({ handles: () => [h], get log() { return h.log; } });

// A WebSocket offering subprotocols: resolves with it open, or rejects
// with the refusal's HTTP status.
const openWithProtocols = (url, protocols) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, protocols);
  ws.messages = [];
  ws.on('message', (d) => ws.messages.push(JSON.parse(String(d))));
  ws.once('open', () => resolve(ws));
  ws.once('unexpected-response', (req, res) => { const e = new Error(`HTTP ${res.statusCode}`); e.status = res.statusCode; res.resume(); reject(e); });
  ws.once('error', reject);
});

const chart = (page, id) => page.$eval(`[data-chart="${id}"]`, (e) => ({
  points: Number(e.dataset.points), last: Number(e.dataset.last), peak: Number(e.dataset.peak),
  image: e.querySelector('canvas').toDataURL(),
}));

describe('browser: the inspector', { timeout: 120000 }, () => {
  let browser, setup;
  const pages = [];
  const it = withLogs(() => setup, () => pages);

  before(async () => { browser = await launchBrowser(); });
  after(async () => { await browser?.close(); });

  test('live charts move while a test publishes; browse to an object\'s storage; delete its alarm', { timeout: 60000 }, it(async () => {
    const duro = await startDuro({ args: ['--admin-port', '0'] });
    setup = single(duro);
    const sockets = [];
    try {
      const port = await adminPort(duro);
      const page = await newPage(await browser.newContext({ viewport: { width: 1400, height: 1000 } }));
      pages.push(page);
      const res = await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal(res.status(), 200);
      assert.equal(await page.title(), 'duro inspector');
      await page.waitForSelector('#live-dot.live', { timeout: 10000 });
      await page.waitForSelector('[data-ns="COUNTDOWN_TIMER"]');
      for (const id of ['connections', 'messages', 'deliveries', 'commit', 'lag'])
        assert.ok(await page.$(`[data-chart="${id}"] canvas`), `the ${id} chart`);
      await page.waitForFunction(() => Number(document.querySelector('[data-chart="connections"]').dataset.points) >= 2,
        null, { timeout: 10000 });
      const before0 = await chart(page, 'deliveries');
      assert.equal(before0.peak, 0, 'nothing delivered yet');

      // 10 subscribers and a publisher, for a few seconds
      for (let i = 0; i < 10; i++) sockets.push(await openWs(`${duro.ws}/ws/connect`));
      const start = await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/start`, { method: 'POST' });
      assert.equal(start.status, 200);
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        const r = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"text":"inspector"}' });
        assert.equal(r.status, 200);
        await new Promise((r2) => setTimeout(r2, 20));
      }
      await page.waitForFunction(() => {
        const d = document.querySelector('[data-chart="deliveries"]').dataset;
        const c = document.querySelector('[data-chart="connections"]').dataset;
        return Number(d.peak) > 0 && Number(c.peak) >= 10;
      }, null, { timeout: 10000 });
      const moved = await chart(page, 'deliveries');
      assert.ok(moved.points > before0.points, 'new samples arrived');
      assert.ok(moved.peak >= 10, `deliveries/s peaked at ${moved.peak}`);
      assert.notEqual(moved.image, before0.image, 'the deliveries chart was redrawn with the traffic');
      const msgs = await chart(page, 'messages');
      assert.ok(msgs.peak > 0, 'messages/s moved');
      assert.equal(await page.textContent('[data-tile="websockets"] .value'), '10');
      await page.screenshot({ path: artifactPath('inspector-overview.png'), fullPage: true });

      // browse: the objects of a namespace, then the countdown's object
      await page.click('a[href="#/namespaces"][data-nav]');
      await page.click('[data-ns="COUNTDOWN_TIMER"] a');
      await page.waitForSelector('tr[data-object]');
      assert.match(await page.textContent('tr[data-object]'), /global/);
      await page.click('tr[data-object] a');
      await page.waitForSelector('#storage tr[data-key]');
      const keys = await page.$$eval('#storage tr[data-key]', (rows) => rows.map((r) => r.dataset.key));
      assert.ok(keys.length > 0);
      assert.deepEqual(keys, [...keys].sort(), 'keys in order');
      const h1 = await page.textContent('main h1');
      assert.equal(h1.trim(), 'global');
      assert.equal(await page.$$eval('#alarms tbody tr', (r) => r.length), 1, 'the countdown\'s alarm');
      await page.screenshot({ path: artifactPath('inspector-object.png'), fullPage: true });

      // an action from the page: delete the alarm
      await page.click('#alarms button.danger');
      await page.waitForSelector('#alarms .empty', { timeout: 10000 });
      assert.match(await page.textContent('#toast'), /deleted/);
      await waitFor(() => /admin: deleted alarm/.test(duro.log), 5000, 'the action logged');

      // the coordinator's sockets, with their age, and the close action
      await page.goto(`http://127.0.0.1:${port}/#/ns/MESSAGE_COORDINATOR/o/global`);
      await page.waitForSelector('#sockets tr[data-socket]');
      assert.equal(await page.$$eval('#sockets tr[data-socket]', (r) => r.length), 10);
      // listening before the click: the close may beat the click's return
      const closing = Promise.race(sockets.map((ws) => new Promise((r) => ws.once('close', (code) => r(code)))));
      const firstRow = '#sockets tr[data-socket="0"]';
      await page.fill(`${firstRow} input[aria-label="close code"]`, '4002');
      await page.click(`${firstRow} button.danger`);
      assert.equal(await Promise.race([closing, new Promise((r) => setTimeout(() => r('no close'), 10000))]), 4002);
      await page.waitForFunction(() => document.querySelectorAll('#sockets tr[data-socket]').length === 9, null, { timeout: 10000 });
      await waitFor(() => /admin: closed socket 0 with 4002/.test(duro.log), 5000, 'the close logged');
      assert.deepEqual(page.consoleErrors, []);
    } finally {
      for (const ws of sockets) { ws.close(); await closed(ws).catch(() => {}); }
      await stopAll(setup);
    }
  }));

  test('production: the page asks for DURO_ADMIN_TOKEN, then the API and the live feed work with it', { timeout: 40000 }, it(async () => {
    const token = 'admin-token-for-the-inspector-test';
    const env = {
      DURO_ADMIN_TOKEN: token,
      DURO_INTERNAL_SECRET: 'internal-secret-for-the-inspector-test',
      DURO_SYNC_TOKEN: 'sync-token-for-the-inspector-test',
    };
    const duro = await startDuro({ mode: 'production', env, args: ['--admin-port', '0'] });
    setup = single(duro);
    try {
      const port = await adminPort(duro);
      // without the token: the page loads (it holds no data), the API does not
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/namespaces`)).status, 401);
      await assert.rejects(openWs(`ws://127.0.0.1:${port}/api/live`), (e) => e.status === 401);
      const live = `ws://127.0.0.1:${port}/api/live`;
      await assert.rejects(openWithProtocols(live, ['duro-admin', 'bearer.d3Jvbmc']),
        (e) => e.status === 401, 'a wrong token as a subprotocol');
      const b64 = Buffer.from(token).toString('base64url');
      const ok = await openWithProtocols(live, ['duro-admin', `bearer.${b64}`]);
      assert.equal(ok.protocol, 'duro-admin');
      await waitFor(() => ok.messages.length > 0, 5000, 'the first message');
      assert.ok(Array.isArray(ok.messages[0].history), 'the history comes first');
      ok.close();
      await closed(ok);
      const page = await newPage(await browser.newContext());
      pages.push(page);
      assert.equal((await page.goto(`http://127.0.0.1:${port}/`)).status(), 200);
      await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
      await page.fill('#token-input', token);
      await page.click('#token-dialog button.primary');
      await page.waitForSelector('[data-ns="MESSAGE_COORDINATOR"]', { timeout: 10000 });
      await page.waitForSelector('#live-dot.live', { timeout: 10000 });
      await page.waitForFunction(() => Number(document.querySelector('[data-chart="connections"]').dataset.points) >= 1,
        null, { timeout: 10000 });
      // the page's console shows the first refused socket; nothing else
      assert.ok(page.consoleErrors.every((e) => /401|WebSocket/.test(e)), page.consoleErrors.join('\n'));
    } finally {
      await stopAll(setup);
    }
  }));
});
