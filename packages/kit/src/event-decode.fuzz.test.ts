// Fuzzing the protobuf decoding of every Kafka event type (issue 15; bounded sample, bench/src/fuzz.ts
// runs a million): arbitrary bytes either decode to a message that re-encodes and decodes to the same
// message, or throw an Error, which runConsumer turns into a dead letter. Never anything else, never a hang.
import fc from 'fast-check';
import { fromBinary, toBinary, equals, type DescMessage } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';

const SCHEMAS: [string, DescMessage][] = Object.entries(eventsV1)
  .filter(([name, v]) => name.endsWith('Schema') && (v as DescMessage).kind === 'message')
  .map(([name, v]) => [name, v as DescMessage]);

it('covers every event type of parley.events.v1', () => {
  expect(SCHEMAS.map(([n]) => n)).toEqual(expect.arrayContaining(['ChatMessageEventSchema', 'ReceiptEventSchema', 'SessionEventSchema', 'PushRequestEventSchema', 'GatewayDeliverySchema']));
});

describe.each(SCHEMAS)('%s', (_name, schema) => {
  it('arbitrary bytes decode to a stable message or throw an Error', () => {
    let decoded = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        let msg;
        try {
          msg = fromBinary(schema, bytes);
        } catch (err) {
          // (jest runs tests in another realm than Node's internals: no instanceof across it)
          expect(Object.prototype.toString.call(err)).toBe('[object Error]');
          refused += 1;
          return;
        }
        decoded += 1;
        const again = fromBinary(schema, toBinary(schema, msg));
        expect(equals(schema, again, msg)).toBe(true);
      }),
      { numRuns: 2000, seed: 15 },
    );
    expect(decoded + refused).toBe(2000);
    expect(refused).toBeGreaterThan(0);
  });
});
