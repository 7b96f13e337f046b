// The SSRF guard's rules (pure): client-supplied push URLs (Web Push endpoints, webhook URLs) must be https and
// must not reach loopback, private, link-local or otherwise internal addresses unless an operator allow-lists
// them (PUSH_OUTBOUND_ALLOW: CIDRs or host names). The HTTP client re-checks every resolved address at connect
// time (adapters/providers/http-client.ts), so DNS cannot be used to get around it.
import { BlockList, isIP } from 'node:net';

const BLOCKED_V4 = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const;
const BLOCKED_V6 = [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const;

export class AddressPolicy {
  private readonly blocked = new BlockList();
  private readonly allowed = new BlockList();
  private readonly allowedHosts = new Set<string>();

  constructor(allow: readonly string[]) {
    for (const [a, p] of BLOCKED_V4) this.blocked.addSubnet(a, p, 'ipv4');
    for (const [a, p] of BLOCKED_V6) this.blocked.addSubnet(a, p, 'ipv6');
    for (const entry of allow) {
      const [addr, prefix] = entry.split('/');
      const fam = isIP(addr ?? '');
      if (fam === 0) {
        this.allowedHosts.add(entry.toLowerCase());
        continue;
      }
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      const bits = prefix === undefined ? (fam === 4 ? 32 : 128) : Number(prefix);
      this.allowed.addSubnet(addr!, bits, type);
    }
  }

  /** Whether a host name is allow-listed as such (then its addresses are not checked). */
  hostAllowed(host: string): boolean {
    return this.allowedHosts.has(host.toLowerCase());
  }

  /** Whether a resolved address may be connected to. */
  addressAllowed(address: string): boolean {
    let a = address;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
    if (mapped) a = mapped[1]!;
    const fam = isIP(a);
    if (fam === 0) return false;
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(a, type)) return true;
    return !this.blocked.check(a, type);
  }

  /**
   * Checks a client-supplied URL's shape: https, a host, no credentials, and (for IP literals) an allowed address.
   * Returns a reason when refused.
   */
  checkUrl(raw: string): string | undefined {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return 'must be a URL';
    }
    if (u.protocol !== 'https:') return 'must be an https URL';
    if (u.username || u.password) return 'must not contain credentials';
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!host) return 'must have a host';
    if (this.hostAllowed(host)) return undefined;
    if (isIP(host) !== 0) return this.addressAllowed(host) ? undefined : 'destination address is not allowed';
    if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local'))
      return 'destination host is not allowed';
    return undefined;
  }
}
