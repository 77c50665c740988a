import { Logger } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AuditService } from '../audit/audit.service';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { FakeHostPorts, FakeHostRepository, hostRow } from '../hosts/testing/fake-hosts';
import { PageQueryDto } from '../common/page-query.dto';
import { CreateNetworkDto } from './dto/network.dto';
import { NetworksService } from './networks.service';
import { FakeNetworkRepository, FakeVmNicRepository } from './testing/fake-network-repositories';
import { VmNic } from './vm-nic.entity';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'admin', role: 'admin' };

async function world(...hosts: string[]) {
  const networks = new FakeNetworkRepository();
  const nics = new FakeVmNicRepository();
  const transactions = new FakeTransactions(networks.rows, nics.rows);
  const rows = new FakeHostRepository(
    ...(hosts.length ? hosts : ['one', 'two']).map((name) => hostRow(name, name === 'down' ? { status: 'down' } : {})),
  );
  const hostPorts = new FakeHostPorts(rows, () => new FakeVirtualizationPort());
  await hostPorts.reload();
  const annotations: unknown[] = [];
  const audit = { annotate: (a: unknown) => annotations.push(a) } as unknown as AuditService;
  const service = new NetworksService(
    networks.asRepository,
    nics.asRepository,
    transactions.asTransactions,
    hostPorts.asPorts,
    audit,
  );
  const port = (name: string) => hostPorts.forHost(`id-${name}`);
  return { service, networks, nics, port, annotations };
}

function isolated(fields: Partial<CreateNetworkDto> = {}): CreateNetworkDto {
  return { name: 'lab', kind: 'isolated', cidr: '10.231.0.0/24', ...fields };
}

async function problem(work: Promise<unknown>): Promise<{ status: number; code: string; detail: string }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppException) return { status: error.getStatus(), code: error.code, detail: error.detail };
    if (error instanceof HypervisorError) return { status: 0, code: error.code, detail: error.message };
    throw error;
  }
  throw new Error('expected a problem');
}

describe('NetworksService', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('creates an isolated network with the default plan and defines it on every online host', async () => {
    const { service, networks, port, annotations } = await world('one', 'two', 'down');
    const network = await service.create(isolated());
    expect(network).toMatchObject({
      kind: 'isolated',
      cidr: '10.231.0.0/24',
      gateway: '10.231.0.1',
      dhcpStart: '10.231.0.2',
      dhcpEnd: '10.231.0.254',
      public: true,
      libvirtName: `limen-net-${network.id.slice(0, 8)}`,
      bridge: `lnbr-${network.id.slice(0, 8)}`,
    });
    expect(networks.rows.has(network.id)).toBe(true);
    for (const host of ['one', 'two'])
      expect(await port(host).listNetworks()).toEqual([
        expect.objectContaining({ name: network.libvirtName, kind: 'isolated', active: true }),
      ]);
    expect(await port('down').listNetworks()).toEqual([]);
    expect(annotations).toEqual([expect.objectContaining({ targetId: network.id })]);
  });

  it('creates user and bridge networks without defining anything; a bridge must exist on the hosts (400)', async () => {
    const { service, port } = await world();
    expect(await service.create({ name: 'slirp', kind: 'user', public: false })).toMatchObject({
      kind: 'user',
      cidr: null,
      libvirtName: null,
      public: false,
    });
    expect(await problem(service.create({ name: 'lan', kind: 'bridge', bridge: 'br0' }))).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    port('one').addBridge('br0');
    port('two').addBridge('br0');
    expect(await service.create({ name: 'lan', kind: 'bridge', bridge: 'br0', vlan: 42 })).toMatchObject({
      bridge: 'br0',
      vlan: 42,
    });
    expect(await port('one').listNetworks()).toEqual([]);
  });

  it.each([
    [{ kind: 'isolated', cidr: undefined }, 'cidr'],
    [{ kind: 'nat', cidr: '10.231.0.5/24' }, 'cidr'],
    [{ kind: 'nat', cidr: '10.0.0.0/8' }, 'cidr'],
    [{ kind: 'isolated', gateway: '10.232.0.1' }, 'gateway'],
    [{ kind: 'isolated', bridge: 'br0' }, 'bridge'],
    [{ kind: 'isolated', vlan: 3 }, 'vlan'],
    [{ kind: 'user', cidr: '10.231.0.0/24' }, 'cidr'],
    [{ kind: 'bridge', cidr: '10.231.0.0/24', bridge: 'br0' }, 'cidr'],
    [{ kind: 'bridge', cidr: undefined }, 'bridge'],
  ] as Array<[Partial<CreateNetworkDto>, string]>)('refuses %j (400 on %s), leaving nothing', async (fields, field) => {
    const { service, networks, port } = await world();
    const refused = service.create(isolated(fields));
    await expect(refused).rejects.toMatchObject({ code: 'VALIDATION_FAILED', extra: { errors: [{ field }] } });
    expect(networks.rows.size).toBe(1);
    expect(await port('one').listNetworks()).toEqual([]);
  });

  it('refuses a subnet overlapping another network, a host route or loopback (409 NETWORK_CONFLICT), and a taken name (409)', async () => {
    const { service, port } = await world();
    await service.create(isolated());
    expect(await problem(service.create(isolated({ name: 'wide', cidr: '10.231.0.0/16' })))).toMatchObject({
      status: 409,
      code: 'NETWORK_CONFLICT',
      detail: expect.stringContaining('lab'),
    });
    port('two').setHostRoutes(['192.168.7.0/24']);
    expect(await problem(service.create(isolated({ name: 'home', cidr: '192.168.7.128/25' })))).toMatchObject({
      status: 409,
      code: 'NETWORK_CONFLICT',
      detail: expect.stringContaining('two'),
    });
    expect(await problem(service.create(isolated({ name: 'lo', cidr: '127.1.0.0/16' })))).toMatchObject({
      status: 409,
      code: 'NETWORK_CONFLICT',
    });
    expect(await problem(service.create(isolated({ cidr: '10.232.0.0/24' })))).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });
  });

  it('a host refusing the network takes it off the hosts done before and leaves no row', async () => {
    const { service, networks, port } = await world('one', 'two');
    port('two').failNext('ensureNetwork', new HypervisorError('NETWORK_CONFLICT', 'bridge in use'));
    expect(await problem(service.create(isolated()))).toMatchObject({ code: 'NETWORK_CONFLICT' });
    expect(networks.rows.size).toBe(1);
    expect(await port('one').listNetworks()).toEqual([]);
    expect(await port('two').listNetworks()).toEqual([]);
  });

  it('lists public networks to users and all to admins; a private one is 404 to a user', async () => {
    const { service } = await world();
    const hidden = await service.create({ name: 'hidden', kind: 'user', public: false });
    const page = Object.assign(new PageQueryDto(), { limit: 50 });
    expect((await service.list(alice, page)).items.map((n) => n.name)).toEqual(['user']);
    expect((await service.list(admin, page)).items.map((n) => n.name).sort()).toEqual(['hidden', 'user']);
    expect(await problem(service.get(alice, hidden.id))).toMatchObject({ status: 404 });
    expect(await service.get(admin, hidden.id)).toMatchObject({ name: 'hidden' });
  });

  it('deletes an unused network from the hosts and the table; in use is 409 NETWORK_IN_USE; the user network stays', async () => {
    const { service, networks, nics, port } = await world();
    const network = await service.create(isolated());
    const nic = Object.assign(new VmNic(), { vmId: 'vm-1', networkId: network.id, mac: '02:00:00:00:00:01' });
    await nics.insertIfMacFree({} as never, nic);
    expect(await problem(service.remove(network.id))).toMatchObject({ status: 409, code: 'NETWORK_IN_USE' });
    expect(await port('one').listNetworks()).toHaveLength(1);
    await nics.delete(nic.id);
    await service.remove(network.id);
    expect(networks.rows.has(network.id)).toBe(false);
    expect(await port('one').listNetworks()).toEqual([]);
    expect(await port('two').listNetworks()).toEqual([]);
    expect(await problem(service.remove(network.id))).toMatchObject({ status: 404 });
    expect(await problem(service.remove(USER_NETWORK_ID))).toMatchObject({ status: 409 });
  });
});
