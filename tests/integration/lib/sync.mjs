// Raw LiveStore sync protocol client (Node + ws, no LiveStore): speaks the
// envelope of livestore-sync-v0.4.md directly so tests can send exactly
// what they want and see exactly what comes back.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';

let nextId = 0;

export function syncUrl(base, storeId, { payload, transport = 'ws', pathname = '/' } = {}) {
  const q = new URLSearchParams({ storeId });
  if (payload !== undefined) q.set('payload', encodeURIComponent(JSON.stringify(payload)));
  q.set('transport', transport);
  return `${base}${pathname}?${q}`;
}

export class RawSync {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    this.closed = null;
    ws.on('message', (data) => {
      const text = data.toString();
      const msg = JSON.parse(text);
      msg._raw = text;
      msg._at = performance.now();
      this.inbox.push(msg);
      this.wake();
    });
    ws.on('close', (code) => { this.closed = code; this.wake(); });
  }

  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const c = new RawSync(ws);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => { const e = new Error(`HTTP ${res.statusCode}: ${body}`); e.status = res.statusCode; e.body = body; reject(e); });
      });
      ws.once('error', reject);
    });
  }

  wake() { for (const w of this.waiters.splice(0)) w(); }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  // Waits for the first message matching pred (removing it), or throws.
  async next(pred = () => true, ms = 5000, what = 'message') {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      const left = end - Date.now();
      if (left <= 0 || this.closed !== null) throw new Error(`no ${what} within ${ms} ms (closed: ${this.closed}); inbox: ${JSON.stringify(this.inbox.map((m) => m._raw.slice(0, 200)))}`);
      await new Promise((r) => { const t = setTimeout(r, Math.min(left, 50)); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  // Messages for request id that have arrived so far (not removed).
  peek(id) { return this.inbox.filter((m) => m.requestId === id); }

  pull({ cursor = null, live = true, storeId = 's', payload } = {}) {
    const id = String(nextId++);
    this.send({
      _tag: 'Request', id, tag: 'SyncWsRpc.Pull',
      payload: { storeId, ...(payload ? { payload } : {}), live, cursor: cursor ? { _tag: 'Some', value: cursor } : { _tag: 'None' } },
      traceId: 'x', spanId: 'y', sampled: false, headers: [],
    });
    return id;
  }

  push(batch, { backendId = null, storeId = 's' } = {}) {
    const id = String(nextId++);
    this.send({
      _tag: 'Request', id, tag: 'SyncWsRpc.Push',
      payload: { storeId, batch, backendId: backendId ? { _tag: 'Some', value: backendId } : { _tag: 'None' } },
      headers: [],
    });
    return id;
  }

  ack(id) { this.send({ _tag: 'Ack', requestId: id }); }

  exit(id, ms = 5000) { return this.next((m) => m._tag === 'Exit' && m.requestId === id, ms, `Exit for ${id}`); }

  // Reads chunks of pull id (acking each) until a NoMore page arrives;
  // returns {responses, events}.
  async backlog(id, ms = 10000) {
    const responses = [];
    for (;;) {
      const m = await this.next((x) => x.requestId === id, ms, `chunk for ${id}`);
      if (m._tag !== 'Chunk') throw new Error(`expected a Chunk, got ${m._raw}`);
      this.ack(id);
      if (!Array.isArray(m.values) || m.values.length === 0) throw new Error('empty Chunk values');
      responses.push(...m.values);
      if (m.values.at(-1).pageInfo._tag === 'NoMore') break;
    }
    return { responses, events: responses.flatMap((r) => r.batch) };
  }

  // Live events of pull id until n have arrived (acking each chunk).
  async liveEvents(id, n, ms = 10000) {
    const out = [];
    while (out.length < n) {
      const m = await this.next((x) => x.requestId === id && x._tag === 'Chunk', ms, `live chunk for ${id} (${out.length}/${n})`);
      this.ack(id);
      for (const v of m.values) out.push(...v.batch);
    }
    return out;
  }

  close() { this.ws.close(); }
}

export function ev(seq, { name = 'v1.Test', args, clientId = 'raw', sessionId = 'static' } = {}) {
  return { name, args: args === undefined ? { n: seq } : args, seqNum: seq, parentSeqNum: seq - 1, clientId, sessionId };
}

export function chain(from, count, opts) {
  return Array.from({ length: count }, (_, i) => ev(from + i, opts));
}

export const SUCCESS_PUSH = { _tag: 'Success', value: {} };

// Runs a query on duro's database with the sqlite3 CLI (WAL: safe while
// duro runs). Returns rows as arrays of strings.
export function sql(dir, query) {
  const out = execFileSync('sqlite3', ['-readonly', '-separator', '\t', path.join(dir, 'data', 'duro.db'), query], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
}

// The event log table of a store: eventlog_7_<sanitised>_<16 hex of
// SHA-256(storeId)>, sanitised byte by byte as duro does.
export function eventlogTable(storeId) {
  const bytes = Buffer.from(storeId, 'utf8');
  let s = '';
  for (const b of bytes) s += /[A-Za-z0-9]/.test(String.fromCharCode(b)) && b < 128 ? String.fromCharCode(b) : '_';
  return `eventlog_7_${s}_${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}
