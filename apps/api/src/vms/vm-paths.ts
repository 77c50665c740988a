import { join } from 'node:path';

/** Where a VM's files live: VM_DIR/<vm id>/. Derived from the id only, never from user input. */
export function vmPaths(vmDir: string, vmId: string) {
  const dir = join(vmDir, vmId);
  return { dir, disk: join(dir, 'disk.qcow2'), seedIso: join(dir, 'seed.iso'), serialLog: join(dir, 'serial.log') };
}
