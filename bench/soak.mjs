// bench/soak.mjs: connection churn soak test (not in CI; `make soak`).
//
// Starts its own duro (release build) on 127.0.0.1 from an empty temporary
// directory, then keeps SOAK_CONNS (10,000) WebSockets on /ws/connect
// churning for SOAK_SECONDS (600): each socket lives a random 2-10 s,
// waits for at least one broadcast, then goes away (half with a clean
// close handshake, half with an abrupt TCP reset) and is replaced at once.
// A publisher POSTs /broadcast every SOAK_BROADCAST_MS (500) throughout.
//
// Memory and descriptors are read from /proc/<pid>/status and
// /proc/<pid>/fd of the server:
//   start     the fresh server, with only the publisher connected
//   baseline  after a warm-up (SOAK_CONNS opened, SOAK_WARMUP_SECONDS of
//             the same churn, all closed): the allocator's working set for
//             this pattern is then reached, so the end measures growth, not
//             first use (glibc keeps freed heap that is fragmented)
//   middle    half-way through the churn, SOAK_CONNS open
//   end       after the churn stops and every socket is gone
// PASS needs: end RSS within 10% of the baseline, the descriptor count
// back to the start's, the server alive and exiting 0 on SIGTERM, and
// fewer than 1% of the sockets failing to connect or to receive.
//
// Environment: SOAK_SECONDS (600), SOAK_WARMUP_SECONDS (SECONDS/10 within
// 10-60), SOAK_CONNS (10000), SOAK_BROADCAST_MS
// (500), SOAK_MIN_LIFE_MS (2000), SOAK_MAX_LIFE_MS (10000), DURO_BIN
// (build/release/duro). Needs RLIMIT_NOFILE above SOAK_CONNS + 1000 in
// this process (the server inherits it); `make soak` raises it.
//
// Only the server this script started is stopped, by PID. Every wait is
// bounded; all traffic stays on 127.0.0.0/8.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const ROOT = path.resolve(import.meta.dirname, '..');
const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(v)}`);
  return n;
};
const SECONDS = num('SOAK_SECONDS', 600);
const WARMUP = num('SOAK_WARMUP_SECONDS', Math.min(60, Math.max(10, SECONDS / 10)));
const CONNS = Math.floor(num('SOAK_CONNS', 10000));
const BROADCAST_MS = num('SOAK_BROADCAST_MS', 500);
const MIN_LIFE = num('SOAK_MIN_LIFE_MS', 2000);
const MAX_LIFE = Math.max(MIN_LIFE, num('SOAK_MAX_LIFE_MS', 10000));
const BIN = path.resolve(ROOT, process.env.DURO_BIN || 'build/release/duro');
const STARVE_MS = 15000;      // a socket that got nothing for this long is starved
const MAX_PENDING = 256;      // handshakes in flight at once (the listen backlog is 4096)
const SOURCES = 8;            // client addresses 127.0.0.1..8: more ephemeral ports

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}`);
const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;

function nofileLimit() {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line.trim().split(/\s+/)[3]);
}

// ---- the server -------------------------------------------------------------------

let server = null;
let serverLog = '';
let serverExit = null;

async function startServer(dir) {
  const args = ['backend', '--mode', 'test', '--port', '0', '--data', path.join(dir, 'data')];
  const env = { ...process.env };
  for (const k of ['NODE_ENV', 'DURO_INTERNAL_SECRET', 'DURO_SYNC_TOKEN', 'DURO_SYNC_SECRET']) delete env[k];
  server = spawn(BIN, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.on('exit', (code, signal) => { serverExit = { code, signal }; });
  const keep = (d) => { serverLog = (serverLog + d).slice(-20000); };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  const end = Date.now() + 10000;
  while (Date.now() < end) {
    const m = /backend on http:\/\/[^:]+:(\d+)/.exec(serverLog);
    if (m) return Number(m[1]);
    if (serverExit) break;
    await sleep(20);
  }
  throw new Error(`duro did not start:\n${serverLog}`);
}

function sample() {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const fds = readdirSync(`/proc/${server.pid}/fd`).length;
  return { rss, fds };
}

async function stopServer() {
  if (!server || serverExit) return serverExit;
  server.kill('SIGTERM');
  const end = Date.now() + 15000;
  while (!serverExit && Date.now() < end) await sleep(20);
  if (!serverExit) { server.kill('SIGKILL'); while (!serverExit) await sleep(20); return { code: null, signal: 'SIGKILL (did not stop on SIGTERM)' }; }
  return serverExit;
}

// ---- the clients ------------------------------------------------------------------

const stats = { opened: 0, connectFailed: 0, starved: 0, closedClean: 0, reset: 0, unexpectedClose: 0, messages: 0, broadcasts: 0, broadcastFailed: 0 };
const live = new Set();
let pending = 0;
let wantOpen = 0;  // sockets the current phase wants open
let nextSource = 0;
let port = 0;
let firstError = null;

function lifetime() { return MIN_LIFE + Math.random() * (MAX_LIFE - MIN_LIFE); }

// Opens one socket; it ends itself after its lifetime once it has
// received a broadcast (or is counted starved), then a new one replaces it.
function openOne() {
  pending++;
  const localAddress = `127.0.0.${1 + (nextSource++ % SOURCES)}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/connect`, { perMessageDeflate: false, localAddress, handshakeTimeout: 10000 });
  const c = { ws, got: 0, born: Date.now(), dueAt: 0, ending: false, timer: null };
  let opened = false;
  ws.on('open', () => {
    opened = true;
    pending--;
    stats.opened++;
    live.add(c);
    c.dueAt = Date.now() + lifetime();
    c.timer = setTimeout(() => maybeEnd(c), c.dueAt - Date.now());
  });
  ws.on('message', () => {
    c.got++;
    stats.messages++;
    if (c.got === 1 && Date.now() >= c.dueAt && c.dueAt) maybeEnd(c);
  });
  ws.on('error', (e) => {
    if (!opened) { if (!firstError) firstError = `connect: ${e.message}`; }
    else if (!c.ending && !firstError) firstError = `socket: ${e.message}`;
  });
  ws.on('close', () => {
    if (!opened) { pending--; stats.connectFailed++; }
    else {
      clearTimeout(c.timer);
      live.delete(c);
      if (!c.ending) stats.unexpectedClose++;
    }
    refill();
  });
}

function maybeEnd(c) {
  if (c.ending) return;
  if (!c.got) {
    if (Date.now() - c.born < STARVE_MS) {
      c.timer = setTimeout(() => maybeEnd(c), 250); // the next broadcast will do
      return;
    }
    stats.starved++;
  }
  endOne(c);
}

function endOne(c) {
  c.ending = true;
  clearTimeout(c.timer);
  if (Math.random() < 0.5) { stats.closedClean++; c.ws.close(1000, 'soak'); }
  else { stats.reset++; c.ws.terminate(); }
}

// Opens sockets until wantOpen are open or on their way.
function refill() {
  while (live.size + pending < wantOpen && pending < MAX_PENDING) openOne();
}

// Publisher: one keep-alive connection, one POST at a time.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let publishing = false;
let seq = 0;
function post(body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/broadcast', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}
async function publisher() {
  publishing = true;
  while (publishing) {
    const t = Date.now();
    const status = await post(JSON.stringify({ seq: seq++, t }));
    if (status === 200) stats.broadcasts++; else stats.broadcastFailed++;
    const wait = BROADCAST_MS - (Date.now() - t);
    if (wait > 0) await sleep(wait);
  }
}

// Waits until pred() or ms pass; returns whether pred() came true.
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(100); }
  return pred();
}

async function closeAll() {
  wantOpen = 0;
  for (const c of live) if (!c.ending) endOne(c);
  return until(() => live.size === 0 && pending === 0, 30000);
}

// Lets the sockets churn for `seconds`, calling each(elapsed ms) every
// 250 ms and reporting every 30 s; throws when the server dies.
async function churn(seconds, each) {
  const t0 = Date.now();
  let lastReport = 0;
  while (Date.now() - t0 < seconds * 1000) {
    if (serverExit) throw new Error(`duro exited during the churn (${JSON.stringify(serverExit)}):\n${serverLog}`);
    const el = Date.now() - t0;
    each(el);
    if (el - lastReport >= 30000) {
      lastReport = el;
      const s = sample();
      say(`${String(Math.round(el / 1000)).padStart(4)} s: ${live.size} open, ${stats.opened} connects so far, ${stats.messages} messages, RSS ${mib(s.rss)}, ${s.fds} fds`);
    }
    await sleep(250);
  }
}

// ---- the run ----------------------------------------------------------------------

async function main() {
  const limit = nofileLimit();
  if (limit < CONNS + 1000) {
    console.error(`soak: RLIMIT_NOFILE is ${limit}; ${CONNS} connections need at least ${CONNS + 1000} (run it through \`make soak\` or raise ulimit -n)`);
    process.exit(2);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-soak-'));
  let verdictOk = false;
  try {
    port = await startServer(dir);
    let rev = 'unknown';
    try { rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch {}
    say(`${new Date().toISOString().slice(0, 10)}, commit ${rev}`);
    say(`duro ${BIN} pid ${server.pid} on 127.0.0.1:${port}; ${CONNS} sockets, ${SECONDS} s, broadcast every ${BROADCAST_MS} ms, lifetimes ${MIN_LIFE}-${MAX_LIFE} ms`);
    // The publisher's keep-alive connection is open in every sample.
    publisher();
    if (!await until(() => stats.broadcasts >= 2, 10000)) throw new Error(`the publisher gets no answer:\n${serverLog}`);
    const start = sample();
    say(`start:    RSS ${mib(start.rss)}, ${start.fds} fds (the publisher's connection included)`);

    // Warm-up: all sockets opened, then the same churn for WARMUP
    // seconds, then all closed: the allocator's working set for this
    // pattern is reached, so the baseline measures growth, not first use.
    wantOpen = CONNS;
    refill();
    const tick = setInterval(refill, 200); // refill when handshakes were capped
    const warmed = await until(() => live.size >= CONNS, 120000);
    if (!warmed) throw new Error(`warm-up reached only ${live.size} of ${CONNS} open sockets (first error: ${firstError})`);
    const full = sample();
    say(`warm-up:  ${live.size} open, RSS ${mib(full.rss)}, ${full.fds} fds; churning ${WARMUP} s`);
    await churn(WARMUP, () => {});
    if (!await closeAll()) throw new Error(`warm-up: ${live.size} sockets did not close`);
    await until(() => sample().fds <= start.fds, 30000);
    await sleep(2000);
    const baseline = sample();
    say(`baseline: RSS ${mib(baseline.rss)}, ${baseline.fds} fds (after the warm-up)`);

    // The churn.
    const opened0 = stats.opened;
    wantOpen = CONNS;
    refill();
    let middle = null;
    await churn(SECONDS, (el) => {
      if (!middle && el >= SECONDS * 500) {
        middle = sample();
        say(`middle:   ${live.size} open, RSS ${mib(middle.rss)}, ${middle.fds} fds`);
      }
    });
    clearInterval(tick);
    const churned = stats.opened - opened0;
    const closedAll = await closeAll();
    await until(() => sample().fds <= start.fds, 30000);
    await sleep(2000);
    const end = sample();
    say(`end:      RSS ${mib(end.rss)}, ${end.fds} fds`);

    const total = stats.opened + stats.connectFailed;
    const checks = [
      [closedAll, `every client socket closed (${live.size} left)`],
      [end.rss <= baseline.rss * 1.10, `end RSS ${mib(end.rss)} within 10% of the baseline ${mib(baseline.rss)} (${((end.rss / baseline.rss - 1) * 100).toFixed(1)}%)`],
      [end.fds === start.fds, `descriptors back to the start's: ${end.fds} vs ${start.fds}`],
      [stats.connectFailed <= total * 0.01, `connect failures ${stats.connectFailed} of ${total} under 1% (first error: ${firstError ?? 'none'})`],
      [stats.starved <= total * 0.01, `sockets that never got a broadcast: ${stats.starved} of ${stats.opened}, under 1%`],
      [stats.unexpectedClose <= total * 0.01, `sockets closed by the server unasked: ${stats.unexpectedClose}, under 1%`],
      [stats.broadcastFailed === 0, `broadcasts failed: ${stats.broadcastFailed} of ${stats.broadcasts + stats.broadcastFailed}`],
    ];
    publishing = false;
    const exit = await stopServer();
    checks.push([exit && exit.code === 0 && !exit.signal, `duro exited 0 on SIGTERM (${JSON.stringify(exit)})`]);
    say(`churn: ${churned} connections in ${SECONDS} s (${(churned / SECONDS).toFixed(0)}/s), ${stats.messages} messages received, ` +
      `${stats.broadcasts} broadcasts, ${stats.closedClean} clean closes, ${stats.reset} resets`);
    console.log('\n| sample | RSS | fds |\n|---|---|---|');
    for (const [k, s] of [['start', start], ['baseline (after warm-up)', baseline], ['middle (churning)', middle], ['end', end]])
      console.log(`| ${k} | ${s ? mib(s.rss) : '-'} | ${s ? s.fds : '-'} |`);
    console.log('');
    for (const [ok, what] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    verdictOk = checks.every(([ok]) => ok);
    console.log(`\nsoak: ${verdictOk ? 'PASS' : 'FAIL'}`);
  } catch (e) {
    console.error(`soak: FAIL: ${e.message}`);
  } finally {
    publishing = false;
    for (const c of live) c.ws.terminate();
    agent.destroy();
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(verdictOk ? 0 : 1);
}

main();
