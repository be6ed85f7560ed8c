// --log-format json: every line duro writes is one JSON object with time,
// level and msg; a line about an object carries namespace and object; a
// failing handler's warning is there. Text stays the default, with the
// same events. Uses tests/fixtures/flaky.c, whose handlers fail on request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DURO_BIN, runDuro, startDuro, waitFor } from './lib/duro.mjs';

const FLAKY = path.join(path.dirname(DURO_BIN), 'tests/fixtures/libflaky.so');
const config = JSON.stringify({
  classes: [{ class_name: 'Flaky', library: FLAKY }],
  durable_objects: { bindings: [{ name: 'FLAKY', class_name: 'Flaky' }] },
});

async function failOnce(duro) {
  const r = await fetch(`${duro.url}/_objects/FLAKY/f/fail`, { method: 'POST' });
  await r.arrayBuffer();
  await waitFor(() => /resetting after a failed event/.test(duro.log), 5000, 'the reset warning');
}

test('--log-format json: one object per line, with the object fields', async () => {
  const duro = await startDuro({ config, args: ['--log-format', 'json'] });
  try {
    await failOnce(duro);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
  const lines = duro.log.split('\n').filter((l) => l !== '');
  assert.ok(lines.length >= 3, duro.log);
  const parsed = lines.map((l) => {
    try { return JSON.parse(l); } catch { throw new Error(`not JSON: ${l}`); }
  });
  for (const o of parsed) {
    assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['error', 'warn', 'info', 'debug'].includes(o.level), o.level);
    assert.equal(typeof o.msg, 'string');
  }
  const reset = parsed.find((o) => o.msg === 'resetting after a failed event');
  assert.ok(reset, duro.log);
  assert.equal(reset.level, 'warn');
  assert.equal(reset.namespace, 'FLAKY');
  assert.equal(reset.object, 'f');
  assert.ok(parsed.some((o) => /backend on http:/.test(o.msg)));
  assert.ok(parsed.some((o) => /SIGTERM: shutting down/.test(o.msg)));
});

test('text stays the default, with the object in the prefix; a bad format is refused', async () => {
  const duro = await startDuro({ config });
  try {
    await failOnce(duro);
    assert.match(duro.log, / warn  object FLAKY\(f\): resetting after a failed event\n/);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
  const bad = await runDuro(['backend', '--log-format', 'xml']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown log format 'xml' \(expected text or json\)/);
});

test('--log-level debug: an access line per request, with status, duration_ms and remote', async () => {
  const duro = await startDuro({ config, args: ['--log-format', 'json', '--log-level', 'debug'] });
  try {
    const ok = await fetch(`${duro.url}/_objects/FLAKY/f/ok`);
    await ok.arrayBuffer();
    const nf = await fetch(`${duro.url}/_objects/NOPE/x?secret=1`);
    await nf.arrayBuffer();
    await waitFor(() => /GET \/_objects\/NOPE\/x/.test(duro.log), 5000, 'the access line');
  } finally {
    await duro.stop();
    duro.cleanup();
  }
  const lines = duro.log.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const access = lines.filter((o) => /^GET \//.test(o.msg));
  assert.equal(access.length, 2, duro.log);
  const [first, second] = access;
  assert.equal(first.msg, 'GET /_objects/FLAKY/f/ok');
  assert.equal(first.level, 'debug');
  assert.equal(typeof first.status, 'number');
  assert.ok(first.duration_ms >= 0 && first.duration_ms < 5000, String(first.duration_ms));
  assert.match(first.remote, /^127\.0\.0\.1:\d+$/);
  // the path without its query (which may carry secrets), and its status
  assert.equal(second.msg, 'GET /_objects/NOPE/x');
  assert.equal(second.status, 404);
});
