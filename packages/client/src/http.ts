import { ParleyHttpError } from './errors.js';
import type { DeviceInfo, TokenPair, UserInfo } from './types.js';

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * The HTTP half of protocol.md §2 and §7. Methods resolve with the response body on 2xx
 * and reject with ParleyHttpError (status, code, message) otherwise. `raw` never throws on
 * a status and is meant for tests that check exact statuses and error bodies.
 */
export class ParleyHttp {
  readonly baseUrl: string;
  accessToken: string | undefined;

  constructor(baseUrl: string, accessToken?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.accessToken = accessToken;
  }

  withToken(accessToken: string): ParleyHttp {
    return new ParleyHttp(this.baseUrl, accessToken);
  }

  async raw<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { token?: string | null; headers?: Record<string, string>; redirect?: 'manual' | 'follow' | 'error' } = {},
  ): Promise<HttpResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.accessToken : opts.token;
    if (token) headers['authorization'] = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: payload,
      redirect: opts.redirect ?? 'manual',
    });
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  async call<T>(method: string, path: string, body?: unknown, expect?: number[]): Promise<T> {
    const res = await this.raw<T>(method, path, body);
    const ok = expect ? expect.includes(res.status) : res.status >= 200 && res.status < 300;
    if (!ok) {
      const err = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ParleyHttpError(
        res.status,
        err?.code ?? 'internal',
        err?.message ?? `HTTP ${res.status} ${method} ${path}`,
        res.body,
      );
    }
    return res.body;
  }

  createAccount(input: { username: string; password: string; displayName?: string }): Promise<{ userId: string }> {
    return this.call('POST', '/v1/accounts', input);
  }

  login(input: { username: string; password: string; deviceName?: string }): Promise<TokenPair> {
    return this.call('POST', '/v1/sessions', input);
  }

  refresh(refreshToken: string): Promise<TokenPair> {
    return this.call('POST', '/v1/sessions/refresh', { refreshToken });
  }

  listDevices(): Promise<{ devices: DeviceInfo[] }> {
    return this.call('GET', '/v1/devices');
  }

  async removeDevice(deviceId: string): Promise<void> {
    await this.call('DELETE', `/v1/devices/${encodeURIComponent(deviceId)}`);
  }

  getUser(userId: string): Promise<UserInfo> {
    return this.call('GET', `/v1/users/${encodeURIComponent(userId)}`);
  }

  findUser(username: string): Promise<UserInfo> {
    return this.call('GET', `/v1/users?username=${encodeURIComponent(username)}`);
  }

  createUpload(input: { contentType: string; size: number; sha256: string; fileName?: string }): Promise<{
    mediaId: string;
    upload: { method: 'PUT'; url: string; headers: Record<string, string> };
    expiresAt: string;
  }> {
    return this.call('POST', '/v1/media', input);
  }

  completeUpload(mediaId: string): Promise<{ media: unknown }> {
    return this.call('POST', `/v1/media/${encodeURIComponent(mediaId)}/complete`, {});
  }

  /** Resolves with the presigned URL of the 302. */
  async downloadUrl(mediaId: string, thumbnail = false): Promise<string> {
    const res = await this.raw('GET', `/v1/media/${encodeURIComponent(mediaId)}${thumbnail ? '/thumbnail' : ''}`);
    const location = res.headers.get('location');
    if (res.status !== 302 || !location) {
      const err = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ParleyHttpError(res.status, err?.code ?? 'internal', err?.message ?? `HTTP ${res.status}`, res.body);
    }
    return location;
  }
}

export function createAccount(
  baseUrl: string,
  input: { username: string; password: string; displayName?: string },
): Promise<{ userId: string }> {
  return new ParleyHttp(baseUrl).createAccount(input);
}

export function login(
  baseUrl: string,
  input: { username: string; password: string; deviceName?: string },
): Promise<TokenPair> {
  return new ParleyHttp(baseUrl).login(input);
}

export function refresh(baseUrl: string, refreshToken: string): Promise<TokenPair> {
  return new ParleyHttp(baseUrl).refresh(refreshToken);
}

let uniq = 0;
const pid = (globalThis as { process?: { pid?: number } }).process?.pid ?? Math.floor(Math.random() * 1e6);
/** A fresh valid username (3–32 of [a-z0-9_.]) for tests and the bench. */
export function randomUsername(prefix = 'u'): string {
  uniq = (uniq + 1) % 1_000_000;
  const s = `${prefix}${Date.now().toString(36)}${pid.toString(36)}${uniq.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return s.toLowerCase().replace(/[^a-z0-9_.]/g, '').slice(0, 32);
}

/** createAccount + login in one step. */
export async function signUp(
  baseUrl: string,
  opts: { username?: string; password?: string; displayName?: string; deviceName?: string } = {},
): Promise<TokenPair & { username: string; password: string }> {
  const username = opts.username ?? randomUsername();
  const password = opts.password ?? 'correct horse battery';
  const http = new ParleyHttp(baseUrl);
  await http.createAccount({ username, password, ...(opts.displayName ? { displayName: opts.displayName } : {}) });
  const tokens = await http.login({ username, password, ...(opts.deviceName ? { deviceName: opts.deviceName } : {}) });
  return { ...tokens, username, password };
}
