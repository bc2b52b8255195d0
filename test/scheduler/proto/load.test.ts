// The loader's fast path for image chunks writes exactly the bytes protobufjs (through
// proto-loader) would, so that either side may use either encoder; a chunk encoded in place in
// the buffer it was read into goes to grpc-js as it is.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';
import { BYTES_FIELD_HEAD, bytesMessage, Encoded, encodeBytesField, LOADER_OPTIONS, schedulerService } from '../../../scheduler/proto/load.js';

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

test('A chunk encoded in place before its data is the same message, and the service passes it to grpc-js without a copy.', (t) => {
  const service = schedulerService();
  for (const n of [0, 1, 127, 128, 16_383, 16_384, 1 << 20, (1 << 21) + 3]) {
    const data = Buffer.alloc(n, (n % 13) + 1);
    const buffer = Buffer.alloc(BYTES_FIELD_HEAD + n, 0xee);
    data.copy(buffer, BYTES_FIELD_HEAD);
    const upload = encodeBytesField(2, buffer, BYTES_FIELD_HEAD, n);
    t.true(upload.equals(bytesMessage(2, data)), `chunk of ${n} bytes`);
    t.is(upload.buffer, buffer.buffer, 'a view of the buffer, not a copy');
    const sent = service.UploadImage!.requestSerialize(new Encoded(upload));
    t.is(sent, upload, 'the serializer hands the encoded message over as it is');
    const download = encodeBytesField(1, Buffer.from(buffer), BYTES_FIELD_HEAD, n);
    t.true(download.equals(bytesMessage(1, data)), `data of ${n} bytes`);
    t.is(service.DownloadImage!.responseSerialize(new Encoded(download)), download);
  }
  t.throws(() => encodeBytesField(2, Buffer.alloc(10), 1, 8), { instanceOf: RangeError, message: /needs 2 bytes before the data, start is 1/ });
  t.throws(() => encodeBytesField(2, Buffer.alloc(10), 2, 9), { instanceOf: RangeError, message: /9 bytes from 2 pass the end of a 10-byte buffer/ });
});
