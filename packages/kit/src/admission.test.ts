import { createAdmission } from './admission.js';
import { ParleyError } from './errors.js';

describe('createAdmission', () => {
  it('admits up to max concurrent calls and refuses the rest at once with unavailable + retryAfterMs', async () => {
    const a = createAdmission({ name: 'sends', max: 2, retryAfterMs: 400, random: () => 0.5 });
    const gates: Array<() => void> = [];
    const slow = () => new Promise<string>((r) => gates.push(() => r('done')));
    const p1 = a.run(slow);
    const p2 = a.run(slow);
    expect(a.inFlight).toBe(2);
    const refused = await a.run(slow).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ParleyError);
    expect(refused).toMatchObject({ code: 'unavailable', retryAfterMs: 400 });
    expect(gates).toHaveLength(2); // the refused call never ran
    expect(a.shed).toBe(1);
    gates[0]!();
    await expect(p1).resolves.toBe('done');
    expect(a.inFlight).toBe(1);
    await expect(a.run(async () => 'again')).resolves.toBe('again');
    gates[1]!();
    await p2;
    expect(a.inFlight).toBe(0);
  });

  it('frees the slot when the call fails', async () => {
    const a = createAdmission({ name: 'x', max: 1 });
    await expect(a.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(a.inFlight).toBe(0);
    await expect(a.run(async () => 1)).resolves.toBe(1);
  });
});

describe('Admission.refusal', () => {
  it('answers what run would throw, counts it as shed, and reserves nothing', async () => {
    const a = createAdmission({ name: 'sends', max: 1, retryAfterMs: 400, random: () => 0.5 });
    expect(a.refusal()).toBeUndefined();
    expect(a.inFlight).toBe(0);
    let release!: () => void;
    const held = a.run(() => new Promise<void>((r) => (release = r)));
    const r = a.refusal();
    expect(r).toMatchObject({ code: 'unavailable', retryAfterMs: 400 });
    expect(a.shed).toBe(1);
    release();
    await held;
    expect(a.refusal()).toBeUndefined();
    expect(a.shed).toBe(1);
  });
});
