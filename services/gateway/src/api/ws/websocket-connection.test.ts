// Frame intake of one connection with fakes of its ports: what a message.send costs before it is refused.
import { createAdmission, createLogger } from '@parley/kit';
import type { WebSocket } from 'ws';
import { WebSocketConnection, type ConnectionDeps } from './websocket-connection.js';

const counter = { inc: () => undefined };

function setup(maxInflight: number) {
  const sent: Array<{ id: string; ok: boolean; error?: { code: string } }> = [];
  const socket = { readyState: 1, bufferedAmount: 0, send: (t: string) => sent.push(JSON.parse(t)) } as unknown as WebSocket;
  const budget = jest.fn(async () => 0);
  const upstream = jest.fn(() => new Promise(() => undefined)); // never answers: every send stays in flight
  const sendAdmission = createAdmission({ name: 'the gateway', max: maxInflight });
  const deps = {
    log: createLogger('ws-conn-test', 'silent'),
    metrics: { framesIn: counter, framesOut: counter, errors: counter, userLimited: counter, requestSeconds: { startTimer: () => () => 0 } },
    limiterFor: () => ({ take: () => 0 }),
    userLimits: { send: budget },
    request: { gatewayId: 'gw', deadlineMs: 1000, sendAdmission, upstreams: { message: { sendMessage: upstream } } },
  } as unknown as ConnectionDeps;
  const conn = new WebSocketConnection(socket, { userId: 'u1', deviceId: 'd1' } as never, deps);
  conn.markReady();
  const send = (id: string) =>
    conn.onRaw(Buffer.from(JSON.stringify({ id, op: 'message.send', data: { chatId: 'c1', clientMsgId: `cm-${id}-xyz`, body: { text: 'hi' } } })), false);
  return { conn, sent, budget, upstream, sendAdmission, send };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('message.send intake', () => {
  it('refuses a send the gateway would shed before taking from the Redis budget', async () => {
    const t = setup(1);
    t.send('1');
    await flush();
    expect(t.budget).toHaveBeenCalledTimes(1);
    expect(t.sendAdmission.inFlight).toBe(1);
    t.send('2');
    await flush();
    expect(t.budget).toHaveBeenCalledTimes(1); // no Redis call for the refused one
    expect(t.sent).toEqual([{ id: '2', ok: false, error: expect.objectContaining({ code: 'unavailable' }) }]);
  });

  it('takes from the budget while the gateway has room', async () => {
    const t = setup(4);
    for (const id of ['1', '2', '3']) t.send(id);
    await flush();
    expect(t.budget).toHaveBeenCalledTimes(3);
    expect(t.sent).toEqual([]);
  });
});
