#!/usr/bin/env node
// bench/cluster_failover.mjs: failover time of a duro cluster over
// repeated kill -9 (the cluster issue's "failover time over 10 kills";
// bench/cluster.sh runs it after the storage table).
//
// It starts a throwaway PostgreSQL (tests/pg.sh, through
// tests/integration/lib/postgres.mjs) with a fresh database, builds
// examples/counter into a temporary directory and starts three nodes,
// `duro backend --mode test --postgres CONNINFO --node-id nI --config F`,
// on 127.0.0.1 (ports chosen by duro: --port 0), then creates 30 counters
// (POST /_objects/COUNTER/c<i>/increment, round-robin over the nodes).
// Then, BENCH_KILLS times:
//   - the node that owns the most counters (duro_owners) is the victim;
//   - one client loop per counter it owns increments that counter through
//     the two OTHER nodes in turn (one request in flight per counter,
//     50 ms between successes, 20 ms after a failure);
//   - once every loop has had a 200, the victim gets SIGKILL;
//   - a counter's failover time is from the kill to the answer of its
//     first 200 to a request sent after the kill (so the figure's
//     resolution is about 20 ms plus one request);
//   - the victim is started again (same id, same port when it is free)
//     and the next kill waits until it has joined, plus one second.
// Prints one line per kill and the min/median/max over the kills (each
// kill's slowest counter) and over all moved counters.
//
//   node bench/cluster_failover.mjs
//   BENCH_KILLS=3 node bench/cluster_failover.mjs
//
// Environment: BENCH_KILLS (10), BENCH_COUNTERS (30), DURO_BIN (default
// build/release/duro), PG_BIN (as tests/pg.sh). Each node life's output
// goes to build/bench/cluster-failover-<id>-<life>.log.
// Every wait has a deadline; on exit, SIGINT or SIGTERM it stops the
// nodes it started (by PID) and its PostgreSQL (tests/pg.sh stop).
// Exit status: 0; 1 a counter did not serve again within 15 s of a kill
// (or an acknowledged increment was missing afterwards); 2 setup failure.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DURO_BIN, startDuro } from '../tests/integration/lib/duro.mjs';
import { startPostgres } from '../tests/integration/lib/postgres.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const LOGDIR = path.join(ROOT, 'build/bench');

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^[1-9][0-9]*$/.test(v)) {
    console.error(`cluster_failover: ${name} must be a positive integer (got '${v}')`);
    process.exit(2);
  }
  return Number(v);
}
const KILLS = intEnv('BENCH_KILLS', 10);
const COUNTERS = intEnv('BENCH_COUNTERS', 30);
const NODES = 3;
const BACK_WITHIN_MS = 15000; // a counter not back by then is a failure
const WARM_MS = 10000; // every loop must have had a 200 by then
const JOIN_MS = 10000; // a (re)started node must have joined by then
const REQUEST_MS = 3000; // one request's deadline
const PAUSE_OK_MS = 50;
const PAUSE_FAIL_MS = 20;
const SECRET = randomBytes(24).toString('hex');
const AUTH = { authorization: `Bearer ${SECRET}` };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => { if (!aborted) console.log(s); }; // after a signal, nothing but the cleanup

// ------------------------------------------------------------ cleanup
let pg = null;
let pgStarting = null;
let tmp = null;
const lives = []; // every node process started: {id, life, h}
let aborted = false;
let cleaning = null;

function cleanup() {
  cleaning ??= (async () => {
    // SIGTERM every node still running (SIGKILL after 8 s), in parallel.
    await Promise.all(lives.map(async (l) => {
      try { await l.h.stop(); } catch { /* its log says why */ }
    }));
    try {
      mkdirSync(LOGDIR, { recursive: true });
      for (const l of lives) writeFileSync(path.join(LOGDIR, `cluster-failover-${l.id}-${l.life}.log`), l.h.log);
    } catch { /* logs are a convenience */ }
    const dirs = new Set(lives.map((l) => l.h.dir));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    try { await pgStarting; } catch { /* reported by main */ }
    if (pg) {
      try { await pg.stop(); } catch (e) { console.error(`cluster_failover: ${e.message}`); }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => {
    if (aborted) return;
    aborted = true;
    console.error(`cluster_failover: ${sig}, stopping`);
    // lib/duro.mjs SIGKILLs on exit any duro it started that is still
    // running (one being started when the signal came).
    cleanup().finally(() => process.exit(code));
  });
}

// ------------------------------------------------------------ helpers
function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
const ms = (x) => `${Math.round(x)}`;

// One POST .../increment with a deadline; never throws. Resolves
// {status, value, error}.
async function increment(port, name) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/_objects/COUNTER/${name}/increment`, {
      method: 'POST', headers: AUTH, signal: AbortSignal.timeout(REQUEST_MS),
    });
    const body = await r.text();
    let value = null;
    if (r.status === 200) {
      try { value = JSON.parse(body).value; } catch { /* counted as is */ }
    }
    return { status: r.status, value, error: null };
  } catch (e) {
    const error = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code || e.message);
    return { status: null, value: null, error };
  }
}

const JOINED = /node (\S+): in the cluster at /g;
function joined(h, id) {
  return [...h.log.matchAll(JOINED)].some((m) => m[1] === id);
}
const alive = (h) => h.proc.exitCode === null && h.proc.signalCode === null;

// Starts node `id` (port 0: any; dir: its directory, kept across lives)
// and waits until it joined the cluster.
async function startNode(node, conninfo, cfgPath, port) {
  if (aborted) throw new Error('aborted');
  const h = await startDuro({
    port, dir: node.dir, env: { DURO_INTERNAL_SECRET: SECRET },
    args: ['--postgres', conninfo, '--node-id', node.id, '--config', cfgPath],
  });
  const life = lives.filter((l) => l.id === node.id).length + 1;
  lives.push({ id: node.id, life, h });
  node.h = h;
  node.dir = h.dir;
  node.port = h.port;
  const end = performance.now() + JOIN_MS;
  while (!joined(h, node.id)) {
    if (!alive(h)) throw new Error(`node ${node.id} exited before joining:\n${h.log}`);
    if (performance.now() > end) throw new Error(`node ${node.id} did not join within ${JOIN_MS} ms:\n${h.log}`);
    await sleep(10);
  }
  return h;
}

// Starts the node again under its id, on its previous port if that is
// still free, else on any.
async function restartNode(node, conninfo, cfgPath) {
  try {
    return await startNode(node, conninfo, cfgPath, node.port);
  } catch (e) {
    if (aborted || (node.h && alive(node.h))) throw e;
    say(`  (${node.id} could not start again on port ${node.port}; using another port)`);
    return startNode(node, conninfo, cfgPath, 0);
  }
}

// ------------------------------------------------------------ one kill
// Returns {victim, moved: [{name, ms, via, value}], missing: [names],
// lost: [{name, acked, after}], tally: Map status -> count, after: Map node -> count}.
async function oneKill(nodes, psql) {
  const owners = new Map(await psql(
    "SELECT o.name, w.node_id FROM duro_owners w JOIN duro_objects o ON o.id = w.object_id WHERE o.name LIKE 'c%'"));
  const byNode = new Map(nodes.map((n) => [n.id, []]));
  for (const [name, id] of owners) byNode.get(id)?.push(name);
  const victim = nodes.reduce((a, b) => (byNode.get(b.id).length > byNode.get(a.id).length ? b : a));
  const names = byNode.get(victim.id).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const entries = nodes.filter((n) => n !== victim).map((n) => n.port);
  const spread = nodes.map((n) => `${n.id} ${byNode.get(n.id).length}`).join(', ');

  let tKill = null;
  const warmEnd = performance.now() + WARM_MS;
  const tally = new Map();
  const states = names.map((name, k) => ({ name, k, okBefore: 0, acked: 0, back: null, via: null, value: null }));
  const loop = async (s) => {
    for (let i = s.k; ; i++) {
      const now = performance.now();
      if (tKill === null ? now > warmEnd : now > tKill + BACK_WITHIN_MS) return;
      if (aborted) return;
      const port = entries[i % entries.length];
      const sent = performance.now();
      const r = await increment(port, s.name);
      const done = performance.now();
      if (r.status === 200) {
        if (tKill !== null && sent >= tKill) {
          s.back = done - tKill;
          s.via = port;
          s.value = r.value;
          return;
        }
        s.okBefore++;
        if (typeof r.value === 'number') s.acked = Math.max(s.acked, r.value);
      } else if (tKill !== null) {
        const key = r.status ?? r.error;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
      await sleep(r.status === 200 ? PAUSE_OK_MS : PAUSE_FAIL_MS);
    }
  };
  const loops = states.map(loop);
  while (states.some((s) => s.okBefore === 0)) {
    if (performance.now() > warmEnd || aborted) {
      const cold = states.filter((s) => s.okBefore === 0).map((s) => s.name);
      throw new Error(`before the kill, no 200 within ${WARM_MS} ms for ${cold.join(' ')}`);
    }
    await sleep(10);
  }
  await sleep(500); // every loop in its stride
  const exited = victim.h.exited;
  tKill = performance.now();
  victim.h.proc.kill('SIGKILL');
  await Promise.race([exited, sleep(5000)]);
  await Promise.all(loops);

  const moved = states.filter((s) => s.back !== null);
  const missing = states.filter((s) => s.back === null).map((s) => s.name);
  // An increment acknowledged before the kill must be in the value after
  // it (the first success after the kill adds at least one more).
  const lost = moved.filter((s) => typeof s.value === 'number' && s.value <= s.acked)
    .map((s) => ({ name: s.name, acked: s.acked, after: s.value }));
  const now = new Map(await psql(
    "SELECT o.name, w.node_id FROM duro_owners w JOIN duro_objects o ON o.id = w.object_id WHERE o.name LIKE 'c%'"));
  const after = new Map();
  for (const n of names) after.set(now.get(n), (after.get(now.get(n)) ?? 0) + 1);
  return { victim, spread, names, moved, missing, lost, tally, after };
}

// ------------------------------------------------------------ main
async function main() {
  if (!existsSync(DURO_BIN)) {
    console.error(`cluster_failover: ${DURO_BIN} is missing: make build/release/duro`);
    return 2;
  }
  let commit = 'unknown';
  try { commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }

  tmp = mkdtempSync(path.join(tmpdir(), 'duro-bench-failover-'));
  const lib = path.join(tmp, 'libcounter.so');
  execFileSync('cc', ['-O2', '-Iinclude', '-shared', '-fPIC', '-o', lib, 'examples/counter/counter.c'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const cfgPath = path.join(tmp, 'duro.jsonc');
  writeFileSync(cfgPath, JSON.stringify({
    classes: [{ class_name: 'Counter', library: lib }],
    durable_objects: { bindings: [{ name: 'COUNTER', class_name: 'Counter' }] },
  }));

  pgStarting = startPostgres();
  pg = await pgStarting;
  const db = await pg.createDb('duro_failover');
  const psql = (sql) => pg.psql(sql, db.name);
  const pgVersion = (await pg.psql('SHOW server_version'))[0][0];

  const nodes = Array.from({ length: NODES }, (_, i) => ({ id: `n${i + 1}`, h: null, dir: undefined, port: 0 }));
  for (const n of nodes) await startNode(n, db.conninfo, cfgPath, 0);
  // Every lease live, then one renewal round, so that every node's list
  // of live nodes has all of them and placement agrees.
  const leasesEnd = performance.now() + 5000;
  while (Number((await psql('SELECT count(*) FROM duro_nodes WHERE lease_until > clock_timestamp()'))[0][0]) < NODES) {
    if (performance.now() > leasesEnd || aborted) throw new Error(`${NODES} live leases not seen within 5 s`);
    await sleep(50);
  }
  await sleep(700);

  // The counters, round-robin over the nodes; 503 (joining) is retried.
  const createEnd = performance.now() + 15000;
  for (let i = 0; i < COUNTERS; i++) {
    for (let attempt = 0; ; attempt++) {
      const r = await increment(nodes[(i + attempt) % NODES].port, `c${i}`);
      if (r.status === 200) break;
      if (performance.now() > createEnd || aborted) throw new Error(`could not create c${i}: ${r.status ?? r.error}`);
      await sleep(50);
    }
  }

  say(`failover: ${NODES} nodes (duro backend --postgres, lease 2 s renewed every 500 ms), ${COUNTERS} counters, ${KILLS} kill(s) -9 of the node owning the most;`);
  say(`  its counters incremented through the other nodes, time from the kill to each one's first 200; PostgreSQL ${pgVersion} on this machine`);
  const perKill = [];
  const all = [];
  let failed = false;
  for (let k = 1; k <= KILLS; k++) {
    const r = await oneKill(nodes, psql);
    if (aborted) break;
    const t = r.moved.map((s) => s.back);
    const tally = [...r.tally].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} x${n}`).join(', ');
    const to = [...r.after].map(([id, n]) => `${id ?? 'none'} ${n}`).join(', ');
    let line = `  kill ${k}/${KILLS}: ${r.victim.id} (owners ${r.spread}) -> ${r.moved.length}/${r.names.length} moved`;
    if (t.length) {
      const slowest = Math.max(...t);
      perKill.push(slowest);
      all.push(...t);
      line += `, slowest ${ms(slowest)} ms (fastest ${ms(Math.min(...t))}, median ${ms(median(t))}), now on ${to}`;
    }
    say(line + (tally ? `; failed answers meanwhile: ${tally}` : ''));
    if (r.missing.length) {
      failed = true;
      say(`    NOT BACK within ${BACK_WITHIN_MS} ms: ${r.missing.join(' ')}`);
    }
    if (r.lost.length) {
      failed = true;
      for (const l of r.lost) say(`    LOST: ${l.name} answered ${l.acked} before the kill, ${l.after} after`);
    }
    await restartNode(r.victim, db.conninfo, cfgPath);
    await sleep(1000);
  }

  if (perKill.length) {
    say(`failover over ${perKill.length} kills: min ${ms(Math.min(...perKill))} ms, median ${ms(median(perKill))} ms, max ${ms(Math.max(...perKill))} ms (per kill: the slowest moved object)`);
    say(`failover over all ${all.length} moved objects: min ${ms(Math.min(...all))} ms, median ${ms(median(all))} ms, max ${ms(Math.max(...all))} ms`);
  }
  say(`  ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}, ${cpus().length} cores; node logs in ${path.relative(ROOT, LOGDIR)}/cluster-failover-*.log`);
  if (failed) say('failover: FAIL (above)');
  return failed ? 1 : 0;
}

let code = 2;
try {
  code = await main();
} catch (e) {
  if (!aborted) console.error(`cluster_failover: ${e.stack || e.message}`);
} finally {
  await cleanup();
}
if (!aborted) process.exit(code);
