import { parseDomifaddr } from './libvirt-guest-agent';
import { parseDhcpLeases } from './libvirt-networks';

describe('libvirt network outputs', () => {
  it('parses net-dhcp-leases (hostname "-" is none, IPv6 leases left out)', () => {
    const output = ` Expiry Time           MAC address         Protocol   IP address          Hostname   Client ID or DUID
------------------------------------------------------------------------------------------------------------
 2026-12-07 05:10:11   52:54:00:AA:bb:01   ipv4       10.231.7.23/24      web-1      01:52:54:00:aa:bb:01
 2026-12-07 05:12:00   52:54:00:aa:bb:02   ipv4       10.231.7.24/24      -          -
 2026-12-07 05:12:00   52:54:00:aa:bb:03   ipv6       fd00::5/64          -          -
`;
    const leases = parseDhcpLeases(output);
    expect(leases.map(({ expiresAt, ...rest }) => ({ ...rest, expires: expiresAt instanceof Date }))).toEqual([
      { mac: '52:54:00:aa:bb:01', ip: '10.231.7.23', prefix: 24, hostname: 'web-1', expires: true },
      { mac: '52:54:00:aa:bb:02', ip: '10.231.7.24', prefix: 24, expires: true },
    ]);
  });

  it('parses domifaddr --full, without loopback and link-local addresses; names only from the agent', () => {
    const output = ` Name       MAC address          Protocol     Address
-------------------------------------------------------------------------------
 lo         00:00:00:00:00:00    ipv4         127.0.0.1/8
 lo         00:00:00:00:00:00    ipv6         ::1/128
 enp1s0     52:54:00:12:34:56    ipv4         10.231.7.23/24
 enp1s0     52:54:00:12:34:56    ipv6         fd00::23/64
 enp1s0     52:54:00:12:34:56    ipv6         fe80::5054:ff:fe12:3456/64
 enp2s0     52:54:00:12:34:57    ipv4         169.254.3.3/16
`;
    expect(parseDomifaddr(output, true)).toEqual([
      { mac: '52:54:00:12:34:56', ip: '10.231.7.23', prefix: 24, family: 'ipv4', name: 'enp1s0' },
      { mac: '52:54:00:12:34:56', ip: 'fd00::23', prefix: 64, family: 'ipv6', name: 'enp1s0' },
    ]);
    expect(parseDomifaddr(' vnet3  52:54:00:12:34:56  ipv4  10.231.7.23/24\n', false)).toEqual([
      { mac: '52:54:00:12:34:56', ip: '10.231.7.23', prefix: 24, family: 'ipv4' },
    ]);
  });
});
