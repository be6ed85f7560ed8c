// HTTP/1.1 details over raw sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDuro, rawRequest, waitFor } from './lib/duro.mjs';
import { stopClean, wrap, parseAll, connect } from './lib/wire.mjs';

const countResponses = (n, heads) => (text) => parseAll(Buffer.from(text, 'latin1'), heads).responses.length >= n;

describe('HTTP/1.1 (default limits)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro(); });
  after(async () => { await stopClean(h); });

  test('keep-alive: two requests on one socket are both answered', it(async () => {
    const s = await connect(h.port);
    try {
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => parseAll(s.buf).responses.length === 1, 3000, 'first response');
      assert.equal(s.ended, false, 'connection stays open after the first response');
      const first = parseAll(s.buf).responses[0];
      assert.equal(first.status, 200);
      assert.equal(first.body, 'This worker exports Durable Objects');
      assert.notEqual(first.headers.connection, 'close');
      s.write('GET /ws/connect HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => parseAll(s.buf).responses.length === 2, 3000, 'second response');
      const second = parseAll(s.buf).responses[1];
      assert.equal(second.status, 426);
      assert.equal(second.body, 'Expected Upgrade: websocket');
    } finally { s.destroy(); }
  }));

  test('pipelining: three requests in one write get three responses in order', it(async () => {
    const body = '{"pipelined":true}';
    const data =
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n' +
      `POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'GET /ws/connect HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await rawRequest(h.port, data, { until: countResponses(3) });
    assert.equal(r.why, 'until', `got: ${JSON.stringify(r.text)}`);
    const { responses, rest } = parseAll(r.buf);
    assert.deepEqual(responses.map((x) => [x.status, x.body]), [
      [200, 'This worker exports Durable Objects'],
      [200, 'Message sent'],
      [426, 'Expected Upgrade: websocket'],
    ]);
    assert.equal(rest.length, 0);
  }));

  test('chunked request body to POST /broadcast is answered 200', it(async () => {
    const data =
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '5\r\n{"a":\r\n' + 'a\r\n"chunked"}\r\n' + '0\r\n\r\n';
    const r = await rawRequest(h.port, data);
    const { responses } = parseAll(r.buf);
    assert.equal(responses.length, 1, r.text);
    assert.equal(responses[0].status, 200);
    assert.equal(responses[0].body, 'Message sent');
    // and the chunks were joined: a broken join would not be JSON (400)
  }));

  test('chunked body that is not JSON after joining is 400', it(async () => {
    const data =
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '3\r\n{"a\r\n0\r\n\r\n';
    const r = await rawRequest(h.port, data);
    assert.equal(parseAll(r.buf).responses[0]?.status, 400, r.text);
  }));

  test('headers over 16 KiB get 431 and the connection closes', it(async () => {
    const big = 'x'.repeat(17 * 1024);
    const r = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    assert.notEqual(r.why, 'timeout', 'connection must close');
    const { responses } = parseAll(r.buf);
    assert.equal(responses.length, 1, r.text.slice(0, 200));
    assert.equal(responses[0].status, 431);
    assert.equal(responses[0].headers.connection, 'close');
    // Many small headers adding up to over the limit too.
    let many = '';
    for (let i = 0; i < 90; i++) many += `X-H${i}: ${'y'.repeat(200)}\r\n`;
    const r2 = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
    assert.notEqual(r2.why, 'timeout');
    assert.equal(parseAll(r2.buf).responses[0]?.status, 431);
  }));

  test('a request just under the header limit is fine', it(async () => {
    const r = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(15 * 1024)}\r\nConnection: close\r\n\r\n`);
    assert.equal(parseAll(r.buf).responses[0]?.status, 200);
  }));

  test('malformed request line is 400', it(async () => {
    for (const line of ['GARBAGE\r\n\r\n', 'GET / HTTP/9\r\n\r\n', 'GET  HTTP/1.1 extra\r\nHost: x\r\n\r\n', '\x00\x01\x02\r\n\r\n']) {
      const r = await rawRequest(h.port, line);
      assert.notEqual(r.why, 'timeout', `connection closes after ${JSON.stringify(line)}`);
      const { responses } = parseAll(r.buf);
      assert.equal(responses[0]?.status, 400, `${JSON.stringify(line)} -> ${JSON.stringify(r.text)}`);
    }
  }));

  test('both Content-Length and Transfer-Encoding is 400', it(async () => {
    const r = await rawRequest(h.port,
      'POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5\r\n{"a":\r\n0\r\n\r\n');
    assert.notEqual(r.why, 'timeout');
    const { responses } = parseAll(r.buf);
    assert.equal(responses.length, 1, r.text);
    assert.equal(responses[0].status, 400);
  }));

  test('duplicate Content-Length is 400', it(async () => {
    for (const [a, b] of [[7, 7], [7, 3]]) {
      const r = await rawRequest(h.port,
        `POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: ${a}\r\nContent-Length: ${b}\r\n\r\n{"a":1}`);
      assert.notEqual(r.why, 'timeout');
      const { responses } = parseAll(r.buf);
      assert.equal(responses.length, 1, r.text);
      assert.equal(responses[0].status, 400, `Content-Length ${a} and ${b}`);
    }
  }));

  test('HEAD has a Content-Length but no body', it(async () => {
    // HEAD then GET on one connection: the GET response must start right
    // after the HEAD response's head.
    const r = await rawRequest(h.port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const { responses, rest } = parseAll(r.buf, [true]);
    assert.equal(responses.length, 2, r.text);
    assert.equal(responses[0].status, 200);
    assert.equal(responses[0].headers['content-length'], String('This worker exports Durable Objects'.length));
    assert.equal(responses[0].body, '');
    assert.equal(responses[1].status, 200);
    assert.equal(responses[1].body, 'This worker exports Durable Objects');
    assert.equal(rest.length, 0);
  }));

  test('Connection: close is honoured', it(async () => {
    const s = await connect(h.port);
    try {
      s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => s.ended, 3000, 'server closes the connection');
      const { responses, rest } = parseAll(s.buf);
      assert.equal(responses.length, 1, 'the second request is not answered');
      assert.equal(responses[0].status, 200);
      assert.equal(responses[0].headers.connection, 'close');
      assert.equal(rest.length, 0);
    } finally { s.destroy(); }
  }));

  test('HTTP/1.0 without keep-alive closes after the response', it(async () => {
    const s = await connect(h.port);
    try {
      s.write('GET / HTTP/1.0\r\n\r\n');
      await waitFor(() => s.ended, 3000, 'server closes the connection');
      assert.equal(parseAll(s.buf).responses[0]?.status, 200);
    } finally { s.destroy(); }
  }));
});

// Each body-limit case gets its own server, so that one that brings the
// server down does not take the others with it.
describe('HTTP/1.1 body limit (max_body_bytes 1024)', () => {
  let h;
  const it = (fn) => wrap(() => h)(async (t) => {
    h = await startDuro({ config: '{"duro": {"max_body_bytes": 1024}}' });
    let failed = true;
    try {
      await fn(t);
      // the server is still up afterwards
      const r = await rawRequest(h.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(parseAll(r.buf).responses[0]?.status, 200, 'server still answers');
      failed = false;
    } finally {
      // stopped here, not in after(): the next case starts its own
      const stopping = stopClean(h);
      if (failed) await stopping.catch(() => {}); else await stopping;
    }
  });

  test('body over the limit is 413 (Content-Length, POST /broadcast)', it(async () => {
    const body = JSON.stringify({ x: 'y'.repeat(2000) });
    const r = await rawRequest(h.port, `POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.notEqual(r.why, 'timeout');
    const { responses } = parseAll(r.buf);
    assert.equal(responses.length, 1, r.text);
    assert.equal(responses[0].status, 413);
  }));

  test('body over the limit is 413 (Content-Length, GET /)', it(async () => {
    const body = 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n'.padEnd(2000, 'y');
    const r = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.notEqual(r.why, 'timeout');
    const { responses } = parseAll(r.buf);
    assert.deepEqual(responses.map((x) => x.status), [413], r.text);
  }));

  test('body over the limit is 413 (chunked)', it(async () => {
    const part = 'z'.repeat(600);
    const data = 'POST /broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `${(600).toString(16)}\r\n${part}\r\n`.repeat(3) + '0\r\n\r\n';
    const r = await rawRequest(h.port, data);
    assert.notEqual(r.why, 'timeout');
    assert.deepEqual(parseAll(r.buf).responses.map((x) => x.status), [413], r.text);
  }));

  test('body at the limit is accepted', it(async () => {
    const body = JSON.stringify({ x: 'y'.repeat(1024 - 8) });
    assert.equal(body.length, 1024);
    const r = await rawRequest(h.port, `POST /broadcast HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.equal(parseAll(r.buf).responses[0]?.status, 200, r.text);
  }));
});

describe('HTTP/1.1 header timeout (header_timeout_ms 1000)', () => {
  let h;
  const it = wrap(() => h);
  before(async () => { h = await startDuro({ config: '{"duro": {"header_timeout_ms": 1000}}' }); });
  after(async () => { await stopClean(h); });

  test('partial headers get 408 and close after the header timeout', it(async () => {
    const s = await connect(h.port);
    try {
      const t0 = Date.now();
      s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ');
      await waitFor(() => s.ended, 5000, 'server closes the connection');
      const dt = Date.now() - t0;
      const { responses } = parseAll(s.buf);
      assert.equal(responses.length, 1, s.buf.toString('latin1'));
      assert.equal(responses[0].status, 408);
      assert.ok(dt >= 900, `closed after ${dt} ms, before the timeout`);
      assert.ok(dt < 4000, `closed after ${dt} ms`);
    } finally { s.destroy(); }
  }));

  test('a slow sender that finishes in time is answered', it(async () => {
    const s = await connect(h.port);
    try {
      s.write('GET / HTTP/1.1\r\n');
      await new Promise((r) => setTimeout(r, 300)); // deliberately slow client
      s.write('Host: x\r\nConnection: close\r\n\r\n');
      await waitFor(() => s.ended, 3000, 'response and close');
      assert.equal(parseAll(s.buf).responses[0]?.status, 200);
    } finally { s.destroy(); }
  }));
});
