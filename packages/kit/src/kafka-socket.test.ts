// kafkajs never sets TCP_NODELAY on its sockets; the kit's socket factory does (see noDelaySocketFactory).
import net from 'node:net';
import { noDelaySocketFactory } from './kafka.js';

const noDelayOf = (s: net.Socket): unknown => {
  const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'kSetNoDelay');
  return sym ? (s as unknown as Record<symbol, unknown>)[sym] : undefined;
};

describe('noDelaySocketFactory', () => {
  it('connects with Nagle off and keep-alive on', async () => {
    const server = net.createServer((c) => c.end());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as net.AddressInfo;
    try {
      const socket = await new Promise<net.Socket>((ok) => {
        const s = noDelaySocketFactory({ host: '127.0.0.1', port, ssl: null as never, onConnect: () => ok(s as net.Socket) }) as net.Socket;
      });
      expect(noDelayOf(socket)).toBe(true);
      // the same probe on a plain socket says false, so the check can fail
      const plain = net.connect({ host: '127.0.0.1', port });
      expect(noDelayOf(plain)).toBe(false);
      socket.destroy();
      plain.destroy();
    } finally {
      server.close();
    }
  });
});
