import { LibvirtAdapter } from '../adapters/libvirt/libvirt-adapter';
import { QemuDirectAdapter } from '../adapters/qemu-direct/qemu-direct-adapter';
import { VirtTypeResolver } from '../host/virt-type-resolver';
import { VirshPool } from '../transport/virsh-pool';
import { QemuImg } from '../volumes/qemu-img';
import { VirtualizationPortOptions } from './port-options';
import { VirtualizationPort } from './virtualization-port';

export const DEFAULT_QEMU_DIRECT_STATE_DIR = '/var/lib/limen/qemu-direct';

/** Builds the configured adapter; used by LibvirtModule and usable without Nest (tests, tools). */
export function createVirtualizationPort(options: VirtualizationPortOptions = {}): VirtualizationPort {
  const qemuBinary = options.qemuBinary ?? 'qemu-system-x86_64';
  const virtTypes = new VirtTypeResolver(options.virtType ?? 'auto', qemuBinary);
  if (options.adapter === 'qemu-direct') {
    return new QemuDirectAdapter({
      stateDir: options.stateDir ?? DEFAULT_QEMU_DIRECT_STATE_DIR,
      qemuBinary,
      virtTypes,
      qemuImg: new QemuImg(options.qemuImgPath),
      commandTimeoutMs: options.commandTimeoutMs,
      logger: options.logger,
    });
  }
  const uri = options.uri ?? 'qemu:///system';
  const pool = new VirshPool({
    uri,
    size: options.poolSize,
    maxQueue: options.maxQueue,
    commandTimeoutMs: options.commandTimeoutMs,
    virshPath: options.virshPath,
    logger: options.logger,
    onCommand: options.onCommand,
  });
  const probePool = new VirshPool({
    uri,
    size: 1,
    commandTimeoutMs: options.commandTimeoutMs,
    virshPath: options.virshPath,
    logger: options.logger,
    onCommand: options.onCommand,
  });
  return new LibvirtAdapter({
    pool,
    probePool,
    uri,
    virtTypes,
    virshPath: options.virshPath,
    logger: options.logger,
  });
}
