import { Writable } from 'node:stream';
import { createLogger } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('createLogger', () => {
  it('writes JSON with the service name and honours the level', async () => {
    const { lines, stream } = capture();
    const log = createLogger('session', 'info', stream);
    log.debug('hidden');
    log.info({ userId: 'u1' }, 'hello');
    await flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'session', name: 'session', msg: 'hello', userId: 'u1', level: 30 });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('redacts authorization headers, tokens and passwords', async () => {
    const { lines, stream } = capture();
    const log = createLogger('gateway', 'info', stream);
    log.info(
      {
        req: { headers: { authorization: 'Bearer abc', cookie: 'sid=1', host: 'h' } },
        headers: { authorization: 'Bearer def' },
        password: 'hunter2',
        body: { password: 'p', refreshToken: 'rt', accessToken: 'at', username: 'alice' },
        token: 't',
        refreshToken: 'rt2',
      },
      'request',
    );
    await flush();
    const text = JSON.stringify(lines[0]);
    for (const secret of ['Bearer abc', 'Bearer def', 'hunter2', '"p"', '"rt"', '"at"', '"t"', 'rt2', 'sid=1']) expect(text).not.toContain(secret);
    expect(text).toContain('alice');
    expect(text).toContain('"host":"h"');
    expect(text).toContain('[redacted]');
  });

  it('child loggers carry the subsystem and serialize err objects with their stack', async () => {
    const { lines, stream } = capture();
    const log = createLogger('message', 'info', stream).child({ subsystem: 'kafka' });
    log.error({ err: new Error('broker down') }, 'send failed');
    await flush();
    expect(lines[0]).toMatchObject({ service: 'message', subsystem: 'kafka', msg: 'send failed' });
    expect((lines[0]!.err as { message: string; stack: string }).message).toBe('broker down');
    expect((lines[0]!.err as { stack: string }).stack).toContain('Error: broker down');
  });
});
