// The import rules of docs/architecture.md, read from the source tree: arrows point one way,
// scheduler/ → src/ → native/; the scheduler reaches the library only through its public index
// and its internal entry (src/internal.ts); nothing in src/ or examples/ knows the scheduler or
// gRPC; each addon is loaded by one file.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/layout.test.js → the repository's root, where the sources are.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The source files under `dir` (relative to ROOT), generated code left out. */
function sources(dir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'generated' && entry.name !== 'node_modules') walk(child);
      } else if (/\.(ts|mts|js|mjs|cjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        found.push(child);
      }
    }
  };
  walk(dir);
  return found;
}

/** Every module a file names in an import or export (static or dynamic with a string). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const pattern = /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(pattern)) found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

/** Where a relative specifier of `file` points, relative to ROOT (with a .ts file for a .js name); null for packages. */
function target(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  return path.normalize(path.join(path.dirname(file), specifier)).replace(/\.js$/, '.ts');
}

test('The scanner finds static, type-only, multi-line, re-export and dynamic imports.', (t) => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b.js';",
    'import {\n  c,\n  d,\n} from "./c.js";',
    "export { e } from './e.js';",
    "const f = await import('./f.js');",
    "import './g.js';",
  ].join('\n');
  t.deepEqual(specifiers(text), ['./a.js', '../b.js', './c.js', './e.js', './f.js', './g.js']);
});

test('scheduler/ imports from src/ only the public index and the internal entry (src/internal.ts).', (t) => {
  const allowed = new Set([path.join('src', 'index.ts'), path.join('src', 'internal.ts')]);
  const wrong: string[] = [];
  let seen = 0;
  for (const file of sources('scheduler')) {
    for (const specifier of specifiers(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const to = target(file, specifier);
      if (to === null || !to.startsWith(`src${path.sep}`)) continue;
      seen++;
      if (!allowed.has(to)) wrong.push(`${file} imports ${specifier}`);
    }
  }
  t.true(seen > 0, 'the scheduler imports the library somewhere');
  t.deepEqual(wrong, [], 'add what the scheduler needs to src/internal.ts, or move code only the scheduler uses to scheduler/');
});

test('Everything src/internal.ts lists is used by the scheduler: the face stays no larger than its use.', (t) => {
  const listed = [...fs.readFileSync(path.join(ROOT, 'src', 'internal.ts'), 'utf8').matchAll(/^export (?:type )?\{([^}]*)\}/gm)].flatMap((m) =>
    m[1]!.split(',').map((name) => name.trim().replace(/^type /, '')).filter(Boolean),
  );
  t.true(listed.length > 0);
  const scheduler = sources('scheduler').map((file) => fs.readFileSync(path.join(ROOT, file), 'utf8')).join('\n');
  t.deepEqual(listed.filter((name) => !new RegExp(`\\b${name}\\b`).test(scheduler)), []);
});

test('Nothing in src/ or examples/ imports scheduler/ or gRPC.', (t) => {
  const wrong: string[] = [];
  for (const file of [...sources('src'), ...sources('examples')]) {
    for (const specifier of specifiers(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const to = target(file, specifier);
      if ((to !== null && to.startsWith(`scheduler${path.sep}`)) || specifier.startsWith('@grpc/')) wrong.push(`${file} imports ${specifier}`);
    }
  }
  t.deepEqual(wrong, []);
});

test('Each addon is named by one file: cr_native by src/native/binding.ts, cr_exec by scheduler/exec.ts.', (t) => {
  const namers = (addon: string): string[] =>
    [...sources('src'), ...sources('scheduler'), ...sources('examples')].filter((file) => fs.readFileSync(path.join(ROOT, file), 'utf8').includes(`${addon}.node`));
  t.deepEqual(namers('cr_native'), [path.join('src', 'native', 'binding.ts')]);
  t.deepEqual(namers('cr_exec'), [path.join('scheduler', 'exec.ts')]);
});
