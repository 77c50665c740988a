import { vmIdFromDomainName } from '@limen/libvirt/naming/domain-name';

export interface QemuIdentity {
  domain: string | null;
  vmId: string | null;
}

/** argv[0] of a system emulator: qemu-system-x86_64, qemu-system-aarch64, or RHEL's qemu-kvm. */
export function isQemuSystemBinary(argv0: string): boolean {
  const base = argv0.slice(argv0.lastIndexOf('/') + 1);
  return base.startsWith('qemu-system-') || base === 'qemu-kvm';
}

/**
 * Splits a QEMU option value (`a=1,b=2`) into its parts. A literal comma is written ",,",
 * so a single comma separates and a doubled one is kept as one comma.
 */
export function splitQemuOptions(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== ',') {
      current += value[i];
    } else if (value[i + 1] === ',') {
      current += ',';
      i++;
    } else {
      parts.push(current);
      current = '';
    }
  }
  parts.push(current);
  return parts;
}

/**
 * The guest name from `-name`, in either form QEMU accepts:
 *   libvirt:     -name guest=limen-<uuid>,debug-threads=on
 *   qemu-direct: -name limen-<uuid>,process=limen-<uuid>   (a first part without "=" is the guest)
 * The last -name wins, as it does in QEMU. `--name` and `-name=value` are accepted too.
 */
export function guestNameFromArgv(argv: readonly string[]): string | null {
  let name: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    let value: string | undefined;
    if (arg === '-name' || arg === '--name') value = argv[++i];
    else if (arg.startsWith('-name=') || arg.startsWith('--name=')) value = arg.slice(arg.indexOf('=') + 1);
    if (value === undefined) continue;
    const [first, ...rest] = splitQemuOptions(value);
    const guest = first.includes('=') ? [first, ...rest].find((part) => part.startsWith('guest=')) : `guest=${first}`;
    if (guest !== undefined && guest.length > 'guest='.length) name = guest.slice('guest='.length);
  }
  return name;
}

/** Maps a QEMU process's argv to its domain and, for LIMEN domains, the VM id. */
export function qemuIdentity(argv: readonly string[]): QemuIdentity {
  const domain = guestNameFromArgv(argv);
  return { domain, vmId: domain === null ? null : (vmIdFromDomainName(domain) ?? null) };
}
