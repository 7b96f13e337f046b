// Budgets of the unauthenticated auth routes (POST /v1/accounts, /v1/sessions, /v1/sessions/refresh),
// cluster-wide in Redis so that every gateway shares them: per source address and per username, plus
// lock-out windows with exponential backoff after failed logins. Checked before session is called, so a
// refused attempt costs the server one Redis round trip and no password hash.
import { ParleyError, RedisLockout, RedisRateLimiter, errors, type Logger, type Redis } from '@parley/kit';
import type { GatewayConfig } from '../config.js';

export class AuthLimits {
  private readonly buckets: RedisRateLimiter;
  private readonly lockout: RedisLockout;

  constructor(
    redis: Redis,
    private readonly cfg: Pick<GatewayConfig, 'namespace' | 'authRates' | 'loginLockout'>,
    private readonly logger: Logger,
  ) {
    this.buckets = new RedisRateLimiter(redis, cfg.namespace);
    this.lockout = new RedisLockout(redis, cfg.namespace, cfg.loginLockout);
  }

  /** Redis errors refuse the attempt (`unavailable`): a store outage must not open the door to guessing. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.logger.warn({ err }, 'auth rate limit check failed (Redis); refusing the attempt');
      throw new ParleyError('unavailable', 'try again shortly', { retryAfterMs: 1000, cause: err });
    }
  }

  private async take(key: string, rate: { perMinute: number; burst: number }): Promise<void> {
    const wait = await this.guard(() => this.buckets.take(key, rate));
    if (wait > 0) throw errors.rateLimited(wait, 'too many attempts; retry later');
  }

  private static user(username: string): string {
    return username.toLowerCase().slice(0, 64);
  }

  async signUp(ip: string): Promise<void> {
    await this.take(`auth:signup:ip:${ip}`, this.cfg.authRates.signupIp);
  }

  async login(ip: string, username: string): Promise<void> {
    const u = AuthLimits.user(username);
    const locked = await this.guard(() => this.lockout.lockedFor(`login:${u}`));
    if (locked > 0) throw errors.rateLimited(locked, 'too many failed logins; retry later');
    await this.take(`auth:login:ip:${ip}`, this.cfg.authRates.loginIp);
    await this.take(`auth:login:user:${u}`, this.cfg.authRates.loginUser);
  }

  async loginFailed(username: string): Promise<void> {
    const u = AuthLimits.user(username);
    await this.lockout.failed(`login:${u}`).catch((err: unknown) => this.logger.warn({ err }, 'could not record a failed login'));
  }

  async loginSucceeded(username: string): Promise<void> {
    const u = AuthLimits.user(username);
    await this.lockout.succeeded(`login:${u}`).catch((err: unknown) => this.logger.warn({ err }, 'could not clear failed logins'));
  }

  async refresh(ip: string): Promise<void> {
    await this.take(`auth:refresh:ip:${ip}`, this.cfg.authRates.refreshIp);
  }
}
