// Classes written in C and loaded from shared libraries.
//
// 1. examples/counter is built out of tree the way a user builds it: duro
//    is installed into a staging directory (`make install DESTDIR=<stage>
//    PREFIX=/usr`), and the example's Makefile compiles against the staged
//    duro.h found through the staged duro.pc (PKG_CONFIG_SYSROOT_DIR). duro
//    then loads that .so and the test drives it over HTTP and WebSocket.
// 2. The failure boundary, with tests/fixtures/flaky.c (built by the
//    Makefile beside DURO_BIN): a failed handler's request gets 500, its
//    socket 1011, its writes and output are discarded, and the object is
//    rebuilt from storage; a failing init fails events without looping.
// 3. Start-up errors name the library file and the reason.
// 4. A library sees only duro.h's functions: its own helpers named like
//    duro's internals (tests/fixtures/mod_names.c) are the ones it runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { closed, DURO_BIN, openWs, runDuro, startDuro, waitFor } from './lib/duro.mjs';

const REPO = path.resolve(import.meta.dirname, '../..');
const BUILD = path.dirname(DURO_BIN);
const FLAKY = path.join(BUILD, 'tests/fixtures/libflaky.so');

let stage, out, counterLib;

// The makes below are new top-level builds: nothing of an enclosing
// `make test` (its variables, its jobserver) may leak into them.
function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'SANITIZE']) delete env[k];
  return env;
}

before(() => {
  stage = mkdtempSync(path.join(tmpdir(), 'duro-stage-'));
  out = mkdtempSync(path.join(tmpdir(), 'duro-counter-'));
  // -o: install this binary as it is, never rebuild it from here.
  execFileSync('make', ['-s', '--no-print-directory', '-C', REPO, 'install',
    `DESTDIR=${stage}`, 'PREFIX=/usr', `BUILD=${BUILD}`, '-o', DURO_BIN],
  { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  for (const f of ['usr/bin/duro', 'usr/include/duro.h', 'usr/share/pkgconfig/duro.pc'])
    assert.ok(existsSync(path.join(stage, f)), `make install put ${f}`);
  const pcDir = path.join(stage, 'usr/share/pkgconfig');
  // Only the staged duro.pc, with its paths moved into the stage.
  const env = cleanEnv({ PKG_CONFIG_PATH: pcDir, PKG_CONFIG_LIBDIR: pcDir,
    PKG_CONFIG_SYSROOT_DIR: stage, PKG_CONFIG_ALLOW_SYSTEM_CFLAGS: '1' });
  const cflags = execFileSync('pkg-config', ['--cflags', 'duro'], { env }).toString().trim();
  assert.equal(cflags, `-I${stage}/usr/include`);
  assert.equal(execFileSync('pkg-config', ['--variable=abi_version', 'duro'], { env }).toString().trim(), '1');
  execFileSync('make', ['-s', '--no-print-directory', '-C', path.join(REPO, 'examples/counter'),
    `OUT=${out}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  counterLib = path.join(out, 'libcounter.so');
  assert.ok(existsSync(counterLib), 'the example built');
});

after(() => {
  rmSync(stage, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

// A duro directory with the counter library copied to lib/ and a config
// that loads it by a path relative to the config file.
function counterDir(vars = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-test-'));
  mkdirSync(path.join(dir, 'lib'));
  copyFileSync(counterLib, path.join(dir, 'lib/libcounter.so'));
  const config = JSON.stringify({
    classes: [{ class_name: 'Counter', library: './lib/libcounter.so' }],
    durable_objects: { bindings: [{ name: 'COUNTER', class_name: 'Counter' }] },
    vars,
  });
  return { dir, config };
}

const values = (ws) => ws.messages.map((m) => JSON.parse(m).value);

test('the counter example: HTTP, WebSocket broadcasts, storage across a restart', async () => {
  const { dir, config } = counterDir();
  let duro = await startDuro({ dir, config });
  try {
    const base = `${duro.url}/_objects/COUNTER/c1`;
    let res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { value: 0 });

    const a = await openWs(`${duro.ws}/_objects/COUNTER/c1/ws`);
    const b = await openWs(`${duro.ws}/_objects/COUNTER/c1/ws`);
    await waitFor(() => a.messages.length === 1 && b.messages.length === 1, 5000, 'greetings');
    assert.deepEqual(values(a), [0]);

    res = await fetch(`${base}/increment?by=5`, { method: 'POST' });
    assert.deepEqual(await res.json(), { value: 5 });
    a.send('increment');
    await waitFor(() => values(a).includes(6) && values(b).includes(6), 5000, 'broadcast of 6');
    assert.deepEqual(values(a), [0, 5, 6]);
    assert.deepEqual(values(b), [0, 5, 6]);
    a.send('bogus');
    await waitFor(() => a.messages.length === 4, 5000, 'an error reply');
    assert.deepEqual(JSON.parse(a.messages[3]), { error: 'send increment' });
    assert.equal(b.messages.length, 3, 'the error went to the sender only');

    // Another name is another object.
    res = await fetch(`${duro.url}/_objects/COUNTER/c2/`);
    assert.deepEqual(await res.json(), { value: 0 });
    res = await fetch(`${base}/nope`);
    assert.equal(res.status, 404);
    a.close();
    b.close();

    await duro.stop();
    duro = await startDuro({ dir, config });
    res = await fetch(`${duro.url}/_objects/COUNTER/c1/`);
    assert.deepEqual(await res.json(), { value: 6 }, 'the value survived a restart');
    res = await fetch(`${duro.url}/_objects/COUNTER/c1/reset`, { method: 'POST' });
    assert.deepEqual(await res.json(), { value: 0 });
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('the counter example: the reset alarm fires and re-arms itself', async () => {
  const { dir, config } = counterDir({ COUNTER_RESET_MS: '1500' });
  const duro = await startDuro({ dir, config });
  try {
    const ws = await openWs(`${duro.ws}/_objects/COUNTER/daily/ws`);
    const res = await fetch(`${duro.url}/_objects/COUNTER/daily/increment?by=3`, { method: 'POST' });
    assert.deepEqual(await res.json(), { value: 3 });
    await waitFor(() => values(ws).slice(1).includes(0), 8000, 'the first reset');
    ws.send('increment');
    await waitFor(() => values(ws).at(-1) === 1, 5000, 'an increment after the reset');
    const n = ws.messages.length;
    await waitFor(() => ws.messages.length > n && values(ws).at(-1) === 0, 8000, 'the second reset');
    ws.close();
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

function flakyConfig() {
  return JSON.stringify({
    classes: [{ class_name: 'Flaky', library: FLAKY }],
    durable_objects: { bindings: [{ name: 'FLAKY', class_name: 'Flaky' }] },
    duro: { ws_max_message_bytes: 1024 },
  });
}

test('a failing handler: 500 or 1011, its writes and output dropped, state rebuilt', async () => {
  const duro = await startDuro({ config: flakyConfig() });
  const base = `${duro.url}/_objects/FLAKY/f`;
  const state = async () => {
    const r = await fetch(`${base}/state`);
    assert.equal(r.status, 200);
    return r.json();
  };
  // Every put is broadcast; once a socket has seen put:<v>, any output of
  // an earlier event would have arrived before it (the gate keeps order).
  const put = async (v, sockets) => {
    const r = await fetch(`${base}/put`, { method: 'POST', body: v });
    assert.equal(r.status, 200);
    await waitFor(() => sockets.every((s) => s.messages.includes(`put:${v}`)), 5000, `put:${v}`);
  };
  try {
    const a = await openWs(`${duro.ws}/_objects/FLAKY/f/ws`);
    const b = await openWs(`${duro.ws}/_objects/FLAKY/f/ws`);
    await put('v1', [a, b]);
    assert.deepEqual(await state(), { cached: 'v1', stored: 'v1', inits: 1, errors: '' });

    // An HTTP event that wrote, broadcast and answered 200, then failed.
    let r = await fetch(`${base}/fail`, { method: 'POST' });
    assert.equal(r.status, 500);
    assert.notEqual(await r.text(), 'leaked');
    assert.deepEqual(await state(), { cached: 'v1', stored: 'v1', inits: 2, errors: '' });
    r = await fetch(`${base}/fail-silent`, { method: 'POST' });
    assert.equal(r.status, 500);

    // A WebSocket message whose handler failed: that socket gets 1011.
    const aClosed = closed(a);
    a.send('fail');
    assert.equal((await aClosed).code, 1011);
    await put('v2', [b]);
    assert.deepEqual(await state(), { cached: 'v2', stored: 'v2', inits: 4, errors: '' });

    // An upgrade accepted by a fetch that then failed.
    const c = await openWs(`${duro.ws}/_objects/FLAKY/f/ws-fail`);
    assert.equal((await closed(c)).code, 1011);
    await put('v3', [b]);
    assert.ok(!b.messages.includes('leak'), `no output of a failed event: ${b.messages}`);
    assert.deepEqual(b.messages, ['put:v1', 'put:v2', 'put:v3']);
    b.send('ping');
    await waitFor(() => b.messages.includes('pong:v3'), 5000, 'pong');
    b.close();
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('a failing init fails each event and recovers; ws_error precedes ws_close', async () => {
  const duro = await startDuro({ config: flakyConfig() });
  const base = `${duro.url}/_objects/FLAKY/g`;
  try {
    let r = await fetch(`${base}/put`, { method: 'POST', body: 'kept' });
    assert.equal(r.status, 200);
    r = await fetch(`${base}/break-init`, { method: 'POST' });
    assert.equal(r.status, 500);
    // The next two inits fail: each fails its own event, nothing loops.
    for (let i = 0; i < 2; i++) {
      r = await fetch(`${base}/state`);
      assert.equal(r.status, 500, `event ${i} during the broken init`);
    }
    r = await fetch(`${base}/state`);
    assert.equal(r.status, 200);
    const s = await r.json();
    assert.equal(s.cached, 'kept');
    assert.equal(s.stored, 'kept');
    assert.equal(s.inits, 4);

    const ws = await openWs(`${duro.ws}/_objects/FLAKY/g/ws`);
    ws.send('x'.repeat(2000)); // over ws_max_message_bytes
    assert.equal((await closed(ws)).code, 1009);
    await waitFor(async () => (await (await fetch(`${base}/state`)).json()).errors === 'E2BIG;',
      5000, 'ws_error with E2BIG');
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('start-up errors name the library and the reason', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-run-'));
  try {
    const cases = [
      [{ class_name: 'Counter', library: './missing.so' }, /^duro: \.\/missing\.so: cannot load: cannot open shared object file/],
      [{ class_name: 'Room', library: counterLib }, new RegExp(`^duro: ${counterLib}: has no class 'Room' \\(it provides 'Counter'\\)`)],
      [{ class_name: 'X', library: path.join(BUILD, 'tests/fixtures/libmod_noentry.so') }, /: no entry point duro_module/],
      [{ class_name: 'X', library: path.join(BUILD, 'tests/fixtures/libmod_abi2.so') }, /libmod_abi2\.so: built for duro ABI 2, this duro has ABI 1/],
    ];
    for (const [entry, want] of cases) {
      writeFileSync(path.join(dir, 'duro.jsonc'), JSON.stringify({ classes: [entry] }));
      const r = await runDuro(['backend', '--port', '0', '--mode', 'test', '--data', path.join(dir, 'data')], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.split('\n').find((l) => l.startsWith('duro: ')) || '', want);
    }
    // One class listed twice is caught by the config, with its line.
    writeFileSync(path.join(dir, 'duro.jsonc'), JSON.stringify({ classes: [{ class_name: 'Counter', library: counterLib }, { class_name: 'Counter', library: counterLib }] }));
    const r = await runDuro(['backend', '--port', '0', '--mode', 'test', '--data', path.join(dir, 'data')], { cwd: dir });
    assert.equal(r.code, 2, 'a class listed twice is a config error');
    assert.match(r.stderr, /duro\.jsonc:1: classes\[1\]: class 'Counter' is listed twice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a library\'s own sync_parse, config_load, buf_append (and duro_-named ones) are its own', async () => {
  const lib = path.join(BUILD, 'tests/fixtures/libmod_names.so');
  const duro = await startDuro({ config: JSON.stringify({
    classes: [{ class_name: 'Names', library: lib }],
    durable_objects: { bindings: [{ name: 'NAMES', class_name: 'Names' }] },
  }) });
  try {
    const r = await fetch(`${duro.url}/_objects/NAMES/n/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '11 21 31 41 51 61');
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});
