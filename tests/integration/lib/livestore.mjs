// The real LiveStore 0.4.0 client (Node adapter, sync-cf transports) for
// the sync tests. Node 20 has no global WebSocket: the ws package stands
// in, as the LiveStore docs say, before the client is loaded.
import WS from 'ws';

if (!globalThis.WebSocket) globalThis.WebSocket = WS;

const { makeAdapter } = await import('@livestore/adapter-node');
const { createStorePromise, Events, makeSchema, Schema, State, queryDb } =
  await import('@livestore/livestore');
const { makeWsSync, makeHttpSync } = await import('@livestore/sync-cf/client');
const { LogLevel } = await import('effect');

export const events = {
  todoCreated: Events.synced({
    name: 'v1.TodoCreated',
    schema: Schema.Struct({ id: Schema.String, text: Schema.String, n: Schema.Number }),
  }),
};

const todos = State.SQLite.table({
  name: 'todos',
  columns: {
    id: State.SQLite.text({ primaryKey: true }),
    text: State.SQLite.text({ default: '' }),
    n: State.SQLite.integer({ default: 0 }),
  },
});

const materializers = State.SQLite.materializers(events, {
  'v1.TodoCreated': ({ id, text, n }) => todos.insert({ id, text, n }),
});

export const schema = makeSchema({ events, state: State.SQLite.makeState({ tables: { todos }, materializers }) });
export const allTodos = queryDb(todos.orderBy('id', 'asc'));

// Opens a store synced through duro. opts: url (ws:// or http://),
// storeId, clientId, storage ({type:'in-memory'} or {type:'fs', baseDirectory}),
// authToken, http (use makeHttpSync), pollInterval (ms, HTTP).
export async function openStore(opts) {
  const backend = opts.http
    ? makeHttpSync({ url: opts.url, livePull: { pollInterval: opts.pollInterval ?? 200 } })
    : makeWsSync({ url: opts.url });
  const adapter = makeAdapter({
    storage: opts.storage ?? { type: 'in-memory' },
    clientId: opts.clientId,
    sync: { backend, onSyncError: 'ignore' },
  });
  return createStorePromise({
    adapter,
    schema,
    storeId: opts.storeId,
    syncPayload: opts.authToken === undefined ? undefined : { authToken: opts.authToken },
    logLevel: opts.logLevel ?? LogLevel.Warning,
  });
}

export function todo(store, id, text, n) {
  store.commit(events.todoCreated({ id, text, n }));
}

// Collects the events the sync backend confirmed (the store's upstream
// log), until n have arrived or ms pass. Resolves with
// [{seq, name, id, clientId}], in log order.
export async function confirmedEvents(store, n, ms = 20000) {
  const out = [];
  const it = store.events()[Symbol.asyncIterator]();
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer;
    const next = await Promise.race([
      it.next(),
      new Promise((r) => { timer = setTimeout(() => r({ timeout: true }), left); }),
    ]);
    clearTimeout(timer);
    if (next.timeout || next.done) break;
    const e = next.value;
    out.push({ seq: e.seqNum?.global ?? e.seqNum, name: e.name, id: e.args?.id, clientId: e.clientId });
  }
  it.return?.();
  return out;
}
