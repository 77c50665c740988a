import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { virsh } from '../../test/support/hypervisor';

/**
 * The baseline of bench/reachability.bench.ts: what a person with virsh would do to boot the
 * cloud image with SSH on a forwarded port. An overlay qcow2 over the image, a NoCloud seed ISO
 * (genisoimage, volume `cidata`) on virtio-scsi, QEMU user-mode networking with a hostfwd on
 * 127.0.0.1, and a minimal domain XML, defined and started with virsh.
 */
export interface RawCloudVm {
  name: string;
  serialLog: string;
  remove: () => void;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

function seedIso(dir: string, hostname: string, mac: string, publicKey: string): string {
  const seed = join(dir, 'seed');
  mkdirSync(seed);
  writeFileSync(join(seed, 'meta-data'), `instance-id: ${randomUUID()}\nlocal-hostname: ${hostname}\n`);
  writeFileSync(join(seed, 'user-data'), `#cloud-config\nssh_authorized_keys:\n  - ${publicKey}\n`);
  writeFileSync(
    join(seed, 'network-config'),
    `version: 2\nethernets:\n  nic0:\n    match:\n      macaddress: "${mac}"\n    dhcp4: true\n`,
  );
  const iso = join(dir, 'seed.iso');
  run('genisoimage', [
    '-quiet',
    '-output',
    iso,
    '-volid',
    'cidata',
    '-joliet',
    '-rock',
    ...['meta-data', 'user-data', 'network-config'].map((f) => join(seed, f)),
  ]);
  return iso;
}

function domainXml(
  name: string,
  disk: string,
  iso: string,
  serialLog: string,
  mac: string,
  hostPort: number,
  guestAgent: boolean,
): string {
  const netdev = `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${hostPort}-:22`;
  const device = JSON.stringify({ driver: 'virtio-net-pci', netdev: 'net0', id: 'net0', mac });
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/>
    </disk>
    <controller type='scsi' model='virtio-scsi'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/><source file='${iso}'/><target dev='sda' bus='scsi'/><readonly/>
    </disk>
    <serial type='pty'><log file='${serialLog}'/><target port='0'/></serial>${
      guestAgent
        ? `
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`
        : ''
    }
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/><qemu:arg value='${netdev}'/>
    <qemu:arg value='-device'/><qemu:arg value='${device.replace(/'/g, '&apos;')}'/>
  </qemu:commandline>
</domain>
`;
}

/**
 * Everything from the overlay to `virsh start`, in `workDir` (which QEMU's user must be able to
 * traverse). The caller times this call and the SSH wait after it together.
 */
export function startRawCloudVm(
  workDir: string,
  image: string,
  publicKey: string,
  hostPort: number,
  options: { diskGiB?: number; guestAgent?: boolean } = {},
): RawCloudVm {
  const name = `rawreach-${randomUUID().slice(0, 8)}`;
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const disk = join(dir, 'disk.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image, disk, `${options.diskGiB ?? 2}G`]);
  const bytes = randomBytes(3);
  const mac = `52:54:00:${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  const iso = seedIso(dir, name, mac, publicKey);
  const serialLog = join(dir, 'serial.log');
  const file = join(dir, 'domain.xml');
  writeFileSync(file, domainXml(name, disk, iso, serialLog, mac, hostPort, options.guestAgent ?? false));
  const remove = () => {
    virsh('destroy', name);
    virsh('undefine', name);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('virsh', ['-c', 'qemu:///system', 'define', file]);
    run('virsh', ['-c', 'qemu:///system', 'start', name]);
  } catch (error) {
    remove();
    throw error;
  }
  return { name, serialLog, remove };
}
