// A throwaway PostgreSQL cluster for the integration tests, through
// tests/pg.sh (which owns every pg_ctl call): one cluster in a fresh
// directory, fresh databases in it, psql against them, and an outage
// (pause: the server stops at once; resume: it starts again on the same
// port, so the same conninfo reaches it). Only the cluster started here is
// ever stopped, through tests/pg.sh on its own directory.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PG_SH = path.resolve(import.meta.dirname, '../../pg.sh');

// Runs a program; resolves {code, stdout, stderr}, never rejects.
function run(cmd, args, { timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, err });
    });
  });
}

// Replaces (or adds) the keyword `key` of a libpq key=value conninfo.
export function withParam(conninfo, key, value) {
  const parts = conninfo.split(/\s+/).filter((p) => p && !p.startsWith(`${key}=`));
  return [...parts, `${key}=${value}`].join(' ');
}

let dbSeq = 0;

// Starts a cluster (tests/pg.sh start in a mkdtemp directory). Resolves
// with a handle: conninfo (the postgres database over the unix socket),
// dir, port, createDb, psql, pause, resume, stop, log.
export async function startPostgres() {
  // tests/pg.sh wants a directory that is empty (mkdtemp's is) and whose
  // path needs no quoting (mkdtemp's suffix is alphanumeric).
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-pg-'));
  const r = await run(PG_SH, ['start', dir]);
  if (r.code !== 0) {
    // pg.sh stop refuses a directory it did not mark; remove it ourselves
    // only when it never got that far.
    const s = await run(PG_SH, ['stop', dir]);
    if (s.code !== 0) rmSync(dir, { recursive: true, force: true });
    throw new Error(`tests/pg.sh start ${dir} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  }
  const conninfo = r.stdout.trim().split('\n').at(-1);
  const port = Number(/port=(\d+)/.exec(conninfo)[1]);
  let stopped = false;

  const h = {
    dir, conninfo, port,
    // The server's own log (tests/pg.sh's DIR/log), for failure messages.
    get log() {
      try { return readFileSync(path.join(dir, 'log'), 'utf8'); } catch { return ''; }
    },

    // Runs SQL with psql on database db (default postgres); resolves with
    // the rows, each an array of column texts (psql -tA, tab-separated).
    // Throws on an SQL error.
    async psql(sql, db = 'postgres') {
      const q = await run('psql', ['-X', '-q', '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
        withParam(conninfo, 'dbname', db), '-c', sql], { timeout: 20000 });
      if (q.code !== 0) throw new Error(`psql failed (${q.code}) on ${db}: ${sql}\n${q.stderr}`);
      return q.stdout.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
    },

    // Creates a fresh database; resolves with {name, conninfo} (the unix
    // socket, trusted: no password).
    async createDb(prefix = 'duro_test') {
      const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${dbSeq++}`;
      await h.psql(`CREATE DATABASE "${name}"`);
      return { name, conninfo: withParam(conninfo, 'dbname', name) };
    },

    // Stops the server (mode 'immediate', as in a crash, or 'fast': each
    // session is told it is being terminated); the cluster and its port
    // stay for resume.
    async pause(mode = 'immediate') {
      const p = await run(PG_SH, ['pause', dir, mode]);
      if (p.code !== 0) throw new Error(`tests/pg.sh pause failed:\n${p.stderr}`);
    },

    // Starts the paused server again on the same port.
    async resume() {
      const p = await run(PG_SH, ['resume', dir]);
      if (p.code !== 0) throw new Error(`tests/pg.sh resume failed:\n${p.stderr}`);
    },

    // Stops the cluster and removes its directory (once).
    async stop() {
      if (stopped) return;
      stopped = true;
      const p = await run(PG_SH, ['stop', dir]);
      if (p.code !== 0) throw new Error(`tests/pg.sh stop ${dir} failed:\n${p.stderr}`);
    },
  };
  return h;
}
