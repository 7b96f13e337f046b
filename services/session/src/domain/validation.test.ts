import { ParleyError } from '@parley/kit';
import { validateDeviceName, validateDisplayName, validatePassword, validateUsername } from './validation.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe('bad_request');
    return (err as ParleyError).details?.['field'] as string;
  }
  throw new Error('expected a bad_request');
}

describe('validateUsername', () => {
  it.each(['abc', 'a_b.c9', 'x'.repeat(32), '...', '___'])('accepts %p', (u) => {
    expect(validateUsername(u)).toBe(u);
  });

  it.each([['ab'], ['x'.repeat(33)], ['Abc'], ['a-b'], ['a b'], ['héllo'], [''], [42], [undefined], ['abc\n']])('refuses %p naming the field', (u) => {
    expect(fieldOf(() => validateUsername(u))).toBe('username');
  });
});

describe('validatePassword', () => {
  it('counts UTF-8 bytes, 8 to 256', () => {
    expect(validatePassword('12345678')).toBe('12345678');
    expect(validatePassword('x'.repeat(256))).toHaveLength(256);
    expect(validatePassword('éééé')).toBe('éééé'); // 4 characters, 8 bytes
    expect(fieldOf(() => validatePassword('1234567'))).toBe('password');
    expect(fieldOf(() => validatePassword('x'.repeat(257)))).toBe('password');
    expect(fieldOf(() => validatePassword('é'.repeat(129)))).toBe('password'); // 129 characters, 258 bytes
    expect(fieldOf(() => validatePassword(undefined))).toBe('password');
    expect(fieldOf(() => validatePassword(12345678))).toBe('password');
  });
});

describe('display and device names', () => {
  it('defaults the display name to the username and trims it', () => {
    expect(validateDisplayName(undefined, 'alice')).toBe('alice');
    expect(validateDisplayName('', 'alice')).toBe('alice');
    expect(validateDisplayName('  Alice  ', 'alice')).toBe('Alice');
    expect(fieldOf(() => validateDisplayName('   ', 'alice'))).toBe('displayName');
    expect(fieldOf(() => validateDisplayName('x'.repeat(65), 'alice'))).toBe('displayName');
  });

  it('names unnamed devices and bounds device names', () => {
    expect(validateDeviceName(undefined)).toBe('unnamed device');
    expect(validateDeviceName('Pixel 8')).toBe('Pixel 8');
    expect(fieldOf(() => validateDeviceName('x'.repeat(65)))).toBe('deviceName');
  });
});
