// mini_server.js: a stand-in for duro's seed application, for testing the
// benchmark tools without the real server. It implements only the two routes
// loadgen uses:
//
//   GET  /ws/connect  (WebSocket upgrade) joins the broadcast set
//   POST /broadcast   re-serialises the JSON body compactly, sends it as one
//                     text frame to every socket, answers 200 "Message sent"
//
// Needs Node 20 and the `ws` package, e.g. NODE_PATH=/tmp/wsdev/node_modules.
// Usage: node bench/mini_server.js --port P   (listens on 127.0.0.1 only)
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node mini_server.js --port P');
  process.exit(2);
}

const sockets = new Set();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

function reply(res, status, body) {
  res.writeHead(status, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/broadcast') {
    reply(res, 404, 'Not found');
    return;
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    let text;
    try {
      text = JSON.stringify(JSON.parse(Buffer.concat(parts).toString('utf8')));
    } catch {
      reply(res, 400, 'Invalid JSON');
      return;
    }
    for (const ws of sockets) ws.send(text);
    reply(res, 200, 'Message sent');
  });
});
server.keepAliveTimeout = 60000;

server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws/connect') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', () => sockets.delete(ws));
  });
});

server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  console.error(`mini_server: listening on 127.0.0.1:${port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
