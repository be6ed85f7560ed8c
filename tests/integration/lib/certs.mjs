// Test certificates made on the spot with `openssl req`: a CA and leaves
// for 127.0.0.1 and localhost, valid two days, so nothing checked in can
// expire. makeCerts(dir) writes ca.crt, leafN.crt and leafN.key (serials
// 0x1001, 0x1002, ...) and returns their paths.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export function makeCerts(dir, leaves = 2) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=duro test CA');
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const out = { dir, ca: path.join(dir, 'ca.crt'), leaves: [] };
  for (let i = 1; i <= leaves; i++) {
    const name = `leaf${i}`;
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=127.0.0.1');
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${1000 + i}`,
      '-out', `${name}.crt`, '-days', '2', '-extfile', 'ext.cnf');
    out.leaves.push({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });
  }
  return out;
}
