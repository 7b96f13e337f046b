// Client frame decoding and validation (protocol.md §3, §4): one TypeBox schema per op,
// compiled once with ajv. Pure: no I/O, never throws on any input.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LIMITS } from './limits.js';
import type { RateClass } from '../../domain/rate-limiter.js';

/** Which token bucket an op draws from (domain/rate-limiter.ts). */
export type { RateClass };

const Ref = Type.String({ minLength: 1, maxLength: LIMITS.refMaxLength });
const Seq = Type.Integer({ minimum: 1, maximum: LIMITS.seqMax });
const Empty = Type.Object({});
const UserIds = (max: number, min = 1) => Type.Array(Ref, { minItems: min, maxItems: max });

const DirectCreate = Type.Object({ type: Type.Literal('direct'), userId: Ref });
const GroupCreate = Type.Object({
  type: Type.Literal('group'),
  name: Type.String({ minLength: 1, maxLength: LIMITS.chatNameMax }),
  members: UserIds(LIMITS.memberUserIdsMax, 0),
});
// An ajv discriminator (not a plain anyOf) so errors name the field of the chosen branch.
const ChatCreate = Type.Unsafe<Static<typeof DirectCreate> | Static<typeof GroupCreate>>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [DirectCreate, GroupCreate],
});

const Body = Type.Object(
  {
    text: Type.Optional(Type.String({ utf8Bytes: [1, LIMITS.textMaxBytes] })),
    ciphertext: Type.Optional(Type.String({ base64MaxBytes: LIMITS.ciphertextMaxBytes })),
  },
  { not: { required: ['text', 'ciphertext'] }, fieldError: 'must contain exactly one of text or ciphertext' },
);
const BodyWithContent = Type.Unsafe({
  properties: {
    body: {
      anyOf: [{ required: ['text'] }, { required: ['ciphertext'] }],
      fieldError: 'must contain exactly one of text or ciphertext (or attachments must be present)',
    },
  },
});
const MessageSend = Type.Intersect(
  [
    Type.Object({
      chatId: Ref,
      clientMsgId: Type.String({ minLength: LIMITS.clientMsgIdMin, maxLength: LIMITS.clientMsgIdMax }),
      body: Body,
      attachments: Type.Optional(Type.Array(Ref, { maxItems: LIMITS.attachmentsMax })),
      replyTo: Type.Optional(Seq),
    }),
  ],
  {
    // No attachments → the body must carry text or ciphertext.
    if: { properties: { attachments: { minItems: 1 } }, required: ['attachments'] },
    else: BodyWithContent,
  },
);

/** The data schema of every op of protocol.md §4 and the rate class it draws from. */
export const OPS = {
  ping: { schema: Empty, rate: 'misc' },
  'chat.create': { schema: ChatCreate, rate: 'mutate' },
  'chat.get': { schema: Type.Object({ chatId: Ref }), rate: 'read' },
  'chat.list': { schema: Empty, rate: 'read' },
  'chat.update': {
    schema: Type.Object({ chatId: Ref, name: Type.String({ minLength: 1, maxLength: LIMITS.chatNameMax }) }),
    rate: 'mutate',
  },
  'chat.members.add': { schema: Type.Object({ chatId: Ref, userIds: UserIds(LIMITS.memberUserIdsMax) }), rate: 'mutate' },
  'chat.members.remove': { schema: Type.Object({ chatId: Ref, userIds: UserIds(LIMITS.memberUserIdsMax) }), rate: 'mutate' },
  'chat.members.role': {
    schema: Type.Object({ chatId: Ref, userId: Ref, role: Type.Union([Type.Literal('admin'), Type.Literal('member')]) }),
    rate: 'mutate',
  },
  'message.send': { schema: MessageSend, rate: 'send' },
  'message.ack': {
    schema: Type.Object({
      items: Type.Array(Type.Object({ chatId: Ref, seq: Seq }), { minItems: 0, maxItems: LIMITS.ackItemsMax }),
    }),
    rate: 'ack',
  },
  'message.read': { schema: Type.Object({ chatId: Ref, seq: Seq }), rate: 'ack' },
  'message.history': {
    schema: Type.Object({
      chatId: Ref,
      beforeSeq: Type.Optional(Seq),
      afterSeq: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.seqMax })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.historyLimitMax })),
    }),
    rate: 'read',
  },
  typing: {
    schema: Type.Object({ chatId: Ref, state: Type.Union([Type.Literal('typing'), Type.Literal('paused')]) }),
    rate: 'typing',
  },
  'presence.subscribe': { schema: Type.Object({ userIds: UserIds(LIMITS.presenceUserIdsMax, 0) }), rate: 'read' },
  'presence.unsubscribe': { schema: Type.Object({ userIds: UserIds(LIMITS.presenceUserIdsMax, 0) }), rate: 'read' },
  'settings.update': {
    schema: Type.Object({
      lastSeen: Type.Optional(Type.Union([Type.Literal('everyone'), Type.Literal('contacts'), Type.Literal('nobody')])),
      readReceipts: Type.Optional(Type.Boolean()),
    }),
    rate: 'mutate',
  },
  'settings.get': { schema: Empty, rate: 'read' },
  'push.register': {
    schema: Type.Object({
      platform: Type.Union([Type.Literal('fcm'), Type.Literal('apns'), Type.Literal('webpush'), Type.Literal('webhook')]),
      token: Type.String({ minLength: 1, maxLength: LIMITS.pushTokenMax }),
    }),
    rate: 'mutate',
  },
  'push.unregister': { schema: Type.Object({}), rate: 'mutate' },
} as const satisfies Record<string, { schema: TSchema; rate: RateClass }>;

export type OpName = keyof typeof OPS;
export type OpData<K extends OpName> = Static<(typeof OPS)[K]['schema']>;

/** A decoded, valid request. `id` is null for requests sent without id. */
export type ValidRequest = { [K in OpName]: { kind: 'request'; id: string | null; op: K; data: OpData<K> } }[OpName];

export interface FrameError {
  kind: 'error';
  /** The id to echo: the frame's id when it was a valid id, otherwise null. */
  id: string | null;
  code: 'bad_request';
  message: string;
  /** The offending field (`id`, `op`, `data.body.text`, …), when there is one. */
  field?: string;
}

export type DecodedFrame = ValidRequest | FrameError;

const Envelope = Type.Object({
  id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: LIMITS.idMaxLength }), Type.Null()])),
  op: Type.String({ minLength: 1, maxLength: 64 }),
  data: Type.Optional(Type.Object({})),
});

function utf8ByteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decoded size of a canonical base64 string, or -1 when it is not base64. */
export function base64DecodedBytes(s: string): number {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return -1;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

function buildAjv(): Ajv {
  const ajv = new Ajv({ allErrors: false, verbose: true, discriminator: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, coerceTypes: false });
  ajv.addKeyword({ keyword: 'fieldError', schemaType: 'string' });
  ajv.addKeyword({
    keyword: 'utf8Bytes',
    type: 'string',
    schemaType: 'array',
    validate: (range: [number, number], value: string) => {
      const n = utf8ByteLength(value);
      return n >= range[0] && n <= range[1];
    },
  });
  ajv.addKeyword({
    keyword: 'base64MaxBytes',
    type: 'string',
    schemaType: 'number',
    validate: (max: number, value: string) => {
      const n = base64DecodedBytes(value);
      return n >= 0 && n <= max;
    },
  });
  return ajv;
}

const ajv = buildAjv();
const validateEnvelope = ajv.compile(Envelope);
const validators = new Map<string, ValidateFunction>(
  Object.entries(OPS).map(([op, def]) => [op, ajv.compile(def.schema as TSchema)]),
);

function jsonPointerToField(prefix: string, pointer: string): string {
  if (!pointer) return prefix;
  const parts = pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = prefix;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
  return out;
}

/** One ajv error → the field it names and a short human message. */
export function describeAjvError(prefix: string, e: ErrorObject): { field: string; message: string } {
  const at = jsonPointerToField(prefix, e.instancePath);
  const custom = (e.parentSchema as { fieldError?: string } | undefined)?.fieldError;
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return { field: `${at}.${missing}`, message: 'is required' };
    }
    case 'discriminator': {
      const p = e.params as { tag: string; tagValue?: unknown; error: string };
      return {
        field: `${at}.${p.tag}`,
        message: p.error === 'mapping' ? 'is not a known value' : 'is required and must be a string',
      };
    }
    case 'utf8Bytes': {
      const [min, max] = e.schema as [number, number];
      return { field: at, message: `must be ${min}–${max} UTF-8 bytes` };
    }
    case 'base64MaxBytes':
      return { field: at, message: `must be base64 of at most ${String(e.schema)} bytes` };
    case 'if':
      return { field: at, message: e.message ?? 'is invalid' };
    default:
      if (custom && (e.keyword === 'not' || e.keyword === 'anyOf' || e.keyword === 'oneOf')) return { field: at, message: custom };
      if (e.keyword === 'anyOf' && Array.isArray(e.schema) && e.schema.every((s) => s && typeof s === 'object' && 'const' in s)) {
        return { field: at, message: `must be one of ${e.schema.map((s: { const: unknown }) => JSON.stringify(s.const)).join(', ')}` };
      }
      return { field: at, message: e.message ?? 'is invalid' };
  }
}

/** The most telling error: a combinator's own summary rather than the errors of its branches. */
function pickError(errors: ErrorObject[] | null | undefined): ErrorObject | undefined {
  if (!errors || errors.length === 0) return undefined;
  return (
    errors.find((e) => (e.parentSchema as { fieldError?: string } | undefined)?.fieldError && e.keyword !== 'if') ??
    errors.find((e) => e.keyword === 'anyOf') ??
    errors[0]
  );
}

function badRequest(id: string | null, message: string, field?: string): FrameError {
  return field === undefined
    ? { kind: 'error', id, code: 'bad_request', message }
    : { kind: 'error', id, code: 'bad_request', message: `${field}: ${message}`, field };
}

export function isKnownOp(op: unknown): op is OpName {
  return typeof op === 'string' && Object.prototype.hasOwnProperty.call(OPS, op);
}

/** Decode and validate one text frame. Never throws. */
export function decodeFrame(text: string): DecodedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return badRequest(null, 'frame is not valid JSON');
  }
  return validateFrame(value);
}

/** Validate an already-parsed frame. Never throws. */
export function validateFrame(value: unknown): DecodedFrame {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return badRequest(null, 'frame must be a JSON object');
  }
  const frame = value as Record<string, unknown>;
  const rawId = frame['id'];
  const id = typeof rawId === 'string' && rawId.length >= 1 && rawId.length <= LIMITS.idMaxLength ? rawId : null;

  if (!validateEnvelope(frame)) {
    const first = pickError(validateEnvelope.errors);
    if (!first) return badRequest(id, 'invalid frame');
    const d = describeAjvError('', first);
    return badRequest(id, d.message, d.field.replace(/^\./, ''));
  }
  const op = frame['op'];
  if (!isKnownOp(op)) return badRequest(id, 'is not a known op', 'op');
  const data = frame['data'] ?? {};
  const validate = validators.get(op)!;
  if (!validate(data)) {
    const first = pickError(validate.errors);
    if (!first) return badRequest(id, 'invalid data', 'data');
    const d = describeAjvError('data', first);
    return badRequest(id, d.message, d.field);
  }
  return { kind: 'request', id, op, data } as ValidRequest;
}
