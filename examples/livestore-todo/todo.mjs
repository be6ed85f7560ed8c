#!/usr/bin/env node
// A shared todo list over duro's LiveStore sync backend. Run it in two
// terminals (or on two machines) against `duro dev` and watch each other's
// todos appear:
//
//   node examples/livestore-todo/todo.mjs alice
//   node examples/livestore-todo/todo.mjs bob
//
// Type a line to add a todo, "done N" to tick todo N off, "quit" to leave.
// Options: --url ws://host:8787 (default ws://127.0.0.1:8787), --store NAME
// (default "todo-demo"); the auth token, if duro wants one, comes from
// LIVESTORE_TOKEN. Each person's copy is kept in ./.livestore-<name>, so it
// works offline and catches up when duro is back.
import readline from 'node:readline';
import WS from 'ws';

if (!globalThis.WebSocket) globalThis.WebSocket = WS; // Node 20

const { makeAdapter } = await import('@livestore/adapter-node');
const { createStorePromise, Events, makeSchema, Schema, State, queryDb } = await import('@livestore/livestore');
const { makeWsSync } = await import('@livestore/sync-cf/client');
const { LogLevel } = await import('effect');

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv.splice(i, 2)[1] : dflt; };
const url = opt('url', 'ws://127.0.0.1:8787');
const storeId = opt('store', 'todo-demo');
const me = argv[0] || process.env.USER || 'me';

const events = {
  todoCreated: Events.synced({ name: 'v1.TodoCreated', schema: Schema.Struct({ id: Schema.String, text: Schema.String, by: Schema.String }) }),
  todoCompleted: Events.synced({ name: 'v1.TodoCompleted', schema: Schema.Struct({ id: Schema.String, by: Schema.String }) }),
};
const todos = State.SQLite.table({
  name: 'todos',
  columns: {
    id: State.SQLite.text({ primaryKey: true }),
    text: State.SQLite.text({ default: '' }),
    by: State.SQLite.text({ default: '' }),
    done: State.SQLite.boolean({ default: false }),
    doneBy: State.SQLite.text({ default: '' }),
  },
});
const materializers = State.SQLite.materializers(events, {
  'v1.TodoCreated': ({ id, text, by }) => todos.insert({ id, text, by }),
  'v1.TodoCompleted': ({ id, by }) => todos.update({ done: true, doneBy: by }).where({ id }),
});
const schema = makeSchema({ events, state: State.SQLite.makeState({ tables: { todos }, materializers }) });

const store = await createStorePromise({
  adapter: makeAdapter({
    storage: { type: 'fs', baseDirectory: `./.livestore-${me}` },
    clientId: me,
    sync: { backend: makeWsSync({ url }) },
  }),
  schema,
  storeId,
  syncPayload: process.env.LIVESTORE_TOKEN ? { authToken: process.env.LIVESTORE_TOKEN } : undefined,
  logLevel: LogLevel.Warning,
});

const all = queryDb(todos.orderBy('id', 'asc'));
let shown = [];
store.subscribe(all, (rows) => {
  shown = rows;
  console.log(`\n--- ${storeId} (${rows.length} todo${rows.length === 1 ? '' : 's'}) ---`);
  rows.forEach((t, i) => console.log(`${String(i + 1).padStart(3)}. [${t.done ? 'x' : ' '}] ${t.text}  (${t.by}${t.done ? `, done by ${t.doneBy}` : ''})`));
  process.stdout.write(`${me}> `);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const text = line.trim();
  if (text === 'quit') { rl.close(); return; }
  const m = /^done (\d+)$/.exec(text);
  if (m) {
    const t = shown[Number(m[1]) - 1];
    if (t) store.commit(events.todoCompleted({ id: t.id, by: me }));
  } else if (text) {
    store.commit(events.todoCreated({ id: `${Date.now().toString(36)}-${me}`, text, by: me }));
  }
});
rl.on('close', async () => { await store.shutdownPromise(); process.exit(0); });
