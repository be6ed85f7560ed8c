// bench/bun/server.js: the Bun side of bench/compare_bun.sh, the same two
// routes as duro's seed application (MessageCoordinator) as loadgen uses
// them:
//
//   GET  /ws/connect  upgrades; the WebSocket subscribes to topic 'room'
//   POST /broadcast   publishes the JSON body to 'room' as one text frame,
//                     answers 200 "Message sent" (400 if the body is not JSON)
//
// Settings as in the measurement: no idle timeout, no compression
// (unless --deflate).
// Options (issue 14's scenarios):
//   --tls-cert FILE --tls-key FILE  serve https and wss only, with that
//                     certificate and key (PEM), as duro --tls-cert/--tls-key
//   --deflate         websocket.perMessageDeflate: true, Bun's own parameters
//                     and behaviour: Bun 1.4.5 then compresses the published
//                     message for every socket that negotiated the extension
//                     (loadgen counts the RSV1 frames: all of them)
// Usage: bun bench/bun/server.js --port P [--tls-cert F --tls-key F] [--deflate]
// (listens on 127.0.0.1 only)

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const port = Number(arg('--port'));
const cert = arg('--tls-cert');
const key = arg('--tls-key');
const deflate = process.argv.includes('--deflate');
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !cert !== !key) {
  console.error('usage: bun server.js --port P [--tls-cert FILE --tls-key FILE] [--deflate]');
  process.exit(2);
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  ...(cert ? { tls: { cert: Bun.file(cert), key: Bun.file(key) } } : {}),
  async fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === '/ws/connect') {
      if (srv.upgrade(req)) return undefined;
      return new Response('Expected a WebSocket upgrade', { status: 426 });
    }
    if (req.method === 'POST' && url.pathname === '/broadcast') {
      let text;
      try {
        // duro's MessageCoordinator parses and re-serialises the body
        // (cJSON), so Bun does the same: like-for-like work per publish.
        text = JSON.stringify(JSON.parse(await req.text()));
      } catch {
        return new Response('Invalid JSON body: expected a JSON value', { status: 400 });
      }
      srv.publish('room', text);
      return new Response('Message sent');
    }
    return new Response('MessageCoordinator active');
  },
  websocket: {
    idleTimeout: 0,
    perMessageDeflate: deflate,
    open(ws) {
      ws.subscribe('room');
    },
    message() {},
  },
});

console.log(`listening on ${cert ? 'https' : 'http'}://127.0.0.1:${server.port}` +
  (deflate ? ' (perMessageDeflate)' : ''));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
