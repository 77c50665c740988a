import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { createVirtualizationPort, DomainEvent, NicSpec, VirtualizationPort } from '../src';
import { backupWhileTheGuestWrites, banner, CLOUD_BOOT_TIMEOUT_MS, CLOUD_IMAGE, hasCloudImage } from './cloud-guest';
import { diskVolumeName, seedVolumeName, serialLogName } from '../src/naming/storage-name';
import { makeDisk, makeRunDir, waitFor } from './guest-fixture';
import { contractNetwork } from './port-contract-networking';
import { contractPools } from './port-contract-storage';
import { removeLibvirtPools } from './real-contract-harness';

/**
 * libvirt with a real guest agent and a real DHCP server: the Debian cloud image with a user-mode
 * NIC (SSH forwarded to 127.0.0.1) and a NIC on an isolated network this spec creates. Traffic goes
 * to 127.0.0.1 and through the agent only; the guest's private addresses are only read.
 */
(hasCloudImage ? describe : describe.skip)(
  'libvirt with the Debian cloud image, its guest agent and a DHCP lease',
  () => {
    const run = makeRunDir('libvirt-cloud');
    const vmId = randomUUID();
    const hostname = `lv-${vmId.slice(0, 8)}`;
    const sshPort = 21_600 + Math.floor(Math.random() * 190);
    const network = contractNetwork();
    const { pool } = contractPools(run.dir);
    const user: NicSpec = {
      id: randomUUID(),
      mac: '52:54:00:7c:00:01',
      attachment: {
        type: 'user',
        portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: sshPort, guestPort: 22 }],
      },
    };
    const isolated: NicSpec = {
      id: randomUUID(),
      mac: '52:54:00:7c:00:02',
      attachment: { type: 'network', network: network.name },
    };
    const events: DomainEvent[] = [];
    let port: VirtualizationPort;

    beforeAll(async () => {
      port = createVirtualizationPort({ adapter: 'libvirt', uri: 'qemu:///system', virtType: 'qemu' });
      port.events().subscribe((event) => events.push(event));
      await port.ensureNetwork(network);
      await port.ensureStoragePool(pool);
      // The overlay straight from qemu-img: the cloud image is in no pool of this run.
      const disk = makeDisk(join(pool.path, diskVolumeName(vmId, vmId)), { backing: CLOUD_IMAGE });
      const ethernets = [user, isolated]
        .map((nic, i) => `  nic${i}:\n    match: {macaddress: "${nic.mac}"}\n    dhcp4: true\n`)
        .join('');
      const seed = await port.createSeedIso({
        pool: pool.name,
        name: seedVolumeName(vmId),
        metaData: `instance-id: ${vmId}\nlocal-hostname: ${hostname}\n`,
        userData: '#cloud-config\n',
        networkConfig: `version: 2\nethernets:\n${ethernets}`,
      });
      await port.defineDomain({
        vmId,
        ownerId: 'owner-1',
        vcpus: 1,
        memoryMiB: 512,
        virtType: 'qemu',
        disks: [{ id: vmId, path: disk }],
        seedIsoPath: seed.path,
        nics: [user, isolated],
        serialLogPath: join(pool.path, serialLogName(vmId)),
        bootOrder: ['hd'],
      });
    }, 60_000);

    afterAll(async () => {
      await port.destroy(vmId).catch(() => undefined);
      await port.undefineDomain(vmId, { removeVolumes: true, removeSeedIso: true }).catch(() => undefined);
      await port.removeNetwork(network.name).catch(() => undefined);
      await port.close();
      removeLibvirtPools('qemu:///system', [pool.name]);
      run.cleanup();
    });

    it(
      'boots; the agent connects (event and live XML state) and reports the OS and the hostname',
      async () => {
        const started = Date.now();
        const connected = firstValueFrom(
          port.events().pipe(
            filter(
              (e) => e.kind === 'other' && e.vmId === vmId && e.name === 'agent-lifecycle' && e.detail === 'connected',
            ),
            timeout(CLOUD_BOOT_TIMEOUT_MS),
          ),
        );
        await port.start(vmId);
        await connected;
        expect((await port.getDomain(vmId)).guestAgent).toBe('connected');
        const info = await waitFor(
          'the hostname from the seed',
          async () => {
            const guest = await port.getGuestInfo(vmId).catch(() => undefined);
            return guest?.hostname === hostname ? guest : undefined;
          },
          CLOUD_BOOT_TIMEOUT_MS,
          2_000,
        );
        process.stdout.write(`[libvirt] cloud image: agent and hostname after ${Date.now() - started} ms\n`);
        expect(info.os).toMatchObject({ name: 'Debian GNU/Linux', version: expect.stringContaining('12') });
        expect(info.os.kernel).toMatch(/cloud-amd64/);
      },
      CLOUD_BOOT_TIMEOUT_MS + 60_000,
    );

    it('reports the DHCP lease of the isolated NIC from libvirt and from the agent', async () => {
      const lease = await waitFor(
        'a lease for the isolated NIC',
        async () => (await port.getDhcpLeases(network.name)).find((candidate) => candidate.mac === isolated.mac),
        120_000,
        2_000,
      );
      expect(lease.ip.startsWith(network.cidr.split('.').slice(0, 3).join('.'))).toBe(true);
      expect(await port.getInterfaceAddresses(vmId, 'lease')).toEqual([
        { mac: isolated.mac, ip: lease.ip, prefix: 24, family: 'ipv4' },
      ]);
      // The lease is granted a moment before the guest's DHCP client configures it (and the user NIC's).
      const agent = await waitFor(
        'the agent to report both addresses',
        async () => {
          const addresses = await port.getInterfaceAddresses(vmId, 'agent');
          const has = (mac: string) => addresses.some((address) => address.mac === mac && address.family === 'ipv4');
          return has(isolated.mac) && has(user.mac) ? addresses : undefined;
        },
        60_000,
        1_000,
      );
      expect(agent).toContainEqual(expect.objectContaining({ mac: isolated.mac, ip: lease.ip, family: 'ipv4' }));
      expect(agent).toContainEqual(expect.objectContaining({ mac: user.mac, ip: '10.0.2.15', family: 'ipv4' }));
      expect(agent.some((address) => address.ip === '127.0.0.1' || address.ip.startsWith('fe80'))).toBe(false);
    }, 180_000);

    it('runs programs through the agent; SSH answers on the forwarded port of 127.0.0.1', async () => {
      expect(await port.guestExec(vmId, ['/bin/cat', '/etc/hostname'])).toEqual({
        exitCode: 0,
        stdout: `${hostname}\n`,
        stderr: '',
      });
      expect(await port.guestExec(vmId, ['/bin/cat'], { input: "it's <ok> & $(no)" })).toMatchObject({
        stdout: "it's <ok> & $(no)",
      });
      expect(await port.guestExec(vmId, ['/bin/sh', '-c', 'echo e >&2; exit 3'])).toEqual({
        exitCode: 3,
        stdout: '',
        stderr: 'e\n',
      });
      await expect(port.guestExec(vmId, ['/bin/sleep', '5'], { timeoutMs: 1_000 })).rejects.toMatchObject({
        code: 'TIMEOUT',
      });
      const ssh = await waitFor('the SSH banner', async () => (await banner(sshPort)) || undefined, 120_000, 2_000);
      expect(ssh).toMatch(/^SSH-2\.0-OpenSSH/);
    }, 180_000);

    it('hot-plugs a NIC on the network that the guest sees (ip -j link) and unplugs it', async () => {
      const extra: NicSpec = {
        id: randomUUID(),
        mac: '52:54:00:7c:00:03',
        attachment: { type: 'network', network: network.name },
      };
      const links = async () =>
        (
          JSON.parse((await port.guestExec(vmId, ['/usr/sbin/ip', '-j', 'link'])).stdout) as Array<{ address?: string }>
        ).map((link) => link.address);
      expect(await port.attachNic(vmId, extra)).toEqual({ config: true, live: true });
      await waitFor('the new NIC in the guest', async () => (await links()).includes(extra.mac), 60_000, 1_000);
      expect(await port.detachNic(vmId, extra.id)).toEqual({ config: true, live: true });
      expect(await links()).not.toContain(extra.mac);
    }, 180_000);

    it('backs the disk up at the point it began: frozen, begun, thawed; later guest writes stay out', async () => {
      await backupWhileTheGuestWrites(
        port,
        vmId,
        { id: vmId, path: join(pool.path, diskVolumeName(vmId, vmId)) },
        { pool: pool.name, name: `${vmId}-backup.qcow2` },
      );
    }, 660_000);

    it('freezes and thaws the filesystems through the agent', async () => {
      const frozen = await port.freezeFilesystems(vmId);
      expect(frozen).toBeGreaterThanOrEqual(1);
      expect(await port.thawFilesystems(vmId)).toBe(frozen);
    }, 60_000);
  },
);
