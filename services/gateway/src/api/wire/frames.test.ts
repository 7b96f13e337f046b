import fc from 'fast-check';
import { decodeFrame, OPS, validateFrame, base64DecodedBytes, type DecodedFrame } from './frames.js';

const SEED = 42;
const ERROR_CODES = new Set(['bad_request']);

function expectBad(f: DecodedFrame, field?: string): void {
  expect(f.kind).toBe('error');
  if (f.kind !== 'error') return;
  expect(f.code).toBe('bad_request');
  if (field !== undefined) expect(f.field).toBe(field);
}

describe('decodeFrame', () => {
  it('accepts a valid request and keeps the id', () => {
    const f = decodeFrame(JSON.stringify({ id: '17', op: 'message.send', data: { chatId: 'c1', clientMsgId: 'abcdefgh', body: { text: 'hi' } } }));
    expect(f).toEqual({ kind: 'request', id: '17', op: 'message.send', data: { chatId: 'c1', clientMsgId: 'abcdefgh', body: { text: 'hi' } } });
  });

  it('treats a missing data as {} and a missing id as null', () => {
    expect(decodeFrame('{"op":"ping"}')).toEqual({ kind: 'request', id: null, op: 'ping', data: {} });
  });

  it('refuses invalid JSON, non-objects, unknown ops and bad ids', () => {
    expectBad(decodeFrame('{nope'));
    expectBad(decodeFrame('[1,2]'));
    expectBad(decodeFrame('"x"'));
    expectBad(decodeFrame('null'));
    const unknown = decodeFrame('{"id":"1","op":"message.explode","data":{}}');
    expectBad(unknown, 'op');
    expect(unknown.id).toBe('1');
    expectBad(decodeFrame('{"id":"1","data":{}}'), 'op');
    const longId = decodeFrame(JSON.stringify({ id: 'x'.repeat(65), op: 'ping', data: {} }));
    expectBad(longId, 'id');
    expect(longId.id).toBeNull();
    expectBad(decodeFrame('{"id":"","op":"ping"}'), 'id');
    expectBad(decodeFrame('{"id":5,"op":"ping"}'), 'id');
    expectBad(decodeFrame('{"id":"1","op":"ping","data":[]}'), 'data');
  });

  it('names the missing or mistyped field', () => {
    expectBad(decodeFrame('{"id":"1","op":"chat.get","data":{}}'), 'data.chatId');
    expectBad(decodeFrame('{"id":"1","op":"chat.get","data":{"chatId":7}}'), 'data.chatId');
    expectBad(decodeFrame('{"id":"1","op":"message.ack","data":{"items":[{"chatId":"c","seq":0}]}}'), 'data.items[0].seq');
    expectBad(decodeFrame('{"id":"1","op":"typing","data":{"chatId":"c","state":"dancing"}}'), 'data.state');
    expectBad(decodeFrame('{"id":"1","op":"chat.create","data":{"userId":"u"}}'), 'data.type');
    expectBad(decodeFrame('{"id":"1","op":"chat.create","data":{"type":"circle"}}'), 'data.type');
    expectBad(decodeFrame('{"id":"1","op":"chat.create","data":{"type":"group","members":[]}}'), 'data.name');
    expectBad(decodeFrame('{"id":"1","op":"message.history","data":{"chatId":"c","limit":101}}'), 'data.limit');
    expectBad(decodeFrame('{"id":"1","op":"message.send","data":{"chatId":"c","clientMsgId":"short","body":{"text":"x"}}}'), 'data.clientMsgId');
  });

  it('enforces the body rules of message.send', () => {
    const send = (body: unknown, attachments?: unknown) =>
      decodeFrame(JSON.stringify({ id: '1', op: 'message.send', data: { chatId: 'c', clientMsgId: 'abcdefgh', body, ...(attachments ? { attachments } : {}) } }));
    expectBad(send({}), 'data.body');
    expectBad(send({ text: 'a', ciphertext: 'AAAA' }), 'data.body');
    expectBad(send({ text: '' }), 'data.body.text');
    expect(send({ text: 'é'.repeat(8192) }).kind).toBe('request'); // 16 384 bytes
    expectBad(send({ text: 'é'.repeat(8193) }), 'data.body.text');
    expect(send({ ciphertext: Buffer.alloc(65536).toString('base64') }).kind).toBe('request');
    expectBad(send({ ciphertext: Buffer.alloc(65537).toString('base64') }), 'data.body.ciphertext');
    expectBad(send({ ciphertext: 'not base64!' }), 'data.body.ciphertext');
    expect(send({}, ['m1']).kind).toBe('request');
    expectBad(send({}, Array.from({ length: 11 }, (_, i) => `m${i}`)), 'data.attachments');
    expectBad(send({ text: 'a', ciphertext: 'AAAA' }, ['m1']), 'data.body');
  });

  it('ignores unknown fields', () => {
    const f = decodeFrame('{"id":"1","op":"chat.get","data":{"chatId":"c","userId":"someone-else"},"extra":1}');
    expect(f.kind).toBe('request');
  });

  it('base64DecodedBytes', () => {
    expect(base64DecodedBytes('')).toBe(0);
    expect(base64DecodedBytes('AA==')).toBe(1);
    expect(base64DecodedBytes('AAA=')).toBe(2);
    expect(base64DecodedBytes('AAAA')).toBe(3);
    expect(base64DecodedBytes('AAA')).toBe(-1);
    expect(base64DecodedBytes('A===')).toBe(-1);
  });
});

describe('decodeFrame (property)', () => {
  const check = (f: DecodedFrame): void => {
    if (f.kind === 'error') {
      expect(ERROR_CODES.has(f.code)).toBe(true);
      expect(typeof f.message).toBe('string');
      expect(f.id === null || (typeof f.id === 'string' && f.id.length >= 1 && f.id.length <= 64)).toBe(true);
    } else {
      expect(Object.prototype.hasOwnProperty.call(OPS, f.op)).toBe(true);
      expect(typeof f.data).toBe('object');
      expect(f.id === null || (typeof f.id === 'string' && f.id.length >= 1 && f.id.length <= 64)).toBe(true);
      // A valid request re-validates to itself.
      expect(validateFrame({ id: f.id, op: f.op, data: f.data })).toEqual(f);
    }
  };

  it('arbitrary strings never throw and yield an error or a valid request', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => check(decodeFrame(s))),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('arbitrary JSON values never throw', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => check(decodeFrame(JSON.stringify(v)))), { seed: SEED, numRuns: 3000 });
  });

  const opArb = fc.constantFrom(...Object.keys(OPS), 'nope', '', 'message', 'chat.create ');
  const leaf = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('direct', 'group', 'admin', 'member', 'typing', 'paused', 'fcm', 'everyone', 'AAAA', 'abcdefghij'),
  );
  const fieldNames = fc.constantFrom('chatId', 'userId', 'userIds', 'clientMsgId', 'body', 'text', 'ciphertext', 'items', 'seq', 'type', 'name', 'members', 'role', 'state', 'limit', 'beforeSeq', 'afterSeq', 'platform', 'token', 'lastSeen', 'readReceipts', 'attachments', 'replyTo', '__proto__', 'constructor');
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(fieldNames, tie('tree'), { maxKeys: 5 })),
  }));

  it('structured, mutated frames never throw and yield an error or a valid request', () => {
    fc.assert(
      fc.property(
        fc.record({ id: fc.option(fc.oneof(fc.string({ maxLength: 70 }), fc.integer()), { nil: undefined }), op: opArb, data: fc.option(tree, { nil: undefined }) }, { requiredKeys: [] }),
        (frame) => check(decodeFrame(JSON.stringify(frame))),
      ),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('mutating one byte of a valid frame never throws', () => {
    const valid = JSON.stringify({ id: '9', op: 'message.send', data: { chatId: 'c1', clientMsgId: 'abcdefgh', body: { text: 'hello' }, replyTo: 3 } });
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 0xffff }), (pos, code) => {
        check(decodeFrame(valid.slice(0, pos) + String.fromCharCode(code) + valid.slice(pos + 1)));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});
