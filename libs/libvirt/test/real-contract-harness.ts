import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { VirtualizationPort } from '../src';
import { ensureTestGuest, isoinfo, makeIso, makeRunDir, qemuIo } from './guest-fixture';
import { ContractFiles, ContractHarness } from './port-contract';

const PATTERN_RANGE = '0 64k';

/** The machine's own files, read the way QEMU and cloud-init would read them. */
export const hostFiles: ContractFiles = {
  exists: (path) => existsSync(path),
  mode: (path) => statSync(path).mode & 0o777,
  size: (path) => statSync(path).size,
  list: (folder) => readdirSync(folder),
  fillDisk(path, byte) {
    const result = qemuIo(path, `write -P 0x${byte.toString(16)} ${PATTERN_RANGE}`);
    if (!result.ok) throw new Error(`qemu-io write failed: ${result.output}`);
  },
  diskHolds: (path, byte) => qemuIo(path, `read -P 0x${byte.toString(16)} ${PATTERN_RANGE}`).ok,
  writeBulk(path, byte, mib) {
    // In 64 MiB requests: qemu-io holds one request's buffer in memory.
    const commands = Array.from({ length: Math.ceil(mib / 64) }, (_, index) => [
      '-c',
      `write -P 0x${byte.toString(16)} ${index * 64}M ${Math.min(64, mib - index * 64)}M`,
    ]).flat();
    execFileSync('qemu-io', ['-f', 'qcow2', ...commands, path], { stdio: 'pipe' });
  },
  sameGuestData(a, b) {
    try {
      // -U: the first may be the disk of a running guest.
      execFileSync('qemu-img', ['compare', '-U', '-q', '-f', 'qcow2', '-F', 'qcow2', a, b], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  },
  seedLabel: (path) => /^Volume id: (.*)$/m.exec(isoinfo(path, ['-d']).toString('utf8'))?.[1] ?? '',
  seedDocument: (path, name) => ['-J', '-R'].map((extension) => isoinfo(path, [extension, '-x', `/${name}`])),
  makeIso,
};

/** Stops and undefines a run's libvirt storage pools (the port has no call for it: pools outlive VMs). */
export function removeLibvirtPools(uri: string, names: string[]): void {
  for (const name of names)
    for (const command of ['pool-destroy', 'pool-undefine'])
      try {
        execFileSync('virsh', ['-c', uri, command, name], { stdio: 'pipe' });
      } catch {
        // Not defined (the run failed before) or not active: nothing to remove.
      }
}

/**
 * The contract on the real hypervisor, with the tiny test guest (built on first use). The run's
 * folder is the local side of uploads and downloads too. `removePools` takes away the run's
 * storage pools where they outlive the run's folder (libvirt's definitions).
 */
export function realHarness(
  adapterName: string,
  makePort: (runDir: string) => Promise<VirtualizationPort> | VirtualizationPort,
  removePools: (names: string[]) => void = () => undefined,
): ContractHarness {
  return {
    realGuest: true,
    async setUp() {
      const guest = ensureTestGuest();
      const run = makeRunDir(adapterName);
      return {
        port: await makePort(run.dir),
        runDir: run.dir,
        localDir: run.dir,
        files: hostFiles,
        guest,
        cleanup: (pools) => {
          removePools(pools);
          run.cleanup();
        },
      };
    },
  };
}
