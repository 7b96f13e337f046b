// The signed-in device: tokens in localStorage (so a reload restores the session), refreshed before
// they expire. Refresh tokens rotate (protocol.md §2: the old one stops working), so two tabs of one
// profile must not refresh at once: the refresh runs under a Web Lock and re-reads storage first.
import { ParleyHttp, ParleyHttpError, type TokenPair } from '@parley/client';

export interface StoredSession {
  userId: string;
  deviceId: string;
  username: string;
  accessToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
}

const KEY = 'parley.session';
/** Refresh this long before expiry (or at 80 % of a short lifetime). */
const EARLY_MS = 60_000;

export function loadSession(): StoredSession | undefined {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as StoredSession;
    return typeof s.accessToken === 'string' && typeof s.refreshToken === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

function save(s: StoredSession | undefined): void {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}

function fromPair(p: TokenPair, username: string): StoredSession {
  return {
    userId: p.userId,
    deviceId: p.deviceId,
    username,
    accessToken: p.accessToken,
    refreshToken: p.refreshToken,
    expiresAt: Date.now() + p.expiresIn * 1000,
  };
}

/** A device name the device list can show: browser and platform, from the user agent. */
export function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return `Web · ${browser}${os ? ` on ${os}` : ''}`;
}

export class Session {
  readonly http: ParleyHttp;
  current: StoredSession | undefined;
  /** Called when the session ends without the user asking (device removed, refresh token revoked). */
  onEnded: ((reason: string) => void) | undefined;
  /** Called whenever the tokens change. */
  onChange: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<StoredSession | undefined> | undefined;

  constructor(baseUrl: string) {
    this.http = new ParleyHttp(baseUrl);
    this.current = loadSession();
    if (this.current) this.http.accessToken = this.current.accessToken;
    // Another tab of this profile refreshed or signed out.
    window.addEventListener('storage', (e) => {
      if (e.key !== KEY) return;
      const next = loadSession();
      if (!next && this.current) {
        this.current = undefined;
        this.onEnded?.('Signed out in another tab.');
      } else if (next) {
        this.set(next, false);
      }
    });
  }

  async signUp(username: string, password: string, displayName: string): Promise<void> {
    await this.http.createAccount({ username, password, ...(displayName ? { displayName } : {}) });
    await this.logIn(username, password);
  }

  async logIn(username: string, password: string): Promise<void> {
    const pair = await this.http.login({ username, password, deviceName: deviceName() });
    this.set(fromPair(pair, username));
  }

  /** Log out = remove this device (its tokens stop working), then forget it locally. */
  async logOut(): Promise<void> {
    const s = this.current;
    this.clear();
    if (!s) return;
    try {
      await this.http.withToken(s.accessToken).removeDevice(s.deviceId);
    } catch {
      /* the tokens are gone locally; an unreachable server cannot undo that */
    }
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.current = undefined;
    this.http.accessToken = undefined;
    save(undefined);
    this.onChange?.();
  }

  /** An access token that is valid for a while yet (refreshing first when it is about to expire). */
  async accessToken(): Promise<string | undefined> {
    const s = this.current;
    if (!s) return undefined;
    if (s.expiresAt - Date.now() < EARLY_MS / 2) {
      const r = await this.refresh().catch(() => undefined);
      return r?.accessToken ?? this.current?.accessToken;
    }
    return s.accessToken;
  }

  /**
   * Exchange the refresh token. Resolves undefined and ends the session when the server says the
   * token is no longer valid (401); network errors reject and leave the session as it is.
   */
  refresh(): Promise<StoredSession | undefined> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<StoredSession | undefined> {
    const run = async (): Promise<StoredSession | undefined> => {
      const before = this.current;
      const stored = loadSession();
      if (!before || !stored || stored.deviceId !== before.deviceId) return this.current;
      // Another tab refreshed while we waited for the lock.
      if (stored.refreshToken !== before.refreshToken && stored.expiresAt - Date.now() > EARLY_MS) {
        this.set(stored, false);
        return stored;
      }
      try {
        const pair = await this.http.refresh(stored.refreshToken);
        const next = fromPair(pair, stored.username);
        this.set(next);
        return next;
      } catch (err) {
        if (err instanceof ParleyHttpError && (err.status === 401 || err.status === 403)) {
          this.clear();
          this.onEnded?.('This device was signed out. Log in again.');
          return undefined;
        }
        throw err;
      }
    };
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    return locks ? locks.request('parley.refresh', run) : run();
  }

  private set(s: StoredSession, persist = true): void {
    this.current = s;
    this.http.accessToken = s.accessToken;
    if (persist) save(s);
    this.schedule();
    this.onChange?.();
  }

  /** Refresh ahead of expiry: 60 s early, or at 80 % of a lifetime shorter than five minutes. */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const s = this.current;
    if (!s) return;
    const left = s.expiresAt - Date.now();
    const early = Math.min(EARLY_MS, left * 0.2);
    const wait = Math.max(1000, left - early);
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        // offline: try again soon
        this.timer = setTimeout(() => this.schedule(), 5000);
      });
    }, wait);
  }
}
