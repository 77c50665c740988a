import { isReachableKind, mergeAddresses, NicForAddresses, sameAddresses } from './vm-addresses';

const NAT: NicForAddresses = {
  id: 'nic-nat',
  mac: '02:00:00:00:00:01',
  kind: 'isolated',
  libvirtName: 'limen-net-aaaa0001',
};
const USER: NicForAddresses = { id: 'nic-user', mac: '02:00:00:00:00:02', kind: 'user', libvirtName: null };
const BRIDGE: NicForAddresses = { id: 'nic-br', mac: '02:00:00:00:00:03', kind: 'bridge', libvirtName: null };
const agent = (mac: string, ip: string, prefix = 24, name = 'eth0') => ({
  mac,
  ip,
  prefix,
  family: (ip.includes(':') ? 'ipv6' : 'ipv4') as 'ipv4' | 'ipv6',
  name,
});

describe('mergeAddresses', () => {
  it('takes leases for managed networks, the agent for user-mode NICs, and orders by NIC, source, family, address', () => {
    const addresses = mergeAddresses([USER, NAT], {
      leases: new Map([
        [
          'limen-net-aaaa0001',
          [
            { mac: '02:00:00:00:00:01', ip: '10.77.0.23', prefix: 24 },
            { mac: '02:00:00:00:00:99', ip: '10.77.0.50', prefix: 24 },
          ],
        ],
      ]),
      agent: [
        agent('00:00:00:00:00:00', '127.0.0.1', 8, 'lo'),
        agent('00:00:00:00:00:00', '::1', 128, 'lo'),
        agent('02:00:00:00:00:02', '10.0.2.15'),
        agent('02:00:00:00:00:02', 'fe80::2', 64),
        agent('02:00:00:00:00:01', 'fd00::17', 64),
        agent('02:00:00:00:00:01', '10.77.0.23'),
      ],
      arp: null,
    });
    expect(addresses).toEqual([
      { nicId: 'nic-user', mac: USER.mac, ip: '10.0.2.15', prefix: 24, family: 'ipv4', source: 'agent' },
      { nicId: 'nic-nat', mac: NAT.mac, ip: '10.77.0.23', prefix: 24, family: 'ipv4', source: 'lease' },
      { nicId: 'nic-nat', mac: NAT.mac, ip: 'fd00::17', prefix: 64, family: 'ipv6', source: 'agent' },
    ]);
  });

  it('has nothing for a user-mode NIC without the agent, and uses ARP for a bridge NIC only when the agent says nothing of it', () => {
    const arp = [{ mac: '02:00:00:00:00:03', ip: '192.168.5.20', prefix: 32, family: 'ipv4' as const }];
    expect(mergeAddresses([USER, BRIDGE], { leases: new Map(), agent: null, arp })).toEqual([
      { nicId: 'nic-br', mac: BRIDGE.mac, ip: '192.168.5.20', prefix: 32, family: 'ipv4', source: 'arp' },
    ]);
    expect(
      mergeAddresses([BRIDGE], { leases: new Map(), agent: [agent('02:00:00:00:00:03', '192.168.5.21')], arp }),
    ).toEqual([{ nicId: 'nic-br', mac: BRIDGE.mac, ip: '192.168.5.21', prefix: 24, family: 'ipv4', source: 'agent' }]);
  });

  it('matches MACs whatever their case', () => {
    const addresses = mergeAddresses([NAT], {
      leases: new Map([
        ['limen-net-aaaa0001', [{ mac: '02:00:00:00:00:01'.toUpperCase(), ip: '10.77.0.9', prefix: 24 }]],
      ]),
      agent: null,
      arp: null,
    });
    expect(addresses.map((a) => a.ip)).toEqual(['10.77.0.9']);
  });
});

describe('isReachableKind and sameAddresses', () => {
  it('drops loopback, link-local and unspecified addresses', () => {
    expect(['127.0.0.1', '169.254.3.4', '0.0.0.0', '::1', '::', 'fe80::1', 'FEBF::1'].filter(isReachableKind)).toEqual(
      [],
    );
    expect(['10.0.2.15', '2001:db8::1', 'fd00::1'].every(isReachableKind)).toBe(true);
  });

  it('compares lists by their entries, not by key order', () => {
    const a = { nicId: 'n', mac: 'm', ip: '10.0.0.1', prefix: 24, family: 'ipv4' as const, source: 'lease' as const };
    const reordered = {
      source: 'lease' as const,
      ip: '10.0.0.1',
      mac: 'm',
      nicId: 'n',
      family: 'ipv4' as const,
      prefix: 24,
    };
    expect(sameAddresses([a], [reordered])).toBe(true);
    expect(sameAddresses([a], [])).toBe(false);
    expect(sameAddresses([a], [{ ...a, ip: '10.0.0.2' }])).toBe(false);
  });
});
