// The admin listener (--admin-port): GET /metrics in Prometheus text
// format 0.0.4, read by a small parser of that format; its counters move
// with real traffic; who may read it (the production auth matrix); and the
// public port serves none of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { DURO_BIN, startDuro, runDuro, openWs, waitFor, closed } from './lib/duro.mjs';
import { RawSync, SUCCESS_PUSH, chain, syncUrl } from './lib/sync.mjs';
import path from 'node:path';

// Parses the text format: families with HELP and TYPE, and samples.
// Throws on a sample without its family's TYPE, a duplicate series, a
// family declared twice or a malformed line.
function parseProm(text) {
  const families = new Map();
  const series = new Set();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line))) {
      if (families.get(m[1])?.help) throw new Error(`HELP twice for ${m[1]}`);
      families.set(m[1], { ...(families.get(m[1]) || {}), help: m[2], samples: new Map() });
      continue;
    }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      const f = families.get(m[1]);
      if (!f || !f.help) throw new Error(`TYPE before HELP for ${m[1]}`);
      if (f.type) throw new Error(`TYPE twice for ${m[1]}`);
      f.type = m[2];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`malformed line: ${line}`);
    let name = m[1], f = families.get(name);
    const h = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (!f && h && families.get(h[1])?.type === 'histogram') f = families.get(h[1]);
    if (!f || !f.type) throw new Error(`sample without HELP and TYPE: ${line}`);
    const key = name + (m[2] || '');
    if (series.has(key)) throw new Error(`duplicate series ${key}`);
    series.add(key);
    f.samples.set(f.type === 'histogram' ? name.slice(name.lastIndexOf('_')) + (m[2] || '') : m[2] || '',
      Number(m[3]));
  }
  // histograms: cumulative buckets ending in +Inf, which equals _count
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    let last = -1;
    for (const [k, v] of f.samples) {
      if (!k.startsWith('_bucket')) continue;
      if (v < last) throw new Error(`${name}: buckets not cumulative`);
      last = v;
    }
    if (f.samples.get('_bucket{le="+Inf"}') !== f.samples.get('_count'))
      throw new Error(`${name}: +Inf bucket differs from _count`);
  }
  for (const [name, f] of families) {
    if (!f.type) throw new Error(`no TYPE for ${name}`);
    if (f.type === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} lacks _total`);
  }
  return families;
}

async function scrape(port, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parseProm(await res.text());
}

const value = (fams, name, labels = '') => {
  const f = fams.get(name);
  assert.ok(f, `family ${name} is missing`);
  assert.ok(f.samples.has(labels), `${name}${labels} is missing`);
  return f.samples.get(labels);
};

// The admin port from duro's log (the line follows the "backend on" one
// that startDuro waits for).
async function adminPort(duro) {
  const re = /admin: inspector on http:\/\/[^:]+:(\d+)\//;
  await waitFor(() => re.test(duro.log), 5000, `the admin line in the log:\n${duro.log}`);
  return Number(re.exec(duro.log)[1]);
}

test('metrics: families well formed, sockets, deliveries and commits move', async () => {
  const duro = await startDuro({ args: ['--admin-port', '0'] });
  try {
    const port = await adminPort(duro);
    assert.notEqual(port, duro.port);
    const before = await scrape(port);
    assert.equal(value(before, 'duro_build_info', '{version="0.1.0"}') , 1);
    for (const name of ['duro_process_resident_memory_bytes', 'duro_process_open_fds',
      'duro_connections_open', 'duro_net_sends_total', 'duro_deliveries_total',
      'duro_storage_transactions_total', 'duro_storage_batches_per_transaction'])
      assert.ok(before.has(name), name);
    assert.ok(value(before, 'duro_process_resident_memory_bytes') > 1e6);
    assert.ok(value(before, 'duro_process_open_fds') > 3);

    const sockets = [];
    for (let i = 0; i < 10; i++) sockets.push(await openWs(`${duro.ws}/ws/connect`));
    const got = sockets.map(() => []);
    sockets.forEach((ws, i) => ws.on('message', (d) => got[i].push(String(d))));
    const MC = '{namespace="MESSAGE_COORDINATOR"}';
    await waitFor(async () => value(await scrape(port), 'duro_websockets_open', MC) === 10, 5000,
      'the socket gauge reads 10');
    const mid = await scrape(port);
    assert.ok(value(mid, 'duro_connections_open') >= 10);

    const req = (f, route, cls) => value(f, 'duro_http_requests_total', `{route="${route}",class="${cls}"}`);
    const out0 = value(mid, 'duro_websocket_messages_sent_total');
    const outBytes0 = value(mid, 'duro_websocket_sent_bytes_total');
    const res = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"text":"hello metrics"}' });
    assert.equal(res.status, 200);
    const nf = await fetch(`${duro.url}/_objects/NOPE/x`);
    assert.equal(nf.status, 404);
    await waitFor(() => got.every((m) => m.some((t) => t.includes('hello metrics'))), 5000, 'all received');
    const after = await scrape(port);
    assert.equal(value(after, 'duro_deliveries_total') - value(mid, 'duro_deliveries_total'), 10);
    assert.equal(value(after, 'duro_broadcasts_total') - value(mid, 'duro_broadcasts_total'), 1);
    assert.ok(value(after, 'duro_net_sent_bytes_total') > value(mid, 'duro_net_sent_bytes_total'));
    // requests by route kind and status class
    assert.equal(req(after, 'api', '2xx'), 1, 'the broadcast');
    assert.equal(req(after, 'objects', '4xx'), 1, 'the unknown binding');
    assert.equal(req(after, 'websocket', '1xx'), 10, 'the 10 upgrades');
    assert.ok(req(after, 'admin', '2xx') >= 3, 'the scrapes');
    // the broadcast's messages out: one per recipient, at least a frame each
    assert.equal(value(after, 'duro_websocket_messages_sent_total') - out0, 10);
    assert.ok(value(after, 'duro_websocket_sent_bytes_total') - outBytes0 >= 10 * 'hello metrics'.length);

    // a message from a client: received counters
    const in0 = value(after, 'duro_websocket_messages_received_total');
    sockets[0].send('{"text":"from a client"}');
    await waitFor(async () => value(await scrape(port), 'duro_websocket_messages_received_total') === in0 + 1,
      5000, 'the received counter');

    // a storage write: starting a countdown stores its state
    const c0 = value(after, 'duro_storage_commits_total');
    const t0 = value(after, 'duro_storage_transactions_total');
    const start = await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/start`, { method: 'POST' });
    assert.equal(start.status, 200);
    const h0 = value(after, 'duro_storage_commit_duration_seconds', '_count');
    await waitFor(async () => {
      const f = await scrape(port);
      return value(f, 'duro_storage_commits_total') > c0 && value(f, 'duro_storage_transactions_total') > t0 &&
        value(f, 'duro_storage_commit_duration_seconds', '_count') > h0;
    }, 5000, 'the commit counters and histogram move');
    const lag = await scrape(port);
    assert.equal(value(lag, 'duro_storage_batches_per_transaction', '_count'),
      value(lag, 'duro_storage_transactions_total'), 'one sample per transaction');
    assert.ok(value(lag, 'duro_storage_batches_per_transaction', '_bucket{le="1"}') >= 1);
    assert.ok(value(lag, 'duro_event_loop_lag_seconds', '_count') > 0, 'the lag probe ran');
    assert.ok(value(lag, 'duro_object_activations_total') >= 2, 'coordinator and countdown activated');
    await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST' });

    for (const ws of sockets) { ws.close(); await closed(ws); }
    await waitFor(async () => value(await scrape(port), 'duro_websockets_open', MC) === 0, 5000,
      'the socket gauge falls back to 0');

    // the admin listener serves the inspector, /metrics and /api/, with GET only
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    // the public port answers none of it: metrics, API, samples, the page
    for (const p of ['/metrics', '/api/namespaces', '/api/overview', '/inspector.js', '/inspector.css']) {
      const pub = await fetch(`${duro.url}${p}`);
      assert.doesNotMatch(await pub.text(), /duro_build_info|"namespaces"|"samples"|connectLive|--accent/, p);
    }
    await assert.rejects(openWs(`${duro.ws}/api/live`), (e) => e.status !== 101);
    // while the admin port serves the page, with an ETag and no-cache
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>duro inspector<\/title>/);
    const js = await fetch(`http://127.0.0.1:${port}/inspector.js`);
    assert.equal(js.headers.get('cache-control'), 'no-cache');
    const etag = js.headers.get('etag');
    await js.text();
    assert.equal((await fetch(`http://127.0.0.1:${port}/inspector.js`, { headers: { 'If-None-Match': etag } })).status, 304);
    // a sample a second: the one after the broadcast shows its deliveries
    const ov = await waitFor(async () => {
      const o = await (await fetch(`http://127.0.0.1:${port}/api/overview`)).json();
      return o.samples.some((x) => x.deliveries_per_s > 0) ? o : null;
    }, 5000, 'a sample with the broadcast\'s deliveries');
    assert.equal(ov.interval_ms, 1000);
    for (const k of ['t_ms', 'connections', 'websockets', 'objects', 'rss_bytes', 'requests_per_s', 'messages_in_per_s',
      'messages_out_per_s', 'deliveries_per_s', 'commits_per_s', 'commit_p99_ms', 'loop_lag_p99_ms'])
      assert.equal(typeof ov.samples.at(-1)[k], 'number', k);
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/live`)).status, 426);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('metrics: production needs DURO_ADMIN_TOKEN, and then the right bearer', async () => {
  const secret = 'internal-secret-for-the-admin-test-0123456789';
  const refused = await runDuro(['backend', '--mode', 'production', '--port', '0', '--admin-port', '0',
    '--data', 'data'], { env: { DURO_INTERNAL_SECRET: secret, DURO_SYNC_TOKEN: 'sync-token' } });
  // exit 1, not a hang: the backend had started already (its timers used
  // to keep the loop of the teardown alive)
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /admin.*needs DURO_ADMIN_TOKEN in production/);

  const token = 'admin-token-for-the-admin-test-0123456789abcdef';
  const duro = await startDuro({ mode: 'production', args: ['--admin-port', '0'],
    env: { DURO_INTERNAL_SECRET: secret, DURO_ADMIN_TOKEN: token, DURO_SYNC_TOKEN: 'sync-token' } });
  try {
    const port = await adminPort(duro);
    const url = `http://127.0.0.1:${port}/metrics`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate'), /^Bearer/);
    assert.match(await none.text(), /DURO_ADMIN_TOKEN/);
    assert.equal((await fetch(url, { headers: { Authorization: 'Bearer wrong-token' } })).status, 401);
    assert.equal((await fetch(url, { headers: { Authorization: `Bearer ${token}x` } })).status, 401);
    const fams = await scrape(port, { Authorization: `Bearer ${token}` });
    assert.ok(fams.has('duro_connections_accepted_total'));
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('admin port: the duro.jsonc section, and a bad flag value', async () => {
  const bad = await runDuro(['backend', '--admin-port', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--admin-port: 'x' is not a port number/);

  // "admin": {"port": P} in duro.jsonc opens it without the flag
  const free = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const fromFile = await startDuro({ config: JSON.stringify({ admin: { port: free } }) });
  try {
    assert.equal(await adminPort(fromFile), free);
    assert.ok((await scrape(free)).has('duro_build_info'));
  } finally {
    await fromFile.stop();
    fromFile.cleanup();
  }

  // no flag, no section: no admin listener for a backend
  const plain = await startDuro();
  try {
    assert.doesNotMatch(plain.log, /admin: inspector on/);
  } finally {
    await plain.stop();
    plain.cleanup();
  }
});

// ---- the JSON API ------------------------------------------------------

async function api(port, p, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers });
  return { status: res.status, body: await res.json() };
}

test('api: namespaces with their classes and counts; a countdown\'s object with its keys and alarm', async () => {
  const duro = await startDuro({ args: ['--admin-port', '0'] });
  try {
    const port = await adminPort(duro);
    const sockets = [];
    for (let i = 0; i < 3; i++) sockets.push(await openWs(`${duro.ws}/ws/connect`));
    const start = await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/start`, { method: 'POST' });
    assert.equal(start.status, 200);
    const ns = await waitFor(async () => {
      const r = await api(port, '/api/namespaces');
      const c = r.body.namespaces.find((n) => n.binding === 'MESSAGE_COORDINATOR');
      return c && c.sockets === 3 ? r : null;
    }, 5000, 'the coordinator\'s 3 sockets');
    assert.equal(ns.status, 200);
    const byName = Object.fromEntries(ns.body.namespaces.map((n) => [n.binding, n]));
    assert.equal(byName.MESSAGE_COORDINATOR.class, 'MessageCoordinator');
    assert.equal(byName.COUNTDOWN_TIMER.class, 'CountdownTimer');
    assert.equal(byName.COUNTDOWN_TIMER.active, 1);

    const mc = await api(port, '/api/namespaces/MESSAGE_COORDINATOR/objects');
    assert.equal(mc.status, 200);
    const g = mc.body.objects.find((o) => o.name === 'global');
    assert.ok(g, JSON.stringify(mc.body));
    assert.equal(g.active, true);
    assert.equal(g.sockets, 3);
    assert.match(g.id, /^[0-9a-f]{64}$/);

    const cd = await waitFor(async () => {
      const r = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects');
      const o = r.body.objects.find((x) => x.name === 'global');
      return o && o.keys > 0 && o.next_alarm_ms !== null ? o : null;
    }, 5000, 'the countdown\'s storage keys and alarm');
    assert.ok(cd.bytes > 0);
    assert.ok(cd.next_alarm_ms > Date.now() - 60000);

    // one object, by name and by id: the same object, with its alarm
    const one = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global');
    assert.equal(one.status, 200);
    assert.equal(one.body.id, cd.id);
    assert.equal(one.body.name, 'global');
    assert.equal(one.body.active, true);
    assert.equal(one.body.keys, cd.keys);
    assert.equal(one.body.alarms.length, 1);
    assert.equal(one.body.alarms[0].due_ms, cd.next_alarm_ms);
    const byId = await api(port, `/api/namespaces/COUNTDOWN_TIMER/objects/${cd.id}`);
    assert.deepEqual(byId.body, one.body);
    // its storage, in key order, values as JSON text; paged one by one
    const all = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global/storage');
    assert.equal(all.status, 200);
    assert.equal(all.body.entries.length, cd.keys);
    const keys = all.body.entries.map((e) => e.key);
    assert.deepEqual(keys, [...keys].sort());
    assert.ok(all.body.entries.every((e) => typeof e.value === 'string' && JSON.parse(e.value) !== undefined));
    const paged = [];
    let cur = null;
    for (let i = 0; i < 10; i++) {
      const r = await api(port, `/api/namespaces/COUNTDOWN_TIMER/objects/global/storage?limit=1${cur ? `&cursor=${cur}` : ''}`);
      assert.equal(r.status, 200);
      paged.push(...r.body.entries.map((e) => e.key));
      cur = r.body.cursor;
      if (!cur) break;
    }
    assert.deepEqual(paged, keys);
    const none = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/never-used');
    assert.equal(none.status, 404);
    assert.match(none.body.error, /no such object/);
    const badName = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/%ZZ');
    assert.equal(badName.status, 400);
    const badKeyCursor = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global/storage?cursor=xyz');
    assert.equal(badKeyCursor.status, 400);
    assert.equal((await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global/other')).status, 404);

    // deleting the countdown's alarm: an event of the object, committed,
    // logged; the alarm is gone from memory and from storage
    const alarmName = one.body.alarms[0].name;
    const delUrl = `http://127.0.0.1:${port}/api/namespaces/COUNTDOWN_TIMER/objects/global/alarms/delete?name=${encodeURIComponent(alarmName)}`;
    assert.equal((await fetch(delUrl)).status, 405, 'an action is a POST');
    const pend0 = value(await scrape(port), 'duro_alarms_pending');
    const gone = await fetch(delUrl, { method: 'POST' });
    assert.equal(gone.status, 200);
    assert.deepEqual(await gone.json(), { deleted: true });
    assert.equal(value(await scrape(port), 'duro_alarms_pending'), pend0 - 1);
    assert.deepEqual((await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global')).body.alarms, []);
    await waitFor(() => /admin: deleted alarm/.test(duro.log), 5000, 'the deletion logged');
    assert.match(duro.log, /object COUNTDOWN_TIMER\(global\): 127\.0\.0\.1:\d+: admin: deleted alarm/);
    const twice = await fetch(delUrl, { method: 'POST' });
    assert.deepEqual(await twice.json(), { deleted: false });
    const badAlarm = await fetch(`http://127.0.0.1:${port}/api/namespaces/COUNTDOWN_TIMER/objects/global/alarms/delete?name=${'x'.repeat(65)}`, { method: 'POST' });
    assert.equal(badAlarm.status, 400);
    assert.match((await badAlarm.json()).error, /at most 64 bytes/);
    await fetch(`${duro.url}/_objects/COUNTDOWN_TIMER/global/stop`, { method: 'POST' });

    // the coordinator's sockets, and the actions on them
    const det = await api(port, '/api/namespaces/MESSAGE_COORDINATOR/objects/global');
    assert.equal(det.body.socket_list.length, 3);
    assert.deepEqual(det.body.socket_list.map((x) => x.index), [0, 1, 2]);
    assert.ok(det.body.socket_list.every((x) => x.queued_bytes === 0 && Array.isArray(x.tags)));
    assert.ok(det.body.socket_list.every((x) => Number.isInteger(x.age_s) && x.age_s >= 0 && x.age_s < 60));
    const busy = await fetch(`http://127.0.0.1:${port}/api/namespaces/MESSAGE_COORDINATOR/objects/global/evict`, { method: 'POST' });
    assert.equal(busy.status, 409);
    const badCode = await fetch(`http://127.0.0.1:${port}/api/namespaces/MESSAGE_COORDINATOR/objects/global/sockets/0/close?code=1001`, { method: 'POST' });
    assert.equal(badCode.status, 400);
    const noSock = await fetch(`http://127.0.0.1:${port}/api/namespaces/MESSAGE_COORDINATOR/objects/global/sockets/99/close`, { method: 'POST' });
    assert.equal(noSock.status, 404);
    const closes = sockets.map((ws) => new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason) }))));
    const shut = await fetch(`http://127.0.0.1:${port}/api/namespaces/MESSAGE_COORDINATOR/objects/global/sockets/0/close?code=4001&reason=bye%20now`, { method: 'POST' });
    assert.equal(shut.status, 200);
    const first = await Promise.race(closes);
    assert.deepEqual(first, { code: 4001, reason: 'bye now' });
    await waitFor(() => /admin: closed socket 0 with 4001/.test(duro.log), 5000, 'the action logged');
    assert.match(duro.log, /object MESSAGE_COORDINATOR\(global\): 127\.0\.0\.1:\d+: admin: closed socket 0 with 4001/);
    for (const ws of sockets) { ws.close(); await closed(ws); }
    // the countdown, idle now: evicted on request, then no longer in memory
    const ev = await fetch(`http://127.0.0.1:${port}/api/namespaces/COUNTDOWN_TIMER/objects/global/evict`, { method: 'POST' });
    assert.equal(ev.status, 200);
    const cold = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects/global');
    assert.equal(cold.body.active, false);
    assert.deepEqual(cold.body.alarms, [], 'the deleted alarm is gone from storage too');
    const again = await fetch(`http://127.0.0.1:${port}/api/namespaces/COUNTDOWN_TIMER/objects/global/evict`, { method: 'POST' });
    assert.equal(again.status, 404);

    // bad input: a 4xx with a reason
    const unknown = await api(port, '/api/namespaces/NOPE/objects');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /unknown namespace/);
    for (const q of ['limit=0', 'limit=1001', 'limit=x']) {
      const r = await api(port, `/api/namespaces/COUNTDOWN_TIMER/objects?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(r.body.error, /limit must be a number from 1 to 1000/);
    }
    const badCursor = await api(port, '/api/namespaces/COUNTDOWN_TIMER/objects?cursor=ABC');
    assert.equal(badCursor.status, 400);
    assert.match(badCursor.body.error, /cursor must be an object id/);
    assert.equal((await api(port, '/api/nope')).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/api/namespaces`, { method: 'POST' });
    assert.equal(post.status, 405);
    const del = await fetch(`http://127.0.0.1:${port}/api/namespaces`, { method: 'DELETE' });
    assert.equal(del.status, 405);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('api: paging past 1,000 objects, in storage and only in memory alike', async () => {
  const FLAKY = path.join(path.dirname(DURO_BIN), 'tests/fixtures/libflaky.so');
  const duro = await startDuro({
    args: ['--admin-port', '0'],
    config: JSON.stringify({
      classes: [{ class_name: 'Flaky', library: FLAKY }],
      durable_objects: { bindings: [{ name: 'FLAKY', class_name: 'Flaky' }] },
      duro: { object_idle_ms: 500 },
    }),
  });
  try {
    const port = await adminPort(duro);
    // 1,050 objects that write (and are evicted: storage only), 5 that
    // only answer (memory only while they last)
    const names = Array.from({ length: 1050 }, (_, i) => `o${i}`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map(async (n) => {
        const r = await fetch(`${duro.url}/_objects/FLAKY/${n}/put`, { method: 'POST', body: 'v' });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }));
    await waitFor(async () => (await api(port, '/api/namespaces')).body.namespaces
      .find((n) => n.binding === 'FLAKY').active === 0, 10000, 'the instances evicted');
    // a name that is not UTF-8 (a client may choose any bytes): the API
    // still answers JSON, with the name in hex
    const odd = await fetch(`${duro.url}/_objects/FLAKY/%FFx/put`, { method: 'POST', body: 'v' });
    assert.equal(odd.status, 200);
    await odd.arrayBuffer();
    const oddOne = await api(port, '/api/namespaces/FLAKY/objects/%FFx');
    assert.equal(oddOne.status, 200);
    assert.equal(oddOne.body.name_hex, 'ff78');
    assert.equal(oddOne.body.name, undefined);
    const memOnly = ['m0', 'm1', 'm2', 'm3', 'm4'];
    for (const n of memOnly) {
      const r = await fetch(`${duro.url}/_objects/FLAKY/${n}/state`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    const seen = [];
    let cursor = null, pages = 0;
    do {
      const r = await api(port, `/api/namespaces/FLAKY/objects?limit=400${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.objects.length <= 400);
      seen.push(...r.body.objects);
      cursor = r.body.cursor;
      pages++;
    } while (cursor && pages < 10);
    const ids = seen.map((o) => o.id);
    assert.deepEqual(ids, [...ids].sort(), 'ascending ids');
    assert.equal(new Set(ids).size, ids.length, 'no object twice');
    assert.ok(seen.some((o) => o.name_hex === 'ff78'), 'the odd name listed in hex');
    const got = new Set(seen.map((o) => o.name));
    for (const n of names) assert.ok(got.has(n), `${n} listed`);
    const stored = seen.find((o) => o.name === 'o7');
    assert.equal(stored.active, false);
    assert.equal(stored.keys, 1);
    // a value that is not JSON is shown in hex
    const st = await api(port, '/api/namespaces/FLAKY/objects/o7/storage');
    assert.equal(st.status, 200);
    assert.equal(st.body.entries.length, 1);
    assert.equal(st.body.entries[0].value_hex, Buffer.from('v').toString('hex'));
    assert.equal(st.body.entries[0].value, undefined);
    // the memory-only ones, if still in memory, are listed as active
    for (const o of seen.filter((x) => memOnly.includes(x.name))) {
      assert.equal(o.active, true);
      assert.equal(o.keys, 0);
    }
    assert.ok(seen.length >= 1051 && seen.length <= 1056, String(seen.length));
    assert.ok(pages >= 3);
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('metrics: LiveStore pushes, pulls, events appended and live pulls', async () => {
  const duro = await startDuro({ args: ['--admin-port', '0'] });
  try {
    const port = await adminPort(duro);
    const before = await scrape(port);
    const c = await RawSync.open(syncUrl(duro.ws, 'metrics-store'));
    const p = c.pull({ storeId: 'metrics-store', live: true });
    const { responses } = await c.backlog(p);
    const backendId = responses[0].backendId;
    await waitFor(async () => value(await scrape(port), 'duro_livestore_live_pulls') === 1, 5000, 'one live pull');
    const id = c.push(chain(1, 5), { backendId, storeId: 'metrics-store' });
    assert.deepEqual((await c.exit(id)).exit, SUCCESS_PUSH);
    const after = await scrape(port);
    assert.equal(value(after, 'duro_livestore_pushes_total') - value(before, 'duro_livestore_pushes_total'), 1);
    assert.equal(value(after, 'duro_livestore_pulls_total') - value(before, 'duro_livestore_pulls_total'), 1);
    assert.equal(value(after, 'duro_livestore_events_appended_total') -
      value(before, 'duro_livestore_events_appended_total'), 5);
    c.close();
    await waitFor(async () => value(await scrape(port), 'duro_livestore_live_pulls') === 0, 5000, 'the live pull gone');
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});

test('metrics: connections refused at max_connections; the admin listener stays reachable', async () => {
  const duro = await startDuro({ args: ['--admin-port', '0'],
    config: JSON.stringify({ duro: { max_connections: 3 } }) });
  const socks = [];
  try {
    const port = await adminPort(duro);
    // hold 3 connections open, then ask for more: 503
    for (let i = 0; i < 3; i++) {
      const s = net.connect(duro.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      socks.push(s);
    }
    const over = await fetch(duro.url, { headers: { connection: 'close' } });
    assert.equal(over.status, 503);
    await over.arrayBuffer();
    // the admin listener answers anyway, and counts the refusal
    const f = await scrape(port);
    assert.ok(value(f, 'duro_connections_refused_total', '{reason="limit"}') >= 1);
    assert.equal(value(f, 'duro_accept_pauses_total'), 0);
  } finally {
    for (const s of socks) s.destroy();
    await duro.stop();
    duro.cleanup();
  }
});
