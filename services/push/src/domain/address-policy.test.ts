import { AddressPolicy } from './address-policy.js';

describe('AddressPolicy (SSRF guard)', () => {
  const strict = new AddressPolicy([]);
  it('allows public https destinations only', () => {
    expect(strict.checkUrl('https://fcm.googleapis.com/x')).toBeUndefined();
    expect(strict.checkUrl('https://93.184.216.34/hook')).toBeUndefined();
    expect(strict.checkUrl('http://example.com/')).toMatch(/https/);
    expect(strict.checkUrl('https://user:pw@example.com/')).toMatch(/credentials/);
    expect(strict.checkUrl('not a url')).toMatch(/URL/);
  });
  it.each([
    'https://127.0.0.1/', 'https://10.1.2.3/', 'https://172.16.0.1/', 'https://192.168.0.10/', 'https://169.254.169.254/',
    'https://[::1]/', 'https://[fe80::1]/', 'https://[fd00::1]/', 'https://[::ffff:127.0.0.1]/', 'https://0.0.0.0/',
    'https://100.64.0.1/', 'https://localhost/', 'https://metadata.google.internal/',
  ])('refuses %s', (u) => expect(strict.checkUrl(u)).toBeDefined());
  it('resolved addresses are checked the same way, v4-mapped included', () => {
    expect(strict.addressAllowed('10.0.0.1')).toBe(false);
    expect(strict.addressAllowed('::ffff:10.0.0.1')).toBe(false);
    expect(strict.addressAllowed('8.8.8.8')).toBe(true);
  });
  it('an operator allow-list opens CIDRs and host names', () => {
    const dev = new AddressPolicy(['127.0.0.0/8', '::1/128', 'relay.corp']);
    expect(dev.checkUrl('https://127.0.0.1:9470/x')).toBeUndefined();
    expect(dev.checkUrl('https://[::1]/x')).toBeUndefined();
    expect(dev.checkUrl('https://10.0.0.1/x')).toBeDefined();
    expect(dev.hostAllowed('relay.corp')).toBe(true);
    expect(dev.checkUrl('http://127.0.0.1/x')).toMatch(/https/);
  });
});
