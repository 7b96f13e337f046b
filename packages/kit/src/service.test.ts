import pino from 'pino';
import { Lifecycle } from './service.js';

const logger = pino({ level: 'silent' });

describe('Lifecycle', () => {
  it('runs the start steps in order, then the stop steps in theirs, once', async () => {
    const seen: string[] = [];
    const life = new Lifecycle({ name: 't', logger, checks: {} });
    life.onStart('a', () => void seen.push('start a')).onStart('b', async () => void seen.push('start b'));
    life.onStop('x', () => void seen.push('stop x')).onStop('y', async () => void seen.push('stop y'));
    await life.start();
    expect(life.stopped).toBe(false);
    await Promise.all([life.destroy(), life.destroy()]);
    await life.destroy();
    expect(life.stopped).toBe(true);
    expect(seen).toEqual(['start a', 'start b', 'stop x', 'stop y']);
  });

  it('a failed start step rejects start and skips the steps after it', async () => {
    const seen: string[] = [];
    const life = new Lifecycle({ name: 't', logger, checks: {} });
    life.onStart('a', () => {
      throw new Error('no store');
    });
    life.onStart('b', () => void seen.push('b'));
    await expect(life.start()).rejects.toThrow('no store');
    expect(seen).toEqual([]);
  });

  it('a failed stop step is logged, the later ones still run, and stop rejects naming it', async () => {
    const seen: string[] = [];
    const life = new Lifecycle({ name: 't', logger, checks: {} });
    life.onStop('grpc', () => Promise.reject(new Error('stuck')));
    life.onStop('cassandra', () => void seen.push('cassandra'));
    await expect(life.destroy()).rejects.toThrow('t: shutdown steps failed: grpc');
    expect(seen).toEqual(['cassandra']);
  });

  it('readiness answers from the checks, and stop drains it', async () => {
    let ok = false;
    const life = new Lifecycle({
      name: 't',
      logger,
      checks: {
        store: async () => {
          if (!ok) throw new Error('down');
        },
      },
    });
    life.startReadiness();
    await life.start();
    expect(life.readiness().state().ready).toBe(false);
    ok = true;
    expect((await life.readiness().refresh()).ready).toBe(true);
    await life.destroy();
    expect(life.readiness().state().ready).toBe(false);
    expect((await life.readiness().refresh()).ready).toBe(false);
  });

  it('stop before start leaves the later start steps unrun', async () => {
    const seen: string[] = [];
    const life = new Lifecycle({ name: 't', logger, checks: {} });
    life.onStart('a', () => void seen.push('a'));
    await life.destroy();
    await life.start();
    expect(seen).toEqual([]);
  });

  it('listenGrpc without a gRPC server is a wiring error', () => {
    expect(() => new Lifecycle({ name: 't', logger, checks: {} }).listenGrpc('127.0.0.1', 0)).toThrow(/needs the grpc server/);
  });
});
