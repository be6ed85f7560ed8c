// Types of @duro/bindings (src/index.js).
import type { Duplex } from 'node:stream';

export declare function objectId(namespace: string, name: string): string;

export declare class DurableObjectId {
  readonly name?: string;
  toString(): string;
  toJSON(): string;
  equals(other: DurableObjectId): boolean;
}

export declare class BindingError extends TypeError {}

export declare class DurableObjectNamespace {
  readonly binding: string;
  readonly className: string;
  idFromName(name: string): DurableObjectId;
  idFromString(hex: string): DurableObjectId;
  newUniqueId(): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
  getByName(name: string): DurableObjectStub;
}

export declare class DurableObjectStub {
  readonly binding: string;
  readonly id: DurableObjectId;
  readonly name?: string;
  /** As on Workers; with `Upgrade: websocket` it resolves with an UpgradeResponse (status 101) when the object accepts. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response | UpgradeResponse>;
}

/** The 101 of an accepted upgrade: a Response (so frameworks pass it on) whose status reads 101. */
export declare class UpgradeResponse extends Response {
  readonly webSocket: { socket: Duplex; head: Buffer };
}

/** The header carrying an UpgradeResponse's token through a framework. */
export declare const TUNNEL_HEADER: string;
/** The UpgradeResponse of a token, taken out of the process's registry. */
export declare function claimTunnel(token: string): UpgradeResponse | null;

/** Relays a browser's upgrade (a Node HTTP server's 'upgrade' event) to the object's tunnel. */
export declare function acceptWebSocket(response: Response | UpgradeResponse, socket: Duplex, head?: Buffer): Promise<void>;

export interface EnvOptions {
  backend?: string;
  secret?: string;
  vars?: Record<string, unknown>;
  fetch?: typeof fetch;
}

export type Env = Record<string, DurableObjectNamespace | unknown>;

export declare function createEnv(options?: EnvOptions): Promise<Env>;
/** An env that does not ask the backend: any UPPER_CASE name is a namespace. */
export declare function lazyEnv(options?: EnvOptions): Env;
