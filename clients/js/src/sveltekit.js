// @duro/bindings/sveltekit: a SvelteKit app on duro as it was on
// Cloudflare: `event.platform.env` holds the backend's bindings, and a
// route that returns `stub.fetch(request)` for a WebSocket upgrade works
// unchanged, in `vite dev` and in adapter-node's built server.
//
//   // src/hooks.server.ts
//   import { platformHandle } from '@duro/bindings/sveltekit';
//   export const handle = platformHandle();
//
//   // vite.config.ts: upgrades in `vite dev`
//   import { duroUpgrades } from '@duro/bindings/sveltekit';
//   export default defineConfig({ plugins: [sveltekit(), duroUpgrades()] });
//
//   // server.js: adapter-node's handler, with upgrades
//   import { handler } from './build/handler.js';
//   import { serve } from '@duro/bindings/sveltekit';
//   serve(handler);
//
// How an upgrade gets through SvelteKit, which cannot answer 101 itself:
// the browser's upgrade request is run through the app's own request
// handler (Vite's middlewares, or adapter-node's handler) on a response
// object bound to the upgrade's socket. The route's stub.fetch(request)
// resolves with an UpgradeResponse, which SvelteKit passes on like any
// Response; when the handler writes its head, the response carries the
// tunnel's token, and the tunnel takes the socket over
// (acceptWebSocket). A route that answers anything else (426, 401) has
// that answer written to the browser as it is.
import http from 'node:http';
import { createEnv, lazyEnv, acceptWebSocket, claimTunnel, TUNNEL_HEADER } from './index.js';

/**
 * A SvelteKit `handle` hook that fills event.platform with `env` (the
 * backend's bindings, createEnv's options) and `ctx.waitUntil`, keeping
 * what the adapter put there. The env is made once, on the first
 * request. While the backend cannot be asked for its bindings, requests
 * get a lazyEnv (whose calls fail with the backend's error, for the app
 * to show) and the next request asks again.
 */
export function platformHandle(options = {}) {
  let envPromise = null;
  const pending = new Set();
  const ctx = {
    waitUntil(promise) {
      const p = Promise.resolve(promise).catch((e) => console.error('waitUntil:', e));
      pending.add(p);
      p.finally(() => pending.delete(p));
    },
    passThroughOnException() {},
  };
  let fallback = null;
  return async ({ event, resolve }) => {
    if (!envPromise) {
      envPromise = createEnv(options);
      envPromise.catch(() => { envPromise = null; });
    }
    let env;
    try {
      env = await envPromise;
    } catch (e) {
      console.error(`platform.env: ${e.message}`);
      env = fallback ??= lazyEnv(options);
    }
    event.platform = { ...(event.platform || {}), env, ctx, context: ctx };
    return resolve(event);
  };
}

// A Vite HMR socket, which Vite answers itself.
const isVite = (req) => /vite-hmr|vite-ping/.test(String(req.headers['sec-websocket-protocol'] || ''));

/**
 * Runs an upgrade through handler(req, res) (a Connect-style middleware:
 * Vite's server.middlewares or adapter-node's handler) with res bound to
 * the upgrade's socket, and hands the socket to the tunnel when the
 * route answered with one.
 */
export function runUpgrade(handler, req, socket, head) {
  const res = new http.ServerResponse(req);
  res.assignSocket(socket);
  res.shouldKeepAlive = false;
  const writeHead = res.writeHead.bind(res);
  let tunnelled = false;
  res.writeHead = (status, ...rest) => {
    const token = res.getHeader(TUNNEL_HEADER);
    const tunnel = token && claimTunnel(String(token));
    if (!tunnel) return writeHead(status === 101 ? 500 : status, ...rest);
    tunnelled = true;
    res.detachSocket(socket);
    acceptWebSocket(tunnel, socket, head).catch(() => socket.destroy());
    // what the handler writes after the head has nowhere to go
    res.write = () => true;
    res.end = () => res;
    return res;
  };
  socket.once('error', () => { if (!tunnelled) socket.destroy(); });
  res.once('finish', () => { if (!tunnelled) socket.end(); });
  handler(req, res, () => {
    if (!tunnelled && !res.headersSent) res.writeHead(404).end('Not Found');
  });
}

/**
 * Serves handler (adapter-node's `handler` from build/handler.js) on
 * PORT and HOST as adapter-node's own server does (default 3000 and
 * 0.0.0.0), WebSocket upgrades included; SIGTERM and SIGINT close it
 * gracefully (SHUTDOWN_TIMEOUT seconds, default 30, for open requests;
 * tunnelled sockets are closed). Resolves with the server.
 */
export function serve(handler, {
  port = Number(process.env.PORT ?? 3000),
  host = process.env.HOST || '0.0.0.0',
  shutdownTimeout = Number(process.env.SHUTDOWN_TIMEOUT || 30),
} = {}) {
  const server = http.createServer((req, res) => handler(req, res, () => res.writeHead(404).end('Not Found')));
  const upgraded = new Set();
  server.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    runUpgrade(handler, req, socket, head);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    for (const s of upgraded) s.destroy();
    setTimeout(() => { server.closeAllConnections(); process.exit(0); }, shutdownTimeout * 1000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      console.log(`Listening on http://${host}:${server.address().port}`);
      resolve(server);
    });
  });
}

/**
 * A Vite plugin: in `vite dev`, WebSocket upgrades that are not Vite's
 * own go through the app's routes like any request, so a route that
 * returns stub.fetch(request) works in dev as in the built server.
 */
export function duroUpgrades() {
  return {
    name: 'duro-upgrades',
    configureServer(server) {
      server.httpServer?.on('upgrade', (req, socket, head) => {
        if (isVite(req)) return;
        runUpgrade(server.middlewares, req, socket, head);
      });
    },
  };
}
