// bench/sync_bench.mjs: LiveStore sync backend benchmark (make bench runs
// it after bench/run.sh). Raw protocol over ws, one Node process; starts
// its own duro (build/release/duro or DURO_BIN) per scenario in a temp
// directory on 127.0.0.1, stops it by PID. Figures in docs/benchmarks.md.
//
//   push     one client pushes batches of 100 events of ~200 bytes, the
//            next as soon as the previous is acknowledged: events/s stored
//            durably (durability "full": fsync per push; and "normal")
//   catchup  a store of 1,000,000 events; a new client pulls from the
//            start, acking each chunk: time to the last NoMore page
//   fanout   1,000 live pullers on one store, a pusher sends 10,000
//            events in batches of 100: deliveries/s, p50/p99 latency.
//            The pullers are `loadgen syncsubs` (bench/loadgen.c, C, one
//            thread): Node subscribers needed ~3x the CPU duro's server
//            spends, so the figure measured the client on a small machine.
//            SYNC_FANOUT_CLIENT=node runs the earlier Node subscribers.
//
// The workloads are exported and take any server ({port, cpu()}), so
// bench/sync_compare.mjs runs the very same code against the reference
// backend (@livestore/sync-cf under wrangler dev).
//
// Environment: BENCH_SYNC="push catchup fanout" (subset), SYNC_EVENTS
// (catch-up size, default 1000000), SYNC_SUBS (default 1000),
// SYNC_FANOUT_CLIENT (c, the default, or node), SYNC_CLIENT_THREADS (Node
// fan-out subscriber threads, default 2), LOADGEN (a loadgen binary; by
// default build/bench/loadgen, compiled from bench/loadgen.c when missing
// or older than the source).
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = process.env.DURO_BIN || path.join(ROOT, 'build/release/duro');

export async function startDuro(config = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-syncbench-'));
  writeFileSync(path.join(dir, 'duro.jsonc'), JSON.stringify(config));
  const p = spawn(BIN, ['backend', '--mode', 'test', '--port', '0', '--data', path.join(dir, 'data')],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`duro did not start: ${log}`)), 10000);
    const on = (d) => { log += d; const m = /backend on http:\/\/[^:]+:(\d+)/.exec(log); if (m) { clearTimeout(t); resolve(Number(m[1])); } };
    p.stderr.on('data', on);
    p.stdout.on('data', on);
  });
  return {
    name: 'duro', port, dir, pid: p.pid,
    cpu() { return cpuSeconds(p.pid); },
    cpuSys() { return cpuSeconds(p.pid, 'sys'); },
    async stop() { p.kill('SIGTERM'); await new Promise((r) => p.once('exit', r)); rmSync(dir, { recursive: true, force: true }); },
  };
}

// utime + stime of one process, in seconds ('sys': stime only).
export function cpuSeconds(pid, which = 'all') {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((which === 'sys' ? 0 : Number(f[11])) + Number(f[12])) / 100;
}

// utime + stime of every live process in process group `pgid` (a server
// made of several processes, such as wrangler dev and its workerds);
// 'sys': stime only.
export function groupCpuSeconds(pgid, which = 'all') {
  let sum = 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const f = readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[2]) === pgid) sum += ((which === 'sys' ? 0 : Number(f[11])) + Number(f[12])) / 100;
    } catch { /* exited meanwhile */ }
  }
  return sum;
}

export class Client {
  constructor(ws) { this.ws = ws; this.handlers = new Map(); ws.on('message', (d) => this.onMessage(d)); }
  static open(port, storeId) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?storeId=${encodeURIComponent(storeId)}&transport=ws`, { perMessageDeflate: false });
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }
  onMessage(d) {
    // Only the envelope head is parsed; bodies are scanned, not decoded.
    const head = d.toString('latin1', 0, 80);
    const m = /"requestId":"(\d+)"/.exec(head);
    const h = m && this.handlers.get(m[1]);
    if (h) h(d, head);
  }
  request(id, tag, payload, handler) {
    this.handlers.set(id, handler);
    this.ws.send(JSON.stringify({ _tag: 'Request', id, tag, payload, headers: [] }));
  }
}

let reqId = 0;
const nid = () => String(reqId++);

function makeBatch(from, n, argsFor) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    out.push({ name: 'v1.BenchEvent', args: argsFor(seq), seqNum: seq, parentSeqNum: seq - 1, clientId: 'bench', sessionId: 'static' });
  }
  return out;
}

// Pushes `total` events in batches of 100 after `head`, each after the
// previous ack. Returns {seconds, head, acks}: acks holds each push's
// round trip in ms (request built to ack received).
async function pushAll(c, storeId, head, total, argsFor, backendId = null) {
  const t0 = performance.now();
  const acks = [];
  while (total > 0) {
    const n = Math.min(100, total);
    const id = nid();
    const s0 = performance.now();
    const batch = makeBatch(head + 1, n, argsFor);
    const r = await new Promise((resolve) => c.request(id, 'SyncWsRpc.Push',
      { storeId, batch, backendId: backendId ? { _tag: 'Some', value: backendId } : { _tag: 'None' } }, (d) => resolve(d.toString())));
    acks.push(performance.now() - s0);
    if (!r.includes('"Success"')) throw new Error(`push refused: ${r.slice(0, 300)}`);
    head += n;
    total -= n;
  }
  return { seconds: (performance.now() - t0) / 1000, head, acks };
}

// First and last seqNum of the events in a PullResponse chunk, or null for
// an empty one. Reading them at the two ends of the frame instead of
// scanning all of it keeps the client cheap: scanning every 24 KB chunk
// for each event took most of the client's CPU in fan-out. Both servers
// only store contiguous chains, so last - first + 1 is the event count;
// a chunk not starting where the previous one ended counts as a gap.
function seqSpan(buf) {
  const i = buf.indexOf('"seqNum":');
  if (i < 0) return null;
  const j = buf.lastIndexOf('"seqNum":');
  return { first: digits(buf, i + 9), last: digits(buf, j + 9) };
}
function digits(buf, at) {
  let v = 0;
  for (let ch = buf[at]; ch >= 48 && ch <= 57; ch = buf[++at]) v = v * 10 + ch - 48;
  return v;
}

const pad = 'x'.repeat(140);
const args200 = (seq) => ({ id: `e${seq}`, text: pad, n: seq });
export const EVENT_BYTES = JSON.stringify(makeBatch(1, 1, args200)[0]).length;

const n = (x) => Math.round(x).toLocaleString('en');

// One client pushes `total` events (after a 2,000-event warm-up) into a
// fresh store. Returns {rate, seconds, cpu, total}.
export async function pushWorkload(srv, { total = 200000, storeId = 'push' } = {}) {
  const c = await Client.open(srv.port, storeId);
  try {
    await pushAll(c, storeId, 0, 2000, args200); // warm-up
    const cpu0 = srv.cpu();
    const { seconds } = await pushAll(c, storeId, 2000, total, args200);
    return { total, seconds, rate: total / seconds, cpu: srv.cpu() - cpu0 };
  } finally { c.ws.close(); }
}

// Fills a store with `events` events, then a new client pulls them all
// (live: false), acking each chunk. Returns {seconds, rate, chunks, bytes,
// cpu, fillSeconds}.
export async function catchupWorkload(srv, { events = 1000000, storeId = 'catchup' } = {}) {
  const w = await Client.open(srv.port, storeId);
  const fill = await pushAll(w, storeId, 0, events, args200).finally(() => w.ws.close());
  const c = await Client.open(srv.port, storeId);
  try {
    const cpu0 = srv.cpu();
    const t0 = performance.now();
    let got = 0, chunks = 0, bytes = 0, gaps = 0;
    const id = nid();
    await new Promise((resolve) => c.request(id, 'SyncWsRpc.Pull', { storeId, live: false, cursor: { _tag: 'None' } }, (buf, head) => {
      if (head.startsWith('{"_tag":"Exit"')) { resolve(); return; }
      chunks++;
      bytes += buf.length;
      c.ws.send(`{"_tag":"Ack","requestId":"${id}"}`);
      const span = seqSpan(buf);
      if (span) {
        if (span.first !== got + 1) gaps++;
        got = span.last;
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = srv.cpu() - cpu0;
    if (got !== events || gaps) throw new Error(`catch-up got ${got} of ${events}, ${gaps} gaps`);
    return { events, seconds, rate: events / seconds, chunks, bytes, cpu, fillSeconds: fill.seconds };
  } finally { c.ws.close(); }
}

// Wall-clock milliseconds, comparable across worker threads (each thread
// has its own performance.timeOrigin).
const wallMs = () => performance.timeOrigin + performance.now();

// `count` live pullers on one store, in this thread. Each checks order and
// gaps and records push-to-receive latency per chunk (the pusher stamps
// `t` into the first event's args). ready() resolves once every pull has
// had its first (empty backlog) chunk.
async function subscriberGroup(port, storeId, count) {
  const subs = [];
  for (let i = 0; i < count; i += 100)
    subs.push(...await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => Client.open(port, storeId))));
  const st = { deliveries: 0, lastAt: 0, gaps: 0, lat: [] };
  let liveReady = 0;
  const ready = new Promise((resolve) => {
    for (const s of subs) {
      const id = nid();
      let next = 1, first = true;
      s.request(id, 'SyncWsRpc.Pull', { storeId, live: true, cursor: { _tag: 'None' } }, (buf) => {
        if (first) { first = false; if (++liveReady === subs.length) resolve(); return; }
        const now = wallMs();
        const ti = buf.indexOf('"t":');
        const t = Number(buf.toString('latin1', ti + 4, buf.indexOf(',', ti)));
        const span = seqSpan(buf);
        if (span.first !== next) st.gaps++;
        next = span.last + 1;
        st.deliveries += span.last - span.first + 1;
        st.lat.push(now - t);
        st.lastAt = now;
      });
    }
  });
  return { st, ready, close() { for (const s of subs) s.ws.terminate(); } };
}

// A worker thread holding one subscriber group: posts 'ready', then
// 'done' with its figures when it has `want` deliveries or is asked to
// 'finish'.
async function subscriberThread({ port, storeId, count, want }) {
  const g = await subscriberGroup(port, storeId, count);
  await g.ready;
  const report = () => { parentPort.postMessage({ done: true, ...g.st }); g.close(); parentPort.close(); };
  let reported = false;
  const poll = setInterval(() => { if (g.st.deliveries >= want && !reported) { reported = true; clearInterval(poll); report(); } }, 10);
  parentPort.on('message', (m) => { if (m === 'finish' && !reported) { reported = true; clearInterval(poll); report(); } });
  parentPort.postMessage({ ready: true });
}

// The fan-out workload with the chosen subscriber client: `loadgen
// syncsubs` (default) or the Node subscribers (client 'node', or
// SYNC_FANOUT_CLIENT=node). Same pusher, sizes and result fields.
export function fanoutWorkload(srv, opts = {}) {
  const client = opts.client || process.env.SYNC_FANOUT_CLIENT || 'c';
  if (client === 'node') return fanoutWorkloadNode(srv, opts);
  if (client !== 'c') throw new Error(`SYNC_FANOUT_CLIENT must be c or node, not ${client}`);
  return fanoutWorkloadC(srv, opts);
}

// The loadgen binary: LOADGEN, or build/bench/loadgen, (re)built from
// bench/loadgen.c (as bench/run.sh builds it) when missing or older than
// the source. Built under a temporary name and renamed, so a concurrent
// build never leaves a half-written binary.
export function loadgenBin() {
  if (process.env.LOADGEN) return process.env.LOADGEN;
  const src = path.join(ROOT, 'bench/loadgen.c');
  const bin = path.join(ROOT, 'build/bench/loadgen');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(path.dirname(bin), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  execFileSync(process.env.CC || 'cc', ['-O2', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', src, '-o', tmp, '-lm', '-lssl', '-lcrypto', '-lz'], { stdio: 'inherit' });
  renameSync(tmp, bin);
  return bin;
}

// `subs` live pullers as one `loadgen syncsubs` process (C, epoll, one
// thread): each sends the same live Pull as the Node client and counts a
// chunk's events from its first and last seqNum, its latency from the
// first event's `t`. The pusher is the Node one below. loadgen's --pause
// keeps the sockets open after its RESULT line until told, so the
// server's CPU is read before the teardown. Returns the fields of
// fanoutWorkloadNode, plus subsCpu (loadgen) and pusherCpu (this process).
async function fanoutWorkloadC(srv, { subs: nsubs = 1000, events = 10000, storeId = 'fanout', waitMs = 60000 } = {}) {
  const args = ['syncsubs', '--port', String(srv.port), '--store', storeId, '--subs', String(nsubs),
    '--events', String(events), '--timeout', String(Math.ceil(waitMs / 1000) + 600), '--pause', '--quiet'];
  const p = spawn(loadgenBin(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '', exit = null;
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  p.stdin.on('error', () => { /* loadgen gone; its exit is reported below */ });
  const exited = new Promise((resolve) => p.once('exit', (code, signal) => { exit = { code, signal }; resolve(); }));
  const waitFor = async (re, ms, what) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (exit) throw new Error(`loadgen exited (${exit.code ?? exit.signal}) before ${what}: ${(err + out).slice(-600)}`);
      if (Date.now() > end) throw new Error(`loadgen: no ${what} within ${ms / 1000} s: ${(err + out).slice(-600)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let pusher = null;
  try {
    await waitFor(/^READY /m, 600000, 'READY');
    await new Promise((r) => setTimeout(r, 300));
    pusher = await Client.open(srv.port, storeId);
    const cpu0 = srv.cpu(), sys0 = srv.cpuSys?.();
    const client0 = process.cpuUsage();
    const t0 = wallMs();
    const { acks } = await pushAll(pusher, storeId, 0, events, (seq) => ({ t: wallMs(), i: seq, text: 'fan-out event' }));
    const pu = process.cpuUsage(client0);
    // loadgen ends by itself once all deliveries arrived; after waitMs it
    // is told to stop and report what it has.
    const timer = setTimeout(() => p.stdin.write('finish\n'), waitMs);
    try { await waitFor(/^RESULT .*$/m, waitMs + 30000, 'RESULT'); } finally { clearTimeout(timer); }
    const cpu = srv.cpu() - cpu0;
    const cpuSys = sys0 === undefined ? undefined : srv.cpuSys() - sys0;
    const line = /^RESULT (.*)$/m.exec(out)[1];
    const r = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')));
    if (r.ok === undefined || r.deliveries === undefined) throw new Error(`loadgen: bad RESULT: ${line}`);
    const deliveries = Number(r.deliveries);
    const seconds = (Number(r.last_ms) - t0) / 1000;
    const pusherCpu = (pu.user + pu.system) / 1e6;
    const subsCpu = Number(r.loadgen_cpu_s);
    if (Number(r.bad) || Number(r.other) || Number(r.proto_err) || Number(r.closed))
      throw new Error(`loadgen reports errors: ${line} ${err.slice(-400)}`);
    return {
      subs: nsubs, events, deliveries, want: nsubs * events, seconds, rate: deliveries / seconds,
      p50: Number(r.p50_ms), p99: Number(r.p99_ms), max: Number(r.max_ms), gaps: Number(r.gaps), cpu, cpuSys,
      clientCpu: subsCpu + pusherCpu, subsCpu, subsSys: Number(r.loadgen_sys_s), pusherCpu, threads: 1, client: 'c',
      ack: ackStats(acks),
    };
  } finally {
    pusher?.ws.close();
    if (!exit) {
      p.stdin.end(); // loadgen closes its sockets and exits
      const t = setTimeout(() => { if (!exit) p.kill('SIGKILL'); }, 10000);
      await exited;
      clearTimeout(t);
    }
  }
}

// `subs` live pullers on one store, spread over `threads` client threads:
// this one (which also runs the pusher, so pushing slows down when this
// thread falls behind reading, as with one thread) and threads - 1 worker
// threads, so that one client thread reading every frame is less of a
// limit on a small machine. One pusher sends `events` events in batches
// of 100 as fast as acks come. Waits at most `waitMs` for the last
// delivery. Returns {deliveries, want, seconds, rate, p50, p99, max,
// gaps, cpu, clientCpu, threads}.
async function fanoutWorkloadNode(srv, { subs: nsubs = 1000, events = 10000, storeId = 'fanout', waitMs = 60000,
  threads = Number(process.env.SYNC_CLIENT_THREADS || 2) } = {}) {
  const per = Math.ceil(nsubs / Math.max(1, threads));
  const workers = [];
  let local = null;
  try {
    for (let i = per; i < nsubs; i += per) {
      const count = Math.min(per, nsubs - i);
      const w = new Worker(new URL(import.meta.url), { workerData: { role: 'fanout-subs', port: srv.port, storeId, count, want: count * events } });
      const g = { count, w, result: null };
      g.ready = new Promise((resolve, reject) => {
        g.finished = new Promise((fin) => {
          w.on('message', (m) => { if (m.ready) resolve(); if (m.done) { g.result = m; fin(); } });
          w.on('error', (e) => { reject(e); fin(); });
          w.on('exit', () => { resolve(); fin(); });
        });
      });
      workers.push(g);
    }
    local = await subscriberGroup(srv.port, storeId, Math.min(per, nsubs));
    await Promise.all([local.ready, ...workers.map((g) => g.ready)]);
    await new Promise((r) => setTimeout(r, 300));
    const pusher = await Client.open(srv.port, storeId);
    const cpu0 = srv.cpu(), sys0 = srv.cpuSys?.();
    const client0 = process.cpuUsage(); // the whole client process, all threads
    const t0 = wallMs();
    const { acks } = await pushAll(pusher, storeId, 0, events, (seq) => ({ t: wallMs(), i: seq, text: 'fan-out event' }));
    const want = events * nsubs;
    const localWant = events * Math.min(per, nsubs);
    const end = Date.now() + waitMs;
    while (local.st.deliveries < localWant && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const timer = setTimeout(() => { for (const g of workers) g.w.postMessage('finish'); }, Math.max(0, end - Date.now()));
    await Promise.all(workers.map((g) => g.finished));
    clearTimeout(timer);
    const cpu = srv.cpu() - cpu0;
    const cpuSys = sys0 === undefined ? undefined : srv.cpuSys() - sys0;
    const cu = process.cpuUsage(client0);
    pusher.ws.close();
    let { deliveries, gaps, lastAt } = local.st;
    const lat = local.st.lat;
    for (const g of workers) {
      if (!g.result) throw new Error('a subscriber thread failed');
      deliveries += g.result.deliveries;
      gaps += g.result.gaps;
      lastAt = Math.max(lastAt, g.result.lastAt);
      for (const x of g.result.lat) lat.push(x);
    }
    const seconds = (lastAt - t0) / 1000;
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    return { subs: nsubs, events, deliveries, want, seconds, rate: deliveries / seconds, p50: q(0.5), p99: q(0.99), max: lat.at(-1), gaps, cpu, cpuSys, clientCpu: (cu.user + cu.system) / 1e6, threads: workers.length + 1, client: 'node', ack: ackStats(acks) };
  } finally {
    local?.close();
    for (const g of workers) await g.w.terminate();
  }
}

// Push round trips (ms) of a fan-out run: p50 and max. A chunk's latency
// starts when its push is built, so a slow push (its fsync) shows in the
// latency of all its deliveries.
function ackStats(acks) {
  const a = [...acks].sort((x, y) => x - y);
  return { p50: a[Math.floor(a.length / 2)] ?? 0, max: a.at(-1) ?? 0 };
}

// The client CPU of a fan-out result, in words.
export function clientText(r) {
  return r.client === 'c'
    ? `${r.clientCpu.toFixed(2)} s (loadgen subscribers ${r.subsCpu.toFixed(2)} s, ${r.subsSys.toFixed(2)} s of it in the kernel; Node pusher ${r.pusherCpu.toFixed(2)} s)`
    : `${r.clientCpu.toFixed(2)} s (Node, ${r.threads} threads)`;
}

export const fmt = { n };

async function main() {
  const WHICH = (process.env.BENCH_SYNC || 'push catchup fanout').split(/\s+/);
  const CATCHUP_EVENTS = Number(process.env.SYNC_EVENTS || 1000000);
  const SUBS = Number(process.env.SYNC_SUBS || 1000);
  const results = [];

  async function benchPush() {
    for (const durability of ['full', 'normal']) {
      const d = await startDuro({ duro: { durability } });
      try {
        const r = await pushWorkload(d, { total: 200000 });
        results.push({ scenario: `push, durability ${durability}`, figure: `${n(r.rate)} events/s`, detail: `${n(r.total)} events in ${r.seconds.toFixed(2)} s, server CPU ${r.cpu.toFixed(2)} s, event ~${EVENT_BYTES} bytes` });
      } finally { await d.stop(); }
    }
  }

  async function benchCatchup() {
    const d = await startDuro({ duro: { durability: 'normal' } });
    try {
      const r = await catchupWorkload(d, { events: CATCHUP_EVENTS });
      results.push({ scenario: `catch-up of ${n(CATCHUP_EVENTS)} events`, figure: `${r.seconds.toFixed(2)} s`, detail: `${r.chunks} chunks, ${(r.bytes / 1e6).toFixed(0)} MB, ${n(r.rate)} events/s, server CPU ${r.cpu.toFixed(2)} s (fill: ${r.fillSeconds.toFixed(1)} s)` });
    } finally { await d.stop(); }
  }

  async function benchFanout() {
    const d = await startDuro({ duro: { durability: 'normal', max_connections: 20000 } });
    try {
      const r = await fanoutWorkload(d, { subs: SUBS, events: 10000 });
      results.push({ scenario: `fan-out: ${r.subs} live pullers × ${n(r.events)} events`, figure: `${n(r.rate)} deliveries/s, p99 ${r.p99.toFixed(1)} ms`, detail: `${n(r.deliveries)} of ${n(r.want)} event deliveries in ${r.seconds.toFixed(2)} s; per chunk (100 events) latency p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; gaps ${r.gaps}; server CPU ${r.cpu.toFixed(2)} s (${r.cpuSys.toFixed(2)} s in the kernel), client CPU ${clientText(r)}` });
      if (r.deliveries !== r.want || r.gaps) throw new Error(`fan-out lost events: ${r.deliveries}/${r.want}, gaps ${r.gaps}`);
    } finally { await d.stop(); }
  }

  const runs = { push: benchPush, catchup: benchCatchup, fanout: benchFanout };
  let failed = 0;
  for (const w of WHICH) {
    if (!runs[w]) continue;
    try { await runs[w](); } catch (e) { failed++; results.push({ scenario: w, figure: 'FAIL', detail: e.message }); }
  }
  console.log('\nLiveStore sync backend');
  for (const r of results) console.log(`  ${r.scenario.padEnd(44)} ${r.figure}\n  ${''.padEnd(44)} ${r.detail}`);
  process.exit(failed ? 1 : 0);
}

if (!isMainThread && workerData?.role === 'fanout-subs') await subscriberThread(workerData);
else if (isMainThread && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
