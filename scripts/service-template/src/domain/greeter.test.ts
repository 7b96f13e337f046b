import { Greeter } from './greeter.js';

describe('Greeter (the template service domain rule)', () => {
  it('greets a name and refuses an empty one', () => {
    expect(new Greeter().greet(' ada ')).toBe('hello, ada');
    expect(() => new Greeter().greet('  ')).toThrow('a name is required');
  });
});
