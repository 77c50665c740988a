import { readHostRoutes } from './host-routes';

const ROUTES = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
  { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' },
  { dst: '10.9.8.7', gateway: '192.0.2.1', dev: 'eth0' },
  { dst: '10.77.0.0/24', dev: 'lnbr-0a1b2c3d' },
  { type: 'blackhole', dst: '172.31.0.0/16' },
]);
const ADDRESSES = JSON.stringify([
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
  {
    ifname: 'eth0',
    addr_info: [
      { family: 'inet', local: '192.0.2.2', prefixlen: 24 },
      { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
    ],
  },
  { ifname: 'br0', addr_info: [{ family: 'inet', local: '10.20.30.1', prefixlen: 23 }] },
  { ifname: 'lnbr-0a1b2c3d', addr_info: [{ family: 'inet', local: '10.77.0.1', prefixlen: 24 }] },
  { ifname: 'ifb0' },
]);

describe('readHostRoutes', () => {
  it('lists routed and directly reached IPv4 subnets, normalised, without the default route or LIMEN bridges', async () => {
    const calls: string[][] = [];
    const routes = await readHostRoutes({
      ip: async (args) => {
        calls.push(args);
        return args.includes('route') ? ROUTES : ADDRESSES;
      },
    });
    expect(routes).toEqual(['10.9.8.7/32', '10.20.30.0/23', '127.0.0.0/8', '192.0.2.0/24']);
    expect(calls).toEqual([
      ['-j', '-4', 'route', 'show'],
      ['-j', '-4', 'addr', 'show'],
    ]);
  });

  it('reads this machine (no output is an empty list)', async () => {
    expect(await readHostRoutes({ ip: async () => '' })).toEqual([]);
    const real = await readHostRoutes();
    expect(real).toContain('127.0.0.0/8');
    for (const cidr of real) expect(cidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });
});
