// Direct writes (src/image/direct-sink.ts): the image writer thread writes blocks through an
// O_DIRECT descriptor. The file must hold exactly the bytes a buffered write produces (v1
// readers read them), whatever the sizes, and a failing direct write must fail the image the
// way a failing buffered write does.
import test from 'ava';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { getNativeCodec, type BlockCodec } from '../../src/codec/index.js';
import { DIRECT_CHUNK } from '../../src/image/direct-sink.js';
import type { SectionInput } from '../../src/image/sections.js';
import { DIRECT_MIN_BYTES } from '../../src/image/writer.js';
import { KiB, MiB, assertSectionsEqual, header, makeWriter, newKey, noise, region, smallInputs, smoothBytes, tempRoot, withReader, writeTo } from './helpers.js';

const tmp = tempRoot('direct');
test.after.always(() => tmp.cleanup());

const native = getNativeCodec();
if (!native) throw new Error('the native addon must load for these tests');
const codec: BlockCodec = native;
const key = newKey();

test('Direct writes produce the same bytes as buffered writes: tiny, unaligned, several staging buffers, incremental.', async (t) => {
  const dir = tmp.dir();
  const big = noise(2 * DIRECT_CHUNK + 3 * MiB + 123 * 8, 5); // raw blocks: more than two staging buffers, an unaligned end
  const cases: [string, SectionInput[]][] = [
    ['no sections', []],
    ['a small image (all of it the unaligned tail)', smallInputs(2)],
    ['a smooth field of 9 MiB', [region('grid', 'Float64Array', smoothBytes(9 * MiB + 8 * 5, 3))]],
    ['noise over two staging buffers', [region('noise', 'Float64Array', big)]],
  ];
  for (const [i, [what, inputs]] of cases.entries()) {
    const buffered = path.join(dir, `${i}-buffered.crimg`);
    const direct = path.join(dir, `${i}-direct.crimg`);
    const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 3 });
    await writeTo(buffered, writer, inputs, false);
    const written = await writeTo(direct, writer, inputs, true);
    const a = fs.readFileSync(buffered);
    const b = fs.readFileSync(direct);
    t.is(b.length, written.bytes, what);
    t.true(a.equals(b), `${what}: the files differ`);
    withReader(direct, codec, key, (r) => {
      r.verifyFull();
      assertSectionsEqual(t, r, inputs, what);
    });
  }
  // An incremental image: its changed blocks are a few runs, the rest shared.
  const writer = makeWriter({ codec, key, blockSize: 64 * KiB, batchBlocks: 4 });
  const first = path.join(dir, 'inc-1.crimg');
  const base = await writeTo(first, writer, [region('noise', 'Float64Array', big)], true);
  const changed = big.slice();
  for (let b = 0; b < changed.length; b += 7 * 64 * KiB) changed[b]! ^= 1;
  const outputs: Buffer[] = [];
  for (const direct of [false, true]) {
    const file = path.join(dir, `inc-2-${direct}.crimg`);
    await writeTo(file, writer, [region('noise', 'Float64Array', changed)], direct, { manifest: base.manifest }, 2);
    outputs.push(fs.readFileSync(file));
  }
  t.true(outputs[0]!.equals(outputs[1]!), 'incremental: the files differ');
  t.true(outputs[1]!.length < big.length / 4, 'the incremental image shares most blocks');
});

/** Makes every write through a descriptor opened with O_DIRECT fail as `fail(call)` says, while installed. */
function injectDirectFailure(fail: (call: number) => NodeJS.ErrnoException | null): () => void {
  const open = fsp.open;
  const direct = new WeakSet<FileHandle>();
  let calls = 0;
  let proto: { write: (...a: unknown[]) => Promise<unknown> } | null = null;
  let saved: ((...a: unknown[]) => Promise<unknown>) | null = null;
  fsp.open = (async (file: fs.PathLike, flags?: string | number, mode?: number) => {
    const handle = await open(file, flags, mode);
    if (typeof flags === 'number' && (flags & fs.constants.O_DIRECT) !== 0) {
      direct.add(handle);
      if (!proto) {
        proto = Object.getPrototypeOf(handle) as { write: (...a: unknown[]) => Promise<unknown> };
        saved = proto.write;
        proto.write = function (this: FileHandle, ...args: unknown[]): Promise<unknown> {
          if (direct.has(this)) {
            const err = fail(++calls);
            if (err) return Promise.reject(err);
          }
          return saved!.apply(this, args);
        };
      }
    }
    return handle;
  }) as typeof fsp.open;
  return () => {
    fsp.open = open;
    if (proto && saved) proto.write = saved;
  };
}

test.serial('A direct write that fails (ENOSPC) fails the image with that error; the same writer then writes a good image.', async (t) => {
  const dir = tmp.dir();
  const inputs = [region('noise', 'Float64Array', noise(3 * DIRECT_CHUNK, 9))];
  const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 4 });
  const uninstall = injectDirectFailure((call) => (call === 2 ? Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' }) : null));
  try {
    const err = await t.throwsAsync(writeTo(path.join(dir, 'full.crimg'), writer, inputs, true));
    t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    uninstall();
  }
  const file = path.join(dir, 'after.crimg');
  await writeTo(file, writer, inputs, true);
  withReader(file, codec, key, (r) => {
    r.verifyFull();
    assertSectionsEqual(t, r, inputs);
  });
});

test.serial('Where O_DIRECT is refused (EINVAL), the writer writes the same image buffered.', async (t) => {
  const dir = tmp.dir();
  const inputs = [region('grid', 'Float64Array', smoothBytes(3 * MiB, 4))];
  const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 2 });
  const reference = path.join(dir, 'ref.crimg');
  await writeTo(reference, writer, inputs, false);
  const open = fsp.open;
  let refused = 0;
  fsp.open = (async (file: fs.PathLike, flags?: string | number, mode?: number) => {
    if (typeof flags === 'number' && (flags & fs.constants.O_DIRECT) !== 0) {
      refused++;
      throw Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL', errno: -22, syscall: 'open' });
    }
    return open(file, flags, mode);
  }) as typeof fsp.open;
  const file = path.join(dir, 'fallback.crimg');
  try {
    await writeTo(file, writer, inputs, true);
  } finally {
    fsp.open = open;
  }
  t.is(refused, 1);
  t.true(fs.readFileSync(file).equals(fs.readFileSync(reference)));
});

test.serial('An image with less than DIRECT_MIN_BYTES to write is written buffered, without opening the file for direct writes.', async (t) => {
  const dir = tmp.dir();
  const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 2 });
  const open = fsp.open;
  let directOpens = 0;
  fsp.open = (async (file: fs.PathLike, flags?: string | number, mode?: number) => {
    if (typeof flags === 'number' && (flags & fs.constants.O_DIRECT) !== 0) directOpens++;
    return open(file, flags, mode);
  }) as typeof fsp.open;
  try {
    for (const [bytes, opens] of [[DIRECT_MIN_BYTES - MiB, 0], [DIRECT_MIN_BYTES, 1]] as const) {
      const file = path.join(dir, `${bytes}.crimg`);
      const handle = await open(file, 'wx', 0o600);
      try {
        await writer.write(handle, header(), [region('noise', 'Float64Array', noise(bytes, 3))], null, { path: file });
      } finally {
        await handle.close();
      }
      t.is(directOpens, opens, `${bytes} bytes`);
      withReader(file, codec, key, (r) => r.verifyFull());
    }
  } finally {
    fsp.open = open;
  }
});
