#!/usr/bin/env node
// Bench-style fuzz run (issue 15): a million fast-check inputs, in-process, against the gateway's frame
// parser (decodeFrame, services/gateway/src/api/wire/frames.ts) and the protobuf decoding of every Kafka event
// type (parley.events.v1). Build first (`pnpm exec tsc --build`); then
//   node bench/fuzz.mjs [inputs=1000000] [seed=15]
// Every input must end in a decoded value or a clean refusal (a bad_request frame error; an Error from the
// decoder, which runConsumer dead-letters); anything else (a crash, a non-Error throw, an unstable decode)
// is printed and the run exits 1. The bounded samples in the test command are frames.test.ts,
// event-decode.fuzz.test.ts and e2e/edge/fuzz-http.test.ts; HTTP bodies are not part of this run (they need
// the mesh) — the e2e suite covers them.
import { createRequire } from 'node:module';
import fc from 'fast-check';

const root = new URL('..', import.meta.url);
const protoRequire = createRequire(new URL('packages/proto/package.json', root));
const { fromBinary, toBinary, equals } = await import(protoRequire.resolve('@bufbuild/protobuf'));
const { eventsV1 } = await import(new URL('packages/proto/dist/index.js', root).href);
const { decodeFrame } = await import(new URL('services/gateway/dist/api/wire/frames.js', root).href);

const total = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 15);
const schemas = Object.entries(eventsV1).filter(([n, v]) => n.endsWith('Schema') && v?.kind === 'message');
const frames = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
  fc
    .record({ id: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(null), fc.integer()), op: fc.constantFrom('message.send', 'chat.create', 'message.ack', 'ping', 'typing', 'x'), data: fc.jsonValue({ maxDepth: 4 }) }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
);
const bytes = fc.uint8Array({ maxLength: 256 });

const t0 = Date.now();
const counts = { frames: 0, frameErrors: 0, events: 0, eventsRefused: 0, failures: 0 };
const fail = (what, input, err) => {
  counts.failures += 1;
  if (counts.failures <= 10) console.error(`[fuzz] FAILURE ${what}: ${String(err?.stack ?? err)}\n  input: ${JSON.stringify(input).slice(0, 300)}`);
};
const BATCH = 5000;
let done = 0;
let round = 0;
while (done < total) {
  const n = Math.min(BATCH, total - done);
  const half = Math.ceil(n / 2);
  for (const text of fc.sample(frames, { numRuns: half, seed: seed + round })) {
    counts.frames += 1;
    try {
      const f = decodeFrame(text);
      if (f.kind === 'error') {
        counts.frameErrors += 1;
        if (f.code !== 'bad_request' && f.code !== 'too_large') fail('frame error code', text, f.code);
      }
    } catch (err) {
      fail('decodeFrame threw', text, err);
    }
  }
  const samples = fc.sample(bytes, { numRuns: n - half, seed: seed + round + 1_000_000 });
  samples.forEach((b, i) => {
    const [name, schema] = schemas[(i + round) % schemas.length];
    counts.events += 1;
    let msg;
    try {
      msg = fromBinary(schema, b);
    } catch (err) {
      counts.eventsRefused += 1;
      if (!(err instanceof Error)) fail(`${name} threw a non-Error`, [...b], err);
      return;
    }
    try {
      if (!equals(schema, fromBinary(schema, toBinary(schema, msg)), msg)) fail(`${name} unstable decode`, [...b], 'round trip differs');
    } catch (err) {
      fail(`${name} re-encode`, [...b], err);
    }
  });
  done += n;
  round += 1;
}
const s = ((Date.now() - t0) / 1000).toFixed(1);
console.log(
  `[fuzz] ${done} inputs in ${s} s (seed ${seed}): ${counts.frames} frames (${counts.frameErrors} refused as bad_request/too_large), ` +
    `${counts.events} event payloads over ${schemas.length} event types (${counts.eventsRefused} refused by the decoder), ${counts.failures} failures`,
);
process.exit(counts.failures > 0 ? 1 : 0);
