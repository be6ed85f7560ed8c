// The front page (web/index.html + app.js + ws-client.js) in a real
// Chromium, served by a small Node stand-in for the frontend role: it fills
// the template's {{placeholders}} the way the C server does, answers the
// countdown form, and speaks WebSocket on /ws/connect. Skipped when no
// Chromium is installed (set CHROMIUM_PATH to use another binary).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';

const WEB = path.resolve(import.meta.dirname, '../../web');
const CHROMIUM = process.env.CHROMIUM_PATH ||
  ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

const EN = {
  't.card_title': 'WebSocket Countdown Demo',
  't.description': 'Start a countdown on the server and watch the messages arrive.',
  't.noscript': 'Live updates need JavaScript; the button still starts the countdown.',
  't.start_countdown': 'Start Countdown',
  't.latest_count': 'Latest count',
  't.messages_received': 'Messages received',
  't.clear': 'Clear',
  't.no_messages': 'No messages yet',
  't.connected': 'Connected',
  't.connecting': 'Connecting...',
  't.disconnected': 'Disconnected',
};
const DE = {
  ...EN,
  't.start_countdown': 'Countdown starten',
  't.connected': 'Verbunden',
  't.connecting': 'Verbinde...',
  't.disconnected': 'Getrennt',
};

// Every placeholder of the template, and nothing else.
const PLACEHOLDERS = ['lang', 'title', 'heading_block', 'notice_block', 'form_action', 'config_json',
  ...Object.keys(EN)].sort();

const escapeHtml = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function renderPage(srv, { lang = 'en', notice = '' } = {}) {
  const t = lang === 'de' ? DE : EN;
  // Status texts come from the template's data-text-* attributes here;
  // the config carries only the message line.
  const config = {
    mode: 'development',
    backendPort: srv.port,
    strings: { countLine: lang === 'de' ? 'Zähler: {count} (um {time})' : 'Count: {count} (at {time})' },
  };
  const values = {
    lang,
    title: escapeHtml('duro <demo>'),
    heading_block: '<h1 id="heading">Hello from a Durable Object</h1>',
    notice_block: notice ? `<p id="notice" class="notice" role="status">${escapeHtml(notice)}</p>` : '',
    form_action: '?/countdown',
    config_json: JSON.stringify(config).replace(/</g, '\\u003c'),
  };
  for (const [k, v] of Object.entries(t)) values[k] = escapeHtml(v);
  return srv.template.replace(/\{\{([\w.]+)\}\}/g, (m, k) => {
    if (!(k in values)) throw new Error(`unknown placeholder ${m}`);
    return values[k];
  });
}

async function startSite() {
  const srv = {
    template: readFileSync(path.join(WEB, 'index.html'), 'utf8'),
    posts: [],
    postStatus: 200,
    refuse: false,
    port: 0,
    origin: '',
  };
  const types = { '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const wss = new WebSocketServer({ noServer: true });
  srv.broadcast = (obj) => { for (const c of wss.clients) c.send(JSON.stringify(obj)); };
  srv.dropSockets = () => { for (const c of wss.clients) c.terminate(); };
  srv.clients = () => wss.clients.size;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.search === '?/countdown') {
      req.resume();
      req.on('end', () => {
        const enhanced = req.headers['x-duro-enhanced'] === '1';
        srv.posts.push({ path: url.pathname, enhanced, type: req.headers['content-type'] });
        if (srv.postStatus === 200) {
          const base = 1700000000000;
          [3, 2, 1, 0].forEach((n, i) => setTimeout(() => srv.broadcast({ count: n, timestamp: base + (3 - n) * 1000 }), 20 * i));
        }
        if (enhanced) {
          res.writeHead(srv.postStatus, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: srv.postStatus === 200 }));
        } else {
          res.writeHead(200, { 'content-type': 'text/html;charset=utf-8' });
          res.end(renderPage(srv, { lang: url.pathname.startsWith('/de') ? 'de' : 'en', notice: 'Countdown started' }));
        }
      });
      return;
    }
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/de/')) {
      res.writeHead(200, { 'content-type': 'text/html;charset=utf-8' });
      res.end(renderPage(srv, { lang: url.pathname === '/de/' ? 'de' : 'en' }));
      return;
    }
    const file = path.join(WEB, path.basename(url.pathname));
    const ext = path.extname(file);
    if (req.method === 'GET' && types[ext] && existsSync(file)) {
      res.writeHead(200, { 'content-type': types[ext] });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(404).end('not found');
  });
  server.on('upgrade', (req, socket, head) => {
    if (srv.refuse || new URL(req.url, 'http://x').pathname !== '/ws/connect') { socket.destroy(); return; }
    wss.handleUpgrade(req, socket, head, () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  srv.port = server.address().port;
  srv.origin = `http://127.0.0.1:${srv.port}`;
  srv.close = async () => {
    srv.dropSockets();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return srv;
}

describe('front page in Chromium', { skip: CHROMIUM ? false : 'no Chromium found', timeout: 60000 }, () => {
  let browser;
  let srv;
  let ctx;

  before(async () => {
    srv = await startSite();
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  after(async () => {
    await ctx?.close();
    await browser?.close();
    await srv?.close();
  });

  async function open(pagePath = '/', opts = {}) {
    await ctx?.close();
    ctx = await browser.newContext({ timezoneId: 'Europe/Berlin', ...opts });
    const page = await ctx.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e));
    await page.goto(srv.origin + pagePath);
    return page;
  }

  const state = (page) => page.getAttribute('#ws-status', 'data-state');

  test('the template has exactly the documented placeholders', () => {
    const found = [...new Set([...srv.template.matchAll(/\{\{([\w.]+)\}\}/g)].map((m) => m[1]))].sort();
    assert.deepEqual(found, PLACEHOLDERS);
  });

  test('connects, starts the countdown without a reload, lists the messages, clears them', async () => {
    srv.postStatus = 200;
    srv.posts.length = 0;
    const page = await open('/');
    assert.equal(await page.textContent('#latest-count'), '–');
    assert.equal(await page.isVisible('#messages-empty'), true);
    await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected');
    assert.equal(await page.textContent('#ws-status-text'), 'Connected');
    assert.equal(await page.isEnabled('#start-countdown'), true);

    await page.evaluate(() => { window.__sameDocument = true; });
    await page.click('#start-countdown');
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 4);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
    assert.deepEqual(srv.posts, [{ path: '/', enhanced: true, type: 'application/x-www-form-urlencoded;charset=UTF-8' }]);

    const lines = await page.$$eval('#messages li', (els) => els.map((e) => e.textContent));
    // 1700000000000 is 22:13:20 UTC, 23:13:20 in Berlin (the context's zone).
    assert.deepEqual(lines, [
      'Count: 3 (at 23:13:20)', 'Count: 2 (at 23:13:21)', 'Count: 1 (at 23:13:22)', 'Count: 0 (at 23:13:23)',
    ]);
    assert.equal(await page.textContent('#latest-count'), '0');
    assert.equal(await page.isVisible('#messages-empty'), false);
    assert.equal(await page.isVisible('#form-error'), false);

    await page.click('#clear-messages');
    assert.equal(await page.locator('#messages li').count(), 0);
    assert.equal(await page.textContent('#latest-count'), '–');
    assert.equal(await page.isVisible('#messages-empty'), true);
    assert.deepEqual(page.errors, []);
  });

  test('a message without a count is listed as JSON', async () => {
    const page = await open('/');
    await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected');
    srv.broadcast({ hello: 'world' });
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 1);
    assert.equal(await page.textContent('#messages li'), '{"hello":"world"}');
    assert.equal(await page.textContent('#latest-count'), '–');
  });

  test('a failed start shows an inline error', async () => {
    srv.postStatus = 503;
    try {
      const page = await open('/');
      await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected');
      await page.click('#start-countdown');
      await page.waitForSelector('#form-error:not([hidden])');
      assert.match(await page.textContent('#form-error'), /HTTP 503/);
      assert.equal(await page.isEnabled('#start-countdown'), true, 'usable again after the failure');
    } finally {
      srv.postStatus = 200;
    }
  });

  test('the button is disabled until connected; the page reconnects after a drop', async () => {
    srv.refuse = true;
    try {
      const page = await open('/');
      await page.waitForFunction(() => document.getElementById('ws-status').dataset.state !== 'connected');
      await page.waitForTimeout(200);
      assert.notEqual(await state(page), 'connected');
      assert.equal(await page.isEnabled('#start-countdown'), false);
      assert.match(await page.textContent('#ws-status-text'), /^(Connecting\.\.\.|Disconnected)$/);
      srv.refuse = false;
      // The retries back off from 1 s; the third comes about 3 s after the first.
      await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected',
        null, { timeout: 10000 });
      assert.equal(await page.isEnabled('#start-countdown'), true);

      srv.dropSockets();
      await page.waitForFunction(() => document.getElementById('ws-status').dataset.state !== 'connected');
      assert.equal(await page.isEnabled('#start-countdown'), false);
      await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected',
        null, { timeout: 5000 });
    } finally {
      srv.refuse = false;
    }
  });

  test('German page: texts from the template and the config', async () => {
    const page = await open('/de/');
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    await page.waitForFunction(() => document.getElementById('ws-status').dataset.state === 'connected');
    assert.equal(await page.textContent('#ws-status-text'), 'Verbunden');
    assert.equal((await page.textContent('#start-countdown')).trim(), 'Countdown starten');
    srv.broadcast({ count: 7, timestamp: 1700000000000 });
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 1);
    assert.equal(await page.textContent('#messages li'), 'Zähler: 7 (um 23:13:20)');
  });

  test('without JavaScript the form is a plain POST', async () => {
    srv.posts.length = 0;
    const page = await open('/', { javaScriptEnabled: false });
    assert.equal(await page.isEnabled('#start-countdown'), true);
    assert.equal(await page.isVisible('#ws-status'), false, 'no live status without a script');
    await Promise.all([page.waitForNavigation(), page.click('#start-countdown')]);
    assert.deepEqual(srv.posts.map((p) => p.enhanced), [false]);
    assert.equal(await page.textContent('#notice'), 'Countdown started');
  });
});
