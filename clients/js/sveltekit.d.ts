// Types of @duro/bindings/sveltekit (src/sveltekit.js).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EnvOptions } from './index.js';

type Middleware = (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

/** A SvelteKit `handle` hook filling event.platform.env and platform.ctx.waitUntil. */
export declare function platformHandle(options?: EnvOptions): (input: { event: any; resolve: (event: any) => any }) => Promise<Response>;

/** Runs an upgrade through a Connect-style handler; a route's stub.fetch(request) 101 takes the socket over. */
export declare function runUpgrade(handler: Middleware, req: IncomingMessage, socket: Duplex, head: Buffer): void;

/** Serves adapter-node's handler with WebSocket upgrades (PORT, HOST, SHUTDOWN_TIMEOUT). */
export declare function serve(handler: Middleware, options?: { port?: number; host?: string; shutdownTimeout?: number }): Promise<Server>;

/** A Vite plugin: upgrades in `vite dev` go through the app's routes. */
export declare function duroUpgrades(): { name: string; configureServer(server: any): void };
