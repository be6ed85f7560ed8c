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
//            events in batches of 100: deliveries/s, p50/p99 latency
//
// Environment: BENCH_SYNC="push catchup fanout" (subset), SYNC_EVENTS
// (catch-up size, default 1000000), SYNC_SUBS (default 1000).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = process.env.DURO_BIN || path.join(ROOT, 'build/release/duro');
const WHICH = (process.env.BENCH_SYNC || 'push catchup fanout').split(/\s+/);
const CATCHUP_EVENTS = Number(process.env.SYNC_EVENTS || 1000000);
const SUBS = Number(process.env.SYNC_SUBS || 1000);
const results = [];

async function startDuro(config = {}) {
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
    port, dir, pid: p.pid,
    cpu() { return cpuSeconds(p.pid); },
    async stop() { p.kill('SIGTERM'); await new Promise((r) => p.once('exit', r)); rmSync(dir, { recursive: true, force: true }); },
  };
}

import { readFileSync } from 'node:fs';
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

class Client {
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
// previous ack. Returns {seconds, head}.
async function pushAll(c, storeId, head, total, argsFor, backendId = null) {
  const t0 = performance.now();
  while (total > 0) {
    const n = Math.min(100, total);
    const id = nid();
    const batch = makeBatch(head + 1, n, argsFor);
    const r = await new Promise((resolve) => c.request(id, 'SyncWsRpc.Push',
      { storeId, batch, backendId: backendId ? { _tag: 'Some', value: backendId } : { _tag: 'None' } }, (d) => resolve(d.toString())));
    if (!r.includes('"Success"')) throw new Error(`push refused: ${r.slice(0, 300)}`);
    head += n;
    total -= n;
  }
  return { seconds: (performance.now() - t0) / 1000, head };
}

const pad = 'x'.repeat(140);
const args200 = (seq) => ({ id: `e${seq}`, text: pad, n: seq });

async function benchPush() {
  for (const durability of ['full', 'normal']) {
    const d = await startDuro({ duro: { durability } });
    try {
      const c = await Client.open(d.port, 'push');
      await pushAll(c, 'push', 0, 2000, args200); // warm-up
      const cpu0 = d.cpu();
      const total = 200000;
      const { seconds } = await pushAll(c, 'push', 2000, total, args200);
      const cpu = d.cpu() - cpu0;
      const rate = total / seconds;
      results.push({ scenario: `push, durability ${durability}`, figure: `${Math.round(rate).toLocaleString('en')} events/s`, detail: `${total.toLocaleString('en')} events in ${seconds.toFixed(2)} s, server CPU ${cpu.toFixed(2)} s, event ~${JSON.stringify(makeBatch(1, 1, args200)[0]).length} bytes` });
      c.ws.close();
    } finally { await d.stop(); }
  }
}

async function benchCatchup() {
  const d = await startDuro({ duro: { durability: 'normal' } });
  try {
    const w = await Client.open(d.port, 'catchup');
    const fill = await pushAll(w, 'catchup', 0, CATCHUP_EVENTS, args200);
    w.ws.close();
    const c = await Client.open(d.port, 'catchup');
    const cpu0 = d.cpu();
    const t0 = performance.now();
    let events = 0, chunks = 0, bytes = 0;
    const id = nid();
    await new Promise((resolve) => c.request(id, 'SyncWsRpc.Pull', { storeId: 'catchup', live: false, cursor: { _tag: 'None' } }, (buf, head) => {
      if (head.startsWith('{"_tag":"Exit"')) { resolve(); return; }
      chunks++;
      bytes += buf.length;
      c.ws.send(`{"_tag":"Ack","requestId":"${id}"}`);
      // count events: one "eventEncoded" per event
      let i = 0;
      while ((i = buf.indexOf('"eventEncoded"', i)) >= 0) { events++; i += 14; }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = d.cpu() - cpu0;
    if (events !== CATCHUP_EVENTS) throw new Error(`catch-up got ${events} of ${CATCHUP_EVENTS}`);
    results.push({ scenario: `catch-up of ${CATCHUP_EVENTS.toLocaleString('en')} events`, figure: `${seconds.toFixed(2)} s`, detail: `${chunks} chunks, ${(bytes / 1e6).toFixed(0)} MB, ${Math.round(events / seconds).toLocaleString('en')} events/s, server CPU ${cpu.toFixed(2)} s (fill: ${fill.seconds.toFixed(1)} s)` });
    c.ws.close();
  } finally { await d.stop(); }
}

async function benchFanout() {
  const d = await startDuro({ duro: { durability: 'normal', max_connections: 20000 } });
  try {
    const storeId = 'fanout';
    const subs = [];
    for (let i = 0; i < SUBS; i += 100)
      subs.push(...await Promise.all(Array.from({ length: Math.min(100, SUBS - i) }, () => Client.open(d.port, storeId))));
    const lat = [];
    let deliveries = 0, lastAt = 0, gaps = 0;
    const TOTAL = 10000;
    let liveReady = 0;
    await new Promise((resolve) => {
      for (const s of subs) {
        const id = nid();
        let next = 1, first = true;
        s.request(id, 'SyncWsRpc.Pull', { storeId, live: true, cursor: { _tag: 'None' } }, (buf) => {
          if (first) { first = false; if (++liveReady === subs.length) resolve(); return; }
          const now = performance.now();
          const ti = buf.indexOf('"t":');
          const t = Number(buf.toString('latin1', ti + 4, buf.indexOf(',', ti)));
          const si = buf.indexOf('"seqNum":');
          const seq = Number(buf.toString('latin1', si + 9, buf.indexOf(',', si)));
          if (seq !== next) gaps++;
          let n = 0, i = 0;
          while ((i = buf.indexOf('"eventEncoded"', i)) >= 0) { n++; i += 14; }
          next = seq + n;
          deliveries += n;
          lat.push(now - t);
          lastAt = now;
        });
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const pusher = await Client.open(d.port, storeId);
    const cpu0 = d.cpu();
    const t0 = performance.now();
    await pushAll(pusher, storeId, 0, TOTAL, (seq) => ({ t: performance.now(), i: seq, text: 'fan-out event' }));
    const want = TOTAL * subs.length;
    const end = Date.now() + 60000;
    while (deliveries < want && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const seconds = (lastAt - t0) / 1000;
    const cpu = d.cpu() - cpu0;
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    results.push({ scenario: `fan-out: ${subs.length} live pullers × ${TOTAL.toLocaleString('en')} events`, figure: `${Math.round(deliveries / seconds).toLocaleString('en')} deliveries/s, p99 ${q(0.99).toFixed(1)} ms`, detail: `${deliveries.toLocaleString('en')} of ${want.toLocaleString('en')} event deliveries in ${seconds.toFixed(2)} s; per chunk (100 events) latency p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${lat.at(-1).toFixed(1)} ms; gaps ${gaps}; server CPU ${cpu.toFixed(2)} s` });
    for (const s of subs) s.ws.terminate();
    pusher.ws.close();
    if (deliveries !== want || gaps) throw new Error(`fan-out lost events: ${deliveries}/${want}, gaps ${gaps}`);
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
