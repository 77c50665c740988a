import {
  cidrsOverlap,
  libvirtNamesFor,
  normalizeMac,
  parseSubnet,
  planAddresses,
  randomMac,
  Subnet,
} from './network-addresses';

function subnet(cidr: string): Subnet {
  const parsed = parseSubnet(cidr);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed;
}

describe('network addresses', () => {
  it('accepts IPv4 network addresses from /16 to /29', () => {
    expect(subnet('10.77.0.0/24')).toMatchObject({ prefix: 24 });
    expect(subnet('172.16.0.0/16')).toMatchObject({ prefix: 16 });
    expect(subnet('192.168.3.8/29')).toMatchObject({ prefix: 29 });
  });

  it.each([
    ['10.77.0.1/24', 'network address'],
    ['10.0.0.0/8', 'prefix'],
    ['10.77.0.0/30', 'prefix'],
    ['10.77.0/24', 'IPv4 subnet'],
    ['010.77.0.0/24', 'IPv4 subnet'],
    ['0xa.77.0.0/24', 'IPv4 subnet'],
    ['fd00::/64', 'IPv4 subnet'],
    ['10.77.0.0/24; reboot', 'IPv4 subnet'],
    ['10.77.0.0/24<x/>', 'IPv4 subnet'],
    ['224.1.0.0/16', 'range'],
    ['169.254.0.0/16', 'range'],
    ['240.0.0.0/16', 'range'],
    ['0.0.0.0/16', 'range'],
  ])('refuses %s (%s)', (cidr, reason) => {
    const parsed = parseSubnet(cidr);
    expect('problem' in parsed && parsed.problem).toContain(reason);
  });

  it('tells overlapping subnets, either way round, and ignores IPv6', () => {
    expect(cidrsOverlap('10.0.0.0/8', '10.77.1.0/24')).toBe(true);
    expect(cidrsOverlap('10.77.1.0/24', '10.0.0.0/8')).toBe(true);
    expect(cidrsOverlap('10.77.1.0/24', '10.77.2.0/24')).toBe(false);
    expect(cidrsOverlap('10.77.0.0/16', '10.77.255.248/29')).toBe(true);
    expect(cidrsOverlap('fd00::/8', '10.77.0.0/16')).toBe(false);
    expect(cidrsOverlap('garbage', '10.77.0.0/16')).toBe(false);
  });

  it('defaults the gateway to the first host and DHCP to the rest', () => {
    expect(planAddresses(subnet('10.77.0.0/24'), {})).toEqual({
      gateway: '10.77.0.1',
      dhcpStart: '10.77.0.2',
      dhcpEnd: '10.77.0.254',
    });
    expect(planAddresses(subnet('192.168.3.8/29'), {})).toEqual({
      gateway: '192.168.3.9',
      dhcpStart: '192.168.3.10',
      dhcpEnd: '192.168.3.14',
    });
    expect(planAddresses(subnet('10.77.0.0/24'), { gateway: '10.77.0.254' })).toEqual({
      gateway: '10.77.0.254',
      dhcpStart: '10.77.0.1',
      dhcpEnd: '10.77.0.253',
    });
  });

  it.each([
    [{ gateway: '10.78.0.1' }, 'gateway'],
    [{ gateway: '10.77.0.0' }, 'gateway'],
    [{ gateway: '10.77.0.255' }, 'gateway'],
    [{ gateway: '10.77.0.01' }, 'gateway'],
    [{ dhcpStart: '10.77.0.9', dhcpEnd: '10.77.0.8' }, 'dhcpEnd'],
    [{ gateway: '10.77.0.5', dhcpStart: '10.77.0.2' }, 'gateway'],
    [{ dhcpEnd: '$(id)' }, 'dhcpEnd'],
  ])('refuses %j', (given, field) => {
    expect(planAddresses(subnet('10.77.0.0/24'), given)).toMatchObject({ field });
  });

  it('validates and lower-cases MACs', () => {
    expect(normalizeMac('52:54:00:AB:cd:EF')).toEqual({ mac: '52:54:00:ab:cd:ef' });
    expect(normalizeMac('01:00:5e:00:00:01')).toHaveProperty('problem');
    expect(normalizeMac('00:00:00:00:00:00')).toHaveProperty('problem');
    expect(normalizeMac('52-54-00-ab-cd-ef')).toHaveProperty('problem');
    expect(normalizeMac('52:54:00:ab:cd:ef\n')).toHaveProperty('problem');
  });

  it('generates locally administered unicast MACs', () => {
    for (let i = 0; i < 200; i++) {
      const mac = randomMac();
      expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(parseInt(mac.slice(0, 2), 16) & 0x03).toBe(0x02);
    }
  });

  it('derives libvirt names from the id', () => {
    expect(libvirtNamesFor('0A1B2C3D-0000-4000-8000-000000000000')).toEqual({
      name: 'limen-net-0a1b2c3d',
      bridge: 'lnbr-0a1b2c3d',
    });
  });
});
