// Code packs: the form a job's code takes when it names member modules by URL.
import test from 'ava';
import { decodePack, encodePack, isPack, JOB_MODULE } from '../../scheduler/code-pack.js';

const files = [
  { name: JOB_MODULE, bytes: Buffer.from('export default async () => 1;\n') },
  { name: 'member.mjs', bytes: Buffer.from('export default async (cr) => cr.rank;\n') },
  { name: 'empty.mjs', bytes: Buffer.alloc(0) },
];

test('a pack decodes to the files it was made of, in order', (t) => {
  const pack = encodePack(files);
  t.true(isPack(pack));
  t.deepEqual(decodePack(pack).map((f) => [f.name, f.bytes.toString()]), files.map((f) => [f.name, f.bytes.toString()]));
});

test('a plain module is not a pack', (t) => {
  t.false(isPack(Buffer.from('// cr-code-pack 1 []\nexport default 1;\n')));
  t.false(isPack(Buffer.from('export default async () => 1;\n')));
});

test('a damaged pack is refused with a message saying how', (t) => {
  const pack = encodePack(files);
  t.throws(() => decodePack(pack.subarray(0, pack.length - 3)), { message: /damaged code pack: member\.mjs is cut short|damaged code pack: empty\.mjs is cut short/ });
  t.throws(() => decodePack(Buffer.concat([pack, Buffer.from('x')])), { message: 'damaged code pack: bytes after the last file' });
  t.throws(() => decodePack(Buffer.from('//cr-code-pack 1 {oops\n')), { message: 'damaged code pack: the manifest is not JSON' });
  t.throws(() => decodePack(Buffer.from('//cr-code-pack 1 [{"name":"job.mjs","bytes":0},{"name":"../x.mjs","bytes":0}]\n')), { message: /not a file name for a code pack: "\.\.\/x\.mjs"/ });
  t.throws(() => decodePack(Buffer.from('//cr-code-pack 1 [{"name":"job.mjs","bytes":0},{"name":"job.mjs","bytes":0}]\n')), { message: 'damaged code pack: job.mjs is listed twice' });
  t.throws(() => decodePack(Buffer.from('//cr-code-pack 1 [{"name":"other.mjs","bytes":0}]\n')), { message: 'damaged code pack: the first file is not job.mjs' });
});

test('a pack is made with the job module first and file names of one path segment', (t) => {
  t.throws(() => encodePack([]), { instanceOf: RangeError });
  t.throws(() => encodePack([files[1]!]), { instanceOf: RangeError, message: /first file of a code pack is job\.mjs/ });
  t.throws(() => encodePack([files[0]!, { name: 'sub/member.mjs', bytes: Buffer.alloc(0) }]), { message: /not a file name/ });
});
