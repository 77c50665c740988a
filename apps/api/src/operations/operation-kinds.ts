import type { BootDevice, PortForwardSpec } from '@limen/libvirt';

/** What a create's cloud-init asks for (CreateVmDto.cloudInit as stored). */
export interface CloudInitParams {
  hostname?: string;
  sshAuthorizedKeys?: string[];
  userData?: string;
  /**
   * A clone's: /etc/machine-id made anew at the first boot of this instance (cloud-init-per
   * instance, keyed by the instance id, which is the VM's id), so DHCP and journald see a new
   * machine rather than the source's.
   */
  regenerateMachineId?: boolean;
}

/** Every power action stores both; only `vm.shutdown` reads them. */
export interface VmActionParams {
  timeoutSeconds: number;
  force: boolean;
}

/** A port forward as allocated in the request: the handler applies exactly this, whatever happens to the row. */
export interface PortForwardParams extends PortForwardSpec {
  forwardId: string;
  nicId: string;
}

/**
 * Where a new VM's disks come from when not from its image: a copy of another VM's disks (a clone,
 * by position; `snapshotName`: as they were in that snapshot), or a backup's files (a restore into
 * a new VM).
 */
export type VmCreateSource =
  { kind: 'clone'; vmId: string; linked: boolean; snapshotName: string | null } | { kind: 'backup'; backupId: string };

type NoParams = Record<string, never>;

/**
 * The catalogue of operation kinds and the params each stores: what the request that creates an
 * operation must give, and what its handler reads, both checked by the compiler.
 */
export interface OperationParams {
  /** `source` absent or null: the disks come from the VM's image. */
  'vm.create': { start: boolean; cloudInit: CloudInitParams | null; source?: VmCreateSource | null };
  'vm.delete': NoParams;
  'vm.start': VmActionParams;
  'vm.stop': VmActionParams;
  'vm.shutdown': VmActionParams;
  'vm.reboot': VmActionParams;
  'vm.reset': VmActionParams;
  'vm.suspend': VmActionParams;
  'vm.resume': VmActionParams;
  /** A start by the reconcile sweep's autostart (VmAutostart), not by a request. */
  'vm.autostart': NoParams;
  /** Null: unchanged. */
  'vm.update': { vcpus: number | null; memoryMiB: number | null; bootOrder: BootDevice[] | null };
  'vm.media.insert': { imageId: string };
  'vm.media.eject': NoParams;
  'vm.nic.add': { nicId: string };
  'vm.nic.remove': { nicId: string };
  'vm.disk.add': { diskId: string };
  'vm.disk.remove': { diskId: string };
  /** The size before and after: a failed resize puts the row back to `fromGiB`. */
  'vm.disk.resize': { diskId: string; fromGiB: number; sizeGiB: number };
  'vm.port-forward.add': PortForwardParams;
  'vm.port-forward.remove': PortForwardParams;
  'snapshot.create': { snapshotId: string };
  'snapshot.revert': { snapshotId: string };
  'snapshot.delete': { snapshotId: string };
  /** A template: the VM's boot disk written as the image `imageId` (vmId: the source VM). */
  'image.create': { imageId: string };
  'backup.create': { backupId: string };
  /** Over the original VM (vmId), which is stopped; a restore into a new VM is a `vm.create` with a backup source. */
  'backup.restore': { backupId: string };
}

export type OperationKind = keyof OperationParams;

/** A new operation of kind `K`; `params` may be left out where the kind has none. */
export type NewOperation<K extends OperationKind> = {
  kind: K;
  ownerId: string;
  vmId: string | null;
} & (NoParams extends OperationParams[K] ? { params?: OperationParams[K] } : { params: OperationParams[K] });
