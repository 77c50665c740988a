import { networkInterfaces, hostname as machineName } from 'node:os';
import { AppConfig } from '../config/app-config';
import { Host } from './host.entity';

type Located = Pick<Host, 'name' | 'adapter' | 'libvirtUri'>;

/**
 * Hosts whose files are this machine's: the local host (HOST_NAME), every qemu-direct host (this
 * api starts its QEMU processes itself) and a libvirt host reached without a host name in its URI
 * (qemu:///system: this machine's libvirtd). They use IMAGE_DIR in place and may keep their VM
 * pool in VM_DIR; every other host is reached over the network and gets images uploaded.
 */
export function isOnApiMachine(host: Located, config: AppConfig): boolean {
  if (host.name === config.hostName || host.adapter === 'qemu-direct') return true;
  return host.libvirtUri !== null && uriHost(host.libvirtUri) === '';
}

/**
 * The folder of the host's VM pool: what was stored at registration, else VM_DIR for a host on
 * this machine. Other hosts always have one stored (`<first STORAGE_ROOT>/pool` by default), so
 * changing STORAGE_ROOTS later never moves an existing pool.
 */
export function effectiveStoragePath(host: Located & Pick<Host, 'storagePath'>, config: AppConfig): string {
  return host.storagePath ?? (isOnApiMachine(host, config) ? config.hypervisor.vmDir : defaultStoragePath(config));
}

export function defaultStoragePath(config: AppConfig): string {
  return `${config.hypervisor.storageRoots[0]}/pool`;
}

/** Whether an http(s) URL's host is this machine: a loopback address, its host name or one of its own addresses. */
export function urlIsThisMachine(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  if (host === machineName().toLowerCase()) return true;
  return Object.values(networkInterfaces()).some((addresses) =>
    (addresses ?? []).some((a) => a.address.toLowerCase() === host),
  );
}

function uriHost(uri: string): string | null {
  try {
    return new URL(uri).hostname;
  } catch {
    return null;
  }
}
