// Account input rules (protocol.md §2).
import { errors } from '@parley/kit';

const USERNAME = /^[a-z0-9_.]{3,32}$/;

export function validateUsername(username: unknown): string {
  if (typeof username !== 'string' || !USERNAME.test(username)) {
    throw errors.badRequest('username must be 3-32 characters of a-z, 0-9, _ and .', { field: 'username' });
  }
  return username;
}

export function validatePassword(password: unknown): string {
  if (typeof password !== 'string') throw errors.badRequest('password is required', { field: 'password' });
  const n = Buffer.byteLength(password, 'utf8');
  if (n < 8 || n > 256) throw errors.badRequest('password must be 8-256 bytes', { field: 'password' });
  return password;
}

export function validateDisplayName(name: unknown, fallback: string): string {
  if (name === undefined || name === null || name === '') return fallback;
  if (typeof name !== 'string' || name.trim().length === 0 || [...name].length > 64) {
    throw errors.badRequest('displayName must be 1-64 characters', { field: 'displayName' });
  }
  return name.trim();
}

export function validateDeviceName(name: unknown): string {
  if (name === undefined || name === null || name === '') return 'unnamed device';
  if (typeof name !== 'string' || [...name].length > 64) throw errors.badRequest('deviceName must be at most 64 characters', { field: 'deviceName' });
  return name;
}
