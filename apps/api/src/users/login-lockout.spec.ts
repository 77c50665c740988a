import { lockoutClient } from './login-lockout';

describe('lockoutClient', () => {
  it('security 11.13: counts an IPv4 client by its address, and an IPv4-mapped IPv6 address as that IPv4 address', () => {
    expect(lockoutClient('203.0.113.7')).toBe('203.0.113.7');
    expect(lockoutClient('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('security 11.13: counts an IPv6 client by its /64, however the address is written', () => {
    expect(lockoutClient('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(lockoutClient('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(lockoutClient('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(lockoutClient('::1')).toBe('0:0:0:0::/64');
    expect(lockoutClient('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(lockoutClient('2001:db8:1:3::1')).not.toBe(lockoutClient('2001:db8:1:2::1'));
  });

  it('puts what is not an address in one bucket', () => {
    expect(lockoutClient(undefined)).toBe('unknown');
    expect(lockoutClient('not-an-address')).toBe('unknown');
  });
});
