import type { AlertDto } from '../alerting/dto/alert.dto';
import type { BackupDto } from '../backups/dto/backup.dto';
import type { DiskDto } from '../disks/dto/disk.dto';
import type { ImageDto } from '../images/dto/image.dto';
import type { NicDto } from '../networks/dto/nic.dto';
import type { OperationKind } from '../operations/operation-kinds';
import type { OperationError, OperationStatus } from '../operations/operation.entity';
import type { SnapshotDto } from '../snapshots/dto/snapshot.dto';
import type { GuestOsDto, VmDto } from '../vms/dto/vm.dto';
import type { VmAddressDto } from '../networks/dto/nic.dto';
import type { GuestAgentState } from '@limen/libvirt';
import type { VmState } from '../vms/vm-state';

/** `vm.state` and `vm.updated`: the VM's state as it now is, and the version that state has. */
export interface VmStatePayload {
  vmId: string;
  state: VmState;
  stateReason: string | null;
  version: number;
}

/** `vm.addresses`: what the VM now shows of its guest (VmDto's fields of that name), and the version it has. */
export interface VmAddressesPayload {
  vmId: string;
  addresses: VmAddressDto[];
  guestAgent: GuestAgentState;
  os: GuestOsDto | null;
  version: number;
}

/** An alert as the alerting API shows it. */
interface AlertPayload {
  alert: AlertDto;
}

/**
 * The catalogue of logged events: each type and the payload it carries (SSE clients get the
 * payload as `data`, with `type` and `at` added). The SSE stream's OpenAPI schema declares one
 * entry per type (EVENT_DATA_SCHEMAS), and docs/api-guide.md lists them (event-types.spec.ts).
 */
export interface EventPayloads {
  'vm.created': VmDto;
  'vm.state': VmStatePayload;
  'vm.updated': VmStatePayload;
  'vm.deleted': { vmId: string; name: string };
  /** A NIC was added to the VM (its operation succeeded). */
  'vm.nic.added': { vmId: string; nic: NicDto };
  'vm.nic.removed': { vmId: string; nicId: string };
  /** A disk was added to the VM (its operation succeeded: created, and hot-plugged if the VM runs). */
  'vm.disk.added': { vmId: string; disk: DiskDto };
  'vm.disk.removed': { vmId: string; diskId: string };
  /** A disk grew (live if the VM runs); `disk` has its new size. */
  'vm.disk.resized': { vmId: string; disk: DiskDto };
  'vm.addresses': VmAddressesPayload;
  'operation.updated': {
    id: string;
    kind: OperationKind;
    status: OperationStatus;
    vmId: string | null;
    error: OperationError | null;
  };
  'snapshot.created': SnapshotDto;
  'snapshot.reverted': SnapshotDto;
  'snapshot.deleted': { id: string; vmId: string; name: string };
  /** A backup's files are written and verified: it is ready. */
  'backup.created': BackupDto;
  /** `vmId`: the VM it was taken of. */
  'backup.deleted': { id: string; vmId: string | null };
  /** A VM got a backup's disks: restored over, or made from it. */
  'backup.restored': { backupId: string; vmId: string };
  /** A template was written from a VM's boot disk and is ready to use (its owner and admins see it). */
  'image.created': ImageDto;
  'host.up': { hostId: string; name: string };
  'host.down': { hostId: string; name: string; reason: string };
  'alert.firing': AlertPayload;
  'alert.resolved': AlertPayload;
  'alert.acked': AlertPayload & { by: { id: string; username: string } };
}

export type EventType = keyof EventPayloads;

/** An event to log: its type decides its payload. `ownerId` null: admins only. */
export type NewEvent = {
  [T in EventType]: { type: T; ownerId: string | null; vmId?: string | null; payload: EventPayloads[T] };
}[EventType];
