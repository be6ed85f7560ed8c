// bench/bun/server.js: the Bun side of bench/compare_bun.sh, the same two
// routes as duro's seed application (MessageCoordinator) as loadgen uses
// them:
//
//   GET  /ws/connect  upgrades; the WebSocket subscribes to topic 'room'
//   POST /broadcast   publishes the JSON body to 'room' as one text frame,
//                     answers 200 "Message sent" (400 if the body is not JSON)
//
// Settings as in the measurement: no idle timeout, no compression.
// Usage: bun bench/bun/server.js --port P   (listens on 127.0.0.1 only)

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: bun server.js --port P');
  process.exit(2);
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
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
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe('room');
    },
    message() {},
  },
});

console.log(`listening on http://127.0.0.1:${server.port}`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
