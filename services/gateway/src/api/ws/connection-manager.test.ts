// Registration before the 101, with fakes of the gateway's upstream ports: what is registered, unregistered
// and closed when an upgrade fails, is abandoned, or its device is removed before the socket exists.
import { EventEmitter } from 'node:events';
import { ParleyError, createLogger } from '@parley/kit';
import type { WebSocket } from 'ws';
import { envToCfg } from '../../config.js';
import { createGatewayMetrics } from '../../metrics.js';
import type { Upstreams } from '../../adapters/upstreams.js';
import { ConnectionManager } from './connection-manager.js';

type Conn = { userId: string; deviceId: string; connectionId: string };

function setup(register: (cs: Conn[]) => Array<{ errorCode?: string }> | Promise<never>) {
  const unregistered: string[] = [];
  const upstreams = {
    session: {
      registerConnections: jest.fn(async (req: { connections: Conn[] }) => ({ results: await register(req.connections) })),
      unregisterConnections: jest.fn(async (req: { connections: Conn[] }) => {
        unregistered.push(...req.connections.map((c) => c.connectionId));
        return {};
      }),
    },
    presence: { connectionsOpened: jest.fn(async () => ({})), connectionsClosed: jest.fn(async () => ({})) },
    message: {
      streamBacklog: () => ({
        async *[Symbol.asyncIterator]() {
          /* nothing pending */
        },
      }),
    },
  } as unknown as Upstreams;
  const cfg = envToCfg({ GATEWAY_INSTANCE_ID: 'gw-test', PARLEY_NAMESPACE: 'cmtest' });
  const metrics = createGatewayMetrics();
  const m = new ConnectionManager(cfg, createLogger('cm-test', 'silent'), metrics, upstreams);
  return { m, upstreams, unregistered, metrics };
}

function fakeSocket() {
  const s = new EventEmitter() as EventEmitter & { readyState: number; sent: string[]; closed?: [number, string]; send(t: string): void; close(code: number, reason: string): void };
  s.readyState = 1;
  s.sent = [];
  s.send = (t: string) => void s.sent.push(t);
  s.close = (code: number, reason: string) => {
    s.closed = [code, reason];
    s.readyState = 3;
    s.emit('close', code);
  };
  return s;
}

const auth = (deviceId: string) => ({ userId: 'u1', deviceId, expMs: Date.now() + 60_000 }) as never;
const tick = () => new Promise((r) => setImmediate(r));

describe('ConnectionManager registration before the 101', () => {
  it('accepts a registered upgrade: session.ready, counted, no unregister', async () => {
    const t = setup((cs) => cs.map(() => ({})));
    await t.m.register(auth('d1'), 'c1');
    expect(t.m.handshaking).toBe(1);
    const s = fakeSocket();
    t.m.accept(s as unknown as WebSocket, auth('d1'), 'c1', process.hrtime.bigint());
    expect(t.m.handshaking).toBe(0);
    expect(t.m.size).toBe(1);
    expect(JSON.parse(s.sent[0]!).event).toBe('session.ready');
    await tick();
    expect(t.unregistered).toEqual([]);
  });

  it('closes with 4001 a connection whose device was removed between its registration and the 101', async () => {
    const t = setup((cs) => cs.map(() => ({})));
    await t.m.register(auth('d2'), 'c2');
    // The revocation arrives while the upgrade is still finishing: there is no socket to close yet.
    t.m.deliver({ targets: [], payload: { case: 'deviceRevoked', value: { userId: 'u1', deviceId: 'd2', reason: 'removed' } } } as never);
    const s = fakeSocket();
    t.m.accept(s as unknown as WebSocket, auth('d2'), 'c2', process.hrtime.bigint());
    expect(s.closed).toEqual([4001, 'device removed']);
    expect(s.sent).toEqual([]);
    expect(t.m.size).toBe(0);
    await tick();
    await tick();
    expect(t.unregistered).toEqual(['c2']);
    // A later upgrade of another device is not affected.
    await t.m.register(auth('d3'), 'c3');
    const s3 = fakeSocket();
    t.m.accept(s3 as unknown as WebSocket, auth('d3'), 'c3', process.hrtime.bigint());
    expect(s3.closed).toBeUndefined();
  });

  it('unregisters an abandoned upgrade, and one whose registration call failed (it may have landed)', async () => {
    let fail = false;
    const t = setup((cs) => (fail ? Promise.reject(new ParleyError('unavailable', 'upstream deadline exceeded, retry')) : cs.map(() => ({}))));
    await t.m.register(auth('d4'), 'c4');
    t.m.abandon(auth('d4'), 'c4');
    expect(t.m.handshaking).toBe(0);
    fail = true;
    await expect(t.m.register(auth('d5'), 'c5')).rejects.toMatchObject({ code: 'unavailable' });
    expect(t.m.handshaking).toBe(0);
    await tick();
    await tick();
    expect(t.unregistered.sort()).toEqual(['c4', 'c5']);
    expect(await t.metrics.registry.getSingleMetricAsString('parley_gateway_closes_total')).toMatch(/code="abandoned".* 1/);
  });

  it('does not unregister a connection session refused (removed device)', async () => {
    const t = setup((cs) => cs.map(() => ({ errorCode: 'unauthorized' })));
    await expect(t.m.register(auth('d6'), 'c6')).rejects.toMatchObject({ code: 'unauthorized' });
    expect(t.m.handshaking).toBe(0);
    await tick();
    expect(t.unregistered).toEqual([]);
  });
});
