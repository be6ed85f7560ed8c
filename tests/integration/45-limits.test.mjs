// Connection limits: over max_connections a new connection gets a clear
// 503 (and no WebSocket), while the ones already open keep working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openWs, rawRequest, startDuro, waitFor } from './lib/duro.mjs';

let duro;
before(async () => {
  duro = await startDuro({ config: '{"duro": {"max_connections": 3}}' });
});
after(async () => { await duro.stop(); duro.cleanup(); });

test('over max_connections: 503 for HTTP, no upgrade, the others unharmed', async () => {
  const socks = [];
  for (let i = 0; i < 3; i++) socks.push(await openWs(`${duro.ws}/ws/connect`));
  const r = await rawRequest(duro.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 503 /);
  assert.match(r.text, /Too many connections/);
  await assert.rejects(openWs(`${duro.ws}/ws/connect`), (e) => e.status === 503);
  // the three open sockets still get broadcasts (the POST needs a slot)
  socks[2].close();
  await waitFor(async () => {
    const res = await fetch(`${duro.url}/broadcast`, { method: 'POST', body: '{"ok":1}' }).catch(() => null);
    return res && res.status === 200;
  }, 5000, 'a free slot');
  await waitFor(() => socks[0].messages.length > 0 && socks[1].messages.length > 0, 5000, 'broadcast');
  for (const s of socks) s.close();
});
