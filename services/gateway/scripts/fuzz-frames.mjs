#!/usr/bin/env node
// Long-running fuzz of frame decoding outside CI (the CI property test is seeded and short):
//   pnpm exec tsc --build services/gateway && node services/gateway/scripts/fuzz-frames.mjs [runs=1000000] [seed=random]
// Fails (exit 1) with the counterexample if decodeFrame ever throws or yields something other than a
// bad_request error or a request that re-validates to itself.
import fc from 'fast-check';
import { decodeFrame, validateFrame, OPS } from '../dist/api/wire/frames.js';

const runs = Number(process.argv[2] ?? 1_000_000);
const seed = process.argv[3] !== undefined ? Number(process.argv[3]) : Date.now() | 0;
const check = (text) => {
  const f = decodeFrame(text);
  if (f.kind === 'error') {
    if (f.code !== 'bad_request' || typeof f.message !== 'string') throw new Error(`bad error ${JSON.stringify(f)}`);
    return;
  }
  if (!Object.hasOwn(OPS, f.op)) throw new Error(`unknown op accepted: ${f.op}`);
  const again = validateFrame({ id: f.id, op: f.op, data: f.data });
  if (JSON.stringify(again) !== JSON.stringify(f)) throw new Error(`not stable: ${text}`);
};
const valid = Object.keys(OPS).map((op) => JSON.stringify({ id: '1', op, data: { chatId: 'c', clientMsgId: 'abcdefgh', body: { text: 'x' }, items: [{ chatId: 'c', seq: 1 }], userIds: ['u'], type: 'direct', userId: 'u', state: 'typing', platform: 'fcm', token: 't', name: 'n', role: 'admin', seq: 1 } }));
console.log(`fuzzing ${runs} runs, seed ${seed}`);
fc.assert(
  fc.property(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 2000 }),
      fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)),
      fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.string({ maxLength: 8 })).map(([v, pos, ins]) => {
        const p = pos % v.length;
        return v.slice(0, p) + ins + v.slice(p + 1);
      }),
    ),
    check,
  ),
  { numRuns: runs, seed },
);
console.log('ok');
