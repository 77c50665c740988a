import { BootDevice, DomainSpec } from '../models';
import { MAX_DISKS } from './spec-validation';

/**
 * How a spec's firmware boot order reaches the devices. Both adapters follow it.
 *
 * - No disk has a `bootIndex`: `<os><boot dev=…/>` in `bootOrder`'s order, as LIMEN always wrote
 *   it. libvirt numbers the devices by their kind's position (the first disk for `hd`, the CD-ROM,
 *   the first NIC); a user-mode NIC and qemu-direct's devices take the same numbers.
 * - Some disk has one: per-device `<boot order>` only, since libvirt refuses both kinds in one
 *   definition. `bootOrder` still decides which kinds boot and in which order; `bootIndex` ranks the
 *   disks inside `hd` (a disk without one does not boot). Each kind owns a fixed block of numbers
 *   (`hd` MAX_DISKS of them, `cdrom` and `network` one each), so a NIC plugged later takes its
 *   kind's number without renumbering anything.
 * - Direct kernel boot: no firmware boot order at all.
 */
export interface BootPlan {
  /** Per-device mode (see above). */
  perDevice: boolean;
  /** The `<os><boot>` devices (not in per-device mode, nor with direct kernel boot). */
  os?: BootDevice[];
  /** Boot number by disk index. */
  disks: Map<number, number>;
  /** The CD-ROM drive's number, when `cdrom` is in the boot order. */
  cdrom?: number;
  /** The first NIC's number, when `network` is in the boot order. */
  network?: number;
}

/** Per-device mode: the first number of each kind's block. */
export function perDeviceBootNumbers(order: readonly BootDevice[]): Partial<Record<BootDevice, number>> {
  const numbers: Partial<Record<BootDevice, number>> = {};
  let next = 1;
  for (const device of order) {
    if (numbers[device] !== undefined) continue;
    numbers[device] = next;
    next += device === 'hd' ? MAX_DISKS : 1;
  }
  return numbers;
}

export function bootPlan(spec: Pick<DomainSpec, 'kernel' | 'bootOrder' | 'disks'>): BootPlan {
  if (spec.kernel) return { perDevice: false, disks: new Map() };
  const order = spec.bootOrder ?? ['hd'];
  const ranked = spec.disks
    .map((disk, index) => ({ rank: disk.bootIndex, index }))
    .filter((entry): entry is { rank: number; index: number } => entry.rank !== undefined)
    .sort((a, b) => a.rank - b.rank || a.index - b.index);
  if (ranked.length === 0) {
    const position = (device: BootDevice): number | undefined => {
      const index = order.indexOf(device);
      return index >= 0 ? index + 1 : undefined;
    };
    const hd = position('hd');
    return {
      perDevice: false,
      os: order,
      disks: new Map(spec.disks.length > 0 && hd ? [[0, hd]] : []),
      cdrom: position('cdrom'),
      network: position('network'),
    };
  }
  const numbers = perDeviceBootNumbers(order);
  const hd = numbers.hd;
  return {
    perDevice: true,
    disks: new Map(hd === undefined ? [] : ranked.map(({ index }, rank) => [index, hd + rank])),
    cdrom: numbers.cdrom,
    network: numbers.network,
  };
}
