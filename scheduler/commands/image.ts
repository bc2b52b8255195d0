// `cr-scheduler image inspect|verify FILE`: what an image holds, and whether it is intact.
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { getCodec, ImageReader, readKeyFile, STORE_KEY_FILE } from '../../src/internal.js';
import { formatBytes, oneLine, table, toJson, UsageError } from '../output.js';
import { parsePath } from '../options.js';

interface ImageFlags {
  keyFile?: string;
  json?: boolean;
}

/** The key for an image: --key-file, else the key of the store the image sits in (<store>/<job>/<n>.crimg). */
function findKey(file: string, keyFile: string | undefined): { key: Buffer; from: string } | null {
  if (keyFile) return { key: readKeyFile(keyFile), from: keyFile };
  const storeKey = path.join(path.dirname(path.dirname(path.resolve(file))), STORE_KEY_FILE);
  if (fs.existsSync(storeKey)) return { key: readKeyFile(storeKey), from: storeKey };
  return null;
}

function checkFile(file: string): void {
  if (!fs.existsSync(file)) throw new UsageError(`no file at ${file}`);
  if (!fs.statSync(file).isFile()) throw new UsageError(`${file} is not a file`);
}

export function imageCommand(): Command {
  const image = new Command('image').description('inspect and verify checkpoint images');
  image
    .command('inspect')
    .description('show what an image holds: header, manifest, sections, sizes and compression ratio')
    .argument('<file>', 'an image file (.crimg)')
    .addOption(new Option('--key-file <file>', "the image key (default: the key of the image's store)").env('CR_KEY_FILE').argParser(parsePath('--key-file')))
    .option('--json', 'print the manifest and sizes as JSON')
    .action(async (file: string, flags: ImageFlags) => {
      checkFile(file);
      const key = findKey(file, flags.keyFile);
      const reader = ImageReader.open(file, { codec: await getCodec(), key: key?.key ?? null });
      try {
        const m = reader.manifest;
        const sections = m.sections.map((s) => {
          const stored = s.blocks.reduce((sum, b) => sum + b[1], 0);
          const shared = s.blocks.reduce((sum, b) => sum + (b.length === 7 ? b[1] : 0), 0);
          return {
            kind: s.kind,
            name: s.name,
            what: s.kind === 'region' ? `${s.type}(${s.length / s.elementSize})` : s.role === 'v8' ? 'value' : `buffer #${s.index}`,
            raw: s.length,
            stored,
            shared,
            blocks: s.blocks.length,
          };
        });
        const raw = sections.reduce((a, s) => a + s.raw, 0);
        const stored = sections.reduce((a, s) => a + s.stored, 0);
        const shared = sections.reduce((a, s) => a + s.shared, 0);
        if (flags.json) {
          const { sections: _omit, ...header } = m;
          process.stdout.write(
            `${toJson({ file, bytes: reader.size, authenticated: reader.authenticated, manifest: header, sections, rawBytes: raw, storedBytes: stored })}\n`,
          );
          return;
        }
        const lines = [
          `image      ${m.id}`,
          `file       ${file} (${formatBytes(reader.size)})`,
          `format     version ${m.format}, zstd level ${m.level}, blocks of ${formatBytes(m.blockSize)}`,
          `job        ${m.job}, sequence ${m.sequence}, attempt ${m.attempt}`,
          `taken      ${m.createdAt}`,
          `writer     ${m.writer}`,
          `kind       ${
            m.parent === null
              ? 'full image'
              : `incremental after ${m.parent}; shares ${formatBytes(shared)} of stored blocks with image${m.bases.length === 1 ? '' : 's'} ${m.bases.join(', ')}`
          }`,
          `tag        ${key ? `verified with ${key.from}` : 'NOT checked: no key found (give --key-file)'}`,
          '',
          table(
            ['kind', 'name', 'holds', 'raw', 'stored', 'ratio', 'blocks', 'shared'],
            sections.map((s) => [s.kind, s.name, s.what, formatBytes(s.raw), formatBytes(s.stored), ratio(s.raw, s.stored), s.blocks, formatBytes(s.shared)]),
          ),
          '',
          `total      ${formatBytes(raw)} of data in ${formatBytes(stored)} of blocks (${ratio(raw, stored)}), ${formatBytes(stored - shared)} of them in this file`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        reader.close();
      }
    });
  image
    .command('verify')
    .description("check images completely: each one's tag, manifest, and every block's hashes after decompression")
    .argument('<file...>', 'image files (.crimg)')
    .addOption(new Option('--key-file <file>', "the image key (default: the key of each image's store)").env('CR_KEY_FILE').argParser(parsePath('--key-file')))
    .option('--json', 'print one JSON object per image, one per line: {file, ok, ...} or {file, ok: false, code, error}')
    .addHelpText('after', '\nExit status: 0 when every image verified, 1 when one is damaged or unreadable, 2 when one is missing or has no key.')
    .action(async (files: string[], flags: ImageFlags) => {
      const codec = await getCodec();
      let status = 0;
      for (const file of files) {
        const outcome = verifyOne(file, flags.keyFile, codec);
        if (outcome.ok) {
          const { id, sections, blocks } = outcome;
          process.stdout.write(
            flags.json
              ? `${JSON.stringify({ file, ok: true, id, sections, blocks })}\n`
              : `OK  ${file}: image ${id}, ${sections} sections, ${blocks} blocks; tag and every hash verified\n`,
          );
          continue;
        }
        // Damage outranks a usage problem in the exit status: it is what a script must not miss.
        status = outcome.usage ? status || 2 : 1;
        if (flags.json) process.stdout.write(`${JSON.stringify({ file, ok: false, code: outcome.code, error: outcome.message })}\n`);
        else process.stderr.write(`cr-scheduler: ${oneLine(outcome.message)}\n`);
      }
      process.exitCode = status;
    });
  return image;
}

type Verified =
  | { ok: true; id: string; sections: number; blocks: number }
  | { ok: false; usage: boolean; code: string | null; message: string };

function verifyOne(file: string, keyFile: string | undefined, codec: Awaited<ReturnType<typeof getCodec>>): Verified {
  try {
    checkFile(file);
    const key = findKey(file, keyFile);
    if (!key) throw new UsageError(`no image key found for ${file}: give the store's key with --key-file`);
    const reader = ImageReader.open(file, { codec, key: key.key });
    try {
      reader.verifyFull();
      const blocks = reader.manifest.sections.reduce((a, s) => a + s.blocks.length, 0);
      return { ok: true, id: reader.manifest.id, sections: reader.manifest.sections.length, blocks };
    } finally {
      reader.close();
    }
  } catch (err) {
    const e = err as Error & { code?: unknown };
    if (err instanceof UsageError) return { ok: false, usage: true, code: 'CR_USAGE', message: e.message };
    return { ok: false, usage: false, code: typeof e.code === 'string' ? e.code : null, message: e.message ?? String(err) };
  }
}

function ratio(raw: number, stored: number): string {
  return stored === 0 ? '-' : `${(raw / stored).toFixed(2)}×`;
}
