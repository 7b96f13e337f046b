// HTTPS with the SSRF guard (domain/address-policy.ts): every address a host name resolves to is checked at
// connect time (a custom `lookup`), so a name that resolves to an internal address is refused even if it
// looked harmless at registration. Keep-alive agents; a response body is read up to 64 KiB.
// TLS trust is Node's: the system roots plus NODE_EXTRA_CA_CERTS (operations.md).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, request } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from '../../domain/address-policy.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class BlockedDestinationError extends Error {}

const MAX_BODY = 64 * 1024;

export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export class HttpClient {
  private readonly guarded: Agent;
  private readonly open: Agent;

  constructor(
    private readonly policy: AddressPolicy,
    private readonly timeoutMs: number,
  ) {
    const guardLookup: LookupFunction = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = (addresses as unknown as LookupAddress[]).filter(
          (a) => policy.hostAllowed(hostname) || policy.addressAllowed(a.address),
        );
        if (list.length === 0) return callback(new BlockedDestinationError(`destination ${hostname} resolves to a blocked address`), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        callback(null, list[0]!.address, list[0]!.family);
      });
    };
    this.guarded = new Agent({ keepAlive: true, maxSockets: 64, lookup: guardLookup });
    this.open = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  /** `guard`: the URL came from a client (Web Push endpoint, webhook URL). */
  send(
    url: string,
    o: { method?: string; headers: Record<string, string | number>; body?: Buffer | string; guard: boolean },
  ): Promise<HttpResponse> {
    const u = new URL(url);
    if (u.protocol !== 'https:') return Promise.reject(new BlockedDestinationError('only https destinations are allowed'));
    if (o.guard) {
      const why = this.policy.checkUrl(url);
      if (why) return Promise.reject(new BlockedDestinationError(why));
      const host = u.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0 && !this.policy.hostAllowed(host) && !this.policy.addressAllowed(host))
        return Promise.reject(new BlockedDestinationError('destination address is not allowed'));
    }
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        { method: o.method ?? 'POST', headers: o.headers, agent: o.guard ? this.guarded : this.open, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_BODY) chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(o.body);
    });
  }

  close(): void {
    this.guarded.destroy();
    this.open.destroy();
  }
}

/** The usual mapping of an HTTP status to an outcome for providers without a richer error body. */
export function outcomeOfStatus(r: HttpResponse): 'sent' | 'dead' | 'retry' | 'credentials' | 'rejected' {
  if (r.status >= 200 && r.status < 300) return 'sent';
  if (r.status === 404 || r.status === 410) return 'dead';
  if (r.status === 429 || r.status >= 500 || r.status === 408) return 'retry';
  if (r.status === 401 || r.status === 403) return 'credentials';
  return 'rejected';
}
