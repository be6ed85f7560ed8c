#!/usr/bin/env node
// bench/cluster_fanout.mjs: fan-out across cluster nodes (the cluster
// issue's "fan-out deliveries per server CPU-second for 3,000 subscribers
// spread over 3 nodes against the same 3,000 on one node, with owner-side
// frames per broadcast"; bench/cluster.sh runs it after the failover).
//
// One throwaway PostgreSQL (tests/pg.sh, through tests/integration/lib/
// postgres.mjs); for each configuration a fresh database and fresh nodes
// (`duro backend --mode test --postgres CONNINFO --node-id nI
// --admin-port 0`, built-in classes, 127.0.0.1, ports chosen by duro):
//   A  1 node: all BENCH_SUBS subscribers on it;
//   B  3 nodes: the subscribers spread evenly (subscriber k on node k % 3),
//      so two thirds of them reach the owner of MessageCoordinator
//      "global" over node links (one CAST per entry node per broadcast).
// Same workload in both, in this one invocation: BENCH_SUBS WebSockets on
// GET /ws/connect, then one keep-alive HTTP connection to the OWNER node
// sends BENCH_RATE x BENCH_SECONDS `POST /broadcast` at a fixed rate
// (request i at start + i/rate, at most 64 unanswered), each body
// {"seq":i,"pad":"xx..."} of exactly BENCH_BODY_BYTES bytes (the
// coordinator re-serialises it to the same bytes).
//
// The client is Node (worker threads on raw sockets, a minimal WebSocket
// reader: it checks that every subscriber gets every seq once and in
// order), not bench/loadgen, whose fanout mode publishes through the port
// its subscribers use. So only the server side is measured: the CPU time
// (utime + stime from /proc/PID/stat) of every duro process from just
// before the first broadcast until every subscriber has every message.
// Deliveries are the owner's duro_deliveries_total (it counts every
// recipient, carried sockets too), checked against what the subscribers
// received; owner link messages per broadcast are the owner's
// duro_cluster_link_casts_total + duro_cluster_link_data_total over its
// duro_broadcasts_total (deltas over the window). RSS is VmRSS at the end
// of the window, sockets still open.
//
//   node bench/cluster_fanout.mjs
//   BENCH_SUBS=300 BENCH_SECONDS=3 node bench/cluster_fanout.mjs
//
// Environment: BENCH_SUBS (3000), BENCH_SECONDS (10), BENCH_RATE
// (broadcasts per second, 50), BENCH_BODY_BYTES (64), BENCH_CLIENT_THREADS
// (subscriber threads, 2), DURO_BIN (build/release/duro), PG_BIN (as
// tests/pg.sh). Node logs go to build/bench/cluster-fanout-<A|B>-<id>.log.
// Every wait has a deadline; on exit, SIGINT or SIGTERM it stops the
// nodes it started (by PID), its threads, and its PostgreSQL.
// Exit status: 0; 1 a subscriber missed, repeated or reordered a message,
// a socket was closed, or a broadcast was not answered 200; 2 setup failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ================================================================ subscriber thread
// workerData: {targets: [{port, n}], path}. Messages from the main
// thread: 'stats' (answered with the counts), 'close'.
function subscriberThread() {
  const { targets, path: wsPath } = workerData;
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
  const BURST = 200; // handshakes in flight
  const all = [];
  for (const t of targets) for (let i = 0; i < t.n; i++) all.push({ port: t.port, next: 0, recv: 0, bad: 0, closed: false, open: false, sock: null, tail: null, head: '', tries: 0 });
  let started = 0, inFlight = 0, opened = 0, failed = 0, closedByServer = 0, badFrames = 0;
  const errors = new Map();
  const note = (e) => errors.set(e, (errors.get(e) ?? 0) + 1);

  const frames = (s, buf) => {
    let i = 0;
    const n = buf.length;
    while (n - i >= 2) {
      const b0 = buf[i], b1 = buf[i + 1];
      let len = b1 & 0x7f, h = 2;
      if (len === 126) { if (n - i < 4) break; len = buf.readUInt16BE(i + 2); h = 4; }
      else if (len === 127) { if (n - i < 10) break; len = Number(buf.readBigUInt64BE(i + 2)); h = 10; }
      if (b1 & 0x80) { badFrames++; s.bad++; }
      if (n - i < h + len) break;
      const op = b0 & 0x0f, p = i + h;
      if (op === 1 && (b0 & 0x80)) {
        // {"seq":N,...
        let seq = -1;
        if (len > 7 && buf[p] === 0x7b && buf[p + 2] === 0x73 && buf[p + 6] === 0x3a) {
          seq = 0;
          for (let k = p + 7; k < p + len; k++) {
            const c = buf[k];
            if (c < 0x30 || c > 0x39) break;
            seq = seq * 10 + (c - 0x30);
          }
        }
        if (seq === s.next) { s.next++; s.recv++; }
        else { s.bad++; if (seq >= 0) s.next = seq + 1; }
      } else if (op === 9) { // ping: pong, masked with a zero key
        const pong = Buffer.alloc(6 + len);
        pong[0] = 0x8a; pong[1] = 0x80 | len;
        buf.copy(pong, 6, p, p + len);
        s.sock.write(pong);
      } else if (op === 8) {
        if (!s.closed) { s.closed = true; closedByServer++; }
      } else if (op !== 10) {
        s.bad++; badFrames++;
      }
      i = p + len;
    }
    s.tail = i < n ? buf.subarray(i) : null;
  };

  const launch = () => {
    while (inFlight < BURST && started < all.length) open(all[started++]);
  };
  const open = (s) => {
    inFlight++;
    s.tries++;
    s.head = '';
    let settled = false;
    const sock = net.connect(s.port, '127.0.0.1');
    s.sock = sock;
    sock.setNoDelay(true);
    const fail = (why) => {
      if (settled) return;
      settled = true;
      inFlight--;
      sock.destroy();
      if (s.tries < 3) { open(s); return; }
      failed++; note(why);
      launch();
    };
    sock.on('connect', () => sock.write(`GET ${wsPath} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    sock.on('data', (d) => {
      if (s.open) {
        frames(s, s.tail ? Buffer.concat([s.tail, d]) : d);
        return;
      }
      s.head += d.toString('latin1');
      const end = s.head.indexOf('\r\n\r\n');
      if (end < 0) { if (s.head.length > 16384) fail('huge head'); return; }
      const head = s.head.slice(0, end);
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(ACCEPT)) { fail(head.split('\r\n')[0]); return; }
      settled = true;
      s.open = true;
      inFlight--;
      opened++;
      const rest = Buffer.from(s.head.slice(end + 4), 'latin1');
      s.head = '';
      if (rest.length) frames(s, rest);
      launch();
    });
    sock.on('error', (e) => fail(e.code || e.message));
    sock.on('close', () => {
      if (!settled) { fail('closed before 101'); return; }
      if (!s.closed && !closing) { s.closed = true; closedByServer++; }
    });
  };

  let closing = false;
  parentPort.on('message', (m) => {
    if (m === 'stats') {
      let recv = 0, bad = 0, minNext = Infinity;
      for (const s of all) { recv += s.recv; bad += s.bad; if (s.next < minNext) minNext = s.next; }
      parentPort.postMessage({ opened, failed, done: opened + failed === all.length, recv, bad, badFrames, minNext, closedByServer, errors: [...errors] });
    } else if (m === 'close') {
      closing = true;
      for (const s of all) s.sock?.destroy();
      parentPort.postMessage({ closed: true });
      parentPort.close();
    }
  });
  launch();
}

if (!isMainThread) subscriberThread();

// ================================================================ main thread
const ROOT = path.resolve(import.meta.dirname, '..');
const LOGDIR = path.join(ROOT, 'build/bench');

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^[1-9][0-9]*$/.test(v)) {
    console.error(`cluster_fanout: ${name} must be a positive integer (got '${v}')`);
    process.exit(2);
  }
  return Number(v);
}

let aborted = false;
const say = (s) => { if (!aborted) console.log(s); };
let pg = null, pgStarting = null, cluster = null, threads = [], pub = null;
let cleaning = null;

async function stopThreads() {
  const ts = threads;
  threads = [];
  await Promise.all(ts.map(async (t) => {
    try {
      t.postMessage('close');
      await Promise.race([new Promise((r) => t.once('exit', r)), sleep(3000)]);
    } catch { /* gone already */ }
    await t.terminate();
  }));
}

async function stopCluster(tag) {
  const c = cluster;
  cluster = null;
  if (!c) return;
  await c.stopAll(); // SIGTERM (SIGKILL after 8 s), by PID, and their directories
  try {
    mkdirSync(LOGDIR, { recursive: true });
    for (const n of c.nodes) writeFileSync(path.join(LOGDIR, `cluster-fanout-${tag}-${n.id}.log`), n.log);
  } catch { /* logs are a convenience */ }
}

function cleanup() {
  cleaning ??= (async () => {
    pub?.destroy();
    await stopThreads();
    await stopCluster('aborted');
    try { await pgStarting; } catch { /* reported by main */ }
    if (pg) {
      try { await pg.stop(); } catch (e) { console.error(`cluster_fanout: ${e.message}`); }
    }
  })();
  return cleaning;
}

// ---------------------------------------------------------------- /proc and /metrics
const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
})();

function cpuSeconds(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14, 15
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const METRICS = ['duro_broadcasts_total', 'duro_deliveries_total', 'duro_cluster_link_casts_total',
  'duro_cluster_link_data_total', 'duro_cluster_link_cast_recipients_total', 'duro_websocket_messages_sent_total'];

async function metrics(node) {
  const r = await fetch(`http://127.0.0.1:${node.admin}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) throw new Error(`${node.id} /metrics: ${r.status}`);
  const text = await r.text();
  const out = {};
  for (const m of METRICS) {
    const x = new RegExp(`^${m} (\\d+)$`, 'm').exec(text);
    out[m] = x ? Number(x[1]) : 0;
  }
  const ws = /^duro_websockets_open\{namespace="MESSAGE_COORDINATOR"\} (\d+)$/m.exec(text);
  out.sockets = ws ? Number(ws[1]) : 0;
  return out;
}

// ---------------------------------------------------------------- the publisher
// One keep-alive connection: request i at t0 + i/rate, at most `window`
// unanswered. Resolves {sent, ok, bad, firstBad, t0, tLastAnswer}.
function publish(port, count, rate, bodyBytes, deadlineMs) {
  return new Promise((resolve, reject) => {
    const window = 64;
    let sent = 0, ok = 0, bad = 0, firstBad = null, buf = '', t0 = 0, tLast = 0, timer = null, finished = false;
    const sock = net.connect(port, '127.0.0.1');
    pub = sock;
    sock.setNoDelay(true);
    const request = (i) => {
      const base = `{"seq":${i},"pad":""}`.length;
      const body = `{"seq":${i},"pad":"${'x'.repeat(Math.max(0, bodyBytes - base))}"}`;
      return `POST /broadcast HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    const finish = (err) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      pub = null;
      if (err) reject(err); else resolve({ sent, ok, bad, firstBad, t0, tLastAnswer: tLast });
    };
    const tick = () => {
      timer = null;
      if (finished) return;
      const now = performance.now();
      if (now - t0 > deadlineMs) { finish(new Error(`publishing took over ${deadlineMs} ms (${ok + bad}/${count} answered)`)); return; }
      let out = '';
      while (sent < count && sent - (ok + bad) < window && t0 + (sent * 1000) / rate <= now) out += request(sent++);
      if (out) sock.write(out);
      if (sent < count) timer = setTimeout(tick, Math.max(1, Math.min(5, t0 + (sent * 1000) / rate - now)));
    };
    sock.on('connect', () => { t0 = performance.now(); tick(); });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.slice(0, end);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const need = end + 4 + (cl ? Number(cl[1]) : 0);
        if (buf.length < need) break;
        const status = head.slice(9, 12);
        if (status === '200') ok++; else { bad++; firstBad ??= `${head.split('\r\n')[0]} ${buf.slice(end + 4, need)}`; }
        buf = buf.slice(need);
      }
      tLast = performance.now();
      if (ok + bad === count) finish(null);
      else if (!timer && sent < count) tick(); // the window had filled
    });
    sock.on('error', (e) => finish(new Error(`publisher: ${e.code || e.message}`)));
    sock.on('close', () => finish(new Error(`publisher: the server closed the connection (${ok + bad}/${count} answered)`)));
  });
}

// ---------------------------------------------------------------- one configuration
async function runConfig(cfg, W) {
  const { startCluster } = await import('../tests/integration/lib/cluster.mjs');
  const db = await pg.createDb(`duro_fanout_${cfg.tag.toLowerCase()}`);
  cluster = await startCluster(pg, { n: cfg.nodes, db, args: ['--admin-port', '0'] });
  const nodes = cluster.nodes;
  for (const n of nodes) {
    const m = /admin: inspector on http:\/\/[^:]+:(\d+)\//.exec(n.log);
    if (!m) throw new Error(`node ${n.id}: no admin port in its log:\n${n.log}`);
    n.admin = Number(m[1]);
  }

  // Claim MessageCoordinator "global" (a broadcast to nobody; 503 while
  // joining is retried), then read who owns it.
  const claimEnd = performance.now() + 15000;
  for (let i = 0; ; i++) {
    let status = null;
    try {
      const r = await fetch(`${nodes[i % nodes.length].url}/broadcast`, {
        method: 'POST', body: '{"seq":-1}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(3000),
      });
      await r.text();
      status = r.status;
    } catch { /* retried */ }
    if (status === 200) break;
    if (performance.now() > claimEnd || aborted) throw new Error(`POST /broadcast never answered 200 (last ${status})`);
    await sleep(50);
  }
  const owners = await cluster.psql('SELECT node_id FROM duro_owners');
  if (owners.length !== 1) throw new Error(`expected one owned object, found ${owners.length}`);
  const owner = cluster.node(owners[0][0]);
  if (!owner) throw new Error(`owner ${owners[0][0]} is not one of the nodes`);

  // Subscribers: k on node k % nodes, thread k % W.
  const perThread = Array.from({ length: W }, () => new Map());
  for (let k = 0; k < SUBS; k++) {
    const port = nodes[k % nodes.length].port, m = perThread[k % W];
    m.set(port, (m.get(port) ?? 0) + 1);
  }
  threads = perThread.map((m) => new Worker(new URL(import.meta.url), {
    workerData: { targets: [...m].map(([port, n]) => ({ port, n })), path: '/ws/connect' },
  }));
  for (const t of threads) t.on('error', (e) => { console.error(`cluster_fanout: subscriber thread: ${e.stack || e}`); });
  const stats = async () => {
    const rs = await Promise.all(threads.map((t) => new Promise((resolve) => {
      const on = (m) => { if ('opened' in m) { t.off('message', on); resolve(m); } };
      t.on('message', on);
      t.postMessage('stats');
    })));
    const sum = { opened: 0, failed: 0, done: true, recv: 0, bad: 0, badFrames: 0, minNext: Infinity, closedByServer: 0, errors: [] };
    for (const r of rs) {
      sum.opened += r.opened; sum.failed += r.failed; sum.done &&= r.done; sum.recv += r.recv; sum.bad += r.bad;
      sum.badFrames += r.badFrames; sum.minNext = Math.min(sum.minNext, r.minNext); sum.closedByServer += r.closedByServer;
      sum.errors.push(...r.errors);
    }
    return sum;
  };
  const tc0 = performance.now();
  let st;
  for (;;) {
    st = await stats();
    if (st.done || aborted) break;
    if (performance.now() - tc0 > 120000) throw new Error(`subscribers: ${st.opened}/${SUBS} open after 120 s`);
    await sleep(50);
  }
  if (st.failed) throw new Error(`${st.failed} subscriber(s) could not connect: ${st.errors.map(([e, n]) => `${e} x${n}`).join(', ')}`);
  const connectS = (performance.now() - tc0) / 1000;
  // Every socket registered at the owner.
  const regEnd = performance.now() + 15000;
  let om;
  while ((om = await metrics(owner)).sockets < SUBS) {
    if (performance.now() > regEnd || aborted) throw new Error(`the owner has ${om.sockets}/${SUBS} sockets`);
    await sleep(50);
  }
  await sleep(300); // the handshakes' work is done
  // The nodes' background (lease renewals, timers) over one idle second.
  const idle0 = nodes.map((n) => cpuSeconds(n.pid));
  const ti0 = performance.now();
  await sleep(1000);
  const idleCpuPerS = nodes.map((n, i) => cpuSeconds(n.pid) - idle0[i]).reduce((a, b) => a + b, 0) / ((performance.now() - ti0) / 1000);

  // ---- the window
  const before = await Promise.all(nodes.map(metrics));
  const cpu0 = nodes.map((n) => cpuSeconds(n.pid));
  const clientCpu0 = process.cpuUsage();
  const tw0 = performance.now();
  const p = await publish(owner.port, COUNT, RATE, BODY, SECONDS * 1000 + 60000);
  const expected = SUBS * COUNT;
  let tDone = null;
  const drainEnd = performance.now() + 30000;
  for (;;) {
    st = await stats();
    if (st.recv + st.bad >= expected && st.minNext >= COUNT) { tDone = performance.now(); break; }
    if (performance.now() > drainEnd || aborted || st.closedByServer) break;
    await sleep(20);
  }
  const cpu1 = nodes.map((n) => cpuSeconds(n.pid));
  const tw1 = performance.now();
  const clientCpu = process.cpuUsage(clientCpu0);
  const rss = nodes.map((n) => rssKiB(n.pid));
  const after = await Promise.all(nodes.map(metrics));
  st = await stats();

  const oi = nodes.indexOf(owner);
  const d = (i, m) => after[i][m] - before[i][m];
  const cpu = nodes.map((n, i) => cpu1[i] - cpu0[i]);
  const r = {
    tag: cfg.tag, nodes: nodes.length, owner: owner.id, subs: SUBS, connectS,
    broadcasts: d(oi, 'duro_broadcasts_total'),
    deliveries: d(oi, 'duro_deliveries_total'),
    entrySent: nodes.map((n, i) => (i === oi ? 0 : d(i, 'duro_websocket_messages_sent_total'))).reduce((a, b) => a + b, 0),
    casts: d(oi, 'duro_cluster_link_casts_total'),
    data: d(oi, 'duro_cluster_link_data_total'),
    castRecipients: d(oi, 'duro_cluster_link_cast_recipients_total'),
    received: st.recv, bad: st.bad, badFrames: st.badFrames, closedByServer: st.closedByServer, minNext: st.minNext,
    expected, pubOk: p.ok, pubBad: p.bad, firstBad: p.firstBad,
    windowS: (tw1 - tw0) / 1000, idleCpuPerS,
    publishS: (p.tLastAnswer - p.t0) / 1000,
    drainMs: tDone !== null ? tDone - p.tLastAnswer : null,
    cpu, cpuTotal: cpu.reduce((a, b) => a + b, 0), cpuOwner: cpu[oi],
    clientCpu: (clientCpu.user + clientCpu.system) / 1e6,
    rss: nodes.map((n, i) => ({ id: n.id, owner: i === oi, kib: rss[i], subs: Math.floor(SUBS / nodes.length) + (i < SUBS % nodes.length ? 1 : 0) })),
    notes: [],
  };
  r.complete = tDone !== null && r.bad === 0 && r.closedByServer === 0 && p.bad === 0 && p.ok === COUNT;
  // What the nodes said that a benchmark should know about.
  for (const n of nodes) {
    const lines = n.log.split('\n').filter((l) => /warn|error|node link|overflow|slow|fenced|lost/i.test(l));
    const seen = new Map();
    for (const l of lines) {
      const k = l.replace(/^\S+ \S+ /, '').replace(/\d+/g, 'N');
      const e = seen.get(k);
      if (e) e.n++; else seen.set(k, { n: 1, line: l });
    }
    for (const { n: count, line } of seen.values()) r.notes.push(`${n.id}: ${line}${count > 1 ? `  (x${count})` : ''}`);
  }
  await stopThreads();
  await stopCluster(cfg.tag);
  return r;
}

// ---------------------------------------------------------------- main
const SUBS = intEnv('BENCH_SUBS', 3000);
const SECONDS = intEnv('BENCH_SECONDS', 10);
const RATE = intEnv('BENCH_RATE', 50);
const BODY = intEnv('BENCH_BODY_BYTES', 64);
const THREADS = intEnv('BENCH_CLIENT_THREADS', 2);
const COUNT = RATE * SECONDS;

async function main() {
  const { DURO_BIN } = await import('../tests/integration/lib/duro.mjs');
  const { startPostgres } = await import('../tests/integration/lib/postgres.mjs');
  if (!existsSync(DURO_BIN)) {
    console.error(`cluster_fanout: ${DURO_BIN} is missing: make build/release/duro`);
    return 2;
  }
  // Node raises its soft descriptor limit to the hard one at start; the
  // nodes inherit it. This process holds every subscriber socket.
  const lim = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const soft = lim && lim[1] !== 'unlimited' ? Number(lim[1]) : Infinity;
  if (soft < SUBS + 500) {
    console.error(`cluster_fanout: ${SUBS} subscribers need about ${SUBS + 500} descriptors; the limit is ${soft} (raise the hard limit: ulimit -Hn)`);
    return 2;
  }
  let commit = 'unknown';
  try { commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }

  pgStarting = startPostgres();
  pg = await pgStarting;
  const pgVersion = (await pg.psql('SHOW server_version'))[0][0];

  const results = [];
  for (const cfg of [{ tag: 'A', nodes: 1 }, { tag: 'B', nodes: 3 }]) {
    if (aborted) return 130;
    results.push(await runConfig(cfg, THREADS));
  }
  if (aborted) return 130;

  const f0 = (x) => Math.round(x).toLocaleString('en-US');
  const f2 = (x) => x.toFixed(2);
  say(`fan-out: ${SUBS} subscribers on /ws/connect (MessageCoordinator "global"), ${COUNT} broadcasts of ${BODY} bytes at ${RATE}/s for ${SECONDS} s through the owner node, one keep-alive connection;`);
  say(`  A: 1 node; B: 3 nodes, subscriber k on node k % 3 (2/3 carried over node links); duro backend --postgres (PostgreSQL ${pgVersion}), a fresh database each; Node subscribers in ${THREADS} threads`);
  say(`  server CPU: utime+stime of every duro process from the first broadcast until every subscriber had every message`);
  say('');
  say(`| config | subs | broadcasts | deliveries | received by clients | server CPU s (total / owner) | deliveries per CPU-s | owner link msgs per broadcast | RSS MiB per node |`);
  say(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |`);
  for (const r of results) {
    const dpc = r.deliveries / r.cpuTotal;
    r.dpc = dpc;
    const rss = r.rss.map((x) => `${x.id}${x.owner ? '*' : ''} ${(x.kib / 1024).toFixed(1)}`).join(', ');
    say(`| ${r.tag}: ${r.nodes} node${r.nodes > 1 ? 's' : ''} | ${SUBS} | ${f0(r.broadcasts)} | ${f0(r.deliveries)} | ${f0(r.received)}/${f0(r.expected)} | ${f2(r.cpuTotal)} / ${f2(r.cpuOwner)} | ${f0(dpc)} | ${f2((r.casts + r.data) / r.broadcasts)} | ${rss} |`);
  }
  const [a, b] = results;
  say('');
  say(`B/A deliveries per server CPU-second: ${(b.dpc / a.dpc).toFixed(2)}; B/A owner CPU: ${(b.cpuOwner / a.cpuOwner).toFixed(2)} (* = owner)`);
  for (const r of results) {
    say(`  ${r.tag}: owner ${r.owner}; window ${f2(r.windowS)} s (publishing ${f2(r.publishS)} s, last delivery ${r.drainMs === null ? 'never' : `${Math.round(r.drainMs)} ms`} after the last answer); CPU per node ${r.cpu.map(f2).join(' / ')} s (idle before: ${f2(r.idleCpuPerS)} CPU-s/s in all); client CPU ${f2(r.clientCpu)} s; connect ${f2(r.connectS)} s`);
    if (r.nodes > 1) {
      say(`     owner link messages: ${f0(r.casts)} casts (${f0(r.castRecipients)} recipients named) + ${f0(r.data)} data; entry nodes' messages sent to sockets ${f0(r.entrySent)}`);
    }
    if (!r.complete) {
      say(`     INCOMPLETE: ${r.bad} missing/out-of-order frames (${r.badFrames} unexpected frames), ${r.closedByServer} sockets closed by the server, slowest socket at seq ${r.minNext}/${COUNT}, ${r.pubOk} answered 200, ${r.pubBad} not${r.firstBad ? ` (first: ${r.firstBad})` : ''}`);
    }
    for (const n of r.notes.slice(0, 12)) say(`     log ${n}`);
    if (r.notes.length > 12) say(`     log ... ${r.notes.length - 12} more kinds of line`);
  }
  say(`  ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}, ${cpus().length} cores; node logs in ${path.relative(ROOT, LOGDIR)}/cluster-fanout-*.log`);
  const ok = results.every((r) => r.complete);
  if (!ok) say('fan-out: FAIL (above)');
  return ok ? 0 : 1;
}

if (isMainThread) {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.on(sig, () => {
      if (aborted) return;
      aborted = true;
      console.error(`cluster_fanout: ${sig}, stopping`);
      cleanup().finally(() => process.exit(code));
    });
  }
  let code = 2;
  try {
    code = await main();
  } catch (e) {
    if (!aborted) console.error(`cluster_fanout: ${e.stack || e.message}`);
  } finally {
    await cleanup();
  }
  if (!aborted) process.exit(code);
}
