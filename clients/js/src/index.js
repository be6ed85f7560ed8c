// @duro/bindings: the Workers binding API for Durable Objects, in any
// Node process, over duro's binding protocol (docs/bindings.md):
//
//   const env = await createEnv({ backend: 'http://127.0.0.1:8787' });
//   const stub = env.MESSAGE_COORDINATOR.get(env.MESSAGE_COORDINATOR.idFromName('global'));
//   const res = await stub.fetch('http://do/broadcast', { method: 'POST', body });
//
// A stub's fetch with `Upgrade: websocket` answers 101 with a tunnel to
// the object; acceptWebSocket() hands it a Node HTTP server's upgrade
// (req, socket, head), and frames then flow unchanged both ways.
//
// Only Node 20's built-ins: fetch (undici, which pools keep-alive
// connections), node:http for upgrades, node:crypto for ids.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

const ID_RE = /^[0-9a-f]{64}$/;
const NAME_MAX = 512;
// Hop-by-hop headers (RFC 9110 7.6.1) and the ones the hop sets itself.
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'host', 'content-length'];
// The protocol's secret travels in a header of its own, so that a
// caller's Authorization (a browser's) reaches the object unchanged.
const SECRET_HEADER = 'x-duro-internal-secret';

// Node's IncomingMessage headers as a Headers.
function headersFrom(nodeHeaders) {
  const h = new Headers();
  for (const [k, v] of Object.entries(nodeHeaders)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
  return h;
}

/** The id of name in namespace ns, as the backend derives it. */
export function objectId(ns, name) {
  const h = createHash('sha256');
  h.update('duro-object-v1:');
  h.update(ns);
  h.update(Buffer.from([0])); // keeps ("ab","c") apart from ("a","bc")
  h.update(name);
  return h.digest('hex');
}

/** A Durable Object id: 64 lowercase hex digits, with its name if it has one. */
export class DurableObjectId {
  #hex;
  constructor(hex, name) {
    this.#hex = hex;
    if (name !== undefined) this.name = name;
    Object.freeze(this);
  }
  toString() { return this.#hex; }
  toJSON() { return this.#hex; }
  equals(other) { return other instanceof DurableObjectId && other.toString() === this.#hex; }
}

/** Thrown for input the Workers runtime would refuse too. */
export class BindingError extends TypeError {}

function backendError(backend, e) {
  const cause = e?.cause?.code || e?.cause?.message || e?.code || e?.message || String(e);
  const err = new Error(`duro backend ${backend} is unreachable: ${cause}`);
  err.cause = e;
  return err;
}

/**
 * A namespace binding: idFromName, idFromString, newUniqueId, get,
 * getByName, as on Workers.
 */
export class DurableObjectNamespace {
  #conn;
  constructor(conn, binding, className) {
    this.#conn = conn;
    this.binding = binding;
    this.className = className;
  }
  idFromName(name) {
    if (typeof name !== 'string') throw new BindingError('idFromName() takes a string');
    const bytes = Buffer.byteLength(name);
    if (bytes === 0 || bytes > NAME_MAX || name.includes('\0'))
      throw new BindingError(`Durable Object names are 1 to ${NAME_MAX} bytes without NUL (got ${bytes} bytes)`);
    return new DurableObjectId(objectId(this.binding, name), name);
  }
  idFromString(hex) {
    if (typeof hex !== 'string' || !ID_RE.test(hex))
      throw new BindingError('Invalid Durable Object ID: it must be 64 lowercase hex digits');
    return new DurableObjectId(hex);
  }
  newUniqueId() {
    return new DurableObjectId(randomBytes(32).toString('hex'));
  }
  get(id) {
    if (!(id instanceof DurableObjectId)) throw new BindingError('get() takes a DurableObjectId');
    return new DurableObjectStub(this.#conn, this.binding, id);
  }
  getByName(name) {
    return this.get(this.idFromName(name));
  }
}

/** A stub: fetch() reaches the object as on Workers. */
export class DurableObjectStub {
  #conn;
  constructor(conn, binding, id) {
    this.#conn = conn;
    this.binding = binding;
    this.id = id;
    this.name = id.name;
  }

  // The backend's URL for a request the object should see as url.
  #target(url) {
    const prefix = this.id.name !== undefined
      ? `/_objects/${encodeURIComponent(this.binding)}/${encodeURIComponent(this.id.name)}`
      : `/_object_ids/${encodeURIComponent(this.binding)}/${this.id}`;
    return `${this.#conn.backend}${prefix}${url.pathname}${url.search}`;
  }

  async fetch(input, init) {
    // Workers takes a URL (its host is ignored) or a Request; a bare path
    // is taken as the object's path.
    const src = typeof input === 'string' && input.startsWith('/') ? `http://do${input}` : input;
    const req = src instanceof Request && init === undefined ? src : new Request(src, init);
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    const upgrade = (headers.get('upgrade') || '').toLowerCase() === 'websocket';
    for (const h of HOP) headers.delete(h);
    headers.delete(SECRET_HEADER);
    if (this.#conn.secret) headers.set(SECRET_HEADER, this.#conn.secret);
    if (upgrade) return this.#upgrade(url, req, headers);
    let res;
    try {
      res = await this.#conn.fetch(this.#target(url), {
        method: req.method,
        headers,
        body: req.body,
        duplex: 'half',
        redirect: 'manual',
        signal: req.signal,
      });
    } catch (e) {
      if (req.signal?.aborted) throw e;
      throw backendError(this.#conn.backend, e);
    }
    return res;
  }

  // An upgrade: node:http, since fetch() cannot carry a 101. Resolves
  // with a Response-like 101 holding the tunnel, or the object's refusal
  // as a real Response.
  #upgrade(url, req, headers) {
    const target = new URL(this.#target(url));
    const out = {};
    headers.forEach((v, k) => { out[k] = v; });
    out.connection = 'Upgrade';
    out.upgrade = 'websocket';
    const mod = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const r = mod.request(target, { method: 'GET', headers: out, agent: false });
      r.once('upgrade', (res, socket, head) => {
        resolve(new UpgradeResponse(res, socket, head));
      });
      r.once('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.once('end', () => {
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: headersFrom(res.headers) }));
        });
        res.once('error', reject);
      });
      r.once('error', (e) => reject(backendError(this.#conn.backend, e)));
      req.signal?.addEventListener('abort', () => r.destroy(new Error('aborted')), { once: true });
      r.end();
    });
  }
}

// Tunnels waiting for their browser socket, by token: a framework that
// passes the UpgradeResponse along as a Response (SvelteKit) may rebuild
// it, but keeps its headers, so the token finds the tunnel again
// (claimTunnel). One not claimed within TUNNEL_TTL_MS is closed.
export const TUNNEL_HEADER = 'x-duro-tunnel';
const TUNNEL_TTL_MS = 10000;
// One registry per process, even when a bundler (Vite building a
// SvelteKit app) includes a second copy of this module.
const tunnels = (globalThis[Symbol.for('duro.bindings.tunnels')] ??= new Map());

/** The UpgradeResponse whose token this is, taken out of the registry. */
export function claimTunnel(token) {
  const t = tunnels.get(token);
  if (!t) return null;
  tunnels.delete(token);
  clearTimeout(t.timer);
  return t.response;
}

/**
 * The 101 of an upgrade, as Workers gives it: `status` 101, the object's
 * handshake headers, and `webSocket`, the open tunnel to the object (its
 * raw socket). A real Response (Node's cannot say 101, so the status is
 * reported by this class), so frameworks pass it along; hand it to
 * acceptWebSocket() with the browser's upgrade.
 */
const IS_UPGRADE = Symbol.for('duro.bindings.upgrade');

export class UpgradeResponse extends Response {
  #tunnel;
  get [IS_UPGRADE]() { return true; }
  constructor(res, socket, head) {
    const headers = headersFrom(res.headers);
    const token = randomBytes(16).toString('hex');
    headers.set(TUNNEL_HEADER, token);
    super(null, { status: 200, headers });
    this.#tunnel = { socket, head };
    const timer = setTimeout(() => { tunnels.delete(token); socket.destroy(); }, TUNNEL_TTL_MS);
    timer.unref?.();
    tunnels.set(token, { response: this, timer });
    socket.once('close', () => { if (tunnels.get(token)?.response === this) claimTunnel(token); });
  }
  get status() { return 101; }
  get statusText() { return 'Switching Protocols'; }
  get ok() { return false; }
  get webSocket() { return this.#tunnel; }
}

/**
 * Finishes a browser's upgrade with the object's 101: writes the
 * handshake on the browser's socket (from a Node HTTP server's 'upgrade'
 * event: socket and head) and relays the bytes both ways until either
 * side ends. Frames, close codes and backpressure pass through as they
 * are (pipe). Returns a promise that settles when both sides are closed.
 */
export function acceptWebSocket(response, socket, head = Buffer.alloc(0)) {
  // not instanceof: a bundled second copy of this module makes its own
  if (!response?.[IS_UPGRADE]) {
    // the object refused: its answer goes to the browser as it is
    return refuse(response, socket);
  }
  claimTunnel(response.headers.get(TUNNEL_HEADER)); // taken: no timeout
  const { socket: up, head: upHead } = response.webSocket;
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  response.headers.forEach((v, k) => { if (k !== TUNNEL_HEADER) lines.push(`${k}: ${v}`); });
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (upHead?.length) socket.write(upHead);
  if (head?.length) up.write(head);
  socket.setNoDelay(true);
  up.setNoDelay?.(true);
  up.pipe(socket);
  socket.pipe(up);
  const done = (s) => new Promise((r) => { if (s.destroyed) r(); else s.once('close', r); });
  const fail = () => { socket.destroy(); up.destroy(); };
  socket.once('error', fail);
  up.once('error', fail);
  socket.once('end', () => up.end());
  up.once('end', () => socket.end());
  return Promise.all([done(socket), done(up)]).then(() => undefined);
}

async function refuse(response, socket) {
  const body = Buffer.from(await response.arrayBuffer());
  const lines = [`HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] || ''}`];
  response.headers.forEach((v, k) => { if (!HOP.includes(k)) lines.push(`${k}: ${v}`); });
  lines.push(`content-length: ${body.length}`, 'connection: close');
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
}

/**
 * An env of bindings: one DurableObjectNamespace per namespace the
 * backend binds (read from its GET /_objects), plus vars.
 *
 * options.backend  the backend's URL (default DURO_BACKEND, else
 *                  http://127.0.0.1:8787)
 * options.secret   DURO_INTERNAL_SECRET by default; none: loopback only
 * options.vars     plain values to put on env beside the bindings
 * options.fetch    the fetch to use (default: the global one)
 */
function connOf(options) {
  const backend = String(options.backend || process.env.DURO_BACKEND || 'http://127.0.0.1:8787').replace(/\/+$/, '');
  const secret = options.secret ?? process.env.DURO_INTERNAL_SECRET ?? '';
  return { backend, secret, fetch: options.fetch || globalThis.fetch };
}

/**
 * An env made without asking the backend: any UPPER_CASE name is a
 * namespace (className undefined), so code runs while the backend is
 * away and its requests fail with the backend's own errors. What
 * platformHandle uses until createEnv succeeds.
 */
export function lazyEnv(options = {}) {
  const conn = connOf(options);
  const made = new Map();
  return new Proxy({ ...(options.vars || {}) }, {
    get(target, key) {
      if (typeof key !== 'string' || key in target || !/^[A-Z][A-Z0-9_]*$/.test(key)) return target[key];
      if (!made.has(key)) made.set(key, new DurableObjectNamespace(conn, key, undefined));
      return made.get(key);
    },
  });
}

export async function createEnv(options = {}) {
  const conn = connOf(options);
  const { backend, secret } = conn;
  let res;
  try {
    res = await conn.fetch(`${backend}/_objects`, { headers: secret ? { [SECRET_HEADER]: secret } : {} });
  } catch (e) {
    throw backendError(backend, e);
  }
  const text = await res.text();
  if (!res.ok) {
    const err = new Error(`duro backend ${backend} refused the binding list: ${res.status} ${text.trim()}`);
    err.status = res.status;
    throw err;
  }
  const { bindings } = JSON.parse(text);
  const env = { ...(options.vars || {}) };
  for (const b of bindings) env[b.name] = new DurableObjectNamespace(conn, b.name, b.class);
  return env;
}
