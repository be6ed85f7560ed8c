// bench/sync_compare.mjs: the LiveStore sync workloads of sync_bench.mjs,
// run by the same client code against duro and against the reference
// backend (the official @livestore/sync-cf 0.4.0 Durable Object under
// `wrangler dev`, installed in bench/reference/), side by side with ratios.
// make bench runs it when bench/reference is installed (npm ci
// --prefix bench/reference); it is never part of the tests.
//
// Both servers run on 127.0.0.1 and are stopped by this script: duro by
// PID, wrangler by the process group it was started in (wrangler spawns
// workerd and esbuild children). Server CPU is utime + stime from /proc,
// for the reference summed over that whole process group.
//
// The reference is far slower, so some of its workloads are scaled down
// (sizes below, overridable). Every row says which sizes each side ran;
// a ratio is only given for runs of the same size, nothing is
// extrapolated. Environment:
//   CMP_PUSH_DURO (200000), CMP_PUSH_REF (20000): events pushed
//   CMP_CATCHUP_DURO (1000000), CMP_CATCHUP_REF (100000): catch-up size
//   CMP_SUBS (1000), CMP_FANOUT_EVENTS (10000): fan-out, same for both
//   CMP_ONLY=duro|reference: run one side only
//   BENCH_SYNC="push catchup fanout": a subset of the workloads
//   SYNC_FANOUT_CLIENT=c|node: fan-out subscribers (default c: `loadgen
//   syncsubs`, the same C client for both servers; node: the earlier Node
//   subscribers, whose own CPU limited the figures on 2 cores)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  EVENT_BYTES, catchupWorkload, clientText, fanoutWorkload, fmt, groupCpuSeconds, pushWorkload, startDuro,
} from './sync_bench.mjs';

const REF_DIR = path.join(import.meta.dirname, 'reference');
const env = (k, d) => Number(process.env[k] || d);
const SIZES = {
  pushDuro: env('CMP_PUSH_DURO', 200000), pushRef: env('CMP_PUSH_REF', 20000),
  catchupDuro: env('CMP_CATCHUP_DURO', 1000000), catchupRef: env('CMP_CATCHUP_REF', 100000),
  subs: env('CMP_SUBS', 1000), fanoutEvents: env('CMP_FANOUT_EVENTS', 10000),
};
const ONLY = process.env.CMP_ONLY || '';
const WHICH = new Set((process.env.BENCH_SYNC || 'push catchup fanout').split(/\s+/).filter(Boolean));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function versionOf(pkg) {
  try { return JSON.parse(readFileSync(path.join(REF_DIR, 'node_modules', pkg, 'package.json'), 'utf8')).version; } catch { return '?'; }
}

// CPU seconds of each process in group `pgid`, by role: the workerd that
// runs the worker and its Durable Object (started with an inspector), the
// workerd proxy in front of it, wrangler's node processes, esbuild.
function groupCpuByRole(pgid) {
  const parts = {};
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const f = readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[2]) !== pgid) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const role = cmd.includes('workerd') ? (cmd.includes('--inspector-addr') ? 'workerd (worker + DO)' : 'workerd (dev proxy)')
        : cmd.includes('esbuild') ? 'esbuild' : 'wrangler (node)';
      parts[role] = (parts[role] || 0) + (Number(f[11]) + Number(f[12])) / 100;
    } catch { /* gone */ }
  }
  return parts;
}

function groupAlive(pgid) {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try { if (Number(readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ')[2]) === pgid) return true; } catch { /* gone */ }
  }
  return false;
}

// Starts `wrangler dev` for bench/reference in a process group of its own,
// local only, with its state, config, logs and telemetry settings in a
// temporary directory. Resolves once GET / answers.
export async function startReference() {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-syncref-'));
  const port = await freePort();
  const inspector = await freePort();
  const args = [path.join(REF_DIR, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--local',
    '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', path.join(dir, 'state'), '--log-level', 'warn', '--show-interactive-dev-session=false'];
  const p = spawn(process.execPath, args, {
    cwd: REF_DIR, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: path.join(dir, 'config'), // wrangler's metrics.json, logs, dev registry
      WRANGLER_LOG_PATH: path.join(dir, 'logs'),
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      WRANGLER_HIDE_BANNER: 'true', // the banner is what runs the npm update check
      // Keeps miniflare from downloading the Request.cf object from the
      // internet. LiveStore's code only changes behaviour for "production"
      // (and then only on error paths), so "test" runs like "development".
      NODE_ENV: 'test',
      CLOUDFLARE_API_TOKEN: '', CLOUDFLARE_ACCOUNT_ID: '',
    },
  });
  let log = '', exited = false;
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  p.once('exit', () => { exited = true; });
  const srv = {
    name: 'reference', port, dir, pid: p.pid,
    cpu() { return groupCpuSeconds(p.pid); },
    cpuSys() { return groupCpuSeconds(p.pid, 'sys'); },
    cpuByRole() { return groupCpuByRole(p.pid); },
    log() { return log; },
    async stop() {
      try { process.kill(-p.pid, 'SIGTERM'); } catch { /* already gone */ }
      for (let i = 0; i < 100 && groupAlive(p.pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (groupAlive(p.pid)) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
      for (let i = 0; i < 40 && groupAlive(p.pid); i++) await new Promise((r) => setTimeout(r, 50));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const end = Date.now() + 90000;
  for (;;) {
    if (exited) { await srv.stop(); throw new Error(`wrangler dev exited: ${log.slice(-2000)}`); }
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) { await r.text(); break; }
    } catch { /* not up yet */ }
    if (Date.now() > end) { await srv.stop(); throw new Error(`wrangler dev did not answer within 90 s: ${log.slice(-2000)}`); }
    await new Promise((r) => setTimeout(r, 250));
  }
  return srv;
}

// --- the runs -------------------------------------------------------------

const out = { duro: {}, reference: {} };
const errors = [];

async function attempt(side, key, fn) {
  if (!WHICH.has(key.replace(/Small$/, ''))) return;
  try { out[side][key] = await fn(); } catch (e) { errors.push(`${side} ${key}: ${e.message}`); out[side][key] = { error: e.message }; }
}

async function runDuro(withRefSizes) {
  // Durability "full" (fsync per push) matches the reference, whose
  // Durable Object SQLite fsyncs every push under wrangler dev.
  const fresh = async (config, fn) => { const d = await startDuro(config); try { return await fn(d); } finally { await d.stop(); } };
  await attempt('duro', 'push', () => fresh({ duro: { durability: 'full' } }, (d) => pushWorkload(d, { total: SIZES.pushDuro })));
  if (withRefSizes && SIZES.pushRef !== SIZES.pushDuro)
    await attempt('duro', 'pushSmall', () => fresh({ duro: { durability: 'full' } }, (d) => pushWorkload(d, { total: SIZES.pushRef })));
  await attempt('duro', 'catchup', () => fresh({ duro: { durability: 'full' } }, (d) => catchupWorkload(d, { events: SIZES.catchupDuro })));
  if (withRefSizes && SIZES.catchupRef !== SIZES.catchupDuro)
    await attempt('duro', 'catchupSmall', () => fresh({ duro: { durability: 'full' } }, (d) => catchupWorkload(d, { events: SIZES.catchupRef })));
  await attempt('duro', 'fanout', () => fresh({ duro: { durability: 'full', max_connections: 20000 } },
    (d) => fanoutWorkload(d, { subs: SIZES.subs, events: SIZES.fanoutEvents })));
}

// Runs fn and adds the reference's CPU per process role to its result.
async function withRoles(r, fn) {
  const a = r.cpuByRole();
  const res = await fn();
  const b = r.cpuByRole();
  res.roles = Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] || 0)]));
  return res;
}

async function runReference() {
  const r = await startReference();
  try {
    // One wrangler dev for all workloads; each uses its own storeId, that
    // is its own Durable Object with its own SQLite database.
    await attempt('reference', 'push', () => withRoles(r, () => pushWorkload(r, { total: SIZES.pushRef, storeId: 'push' })));
    await attempt('reference', 'catchup', () => withRoles(r, () => catchupWorkload(r, { events: SIZES.catchupRef, storeId: 'catchup' })));
    await attempt('reference', 'fanout', () => withRoles(r, () => fanoutWorkload(r, { subs: SIZES.subs, events: SIZES.fanoutEvents, storeId: 'fanout', waitMs: 300000 })));
  } finally { await r.stop(); }
}

// --- the report -----------------------------------------------------------

const n = fmt.n;
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(1)}×` : '–');
const cell = (r, f) => (!r ? 'not run' : r.error ? `FAIL: ${r.error.slice(0, 60)}` : f(r));
const pushCell = (r) => cell(r, (x) => `${n(x.rate)} ev/s (${n(x.total)} ev, CPU ${x.cpu.toFixed(2)} s)`);
const catchCell = (r) => cell(r, (x) => `${x.seconds.toFixed(2)} s = ${n(x.rate)} ev/s (CPU ${x.cpu.toFixed(2)} s)`);
const fanCell = (r) => cell(r, (x) => `${n(x.rate)} deliv/s, p99 ${x.p99.toFixed(0)} ms (CPU ${x.cpu.toFixed(2)} s${x.deliveries !== x.want || x.gaps ? `; ${n(x.deliveries)}/${n(x.want)} delivered, ${x.gaps} gaps` : ''})`);
const ok = (r) => r && !r.error;

function report() {
  const D = out.duro, R = out.reference;
  const rows = [];
  const same = (d, r) => (ok(d) && ok(r) ? ratio(d.rate, r.rate) : '–');
  const cpuRatio = (d, r, units) => (ok(d) && ok(r) && d.cpu > 0 ? ratio(units(d) / d.cpu, units(r) / r.cpu) : '–');
  // push
  const dPush = SIZES.pushRef !== SIZES.pushDuro ? D.pushSmall : D.push;
  rows.push([`push, batches of 100 × ~${EVENT_BYTES} B, fsync per push`, pushCell(dPush), pushCell(R.push), same(dPush, R.push),
    cpuRatio(dPush, R.push, (x) => x.total)]);
  if (SIZES.pushRef !== SIZES.pushDuro)
    rows.push([`  duro at full size`, pushCell(D.push), `not run (${n(SIZES.pushDuro)} ev)`, '', '']);
  // catch-up
  const dCatch = SIZES.catchupRef !== SIZES.catchupDuro ? D.catchupSmall : D.catchup;
  rows.push([`catch-up: new client pulls ${n(SIZES.catchupRef)} events`, catchCell(dCatch), catchCell(R.catchup), same(dCatch, R.catchup),
    cpuRatio(dCatch, R.catchup, (x) => x.events)]);
  if (SIZES.catchupRef !== SIZES.catchupDuro)
    rows.push([`catch-up: new client pulls ${n(SIZES.catchupDuro)} events`, catchCell(D.catchup), `not run (scaled down to ${n(SIZES.catchupRef)})`, '', '']);
  // fan-out
  rows.push([`fan-out: ${n(SIZES.subs)} live pullers × ${n(SIZES.fanoutEvents)} events`, fanCell(D.fanout), fanCell(R.fanout), same(D.fanout, R.fanout),
    cpuRatio(D.fanout, R.fanout, (x) => x.deliveries)]);
  if (ok(D.fanout) && ok(R.fanout))
    rows.push(['  fan-out p99 latency (lower is better)', `${D.fanout.p99.toFixed(1)} ms`, `${R.fanout.p99.toFixed(1)} ms`, ratio(R.fanout.p99, D.fanout.p99), '']);

  const head = ['workload', 'duro', 'reference', 'duro/ref', 'per CPU-s'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `  ${r.map((c, i) => String(c).padEnd(w[i])).join('  ')}`;
  console.log(`\nLiveStore sync: duro vs the reference backend (same client code, raw protocol over ws, 127.0.0.1)`);
  console.log(refRan
    ? `  reference: @livestore/sync-cf ${versionOf('@livestore/sync-cf')} under wrangler ${versionOf('wrangler')} dev (workerd ${versionOf('workerd')}), DO SQLite storage`
    : '  reference: not run (see above)');
  const fc = D.fanout?.client ?? R.fanout?.client;
  console.log(`  duro: durability "full" (fsync per push), fresh server per workload; fan-out subscribers: ${fc === 'c' ? 'loadgen syncsubs (C, 1 thread), Node pusher' : fc === 'node' ? `Node, ${D.fanout?.threads ?? R.fanout?.threads} threads` : '?'}`);
  console.log(line(head));
  console.log(line(w.map((x) => '-'.repeat(x))));
  for (const r of rows) console.log(line(r));
  console.log(`  duro/ref: ratio of rates (events/s, deliveries/s) for runs of the SAME size; per CPU-s: ratio of work per`);
  console.log(`  server CPU-second (reference: wrangler + both workerds + esbuild, summed over its process group).`);
  const scaled = [];
  if (SIZES.pushRef !== SIZES.pushDuro) scaled.push(`push ${n(SIZES.pushRef)} events instead of ${n(SIZES.pushDuro)}`);
  if (SIZES.catchupRef !== SIZES.catchupDuro) scaled.push(`catch-up ${n(SIZES.catchupRef)} events instead of ${n(SIZES.catchupDuro)}`);
  if (scaled.length && refRan) console.log(`  SCALED DOWN for the reference (too slow to fill at full size): ${scaled.join('; ')}. No figure is extrapolated.`);
  if (refRan) {
    const verdict = (d, r, f = (a, b) => a.rate / b.rate) => (ok(d) && ok(r) ? `${f(d, r) >= 10 ? 'met' : 'MISSED'} (${f(d, r).toFixed(1)}×)` : 'n/a');
    console.log(`  target duro ≥ 10× reference: push ${verdict(dPush, R.push)}, catch-up ${verdict(dCatch, R.catchup)}, `
      + `fan-out deliveries/s ${verdict(D.fanout, R.fanout)}, fan-out p99 ${verdict(D.fanout, R.fanout, (a, b) => b.p99 / a.p99)}`);
  }
  for (const [k, label] of [['push', 'push (whole workload)'], ['catchup', 'catch-up (fill + pull)'], ['fanout', 'fan-out']]) {
    const roles = R[k]?.roles;
    if (roles) console.log(`  reference CPU, ${label}: ${Object.entries(roles).filter(([, v]) => v > 0.005).map(([r, v]) => `${r} ${v.toFixed(2)} s`).join(', ')}`);
  }
  for (const [side, r] of [['duro', D.fanout], ['reference', R.fanout]])
    if (ok(r)) console.log(`  fan-out, ${side}: ${n(r.deliveries)} deliveries in ${r.seconds.toFixed(2)} s, server CPU ${r.cpu.toFixed(2)} s${r.cpuSys !== undefined ? ` (${r.cpuSys.toFixed(2)} s in the kernel)` : ''} = ${(r.cpu / r.deliveries * 1e9).toFixed(0)} ns per delivery, client CPU ${clientText(r)}, p50 ${r.p50.toFixed(1)} ms, max ${r.max.toFixed(0)} ms; push round trip p50 ${r.ack.p50.toFixed(1)} ms, max ${r.ack.max.toFixed(0)} ms`);
  if (errors.length) console.log(`  errors:\n    ${errors.join('\n    ')}`);
}

// npm writes node_modules/.package-lock.json only when an install finished.
let refRan = false;
const refInstalled = existsSync(path.join(REF_DIR, 'node_modules/.package-lock.json'))
  && existsSync(path.join(REF_DIR, 'node_modules/wrangler/bin/wrangler.js'));
if (ONLY !== 'reference') await runDuro(ONLY !== 'duro' && refInstalled);
if (ONLY !== 'duro') {
  if (refInstalled) {
    refRan = true;
    try { await runReference(); } catch (e) { errors.push(`reference: ${e.message}`); }
  } else {
    console.log('\nreference backend skipped: bench/reference is not installed (run npm ci --prefix bench/reference; make bench tries it)');
  }
}
report();
// A failing duro workload fails make bench; a reference failure is only
// printed (the comparison is informative, the reference not ours).
process.exit(errors.some((e) => e.startsWith('duro')) ? 1 : 0);
