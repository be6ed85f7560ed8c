// examples/sveltekit, the seed's frontend as a SvelteKit 2 + Svelte 5 app
// on platform.env, against a real `duro backend`:
// - built (npm run build, then `node build`), in Chromium: the heading
//   from TEST_DO, the indicator turns green, Start Countdown shows 10..0
//   in 11 lines on two pages, stopping the backend turns the indicator
//   red and restarting it brings it back, /de is German; a screenshot;
// - in `vite dev`: the heading and a socket through /api/ws/connect.
// The app's dependencies come from its own lockfile (npm ci) the first
// time; the build runs every time, so it tests the sources as they are.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  artifactPath, assertFullCountdown, launchBrowser, newPage, startDuro, waitConnected,
  waitCountdownDone, waitFor, withLogs,
} from './lib.mjs';

const APP = path.resolve(import.meta.dirname, '../../examples/sveltekit');
const SECRET = 'internal-secret-for-the-sveltekit-test';

function prepare() {
  if (!existsSync(path.join(APP, 'node_modules/@sveltejs/kit')))
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: APP, stdio: 'ignore', timeout: 180000 });
  execFileSync('npm', ['run', 'build'], { cwd: APP, stdio: 'ignore', timeout: 180000 });
}

// A port nobody listens on: bound, then closed.
const freePort = () => new Promise((r) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => r(port)); });
});

// Starts the app (node build, or vite dev) on a free port; resolves with
// its URL once it listens. Stopped by its PID. adapter-node takes the
// origin from ORIGIN (without it, it would assume https).
async function startApp(kind, backendUrl, extraEnv = {}) {
  const port = await freePort();
  const env = {
    ...process.env, DURO_BACKEND: backendUrl, DURO_INTERNAL_SECRET: SECRET,
    HOST: '127.0.0.1', PORT: String(port), ORIGIN: `http://127.0.0.1:${port}`, ...extraEnv,
  };
  const args = kind === 'build'
    ? ['build']
    : [path.join(APP, 'node_modules/vite/bin/vite.js'), 'dev', '--port', String(port)];
  const proc = spawn(process.execPath, args, { cwd: APP, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d) => { log += d; };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const url = waitFor(() => {
    const m = /(?:Listening on|Local:\s+)\s*(http:\/\/127\.0\.0\.1:\d+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ''));
    return m ? m[1] : null;
  }, 30000, `the app listening:\n${log}`);
  return {
    proc, url, get log() { return log; },
    async stop() { proc.kill('SIGTERM'); const r = await Promise.race([exited, new Promise((res) => setTimeout(() => res(null), 5000))]); if (!r) { proc.kill('SIGKILL'); await exited; } },
  };
}

describe('browser: the SvelteKit example on platform.env', { timeout: 240000 }, () => {
  let browser, backend, app;
  const pages = [];
  const setup = {
    handles: () => [backend].filter(Boolean),
    get log() { return `--- backend ---\n${backend?.log}\n--- app ---\n${app?.log}`; },
  };
  const it = withLogs(() => setup, () => pages);

  before(async () => {
    prepare();
    backend = await startDuro({ env: { DURO_INTERNAL_SECRET: SECRET } });
    app = await startApp('build', backend.url);
    await app.url;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
    if (backend) { await backend.stop(); backend.cleanup(); }
  });

  test('built: the heading, a green indicator, a countdown on two pages, red when the backend stops, back when it returns', { timeout: 120000 }, it(async () => {
    const url = await app.url;
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const [a, b] = [await newPage(context), await newPage(context)];
    pages.push(a, b);
    for (const p of [a, b]) {
      const res = await p.goto(`${url}/`);
      assert.equal(res.status(), 200);
      assert.equal((await p.textContent('h1#heading')).trim(), 'Hello from a Durable Object');
      await waitConnected(p);
    }
    // the socket went through the app's /api/ws/connect, not to the backend
    assert.ok(a.sockets.every((s) => s.startsWith(url.replace('http', 'ws'))), JSON.stringify(a.sockets));
    await a.click('#start-countdown');
    await waitCountdownDone(a);
    await waitCountdownDone(b);
    await assertFullCountdown(a);
    await assertFullCountdown(b);
    await a.screenshot({ path: artifactPath('sveltekit-countdown.png'), fullPage: true });

    // the backend stops: red; it comes back on the same port: green again
    const port = backend.port, dir = backend.dir;
    await backend.stop();
    await a.waitForSelector('#ws-status[data-state="disconnected"]', { timeout: 10000 });
    assert.equal((await a.textContent('#ws-status-text')).trim(), 'Disconnected');
    backend = await startDuro({ env: { DURO_INTERNAL_SECRET: SECRET }, port, dir });
    await waitConnected(a, { timeout: 40000 });
    await waitConnected(b, { timeout: 40000 });
    assert.deepEqual(a.consoleErrors.filter((e) => !/WebSocket|ERR_CONNECTION|502|500/.test(e)), []);
  }));

  test('built: /de is German; the socket route refuses without an upgrade (426) or a session (401)', { timeout: 60000 }, it(async () => {
    const url = await app.url;
    const context = await browser.newContext();
    const p = await newPage(context);
    pages.push(p);
    await p.goto(`${url}/de/`);
    await waitConnected(p, { text: 'Verbunden' });
    assert.equal((await p.textContent('#start-countdown')).trim(), 'Countdown starten');
    assert.equal(await p.getAttribute('html', 'lang'), 'de');
    const plain = await fetch(`${url}/api/ws/connect`);
    assert.equal(plain.status, 426);
    await plain.text();
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws/connect`);
      ws.on('unexpected-response', (req, res) => { res.resume(); resolve(res.statusCode); });
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
  }));

  test('built, with the backend away at start: the page says so (200), and works once the backend is there', { timeout: 60000 }, it(async () => {
    const port = await freePort();
    const lone = await startApp('build', `http://127.0.0.1:${port}`);
    try {
      const url = await lone.url;
      const res = await fetch(`${url}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<h1 id="heading" class="error">The backend is unavailable<\/h1>/);
      const late = await startDuro({ env: { DURO_INTERNAL_SECRET: SECRET }, port });
      try {
        const again = await fetch(`${url}/`);
        assert.match(await again.text(), /<h1 id="heading">Hello from a Durable Object<\/h1>/);
      } finally {
        await late.stop();
        late.cleanup();
      }
    } finally {
      await lone.stop();
    }
  }));

  test('vite dev: the heading, and a socket through /api/ws/connect', { timeout: 90000 }, it(async () => {
    const dev = await startApp('dev', backend.url);
    try {
      const url = await dev.url;
      const context = await browser.newContext();
      const p = await newPage(context);
      pages.push(p);
      await p.goto(`${url}/`);
      assert.equal((await p.textContent('h1#heading')).trim(), 'Hello from a Durable Object');
      await waitConnected(p, { timeout: 30000 });
      const r = await fetch(`${backend.url}/broadcast`, { method: 'POST', body: JSON.stringify({ count: 5, timestamp: Date.now() }) });
      assert.equal(r.status, 200);
      await p.waitForFunction(() => document.getElementById('latest-count')?.textContent === '5', null, { timeout: 10000 });
    } finally {
      await dev.stop();
    }
  }));

  test('vite dev with the seed\'s workaround: VITE_WS_HOST and VITE_WS_PATH send the socket straight to the backend', { timeout: 90000 }, it(async () => {
    const backendHost = backend.url.replace('http://', '');
    const dev = await startApp('dev', backend.url, { VITE_WS_HOST: backendHost, VITE_WS_PATH: '/ws/connect' });
    try {
      const url = await dev.url;
      const p = await newPage(await browser.newContext());
      pages.push(p);
      await p.goto(`${url}/`);
      await waitConnected(p, { timeout: 30000 });
      assert.deepEqual(p.sockets.filter((u) => !u.includes('vite') && !/token=/.test(u)), [`ws://${backendHost}/ws/connect`]);
    } finally {
      await dev.stop();
    }
  }));
});
