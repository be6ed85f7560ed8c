// Cluster mode helpers (docs/cluster.md): several `duro backend --postgres`
// nodes on one PostgreSQL database, on loopback, with their ownership
// read from duro_owners with psql. Stops only the processes it started,
// by PID (through lib/duro.mjs's handles).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDuro, waitFor } from './duro.mjs';
import { withParam } from './postgres.mjs';

export const SECRET = 'internal-secret-for-the-cluster-test';
export const AUTH = { authorization: `Bearer ${SECRET}` };
const REPO = path.resolve(import.meta.dirname, '../../..');

// The built-in bindings (src/classes/builtin.c), for a config that adds
// classes of its own.
export const BUILTIN_BINDINGS = [
  { name: 'TEST_DO', class_name: 'TestDurableObject' },
  { name: 'MESSAGE_COORDINATOR', class_name: 'MessageCoordinator' },
  { name: 'COUNTDOWN_TIMER', class_name: 'CountdownTimer' },
  { name: 'ROOMS', class_name: 'Room' },
  { name: 'LIVESTORE_SYNC', class_name: 'SyncBackend' },
];

// Compiles examples/counter into a temporary directory; returns
// {lib, cleanup}.
export function buildCounter() {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-cluster-counter-'));
  const lib = path.join(dir, 'libcounter.so');
  execFileSync('cc', ['-O2', `-I${path.join(REPO, 'include')}`, '-shared', '-fPIC', '-o', lib,
    path.join(REPO, 'examples/counter/counter.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { lib, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// duro.jsonc text: the built-ins, plus Counter as COUNTER when counterLib
// is given.
export function clusterConfig({ counterLib } = {}) {
  const cfg = { durable_objects: { bindings: [...BUILTIN_BINDINGS] } };
  if (counterLib) {
    cfg.classes = [{ class_name: 'Counter', library: counterLib }];
    cfg.durable_objects.bindings.push({ name: 'COUNTER', class_name: 'Counter' });
  }
  return JSON.stringify(cfg);
}

// The object id duro gives binding/name (src/objects/registry.c).
export function objectId(binding, name) {
  return createHash('sha256').update('duro-object-v1:').update(binding).update(Buffer.from([0]))
    .update(name).digest('hex');
}

const JOINED = /node (\S+): in the cluster at (\S+) \((\d+) live nodes?\)/g;

// How many times the node's log says it (re)joined the cluster.
export function joins(node) {
  return [...node.log.matchAll(JOINED)].filter((m) => m[1] === node.id).length;
}

// Starts one node. opts: conninfo (required), id, config, env, args.
// Resolves with a handle once the node logged that it joined (or, with
// wait: false, once it listens).
export async function startNode({ conninfo, id, config, env = {}, args = [], wait = true }) {
  const d = await startDuro({
    config, env: { DURO_INTERNAL_SECRET: SECRET, ...env },
    args: ['--postgres', conninfo, ...(id ? ['--node-id', id] : []), ...args],
  });
  const node = {
    duro: d, id: id ?? `127.0.0.1:${d.port}`, pid: d.pid, port: d.port, url: d.url, ws: d.ws,
    get log() { return d.log; },
    get alive() { return d.proc.exitCode === null && d.proc.signalCode === null; },
    stopped: false, // SIGSTOPped by sigstop()
    sigstop() { process.kill(d.pid, 'SIGSTOP'); node.stopped = true; },
    sigcont() { process.kill(d.pid, 'SIGCONT'); node.stopped = false; },
    sigterm() { d.proc.kill('SIGTERM'); },
    kill9: () => d.kill9(),
    async stop() {
      if (node.stopped && node.alive) node.sigcont();
      return d.stop();
    },
    cleanup: () => d.cleanup(),
  };
  if (wait) await waitJoined(node);
  return node;
}

// Waits until node logged that it joined (at least `count` times).
export async function waitJoined(node, { count = 1, ms = 10000 } = {}) {
  try {
    await waitFor(() => joins(node) >= count || !node.alive, ms, `node ${node.id} to join the cluster`);
  } catch (e) {
    e.message += `\n${node.log}`;
    throw e;
  }
  if (!node.alive) throw new Error(`node ${node.id} exited:\n${node.log}`);
}

// Starts n nodes (ids n1..nN) on a fresh database of pg. Resolves with a
// cluster handle once every node joined and every node's lease is live in
// duro_nodes (and a renewal round has passed, so their lists of live
// nodes agree).
export async function startCluster(pg, { config, n = 3, env, args, db } = {}) {
  db = db ?? await pg.createDb('duro_cluster');
  const c = {
    pg, db, nodes: [], config,
    psql: (sql) => pg.psql(sql, db.name),
    node(id) { return c.nodes.find((x) => x.id === id) ?? null; },
    // Starts one more node (or a node again under an id used before).
    async add(opts = {}) {
      const node = await startNode({ conninfo: db.conninfo, config, env, args, ...opts });
      c.nodes.push(node);
      return node;
    },
    // The owner row of binding/name: {node_id, epoch, node} or null.
    async ownerRow(binding, name) {
      const id = objectId(binding, name);
      const rows = await c.psql(`SELECT node_id, epoch FROM duro_owners WHERE object_id = '${id}'`);
      if (!rows.length) return null;
      return { id, node_id: rows[0][0], epoch: Number(rows[0][1]), node: c.node(rows[0][0]) };
    },
    // The node that owns binding/name per duro_owners, or null.
    async owner(binding, name) {
      const r = await c.ownerRow(binding, name);
      return r ? r.node : null;
    },
    // Every owner row: Map object_id -> {node_id, epoch}.
    async owners() {
      const rows = await c.psql('SELECT object_id, node_id, epoch FROM duro_owners');
      return new Map(rows.map((r) => [r[0], { node_id: r[1], epoch: Number(r[2]) }]));
    },
    // The ids of the nodes with a live lease, by PostgreSQL's clock.
    async liveNodes() {
      const rows = await c.psql('SELECT node_id FROM duro_nodes WHERE lease_until > clock_timestamp() ORDER BY 1');
      return rows.map((r) => r[0]);
    },
    // SIGCONTs and stops (SIGTERM, then SIGKILL after 8 s) every node still
    // running and removes their directories; returns their exits.
    async stopAll() {
      const out = [];
      for (const node of c.nodes) {
        try { out.push({ id: node.id, ...(await node.stop()) }); } catch (e) { out.push({ id: node.id, error: e.message }); }
        node.cleanup();
      }
      return out;
    },
    // Every node's log, for a failure message.
    logs() { return c.nodes.map((x) => `--- node ${x.id} (pid ${x.pid}):\n${x.log}`).join('\n'); },
  };
  try {
    for (let i = 1; i <= n; i++) await c.add({ id: `n${i}` });
    await waitFor(async () => (await c.liveNodes()).length === n, 5000, `${n} live leases`);
  } catch (e) {
    e.message += `\n${c.logs()}`;
    await c.stopAll();
    throw e;
  }
  await new Promise((r) => setTimeout(r, 700)); // a renewal round: every node's list has all n
  return c;
}

// One HTTP request with a deadline; never throws. Resolves {status, body,
// headers, error, ms}: status null with error 'timeout' (the request may
// or may not have been applied), 'refused' (never reached a server), or
// another connection error.
export async function request(url, { method = 'GET', headers = {}, body, timeout = 3000 } = {}) {
  const t0 = Date.now();
  try {
    const r = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) });
    const text = await r.text();
    return { status: r.status, body: text, headers: r.headers, error: null, ms: Date.now() - t0 };
  } catch (e) {
    const code = e.cause?.code;
    const error = e.name === 'TimeoutError' ? 'timeout' : code === 'ECONNREFUSED' ? 'refused' : (code || e.message);
    return { status: null, body: null, headers: null, error, ms: Date.now() - t0 };
  }
}

// A TCP proxy on 127.0.0.1 in front of target port, that can be frozen:
// no byte goes either way (the sockets stay open, new connections are
// accepted but not connected on) until it is thawed, then everything held
// flows on in order.
export async function freezableProxy(targetPort) {
  const pairs = new Set();
  let frozen = false;
  const server = net.createServer((client) => {
    const p = { client, upstream: null, toUp: [], toClient: [] };
    pairs.add(p);
    const end = () => {
      pairs.delete(p);
      client.destroy();
      p.upstream?.destroy();
    };
    client.on('data', (d) => { if (frozen || !p.upstream) p.toUp.push(d); else p.upstream.write(d); });
    client.on('error', end);
    client.on('close', end);
    p.connect = () => {
      p.upstream = net.connect(targetPort, '127.0.0.1'); // writes wait for the connect
      for (const d of p.toUp.splice(0)) p.upstream.write(d);
      p.upstream.on('data', (d) => { if (frozen) p.toClient.push(d); else client.write(d); });
      p.upstream.on('error', end);
      p.upstream.on('close', end);
    };
    if (frozen) client.pause();
    else p.connect();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    get connections() { return pairs.size; },
    freeze() {
      frozen = true;
      for (const p of pairs) { p.client.pause(); p.upstream?.pause(); }
    },
    thaw() {
      frozen = false;
      for (const p of pairs) {
        if (!p.upstream) p.connect();
        else for (const d of p.toUp.splice(0)) p.upstream.write(d);
        for (const d of p.toClient.splice(0)) p.client.write(d);
        p.client.resume();
        p.upstream.resume();
      }
    },
    close() {
      for (const p of pairs) { p.client.destroy(); p.upstream?.destroy(); }
      return new Promise((r) => server.close(r));
    },
  };
}

// A conninfo through host:port over TCP with a password (the throwaway
// cluster's pg_hba wants scram over TCP): sets the postgres user's
// password first.
export async function tcpConninfo(pg, dbName, port, password = 'cluster-test-pw') {
  await pg.psql(`ALTER USER postgres PASSWORD '${password}'`);
  let ci = withParam(pg.conninfo, 'host', '127.0.0.1');
  ci = withParam(ci, 'port', String(port));
  ci = withParam(ci, 'dbname', dbName);
  return withParam(ci, 'password', password);
}
