// `cr-scheduler init [DIR] [--ts]`: a new project that depends on cr — a package.json, a small
// job (JavaScript, or TypeScript with a tsconfig) and a .gitignore for the store unless there is
// one. Nothing is overwritten: a directory that already holds one of the other files is refused
// before any is written.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { PACKAGE_NAME, VERSION } from '../../src/internal.js';
import { UsageError } from '../output.js';

/** This package's root: from dist/scheduler/commands/ up to package.json. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface InitFlags {
  ts?: boolean;
  package?: string;
}

export function initCommand(): Command {
  return new Command('init')
    .description(`start a project that depends on cr: package.json, a small job and .gitignore in DIR`)
    .argument('[dir]', 'the project directory (created when missing)', '.')
    .option('--ts', 'write the job in TypeScript, with a tsconfig.json')
    .addOption(
      new Option('--package <spec>', `how the project depends on ${PACKAGE_NAME}: an npm version range, a tarball, a git URL or file:DIR (default: file: of this checkout when run from one, else ^${VERSION})`).env('CR_PACKAGE'),
    )
    .addHelpText('after', `\nThen: cd DIR && npm install && npx cr-scheduler run job.mjs (job.ts with --ts).`)
    .action((dir: string, flags: InitFlags) => {
      const target = path.resolve(dir);
      const { spec, note } = dependencySpec(flags.package);
      const files = projectFiles(target, spec, flags.ts === true);
      // An existing .gitignore (a fresh git repository) is kept as it is; any other file refuses.
      if (fs.existsSync(path.join(target, '.gitignore'))) delete files['.gitignore'];
      const present = Object.keys(files).filter((name) => fs.existsSync(path.join(target, name)));
      if (present.length > 0) {
        throw new UsageError(`${target} already has ${present.join(', ')}: nothing was written (choose a new directory, or add "${PACKAGE_NAME}": "${spec}" to your package.json's dependencies)`);
      }
      fs.mkdirSync(target, { recursive: true });
      // 'wx': a file that appeared since the check above is not overwritten.
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(target, name), text, { flag: 'wx' });
      const job = flags.ts ? 'job.ts' : 'job.mjs';
      // Said the way the user gave it: an absolute DIR stays absolute (no ../../.. from here).
      const cd = path.isAbsolute(dir) ? target : path.relative(process.cwd(), target);
      process.stdout.write(
        `wrote ${Object.keys(files).join(', ')} in ${target}${note ? `\n${note}` : ''}\nnext:\n` +
          (cd ? `  cd ${shellWord(cd)}\n` : '') +
          `  npm install\n  npx cr-scheduler run ${job} --args '{"samples": 20000000}'\n`,
      );
    });
}

/** A path as one word for a POSIX shell. */
function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The dependency on cr: the flag's, else this checkout's path, else the version range. */
function dependencySpec(given: string | undefined): { spec: string; note: string | null } {
  if (given !== undefined) {
    if (given.trim() === '') throw new UsageError('--package must not be empty: give a version range, a tarball, a git URL or file:DIR');
    return { spec: given, note: null };
  }
  const checkout = !PACKAGE_ROOT.split(path.sep).includes('node_modules');
  if (checkout) return { spec: `file:${PACKAGE_ROOT.replace(/\/$/, '')}`, note: null };
  return {
    spec: `^${VERSION}`,
    note: `note: the dependency is ${PACKAGE_NAME}@^${VERSION} from the npm registry; if you installed cr from a tarball or a git URL, give that with --package`,
  };
}

function projectFiles(dir: string, spec: string, ts: boolean): Record<string, string> {
  const job = ts ? 'job.ts' : 'job.mjs';
  const pkg = {
    name: projectName(dir),
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: { start: `cr-scheduler run ${job}`, ...(ts ? { check: 'tsc --noEmit' } : {}) },
    dependencies: { [PACKAGE_NAME]: spec },
    ...(ts ? { devDependencies: { typescript: '^5.9.0', '@types/node': '^20.19.0' } } : {}),
  };
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(pkg, null, 2)}\n`,
    [job]: ts ? TS_JOB : JS_JOB,
    '.gitignore': 'node_modules/\n.cr/\n.cr-scheduler/\n',
  };
  if (ts) files['tsconfig.json'] = `${JSON.stringify(TSCONFIG, null, 2)}\n`;
  return files;
}

/** The directory's name as an npm package name (lower case, URL-safe), else "cr-job". */
function projectName(dir: string): string {
  const name = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 200);
  return name || 'cr-job';
}

const TSCONFIG = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: true },
  include: ['*.ts'],
};

const JOB_BODY = `  const s = cr.state('pi', { done: 0, inside: 0 });
  const rng = cr.rng(1);
  while (s.done < samples) {
    const batch = Math.min(1_000_000, samples - s.done);
    for (let i = 0; i < batch; i++) {
      const x = rng.random();
      const y = rng.random();
      if (x * x + y * y <= 1) s.inside++;
    }
    s.done += batch; // the state is consistent before the safe point
    cr.progress(s.done / samples);
    await cr.checkpoint(); // cheap unless a checkpoint is due
  }
  return { pi: (4 * s.inside) / s.done, samples: s.done };
`;

const HEADER = `// A cr job: estimates π from random points. Its state and random stream are checkpointed at
// each \`await cr.checkpoint()\`; stopped (Ctrl-C) or killed, the same command resumes it.
`;

const JS_JOB = `${HEADER}/**
 * @param {import('${PACKAGE_NAME}').Cr} cr
 * @param {{ samples?: number }} args
 */
export default async function estimatePi(cr, { samples = 200_000_000 } = {}) {
${JOB_BODY}}
`;

const TS_JOB = `${HEADER}import type { Job } from '${PACKAGE_NAME}';

interface Args {
  samples?: number;
}

const estimatePi: Job<Args, { pi: number; samples: number }> = async (cr, { samples = 200_000_000 }) => {
${JOB_BODY}};

export default estimatePi;
`;
