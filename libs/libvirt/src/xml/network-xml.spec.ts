import { NetworkDefinition } from '../models';
import { asNetworkDefinition, buildNetworkXml, parseNetworkXml } from './network-xml';

const ISOLATED: NetworkDefinition = {
  name: 'limen-net-0a1b2c3d',
  kind: 'isolated',
  bridge: 'lnbr-0a1b2c3d',
  cidr: '10.231.7.0/24',
  gateway: '10.231.7.1',
  dhcpStart: '10.231.7.2',
  dhcpEnd: '10.231.7.254',
};

describe('network XML', () => {
  it('round-trips isolated and nat definitions; only nat forwards', () => {
    const isolated = buildNetworkXml(ISOLATED);
    expect(isolated).not.toContain('<forward');
    expect(isolated).toContain('netmask="255.255.255.0"');
    expect(asNetworkDefinition(parseNetworkXml(isolated))).toEqual(ISOLATED);
    const nat = {
      ...ISOLATED,
      kind: 'nat' as const,
      cidr: '10.232.0.0/16',
      gateway: '10.232.0.1',
      dhcpStart: '10.232.0.10',
      dhcpEnd: '10.232.3.200',
    };
    expect(buildNetworkXml(nat)).toContain('<forward mode="nat"/>');
    expect(asNetworkDefinition(parseNetworkXml(buildNetworkXml(nat)))).toEqual(nat);
  });

  it('reads what libvirt writes back (single quotes, uuid, mac, nat port range, prefix form)', () => {
    const parsed = parseNetworkXml(`<network>
  <name>limen-net-probe</name><uuid>2537893c-2d8f-4a02-b2b2-ed93401645c2</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='lnbr-probe' stp='on' delay='0'/><mac address='52:54:00:fb:b3:10'/>
  <ip address='10.231.98.1' prefix='24'><dhcp><range start='10.231.98.2' end='10.231.98.254'/></dhcp></ip>
</network>`);
    expect(parsed).toEqual({
      name: 'limen-net-probe',
      kind: 'nat',
      bridge: 'lnbr-probe',
      cidr: '10.231.98.0/24',
      gateway: '10.231.98.1',
      dhcpStart: '10.231.98.2',
      dhcpEnd: '10.231.98.254',
    });
    expect(asNetworkDefinition({ ...parsed, kind: 'route' })).toBeUndefined();
  });

  it.each<[string, Partial<NetworkDefinition>]>([
    ['a name with XML characters', { name: "limen-net-a'/><forward mode='nat" }],
    ['a name with shell characters', { name: 'limen-net-$(reboot)' }],
    ['a name outside the limen-net- namespace', { name: 'default' }],
    ['a bridge with XML characters', { bridge: 'br"><x' }],
    ['a bridge longer than 15 characters', { bridge: 'lnbr-0123456789ab' }],
    ['a CIDR with host bits', { cidr: '10.231.7.5/24' }],
    ['an IPv6 CIDR', { cidr: 'fd00::/64' }],
    ['a gateway outside the subnet', { gateway: '10.231.8.1' }],
    ['the network address as gateway', { gateway: '10.231.7.0' }],
    ['a DHCP end on the broadcast address', { dhcpEnd: '10.231.7.255' }],
    ['a DHCP range that holds the gateway', { gateway: '10.231.7.20' }],
    ['a reversed DHCP range', { dhcpStart: '10.231.7.200', dhcpEnd: '10.231.7.100' }],
    ['an address with leading zeros', { gateway: '10.231.7.01' }],
  ])('refuses %s before any XML exists', (_label, change) => {
    expect(() => buildNetworkXml({ ...ISOLATED, ...change })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
