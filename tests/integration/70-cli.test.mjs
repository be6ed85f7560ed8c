// The command line: flags, errors and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDuro, runDuro as runDuroIn } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';


// runDuro in a directory of its own that is removed afterwards.
async function runDuro(args, opts = {}) {
  if (opts.cwd) return runDuroIn(args, opts);
  const cwd = mkdtempSync(path.join(tmpdir(), 'duro-cli-'));
  try { return await runDuroIn(args, { ...opts, cwd }); } finally { rmSync(cwd, { recursive: true, force: true }); }
}

const VERSION = readFileSync(path.resolve(import.meta.dirname, '../../VERSION'), 'utf8').trim();

const out = (r) => r.stdout + r.stderr;
const exitedWith = (r, pred, what) => {
  assert.ok(r.signal === null && pred(r.code), `${what}: exit ${r.code ?? r.signal}\n${out(r)}`);
  assert.doesNotMatch(out(r), /AddressSanitizer|LeakSanitizer|runtime error:/, `${what}: sanitizer report`);
};

test('--version prints "duro <version>" and exits 0', async () => {
  const r = await runDuro(['--version']);
  exitedWith(r, (c) => c === 0, '--version');
  assert.equal(r.stdout.trim(), `duro ${VERSION}`);
});

test('--help exits 0 and lists the main flags', async () => {
  const r = await runDuro(['--help']);
  exitedWith(r, (c) => c === 0, '--help');
  for (const f of ['--port', '--data', '--config', '--mode']) assert.ok(r.stdout.includes(f), `help lists ${f}`);
  // role help works too
  const r2 = await runDuro(['backend', '--help']);
  exitedWith(r2, (c) => c === 0, 'backend --help');
  assert.match(r2.stdout, /--port/);
});

test('an unknown flag exits 2 and names the flag', async () => {
  for (const args of [['backend', '--bogus-flag'], ['--bogus-flag'], ['backend', '--bogus-flag=1']]) {
    const r = await runDuro(args);
    exitedWith(r, (c) => c === 2, args.join(' '));
    assert.match(r.stderr, /--bogus-flag/);
  }
});

test('a flag without its value, or a bad port, exits non-zero with a message', async () => {
  const r = await runDuro(['backend', '--port']);
  exitedWith(r, (c) => c !== 0, '--port without a value');
  assert.match(r.stderr, /--port/);
  const r2 = await runDuro(['backend', '--port', '99999']);
  exitedWith(r2, (c) => c !== 0, '--port 99999');
  assert.match(r2.stderr, /99999/);
});

test('an unknown mode exits non-zero with a message', async () => {
  const r = await runDuro(['backend', '--mode', 'staging', '--port', '0']);
  exitedWith(r, (c) => c !== 0, '--mode staging');
  assert.match(r.stderr, /staging/);
  assert.match(r.stderr, /mode/i);
});

test('an unknown role exits non-zero with a message', async () => {
  const r = await runDuro(['frobnicate']);
  exitedWith(r, (c) => c !== 0, 'frobnicate');
  assert.match(r.stderr, /frobnicate/);
});

test('--config naming a missing file exits non-zero and names the file', async () => {
  const missing = path.join(tmpdir(), `duro-no-such-${process.pid}.jsonc`);
  const r = await runDuro(['backend', '--port', '0', '--mode', 'test', '--config', missing]);
  exitedWith(r, (c) => c !== 0, 'missing config');
  assert.ok(r.stderr.includes(missing), r.stderr);
});

test('a config file with a syntax error exits non-zero with file:line', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-cli-'));
  try {
    writeFileSync(path.join(dir, 'broken.jsonc'), '{\n  // a comment\n  "name": "x",\n  "vars": { "A": "b" }\n  "dev": {}\n}\n');
    const r = await runDuro(['backend', '--port', '0', '--mode', 'test', '--config', 'broken.jsonc'], { cwd: dir });
    exitedWith(r, (c) => c !== 0, 'syntax error');
    assert.match(r.stderr, /broken\.jsonc:5\b/);
    // the default ./duro.jsonc is read too, and its errors are reported the same way
    writeFileSync(path.join(dir, 'duro.jsonc'), '{\n  "duro": {\n    "max_body_bytes": ,\n  }\n}\n');
    const r2 = await runDuro(['backend', '--port', '0', '--mode', 'test'], { cwd: dir });
    exitedWith(r2, (c) => c !== 0, 'syntax error in duro.jsonc');
    assert.match(r2.stderr, /duro\.jsonc:3\b/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('an unknown key in the duro section is an error', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-cli-'));
  try {
    writeFileSync(path.join(dir, 'duro.jsonc'), '{"duro": {"max_bodybytes": 1024}}');
    const r = await runDuro(['backend', '--port', '0', '--mode', 'test'], { cwd: dir });
    exitedWith(r, (c) => c !== 0, 'unknown key');
    assert.match(r.stderr, /max_bodybytes/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a busy port exits non-zero with "address already in use"', async () => {
  const h = await startDuro();
  try {
    const r = await runDuro(['backend', '--port', String(h.port), '--mode', 'test']);
    exitedWith(r, (c) => c !== 0, 'busy port');
    assert.match(r.stderr, /address already in use/i);
    assert.ok(r.stderr.includes(String(h.port)), 'the message names the port');
    // the first one is unharmed
    assert.equal(h.proc.exitCode, null);
  } finally {
    await stopClean(h);
  }
});

test('a busy frontend port in dev exits 1 at once, after the backend had started', async () => {
  const h = await startDuro();
  try {
    const t0 = Date.now();
    const r = await runDuro(['dev', '--port', '0', '--frontend-port', String(h.port), '--admin-port', '0'],
      { timeout: 8000 });
    exitedWith(r, (c) => c === 1, 'busy frontend port');
    assert.match(r.stderr, /frontend: .*address already in use/i);
    assert.ok(Date.now() - t0 < 5000, 'no hang in the teardown');
  } finally {
    await stopClean(h);
  }
});

test('SIGTERM stops a running duro with exit 0', async () => {
  const h = await startDuro();
  try {
    const r = await h.stop();
    assert.deepEqual(r, { code: 0, signal: null }, h.log);
    assert.doesNotMatch(h.log, /AddressSanitizer|runtime error|invalid pointer/);
  } finally { h.cleanup(); }
});

test('one signal delivered twice at once (a Ctrl-C via the terminal and via make) still shuts down gracefully', async () => {
  const h = await startDuro();
  try {
    h.proc.kill('SIGINT');
    h.proc.kill('SIGINT');
    const r = await h.exited;
    assert.deepEqual(r, { code: 0, signal: null }, h.log);
    assert.doesNotMatch(h.log, /second signal/);
  } finally { h.cleanup(); }
});

test('--port 0 listens on a free port that the log line announces', async () => {
  // Two at once: both must start, on different ports, neither the default.
  const hs = [];
  try {
    hs.push(await startDuro());
    hs.push(await startDuro());
    const [a, b] = hs.map((h) => h.port);
    assert.notEqual(a, b);
    assert.notEqual(a, 8787, 'port 0 is not the default port');
    assert.notEqual(b, 8787, 'port 0 is not the default port');
    const res = await fetch(`http://127.0.0.1:${b}/`);
    assert.equal(await res.text(), 'This worker exports Durable Objects');
  } finally {
    const errors = [];
    for (const h of hs) await stopClean(h).catch((e) => errors.push(e));
    if (errors.length) throw errors[0];
  }
});
