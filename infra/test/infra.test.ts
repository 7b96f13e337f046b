// Integration: the servers of infra/parley-infra are up and answer, and one can be stopped and
// restored (what fault tests rely on). Runs after `infra/parley-infra start`.
import { connect } from 'node:net';
import { infraControl, infraSettings, uniqueName, waitFor } from '@parley/testing';

type Reply = string | null | Reply[];

/** Parses one RESP reply at `at`; undefined while incomplete. Errors are thrown. */
function parse(buf: Buffer, at = 0): { value: Reply; end: number } | undefined {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return undefined;
  const head = buf.toString('utf8', at, nl);
  const kind = head[0];
  const rest = head.slice(1);
  if (kind === '+' || kind === ':') return { value: rest, end: nl + 2 };
  if (kind === '-') throw new Error(rest);
  const n = Number(rest);
  if (kind === '$') {
    if (n < 0) return { value: null, end: nl + 2 };
    if (buf.length < nl + 2 + n + 2) return undefined;
    return { value: buf.toString('utf8', nl + 2, nl + 2 + n), end: nl + 2 + n + 2 };
  }
  if (kind === '*') {
    const items: Reply[] = [];
    let end = nl + 2;
    for (let i = 0; i < n; i++) {
      const r = parse(buf, end);
      if (!r) return undefined;
      items.push(r.value);
      end = r.end;
    }
    return { value: items, end };
  }
  throw new Error(`unexpected reply ${head}`);
}

/** One command over a raw socket (no client library, so a dead server fails fast). */
function redis(args: string[]): Promise<Reply> {
  const { host, port } = infraSettings().redis;
  return new Promise((ok, fail) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    sock.setTimeout(3000, () => sock.destroy(new Error('redis: timeout')));
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        const r = parse(buf);
        if (!r) return;
        sock.end();
        ok(r.value);
      } catch (err) {
        sock.end();
        fail(err);
      }
    });
    sock.on('error', fail);
  });
}

afterAll(async () => {
  // never leave the shared Redis down, whatever happened above
  await infraControl.start('redis');
}, 60_000);

it('status reports all four servers healthy', async () => {
  const status = await infraControl.status();
  expect(status.map((s) => [s.name, s.state])).toEqual([
    ['redis', 'healthy'],
    ['kafka', 'healthy'],
    ['cassandra', 'healthy'],
    ['minio', 'healthy'],
  ]);
  const s = infraSettings();
  expect(status.map((x) => x.port)).toEqual([
    s.redis.port,
    Number(s.kafka.brokers[0]?.split(':')[1]),
    Number(s.cassandra.contactPoints[0]?.split(':')[1]),
    s.minio.port,
  ]);
  expect(await redis(['PING'])).toBe('PONG');
  const notify = await redis(['CONFIG', 'GET', 'notify-keyspace-events']);
  expect(Array.isArray(notify) && [...String(notify[1])].sort().join('')).toBe('Ex');
});

it('stop redis makes it down, start redis restores it (with its data when AOF is on)', async () => {
  const aof = (await redis(['CONFIG', 'GET', 'appendonly'])) as Reply[];
  const key = uniqueName('infra_test');
  await redis(['SET', key, 'kept']);

  await infraControl.stop('redis');
  const stopped = await infraControl.status();
  expect(stopped.find((s) => s.name === 'redis')?.state).toBe('down');
  expect(stopped.find((s) => s.name === 'kafka')?.state).toBe('healthy');
  await expect(redis(['PING'])).rejects.toThrow();

  await infraControl.start('redis');
  const restored = await infraControl.status();
  expect(restored.find((s) => s.name === 'redis')).toMatchObject({ state: 'healthy', pid: expect.any(Number) });
  expect(await waitFor(() => redis(['PING']), { timeoutMs: 5000 })).toBe('PONG');
  expect(await redis(['GET', key])).toBe(aof[1] === 'yes' ? 'kept' : null);
  await redis(['DEL', key]);
}, 60_000);

it('uniqueName and waitFor behave', async () => {
  const a = uniqueName('My-Suite');
  expect(a).toMatch(/^my_suite_[a-z0-9]+$/);
  expect(a.length).toBeLessThanOrEqual(48);
  expect(uniqueName('9x')).toMatch(/^t9x_/);
  expect(uniqueName('x'.repeat(100)).length).toBeLessThanOrEqual(48);
  expect(a).not.toBe(uniqueName('My-Suite'));

  let n = 0;
  expect(await waitFor(() => (++n >= 3 ? n : false), { intervalMs: 1 })).toBe(3);
  await expect(waitFor(() => false, { timeoutMs: 50, intervalMs: 10, description: 'never' })).rejects.toThrow(/never/);
});
