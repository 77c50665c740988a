import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { virsh } from '../../test/support/hypervisor';

/** A scratch folder QEMU's user (libvirt-qemu) can traverse; mkdtemp alone makes it 0700. */
export function rawWorkDir(): string {
  const dir = mkdtempSync(join('/var/lib/limen', 'bench-raw-'));
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * A domain defined straight through virsh, identical to a LIMEN one but for its
 * name, uuid, MAC, disk and serial log: the baseline the api is measured against.
 */
export function defineRawTwin(
  templateVmId: string,
  workDir: string,
): { name: string; serialLog: string; remove: () => void } {
  const xml = virsh('dumpxml', '--inactive', `limen-${templateVmId}`).stdout;
  const id = randomUUID();
  const name = `rawbench-${id}`;
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const disk = join(dir, 'disk.qcow2');
  const serialLog = join(dir, 'serial.log');
  spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1G']);
  const twin = xml
    .replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`)
    .replace(/<uuid>[^<]*<\/uuid>/, '')
    .replace(/<mac address=[^/]*\/>/, '')
    .replace(/<metadata>[\s\S]*<\/metadata>/, '')
    // The template's files in its host's VM pool (diskVolumeName, serialLogName).
    .replace(new RegExp(`/[^'"<>]*/${templateVmId}-disk-[0-9a-f-]+\\.qcow2`, 'g'), disk)
    .replace(new RegExp(`/[^'"<>]*/${templateVmId}-serial\\.log`, 'g'), serialLog);
  // A twin writing the template's disk or serial log would measure nothing honest: fail instead.
  if (twin.includes(`${templateVmId}-disk-`) || twin.includes(`${templateVmId}-serial`))
    throw new Error('the raw twin still names files of its template');
  const file = join(dir, 'domain.xml');
  writeFileSync(file, twin);
  const defined = virsh('define', file);
  if (defined.status !== 0) throw new Error(`virsh define failed: ${defined.stderr}`);
  return {
    name,
    serialLog,
    remove: () => {
      virsh('destroy', name);
      virsh('undefine', name);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
