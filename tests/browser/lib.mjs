// Shared helpers of the browser suites: Debian's Chromium through
// playwright-core, duro in `dev` or two-process form (tests/integration's
// harness), and checks of the countdown page. Only 127.0.0.1 is used.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startDuro, waitFor } from '../integration/lib/duro.mjs';

export { startDuro, waitFor };

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '../artifacts');

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

// `duro dev`: both roles in one process. mode null means duro's own default
// for `dev`, which is development (the page then connects straight to the
// backend's /ws/connect, as the seed does).
export async function startDev(opts = {}) {
  const h = await startDuro({ role: 'dev', mode: null, ...opts });
  return {
    kind: 'dev', dev: h, backendPort: h.backendPort, frontendPort: h.frontendPort,
    backendUrl: `http://127.0.0.1:${h.backendPort}`, frontendUrl: h.frontendUrl,
    handles: () => [h],
    get log() { return h.log; },
  };
}

// Two processes: `duro backend` and `duro frontend --backend <url>`.
export async function startPair({ mode = 'test', env = {}, backendEnv = env, frontendEnv = env } = {}) {
  const backend = await startDuro({ role: 'backend', mode, env: backendEnv });
  let frontend;
  try {
    frontend = await startDuro({ role: 'frontend', mode, env: frontendEnv, args: ['--backend', backend.url] });
  } catch (e) {
    await backend.stop();
    backend.cleanup();
    throw e;
  }
  const pair = {
    kind: 'pair', mode, backendEnv, backend, frontend,
    backendPort: backend.port, frontendPort: frontend.port,
    backendUrl: backend.url, frontendUrl: frontend.url,
    handles: () => [pair.backend, pair.frontend],
    get log() { return `--- backend ---\n${pair.backend.log}\n--- frontend ---\n${pair.frontend.log}`; },
    // SIGKILL the backend, by its PID (the harness keeps it).
    async killBackend() { pair.backend.killed = true; return pair.backend.kill9(); },
    // A new backend on the same port and the same data directory.
    async restartBackend() {
      const old = pair.backend;
      const deadline = Date.now() + 10000;
      for (;;) {
        try {
          pair.backend = await startDuro({ role: 'backend', mode, env: backendEnv, port: old.port, dir: old.dir });
          return pair.backend;
        } catch (e) {
          // the port may take a moment to be free again
          if (Date.now() > deadline || !/address already in use|EADDRINUSE|cannot listen/i.test(String(e.message))) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
  return pair;
}

// Stops every process of a setup (SIGTERM; the harness fails on sanitizer
// reports) and removes its directories. A backend killed with SIGKILL is
// not expected to exit cleanly; the others are.
export async function stopAll(setup) {
  if (!setup) return;
  const problems = [];
  const dirs = new Set();
  for (const h of setup.handles()) {
    if (!h) continue;
    dirs.add(h.dir);
    try {
      const r = await h.stop();
      if (!h.killed && r.code !== 0) problems.push(`pid ${h.pid} exited with ${r.code ?? r.signal}:\n${h.log}`);
    } catch (e) {
      problems.push(String(e.message));
    }
  }
  for (const d of dirs) {
    try { rmSync(d, { recursive: true, force: true }); } catch {}
  }
  assert.deepEqual(problems, [], problems.join('\n'));
}

// A page that records every WebSocket it opens and the console's errors.
export async function newPage(context) {
  const page = await context.newPage();
  page.sockets = [];
  page.on('websocket', (ws) => page.sockets.push(ws.url()));
  page.consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  return page;
}

// Records the WebSocket handshake answers the page receives (their
// headers, names lower-cased), through the DevTools protocol: attach
// before the page opens its sockets.
export async function watchHandshakes(context, page) {
  const answers = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    answers.push(Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v])));
  });
  return answers;
}

// Opens url in a new recording page of context, kept in pages (for the
// logs of a failed test). Returns the page and the navigation's response.
export async function openPage(context, url, pages) {
  const page = await newPage(context);
  pages.push(page);
  const res = await page.goto(url);
  return { page, res };
}

// The seed's page was served: 200 and the heading from TEST_DO.
export async function assertSeedPage(page, res) {
  assert.equal(res.status(), 200);
  assert.equal((await page.textContent('h1#heading')).trim(), 'Hello from a Durable Object');
}

export async function waitConnected(page, { timeout = 10000, text = 'Connected' } = {}) {
  await page.waitForSelector('#ws-status[data-state="connected"]', { timeout });
  assert.equal((await page.textContent('#ws-status-text')).trim(), text);
}

// Records every value #latest-count shows, in order.
export async function watchLatest(page) {
  await page.evaluate(() => {
    const el = document.getElementById('latest-count');
    window.__latest = [];
    const note = () => {
      const v = el.textContent;
      if (window.__latest[window.__latest.length - 1] !== v) window.__latest.push(v);
    };
    new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
  });
}

export const latestSeen = (page) => page.evaluate(() => window.__latest);

export const messageLines = (page) =>
  page.$$eval('#messages li', (lis) => lis.map((li) => li.textContent));

// Waits until the list holds a line for count 0 (or n lines), bounded.
export async function waitCountdownDone(page, { timeout = 20000, lines = 11 } = {}) {
  await page.waitForFunction((n) => {
    const lis = document.querySelectorAll('#messages li');
    return lis.length >= n && /\b0\b/.test(lis[lis.length - 1].textContent);
  }, lines, { timeout, polling: 100 });
}

const EN_LINE = /^Count: (\d+) \(at (\d\d:\d\d:\d\d)\)$/;
const DE_LINE = /^Zähler: (\d+) \(um (\d\d:\d\d:\d\d)\)$/;

// Parses the list's lines into [{count, time}], checking their form.
export function parseLines(lines, locale = 'en') {
  const re = locale === 'de' ? DE_LINE : EN_LINE;
  return lines.map((l) => {
    const m = re.exec(l);
    assert.ok(m, `a line of the form ${re}: ${JSON.stringify(l)}`);
    return { count: Number(m[1]), time: m[2] };
  });
}

export const COUNTS = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

// Checks one full countdown on a page whose list was empty before it.
export async function assertFullCountdown(page, locale = 'en') {
  const lines = await messageLines(page);
  assert.equal(lines.length, 11, `11 lines: ${JSON.stringify(lines)}`);
  const parsed = parseLines(lines, locale);
  assert.deepEqual(parsed.map((p) => p.count), COUNTS);
  for (let i = 1; i < parsed.length; i++)
    assert.ok(parsed[i].time >= parsed[i - 1].time || parsed[i - 1].time > '23:59:00',
      `times in order: ${JSON.stringify(lines)}`);
  assert.equal((await page.textContent('#latest-count')).trim(), '0');
  return parsed;
}

// Collects messages from a `ws` client as parsed JSON.
export function jsonMessages(ws) {
  return ws.messages.filter((m) => typeof m === 'string').map((m) => JSON.parse(m));
}

// Runs fn; on failure, attaches duro's log and the page's console errors.
export function withLogs(getSetup, getPages = () => []) {
  return (fn) => async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const s = getSetup();
      if (s) t.diagnostic(`duro log:\n${s.log}`);
      for (const p of getPages()) if (p?.consoleErrors?.length) t.diagnostic(`console: ${p.consoleErrors.join('\n')}`);
      throw e;
    }
  };
}
