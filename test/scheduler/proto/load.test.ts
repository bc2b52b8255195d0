// The loader's fast path for image chunks writes exactly the bytes protobufjs (through
// proto-loader) would, so that either side may use either encoder.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';
import { bytesMessage, LOADER_OPTIONS } from '../../../scheduler/proto/load.js';

const PROTO = fileURLToPath(new URL('../../../../scheduler/proto/cr.proto', import.meta.url));

test('A chunk message encodes byte for byte as protobufjs encodes it, at every length class of its varint.', (t) => {
  const definition = protoLoader.loadSync(PROTO, LOADER_OPTIONS);
  const upload = definition['cr.v1.UploadImageMessage'] as protoLoader.MessageTypeDefinition<object, object>;
  const chunk = definition['cr.v1.ImageChunk'] as protoLoader.MessageTypeDefinition<object, object>;
  for (const n of [0, 1, 127, 128, 16_383, 16_384, 1 << 20, (1 << 21) + 3]) {
    const data = Buffer.alloc(n, n % 251);
    t.true(bytesMessage(2, data).equals(upload.serialize({ chunk: data })), `chunk of ${n} bytes`);
    t.true(bytesMessage(1, data).equals(chunk.serialize({ data })), `data of ${n} bytes`);
    const back = upload.deserialize(bytesMessage(2, data)) as { chunk: Buffer; part: string };
    t.is(back.part, 'chunk');
    t.true(Buffer.from(back.chunk).equals(data));
  }
});
