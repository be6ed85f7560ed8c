// Test harness: starts a real duro binary in a temporary directory on a
// free port (port 0; the port is read from duro's own log line), talks to
// it over real sockets, and stops only the processes it started, by PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const DURO_BIN = process.env.DURO_BIN ||
  path.resolve(import.meta.dirname, '../../../build/release/duro');

// Variables a developer's shell may carry that would change duro's mode
// or secrets; a test passes them explicitly when it wants them.
const SECRET_VARS = ['NODE_ENV', 'DURO_INTERNAL_SECRET', 'DURO_ADMIN_TOKEN', 'DURO_SESSION_SECRET',
  'DURO_LOGIN_SECRET', 'DURO_ALLOWED_ORIGINS', 'DURO_SYNC_TOKEN', 'DURO_SYNC_SECRET'];

// DURO_VALGRIND=1 runs every duro under valgrind's memcheck; an error or
// a definite leak makes it exit with VALGRIND_CODE, which stop() reports.
const VALGRIND = process.env.DURO_VALGRIND === '1';
const VALGRIND_CODE = 99;
function command(args) {
  if (!VALGRIND) return [DURO_BIN, args];
  return ['valgrind', ['--quiet', `--error-exitcode=${VALGRIND_CODE}`, '--leak-check=full',
    '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite', DURO_BIN, ...args]];
}

const started = new Set();
process.on('exit', () => { for (const p of started) try { p.kill('SIGKILL'); } catch {} });

// Starts duro. opts: role ('backend'), mode ('test'), args ([]), env ({}),
// dir (reuse a directory, e.g. after a restart), config (text of duro.jsonc),
// devVars (text of .dev.vars), port (0), nofile (a descriptor limit,
// applied with prlimit, which execs duro under the same PID). Resolves
// with a handle.
export async function startDuro(opts = {}) {
  const dir = opts.dir || mkdtempSync(path.join(tmpdir(), 'duro-test-'));
  if (opts.config !== undefined) writeFileSync(path.join(dir, 'duro.jsonc'), opts.config);
  if (opts.devVars !== undefined) writeFileSync(path.join(dir, '.dev.vars'), opts.devVars);
  const role = opts.role || 'backend';
  const args = [role, '--port', String(opts.port ?? 0)];
  if (role !== 'frontend') args.push('--data', path.join(dir, 'data'));
  if (role === 'dev') args.push('--frontend-port', String(opts.frontendPort ?? 0));
  if (opts.mode !== null) args.push('--mode', opts.mode || 'test');
  args.push(...(opts.args || []));
  const env = { ...process.env, ...(opts.env || {}) };
  for (const k of SECRET_VARS) if (!(opts.env && k in opts.env)) delete env[k];
  let [cmd, argv] = command(args);
  if (opts.nofile) [cmd, argv] = ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, '--', cmd, ...argv]];
  const proc = spawn(cmd, argv, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    started.delete(proc);
    resolve({ code, signal });
  }));
  const port = await new Promise((resolve, reject) => {
    const ownDir = !opts.dir;
    let listening = false;
    const failStart = (e) => {
      if (listening) return; // a later exit is not a failed start
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      reject(e);
    };
    const timer = setTimeout(() => { proc.kill('SIGKILL'); failStart(new Error(`duro did not start:\n${log}`)); }, VALGRIND ? 60000 : 10000);
    const onData = (d) => {
      log += d;
      const role = opts.role || 'backend';
      const b = /backend on (https?):\/\/[^:]+:(\d+)/.exec(log);
      const f = /frontend on (https?):\/\/[^:]+:(\d+)/.exec(log);
      const ready = role === 'backend' ? b : role === 'frontend' ? f : b && f;
      if (ready) {
        listening = true;
        clearTimeout(timer);
        resolve({
          backend: b ? Number(b[2]) : null, frontend: f ? Number(f[2]) : null,
          scheme: (b ?? f)[1], frontendScheme: f ? f[1] : null,
        });
      }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', (d) => { log += d; });
    exited.then(({ code, signal }) => { clearTimeout(timer); failStart(new Error(`duro exited (${code ?? signal}) before listening:\n${log}`)); });
  });
  const mainPort = port.backend ?? port.frontend;
  const h = {
    proc, pid: proc.pid, port: mainPort, dir, exited,
    backendPort: port.backend, frontendPort: port.frontend,
    // https and wss when the role's listeners speak TLS
    url: `${port.scheme}://127.0.0.1:${mainPort}`,
    ws: `${port.scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${mainPort}`,
    frontendUrl: port.frontend ? `${port.frontendScheme}://127.0.0.1:${port.frontend}` : null,
    get log() { return log; },
    // SIGTERM and wait; returns {code, signal}.
    // Also fails the test when a sanitizer reported anything.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      const r = await exited;
      assertSanitizerClean(log);
      if (VALGRIND && r.code === VALGRIND_CODE) throw new Error(`valgrind found errors:\n${log}`);
      return r;
    },
    async kill9() { proc.kill('SIGKILL'); return exited; },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
  return h;
}

const SANITIZER_MARKS = [/ERROR: AddressSanitizer/, /ERROR: LeakSanitizer/, /runtime error:/];

// Throws when duro's output carries a sanitizer report.
export function assertSanitizerClean(text) {
  for (const re of SANITIZER_MARKS)
    if (re.test(text)) throw new Error(`sanitizer report in duro's output:\n${text}`);
}

// Runs duro expecting it to exit; resolves {code, stdout, stderr}.
export function runDuro(args, opts = {}) {
  return new Promise((resolve) => {
    const dir = opts.cwd || mkdtempSync(path.join(tmpdir(), 'duro-run-'));
    const ownDir = !opts.cwd;
    const env = { ...process.env, ...(opts.env || {}) };
    for (const k of SECRET_VARS) if (!(opts.env && k in opts.env)) delete env[k];
    const [cmd, argv] = command(args);
    const p = spawn(cmd, argv, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(p);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeout || 10000);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      started.delete(p);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Sends raw bytes and collects the reply until the server closes or
// `until` matches the text so far, or the timeout passes.
export function rawRequest(port, data, { timeout = 3000, until } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (why) => { if (done) return; done = true; clearTimeout(t); s.destroy(); resolve({ text: buf.toString('latin1'), buf, why }); };
    const t = setTimeout(() => finish('timeout'), timeout);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); if (until && until(buf.toString('latin1'))) finish('until'); });
    s.on('end', () => finish('end'));
    s.on('close', () => finish('close'));
    s.on('error', () => finish('error'));
    if (data !== undefined) s.write(data);
  });
}

// Opens a WebSocket and resolves once open, or rejects with the HTTP status.
export function openWs(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.messages = [];
    ws.on('message', (data, isBinary) => ws.messages.push(isBinary ? data : data.toString()));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { const e = new Error(`HTTP ${res.statusCode}: ${body}`); e.status = res.statusCode; e.body = body; e.headers = res.headers; reject(e); });
    });
    ws.once('error', reject);
  });
}

// Polls pred every 10 ms until it returns something truthy, which it
// returns; throws after ms.
export async function waitFor(pred, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await pred();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function closed(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: ws._closeCode, reason: '' });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The session cookie ("duro_session=...") a frontend's page hands out, for
// requests and sockets that need a session.
export async function sessionCookie(frontendUrl) {
  const r = await fetch(frontendUrl + '/');
  await r.text();
  const c = r.headers.getSetCookie().find((s) => s.startsWith('duro_session='));
  if (!c) throw new Error(`${frontendUrl}/ set no session cookie`);
  return c.split(';')[0];
}
