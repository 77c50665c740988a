import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { createVirtualizationPort, DomainEvent, NicSpec, VirtualizationPort } from '../src';
import { backupWhileTheGuestWrites, banner, CLOUD_BOOT_TIMEOUT_MS, CLOUD_IMAGE, hasCloudImage } from './cloud-guest';
import { diskVolumeName, seedVolumeName, serialLogName } from '../src/naming/storage-name';
import { makeDisk, makeRunDir, waitFor } from './guest-fixture';
import { contractPools } from './port-contract-storage';

function agentEvent(event: DomainEvent, vmId: string, detail: 'connected' | 'disconnected'): boolean {
  return event.kind === 'other' && event.vmId === vmId && event.name === 'agent-lifecycle' && event.detail === detail;
}

/**
 * qemu-direct with a real guest agent: the Debian cloud image boots from its disk (BIOS), reads
 * its NoCloud seed from virtio-scsi, and runs qemu-ga on the virtio-serial port. Traffic goes to
 * 127.0.0.1 (the port forward) and through the agent only.
 */
(hasCloudImage ? describe : describe.skip)('qemu-direct with the Debian cloud image and its guest agent', () => {
  const run = makeRunDir('qd-cloud');
  const vmId = randomUUID();
  const { pool } = contractPools(run.dir);
  const hostname = `qd-${vmId.slice(0, 8)}`;
  const sshPort = 21_800 + Math.floor(Math.random() * 190);
  const nic: NicSpec = {
    id: randomUUID(),
    mac: '52:54:00:7b:00:01',
    attachment: {
      type: 'user',
      portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: sshPort, guestPort: 22 }],
    },
  };
  const events: DomainEvent[] = [];
  let port: VirtualizationPort;

  /** A fresh key pair in the run folder; cloud-init gives its public half to the default user. */
  const sshKey = (): string => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(run.dir, 'key')]);
    return readFileSync(join(run.dir, 'key.pub'), 'utf8').trim();
  };

  beforeAll(async () => {
    port = createVirtualizationPort({ adapter: 'qemu-direct', stateDir: join(run.dir, 'state'), virtType: 'qemu' });
    port.events().subscribe((event) => events.push(event));
    await port.ensureStoragePool(pool);
    // The overlay straight from qemu-img: the cloud image is in no pool of this run.
    const disk = makeDisk(join(pool.path, diskVolumeName(vmId, vmId)), { backing: CLOUD_IMAGE });
    const seed = await port.createSeedIso({
      pool: pool.name,
      name: seedVolumeName(vmId),
      metaData: `instance-id: ${vmId}\nlocal-hostname: ${hostname}\n`,
      userData: `#cloud-config\nssh_authorized_keys:\n  - ${sshKey()}\n`,
      networkConfig: `version: 2\nethernets:\n  nic0:\n    match: {macaddress: "${nic.mac}"}\n    dhcp4: true\n`,
    });
    await port.defineDomain({
      vmId,
      ownerId: 'owner-1',
      vcpus: 1,
      memoryMiB: 512,
      virtType: 'qemu',
      disks: [{ id: vmId, path: disk }],
      seedIsoPath: seed.path,
      nics: [nic],
      serialLogPath: join(pool.path, serialLogName(vmId)),
      bootOrder: ['hd'],
    });
  }, 60_000);

  afterAll(async () => {
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId, { removeVolumes: true, removeSeedIso: true }).catch(() => undefined);
    await port.close();
    run.cleanup();
  });

  it(
    'boots; the agent connects (state and event), reports the OS, the hostname cloud-init set and the addresses',
    async () => {
      const started = Date.now();
      const connected = firstValueFrom(
        port.events().pipe(
          filter((e) => agentEvent(e, vmId, 'connected')),
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
      process.stdout.write(`[qemu-direct] cloud image: agent and hostname after ${Date.now() - started} ms\n`);
      expect(info.os).toMatchObject({ name: 'Debian GNU/Linux', version: expect.stringContaining('12') });
      expect(info.os.kernel).toMatch(/cloud-amd64/);
      const addresses = await waitFor(
        'the DHCP address of the user-mode NIC',
        async () => {
          const found = await port.getInterfaceAddresses(vmId, 'agent');
          return found.some((a) => a.family === 'ipv4' && a.mac === nic.mac) ? found : undefined;
        },
        60_000,
        1_000,
      );
      expect(addresses).toContainEqual(
        expect.objectContaining({ mac: nic.mac, ip: '10.0.2.15', prefix: 24, family: 'ipv4' }),
      );
      expect(addresses.some((a) => a.ip === '127.0.0.1')).toBe(false);
    },
    CLOUD_BOOT_TIMEOUT_MS + 60_000,
  );

  it('runs programs in the guest with input and exit codes; SSH with the seeded key through the forward on 127.0.0.1', async () => {
    expect(await port.guestExec(vmId, ['/bin/cat', '/etc/hostname'])).toEqual({
      exitCode: 0,
      stdout: `${hostname}\n`,
      stderr: '',
    });
    expect(await port.guestExec(vmId, ['/bin/cat'], { input: "it's <ok> & $(no)" })).toMatchObject({
      exitCode: 0,
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
    const options = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
    const login = [
      '-i',
      join(run.dir, 'key'),
      '-p',
      String(sshPort),
      ...options,
      'debian@127.0.0.1',
      'cat /etc/hostname',
    ];
    const output = await waitFor(
      'an SSH login with the seeded key',
      async () => {
        try {
          return execFileSync('ssh', login, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
        } catch {
          return undefined;
        }
      },
      120_000,
      3_000,
    );
    expect(output.trim()).toBe(hostname);
  }, 180_000);

  it('hot-plugs a NIC the guest sees (ip -j link through the agent) and unplugs it again', async () => {
    const extra: NicSpec = { id: randomUUID(), mac: '52:54:00:7b:00:02', attachment: { type: 'user' } };
    const links = async () =>
      (
        JSON.parse((await port.guestExec(vmId, ['/usr/sbin/ip', '-j', 'link'])).stdout) as Array<{ address?: string }>
      ).map((link) => link.address);
    expect(await port.attachNic(vmId, extra)).toEqual({ config: true, live: true });
    await waitFor('the new NIC in the guest', async () => (await links()).includes(extra.mac), 60_000, 1_000);
    expect(await port.detachNic(vmId, extra.id)).toEqual({ config: true, live: true });
    await waitFor('the NIC gone from the guest', async () => !(await links()).includes(extra.mac), 60_000, 1_000);
    expect((await links()).includes(nic.mac)).toBe(true);
  }, 180_000);

  it('backs the disk up at the point it began: frozen, begun, thawed; later guest writes stay out', async () => {
    await backupWhileTheGuestWrites(
      port,
      vmId,
      { id: vmId, path: join(pool.path, diskVolumeName(vmId, vmId)) },
      { pool: pool.name, name: `${vmId}-backup.qcow2` },
    );
  }, 660_000);

  it('freezes and thaws the filesystems; the agent disconnects when the guest stops', async () => {
    const frozen = await port.freezeFilesystems(vmId);
    expect(frozen).toBeGreaterThanOrEqual(1);
    expect(await port.thawFilesystems(vmId)).toBe(frozen);
    const disconnected = firstValueFrom(
      port.events().pipe(
        filter((e) => agentEvent(e, vmId, 'disconnected')),
        timeout(30_000),
      ),
    );
    await port.destroy(vmId);
    await disconnected;
    expect((await port.getDomain(vmId)).guestAgent).toBe('disconnected');
    await expect(port.getGuestInfo(vmId)).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
  }, 60_000);
});
