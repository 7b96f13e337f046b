import { pino } from 'pino';
import { onShutdown } from './shutdown.js';
import { once } from './service.js';

const logger = pino({ level: 'silent' });

describe('onShutdown', () => {
  it('runs the steps in order, then exits 0', async () => {
    const order: string[] = [];
    const codes: number[] = [];
    const h = onShutdown(
      logger,
      [
        { name: 'a', fn: async () => void order.push('a') },
        { name: 'b', fn: () => void order.push('b') },
      ],
      { exit: (c) => void codes.push(c), signals: [] },
    );
    await h.trigger('SIGTERM');
    expect(order).toEqual(['a', 'b']);
    expect(codes).toEqual([0]);
  });

  it('bounds a hanging step, keeps going, and exits 1', async () => {
    const order: string[] = [];
    const codes: number[] = [];
    const h = onShutdown(
      logger,
      [
        { name: 'hangs', fn: () => new Promise(() => {}) },
        { name: 'throws', fn: () => Promise.reject(new Error('x')) },
        { name: 'after', fn: () => void order.push('after') },
      ],
      { exit: (c) => void codes.push(c), signals: [], timeoutMs: 150 },
    );
    const t0 = Date.now();
    await h.trigger();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(order).toEqual(['after']);
    expect(codes).toEqual([1]);
  });

  it('a second signal exits at once', async () => {
    const codes: number[] = [];
    let release!: () => void;
    const h = onShutdown(logger, [{ name: 'slow', fn: () => new Promise<void>((r) => (release = r)) }], {
      exit: (c) => void codes.push(c),
      signals: [],
    });
    const first = h.trigger('SIGTERM');
    await h.trigger('SIGINT');
    expect(codes).toEqual([1]);
    release();
    await first;
    expect(codes).toEqual([1, 0]);
  });

  it('reacts to a real signal and removes its handlers on dispose', async () => {
    const codes: number[] = [];
    const h = onShutdown(logger, [], { exit: (c) => void codes.push(c), signals: ['SIGUSR2'] });
    process.emit('SIGUSR2', 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 20));
    expect(codes).toEqual([0]);
    h.dispose();
    expect(process.listeners('SIGUSR2')).toHaveLength(0);
  });
});

describe('once', () => {
  it('runs destroy once and shares the promise', async () => {
    let n = 0;
    const destroy = once(async () => void n++);
    await Promise.all([destroy(), destroy()]);
    await destroy();
    expect(n).toBe(1);
  });
});
