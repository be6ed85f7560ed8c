// The frontend's WebSocket tunnel in one `duro dev` process: a browser's
// upgrade of /api/ws/connect (with the page's session) is forwarded to
// MessageCoordinator("global") on the backend, and frames flow both ways
// through it. Small on purpose: `make valgrind` runs it under memcheck,
// so the tunnel's parse of the backend's 101 and its relay are checked
// for invalid reads on every CI run.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openWs, startDuro, waitFor, closed, sessionCookie } from './lib/duro.mjs';
import { stopClean } from './lib/wire.mjs';

let duro;
before(async () => { duro = await startDuro({ role: 'dev' }); });
after(async () => { await stopClean(duro); });

test('one upgrade through /api/ws/connect; frames both ways; a clean close', async () => {
  const cookie = await sessionCookie(duro.frontendUrl);
  const tunnelled = await openWs(`ws://127.0.0.1:${duro.frontendPort}/api/ws/connect`, { headers: { Cookie: cookie } });
  const direct = await openWs(`${duro.ws}/ws/connect`);
  try {
    // browser -> backend: the coordinator relays to every socket
    tunnelled.send('from the browser');
    await waitFor(() => direct.messages.includes('from the browser') && tunnelled.messages.includes('from the browser'),
      10000, 'the browser\'s message on both sockets');
    // backend -> browser: a broadcast and a binary frame
    const r = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"to":"everyone"}' });
    assert.equal(r.status, 200);
    await r.text();
    direct.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    await waitFor(() => tunnelled.messages.includes('{"to":"everyone"}') &&
      tunnelled.messages.some((m) => Buffer.isBuffer(m) && m.equals(Buffer.from([0, 1, 2, 255]))),
    10000, 'the broadcast and the binary frame through the tunnel');
  } finally {
    tunnelled.close(1000, 'done');
    direct.close(1000);
  }
  const c = await closed(tunnelled);
  assert.equal(c.code, 1000);
  await closed(direct);
});

test('permessage-deflate through the tunnel: the browser\'s offer goes up, the backend\'s answer comes down', async () => {
  const cookie = await sessionCookie(duro.frontendUrl);
  const url = `ws://127.0.0.1:${duro.frontendPort}/api/ws/connect`;
  const z = await openWs(url, { headers: { Cookie: cookie }, perMessageDeflate: { threshold: 0 } });
  const plain = await openWs(url, { headers: { Cookie: cookie }, perMessageDeflate: false });
  try {
    assert.match(z.extensions, /^permessage-deflate/);
    assert.equal(plain.extensions, '');
    const big = JSON.stringify({ text: 'compressible '.repeat(200) });
    const r = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: big });
    assert.equal(r.status, 200);
    await r.text();
    z.send('y'.repeat(3000)); // compressed by the client, inflated by the backend
    await waitFor(() => [z, plain].every((w) => w.messages.includes(big) && w.messages.includes('y'.repeat(3000))),
      10000, 'both, compressed and plain, through the tunnel');
  } finally {
    z.close(1000);
    plain.close(1000);
  }
  await closed(z);
  await closed(plain);
});
