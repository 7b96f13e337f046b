import { boxLine, boxSnapshot } from './cpu.js';

it('splits the whole box into busy, steal and idle between two readings', () => {
  const a = { user: 1000, system: 500, irq: 100, idle: 8000, steal: 400 };
  const b = { user: 1600, system: 700, irq: 200, idle: 8800, steal: 700 };
  // deltas: user 600, system 200, irq 100, idle 800, steal 300 → total 2000
  expect(boxLine(a, b)).toBe('whole box over the same time (/proc/stat, % of all cores): busy 45 % (user 30 %, system 10 %, interrupts 5 %), steal 15 %, idle 40 %');
  expect(boxLine(undefined, b)).toBe('');
  expect(boxLine(a, a)).toBe('');
});

it('reads /proc/stat on Linux', () => {
  const s = boxSnapshot();
  if (process.platform !== 'linux') return expect(s).toBeUndefined();
  expect(s!.user + s!.system + s!.idle).toBeGreaterThan(0);
});
