import test from 'ava';
import { loadNative } from '../../src/native/binding.js';
import { getCodec, getNativeCodec, nativeUnavailableReason } from '../../src/codec/index.js';
import type { BlockCodec } from '../../src/codec/index.js';
import { randomBytes } from './helpers.js';
import { registerCodecSuite } from './suite.js';

const { binding, reason } = loadNative();
const skipReason = binding ? null : `native addon unavailable: ${reason ?? 'no reason given'}`;
const it = binding ? test : test.skip;

async function native(): Promise<BlockCodec> {
  const codec = getNativeCodec();
  if (!codec) throw new Error(`native codec unavailable: ${nativeUnavailableReason()}`);
  return codec;
}

registerCodecSuite('native', native, skipReason);

test('nativeUnavailableReason agrees with getNativeCodec.', async (t) => {
  const codec = getNativeCodec();
  const why = nativeUnavailableReason();
  if (codec) {
    t.is(why, null);
    t.is(await getCodec(), codec);
    t.is(codec.name, 'native');
  } else {
    t.is(typeof why, 'string');
    t.is((await getCodec()).name, 'portable');
  }
});

it('The native encoder refuses a second encode while one is in flight.', async (t) => {
  const codec = await native();
  const encoder = codec.createEncoder(64 * 1024, 8);
  const data = randomBytes(8 * 64 * 1024, 21);
  const first = encoder.encode(data, 8, 3, 'xxh3');
  await t.throwsAsync(encoder.encode(data, 8, 3, 'xxh3'), { message: /previous encode/ });
  const batch = await first;
  t.is(batch.count, 8);
  // Usable again once the first call settled.
  t.is((await encoder.encode(data, 8, 3, 'xxh3')).count, 8);
});
