// WebSocketManager (web/ws-client.js) against a real `ws` server on
// 127.0.0.1, port 0: states, JSON messages, reconnect with backoff,
// explicit disconnect; plus wsUrlFromConfig. Timing assertions compare
// gaps with each other and with wide bounds, never with tight absolutes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, mock, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocketManager, wsUrlFromConfig } from '../../web/ws-client.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

// A WebSocket server whose upgrades can be refused (the TCP connection is
// dropped mid-handshake, as when the backend is down or restarting).
// attempts holds the time of every upgrade request, accepted or not.
async function startServer() {
  const server = http.createServer((req, res) => { res.writeHead(404).end(); });
  const wss = new WebSocketServer({ noServer: true });
  const s = {
    refuse: false,
    attempts: [],
    sockets: [],
    url: '',
    server,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  server.on('upgrade', (req, socket, head) => {
    s.attempts.push(performance.now());
    if (s.refuse) { socket.destroy(); return; }
    wss.handleUpgrade(req, socket, head, (ws) => { s.sockets.push(ws); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  s.url = `ws://127.0.0.1:${server.address().port}/ws/connect`;
  return s;
}

function manager(url, opts = {}) {
  const m = new WebSocketManager({ url, WebSocketImpl: WebSocket, ...opts });
  const states = [];
  const messages = [];
  m.onState((st) => states.push(st));
  m.onMessage((msg) => messages.push(msg));
  return { m, states, messages };
}

const gapsOf = (times) => times.slice(1).map((t, i) => t - times[i]);

// Runs fn with a fresh server and always cleans up, so a failed assertion
// cannot leave a socket or timer keeping the process alive.
async function withServer(fn) {
  const srv = await startServer();
  const managers = [];
  try {
    await fn(srv, (url, opts) => { const x = manager(url, opts); managers.push(x.m); return x; });
  } finally {
    for (const m of managers) m.disconnect();
    await srv.close();
  }
}

describe('WebSocketManager', { timeout: 20000 }, () => {
  test('connects and reaches connected', () => withServer(async (srv, make) => {
    const { m, states } = make(srv.url);
    assert.equal(m.state, 'disconnected');
    m.connect();
    assert.equal(m.state, 'connecting');
    await waitFor(() => m.state === 'connected', 3000, 'connected');
    assert.deepEqual(states, ['connecting', 'connected']);
    assert.equal(srv.sockets.length, 1);
    m.connect(); // already connected: no second socket
    await sleep(50);
    assert.equal(srv.attempts.length, 1);
  }));

  test('accepts a plain URL string', () => withServer(async (srv) => {
    const prev = globalThis.WebSocket;
    globalThis.WebSocket = WebSocket; // what a browser provides
    const m = new WebSocketManager(srv.url);
    try {
      m.connect();
      await waitFor(() => m.state === 'connected', 3000, 'connected');
      assert.equal(m.url, srv.url);
    } finally {
      m.disconnect();
      globalThis.WebSocket = prev;
    }
  }));

  test('passes parsed JSON messages to subscribers', () => withServer(async (srv, make) => {
    const { m, messages } = make(srv.url);
    m.connect();
    await waitFor(() => srv.sockets.length === 1 && m.state === 'connected', 3000, 'connected');
    const a = { count: 10, timestamp: 1700000000000 };
    srv.sockets[0].send(JSON.stringify(a));
    srv.sockets[0].send(JSON.stringify({ count: 9, timestamp: 1700000001000 }));
    srv.sockets[0].send('[1,"two",null]');
    await waitFor(() => messages.length === 3, 3000, 'three messages');
    assert.deepEqual(messages, [a, { count: 9, timestamp: 1700000001000 }, [1, 'two', null]]);
  }));

  test('unsubscribe stops delivery', () => withServer(async (srv, make) => {
    const { m, messages } = make(srv.url);
    const late = [];
    const off = m.onMessage((x) => late.push(x));
    m.connect();
    await waitFor(() => srv.sockets.length === 1 && m.state === 'connected', 3000, 'connected');
    srv.sockets[0].send('{"n":1}');
    await waitFor(() => messages.length === 1, 3000, 'first');
    off();
    srv.sockets[0].send('{"n":2}');
    await waitFor(() => messages.length === 2, 3000, 'second');
    assert.deepEqual(late, [{ n: 1 }]);
  }));

  test('skips a message that is not JSON and logs it with console.error', () => withServer(async (srv, make) => {
    const spy = mock.method(console, 'error', () => {});
    try {
      const { m, messages } = make(srv.url);
      m.connect();
      await waitFor(() => srv.sockets.length === 1 && m.state === 'connected', 3000, 'connected');
      srv.sockets[0].send('not json {');
      srv.sockets[0].send(Buffer.from([1, 2, 3]), { binary: true });
      srv.sockets[0].send('{"count":3,"timestamp":1}');
      await waitFor(() => messages.length === 1, 3000, 'the JSON message');
      assert.deepEqual(messages, [{ count: 3, timestamp: 1 }]);
      assert.equal(spy.mock.callCount(), 2);
      assert.equal(m.state, 'connected', 'a bad message does not drop the connection');
    } finally {
      spy.mock.restore();
    }
  }));

  test('reconnects after the server closes the socket', () => withServer(async (srv, make) => {
    const { m, states } = make(srv.url, { initialDelay: 50 });
    m.connect();
    await waitFor(() => srv.sockets.length === 1 && m.state === 'connected', 3000, 'connected');
    srv.sockets[0].close(1001, 'going away');
    await waitFor(() => states.length >= 3, 3000, 'the close');
    await waitFor(() => srv.sockets.length === 2 && m.state === 'connected', 3000, 'reconnected');
    assert.deepEqual(states, ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
    // An abrupt drop (no close frame) also reconnects.
    srv.sockets[1].terminate();
    await waitFor(() => srv.sockets.length === 3 && m.state === 'connected', 3000, 'reconnected again');
  }));

  test('backs off exponentially while the server is down, and resets after an open', () => withServer(async (srv, make) => {
    srv.refuse = true;
    const { m } = make(srv.url, { initialDelay: 60, maxDelay: 10000 });
    m.connect();
    // Attempts at ~0, 60, 180, 420 ms: gaps 60, 120, 240.
    await waitFor(() => srv.attempts.length >= 4, 5000, 'four attempts');
    const gaps = gapsOf(srv.attempts.slice(0, 4));
    assert.ok(gaps[0] >= 50, `first gap ${gaps[0]}`);
    assert.ok(gaps[1] >= 1.5 * gaps[0], `gaps ${gaps}`);
    assert.ok(gaps[2] >= 1.5 * gaps[1], `gaps ${gaps}`);
    assert.notEqual(m.state, 'connected');

    // Let the next attempt (after ~480 ms) succeed.
    srv.refuse = false;
    await waitFor(() => m.state === 'connected', 5000, 'connected after the outage');
    assert.equal(m.nextDelay, 60, 'delay reset on open');

    // Drop it again: the first retry comes after ~60 ms, not ~960 ms.
    srv.refuse = true;
    const closedAt = performance.now();
    const before = srv.attempts.length;
    srv.sockets.at(-1).terminate();
    await waitFor(() => srv.attempts.length > before, 5000, 'a retry after the reset');
    const retryGap = srv.attempts[before] - closedAt;
    assert.ok(retryGap < 400, `retry after ${retryGap} ms; the backoff was not reset`);
  }));

  test('caps the delay at maxDelay', () => withServer(async (srv, make) => {
    srv.refuse = true;
    const { m } = make(srv.url, { initialDelay: 40, maxDelay: 100 });
    m.connect();
    // Delays 40, 80, 100, 100, 100 (uncapped: 160, 320, 640).
    await waitFor(() => srv.attempts.length >= 6, 5000, 'six attempts');
    const gaps = gapsOf(srv.attempts.slice(0, 6));
    for (const g of gaps.slice(2)) {
      assert.ok(g >= 85 && g < 250, `capped gaps ${gaps}`);
    }
    assert.equal(m.nextDelay, 100);
  }));

  test('disconnect() cancels a pending reconnect', () => withServer(async (srv, make) => {
    srv.refuse = true;
    const { m, states } = make(srv.url, { initialDelay: 100 });
    m.connect();
    await waitFor(() => srv.attempts.length === 1 && m.state === 'disconnected', 3000, 'the first failure');
    m.disconnect(); // a reconnect is pending now
    await sleep(450); // the next attempts would come at ~100 and ~300 ms
    assert.equal(srv.attempts.length, 1);
    assert.equal(m.state, 'disconnected');
    assert.deepEqual(states, ['connecting', 'disconnected']);
  }));

  test('disconnect() while connected closes without reconnecting; connect() starts again', () => withServer(async (srv, make) => {
    const { m, states } = make(srv.url, { initialDelay: 50 });
    m.connect();
    await waitFor(() => srv.sockets.length === 1 && m.state === 'connected', 3000, 'connected');
    const closed = new Promise((r) => srv.sockets[0].on('close', r));
    m.disconnect();
    assert.equal(m.state, 'disconnected');
    await closed;
    await sleep(300);
    assert.equal(srv.attempts.length, 1);
    assert.deepEqual(states, ['connecting', 'connected', 'disconnected']);
    m.connect();
    await waitFor(() => m.state === 'connected', 3000, 'connected again');
    assert.equal(srv.sockets.length, 2);
  }));

  test('disconnect() while connecting abandons the attempt', () => withServer(async (srv, make) => {
    const { m, states } = make(srv.url, { initialDelay: 50 });
    m.connect();
    m.disconnect();
    await sleep(300);
    assert.equal(m.state, 'disconnected');
    assert.deepEqual(states, ['connecting', 'disconnected']);
    assert.ok(srv.attempts.length <= 1);
  }));

  test('a listener that throws does not break the client', () => withServer(async (srv, make) => {
    const spy = mock.method(console, 'error', () => {});
    try {
      const { m, states } = make(srv.url);
      m.onState(() => { throw new Error('boom'); });
      m.connect();
      await waitFor(() => m.state === 'connected', 3000, 'connected');
      assert.deepEqual(states, ['connecting', 'connected']);
      assert.ok(spy.mock.callCount() >= 2);
      m.disconnect(); // while console.error is still silenced
    } finally {
      spy.mock.restore();
    }
  }));
});

describe('wsUrlFromConfig', () => {
  const page = (href) => {
    const u = new URL(href);
    return { protocol: u.protocol, host: u.host, hostname: u.hostname };
  };

  test('development goes straight to the backend port', () => {
    assert.equal(wsUrlFromConfig({ mode: 'development', backendPort: 8787 }, page('http://localhost:5173/')),
      'ws://localhost:8787/ws/connect');
    assert.equal(wsUrlFromConfig({ mode: 'development', backendPort: 9000 }, page('http://127.0.0.1:3000/de/')),
      'ws://127.0.0.1:9000/ws/connect');
    assert.equal(wsUrlFromConfig({ mode: 'development', backendPort: 8787 }, page('http://[::1]:3000/')),
      'ws://[::1]:8787/ws/connect');
    assert.equal(wsUrlFromConfig({ mode: 'development' }, page('http://localhost:3000/')),
      'ws://localhost:8787/ws/connect', 'default backend port');
    assert.equal(wsUrlFromConfig({ mode: 'development', backendPort: 8787 }, page('https://dev.example:3000/')),
      'wss://dev.example:8787/ws/connect');
  });

  test('production uses the page host and /api/ws/connect', () => {
    assert.equal(wsUrlFromConfig({ mode: 'production', backendPort: 8787 }, page('https://example.com/')),
      'wss://example.com/api/ws/connect');
    assert.equal(wsUrlFromConfig({ mode: 'production' }, page('http://example.com:8080/de/')),
      'ws://example.com:8080/api/ws/connect');
    assert.equal(wsUrlFromConfig({}, page('https://example.com/')),
      'wss://example.com/api/ws/connect', 'no mode means production');
  });

  test('test mode behaves like development', () => {
    assert.equal(wsUrlFromConfig({ mode: 'test', backendPort: 8788 }, page('http://127.0.0.1:4000/')),
      'ws://127.0.0.1:8788/ws/connect');
  });

  test('wsHost and wsPath override the defaults', () => {
    assert.equal(wsUrlFromConfig({ mode: 'development', backendPort: 8787, wsHost: 'ws.example:9000' },
      page('http://localhost:3000/')), 'ws://ws.example:9000/ws/connect');
    assert.equal(wsUrlFromConfig({ mode: 'production', wsPath: '/custom/socket' }, page('https://example.com/')),
      'wss://example.com/custom/socket');
    assert.equal(wsUrlFromConfig({ mode: 'production', wsHost: 'rt.example.com', wsPath: 'x' },
      page('https://example.com/')), 'wss://rt.example.com/x');
    assert.equal(wsUrlFromConfig({ wsHost: 'wss://secure.example/' }, page('http://example.com/')),
      'wss://secure.example/api/ws/connect', 'a full origin sets the scheme');
    assert.equal(wsUrlFromConfig({ mode: 'production', wsHost: '', wsPath: '' }, page('http://a.example/')),
      'ws://a.example/api/ws/connect', 'empty overrides are ignored');
  });
});
