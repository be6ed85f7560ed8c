// docs/objects.md against include/duro.h: the reference must list every
// function the header declares, with the same prototype, and nothing the
// header does not declare; every handler of duro_class_t is described.
// The tutorial's class is compiled from the document itself, loaded into
// duro and called, so the tutorial keeps working as the API changes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startDuro } from './lib/duro.mjs';

const REPO = path.resolve(import.meta.dirname, '../..');
const header = readFileSync(path.join(REPO, 'include/duro.h'), 'utf8');
const doc = readFileSync(path.join(REPO, 'docs/objects.md'), 'utf8');

// C text without comments, preprocessor lines (with continuations) and
// __attribute__((...)), whitespace normalised.
function clean(src) {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/#ifdef __cplusplus[\s\S]*?#endif/g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/^[ \t]*#(?:[^\n]*\\\n)*[^\n]*/gm, ' ')
    .replace(/__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)/g, ' ');
}

// Function prototypes declared at the top level, as "name -> normalised
// prototype". Struct and enum bodies and typedefs are skipped.
export function prototypes(src) {
  const text = clean(src);
  const out = new Map();
  let depth = 0, stmt = '';
  for (const ch of text) {
    if (ch === '{') depth++;
    if (ch === '}') { depth--; if (depth === 0) { stmt = ''; continue; } }
    if (depth > 0) continue;
    if (ch === ';') {
      const s = stmt.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')')
        .replace(/ ,/g, ',').replace(/ \*/g, ' *').trim();
      stmt = '';
      const m = /^(?!typedef\b)(?:const )?[\w ]*?\**\s*\b(duro_\w+)\(/.exec(s);
      if (m && !/^(struct|enum|union)\b[^(]*$/.test(s)) out.set(m[1], s);
      continue;
    }
    stmt += ch;
  }
  return out;
}

// The C code blocks of a markdown text.
function codeBlocks(md) {
  return [...md.matchAll(/```c\n([\s\S]*?)```/g)].map((m) => m[1]);
}

test('every function of duro.h is in the reference, with its prototype', () => {
  const declared = prototypes(header);
  assert.ok(declared.size >= 40, `parsed ${declared.size} prototypes from duro.h`);
  const refStart = doc.indexOf('\n## Reference');
  assert.ok(refStart > 0, 'docs/objects.md has a "## Reference" section');
  const reference = doc.slice(refStart);
  const documented = new Map();
  for (const block of codeBlocks(reference))
    for (const [name, proto] of prototypes(block)) documented.set(name, proto);
  const missing = [...declared.keys()].filter((n) => !documented.has(n));
  assert.deepEqual(missing, [], 'functions of duro.h missing from the reference');
  const unknown = [...documented.keys()].filter((n) => !declared.has(n));
  assert.deepEqual(unknown, [], 'functions in the reference that duro.h does not declare');
  for (const [name, proto] of declared)
    assert.equal(documented.get(name), proto, `the reference's prototype of ${name}`);
  // Each function also gets a heading of its own.
  for (const name of declared.keys())
    assert.match(reference, new RegExp(`^#### \`${name}\``, 'm'), `a heading for ${name}`);
});

test('every handler of duro_class_t is described', () => {
  const body = /typedef struct duro_class \{([\s\S]*?)\} duro_class_t;/.exec(clean(header))[1];
  const fields = [...body.matchAll(/\(\*(\w+)\)|(\w+);/g)].map((m) => m[1] || m[2]);
  assert.ok(fields.includes('ws_error') && fields.includes('teardown'));
  for (const f of fields)
    assert.match(doc, new RegExp(`\\| \`${f}\` \\|`), `a table row for duro_class_t.${f}`);
  assert.match(doc, new RegExp(`DURO_ABI_VERSION\\b`));
});

test('the tutorial class builds from the document and runs in duro', async () => {
  const blocks = codeBlocks(doc);
  const source = blocks.find((b) => b.startsWith('// hello.c'));
  assert.ok(source, 'the tutorial has a code block starting with // hello.c');
  const config = [...doc.matchAll(/```jsonc\n([\s\S]*?)```/g)].map((m) => m[1])
    .find((b) => b.startsWith('// duro.jsonc'));
  assert.ok(config, 'the tutorial has a duro.jsonc block');
  const dir = mkdtempSync(path.join(tmpdir(), 'duro-test-'));
  writeFileSync(path.join(dir, 'hello.c'), source);
  // The tutorial's command line, with the in-tree header for pkg-config's.
  execFileSync('cc', ['-I', path.join(REPO, 'include'), '-std=c11', '-Wall', '-Wextra',
    '-Werror', '-shared', '-fPIC', '-o', path.join(dir, 'libhello.so'), path.join(dir, 'hello.c')]);
  const duro = await startDuro({ dir, config });
  try {
    let res = await fetch(`${duro.url}/_objects/HELLO/world/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello from world, visit 1\n');
    res = await fetch(`${duro.url}/_objects/HELLO/world/`);
    assert.equal(await res.text(), 'Hello from world, visit 2\n');
  } finally {
    await duro.stop();
    duro.cleanup();
  }
});
