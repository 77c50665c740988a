import { createHash } from 'node:crypto';
import type { CloudInitParams } from '../operations/operation-kinds';

/**
 * A clone's first boot: its copied /etc/machine-id (and D-Bus's) removed and made again, once per
 * instance id. systemd-machine-id-setup derives the new one from the VM's SMBIOS UUID where it
 * can; dbus-uuidgen covers guests without systemd.
 */
export const REGENERATE_MACHINE_ID = [
  'cloud-init-per',
  'instance',
  'limen-machine-id',
  'sh',
  '-c',
  'rm -f /etc/machine-id /var/lib/dbus/machine-id && (systemd-machine-id-setup || dbus-uuidgen --ensure=/etc/machine-id)',
];

/** The #cloud-config LIMEN writes itself: the hostname, the keys and its boot commands, as JSON strings (valid YAML scalars). */
function cloudConfig(hostname: string | undefined, keys: readonly string[], bootcmd: ReadonlyArray<string[]>): string {
  const lines = ['#cloud-config'];
  if (hostname) lines.push(`hostname: ${JSON.stringify(hostname)}`);
  if (keys.length) lines.push('ssh_authorized_keys:', ...keys.map((key) => `  - ${JSON.stringify(key)}`));
  if (bootcmd.length) lines.push('bootcmd:', ...bootcmd.map((command) => `  - ${JSON.stringify(command)}`));
  return lines.join('\n') + '\n';
}

/** A boundary the parts do not contain; derived from them, so the same request makes the same seed. */
function boundaryFor(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\0')).digest('hex');
  for (let n = 0; ; n++) {
    const boundary = `==LIMEN-${digest.slice(0, 24)}-${n}==`;
    if (!parts.some((part) => part.includes(boundary))) return boundary;
  }
}

/**
 * The seed's user-data. Without the caller's own user-data: a #cloud-config with the hostname
 * and keys. With it and no keys: the caller's as it is. With both (keys from `sshKeyIds` or
 * `sshAuthorizedKeys` beside a raw `userData`): a MIME multipart that cloud-init reads part by
 * part: the caller's (a script, a #cloud-config, anything cloud-init recognises by its first
 * line, hence text/plain) and then LIMEN's keys, merged into the caller's cloud-config with
 * lists appended, so neither side's `ssh_authorized_keys` replaces the other's. A clone's machine-id
 * step (`regenerateMachineId`) travels with the keys, its `bootcmd` appended the same way.
 */
export function cloudInitUserData(cloudInit: CloudInitParams): string {
  const keys = cloudInit.sshAuthorizedKeys ?? [];
  const bootcmd = cloudInit.regenerateMachineId ? [REGENERATE_MACHINE_ID] : [];
  if (!cloudInit.userData) return cloudConfig(cloudInit.hostname, keys, bootcmd);
  if (!keys.length && !bootcmd.length) return cloudInit.userData;
  const ours = cloudConfig(undefined, keys, bootcmd);
  const boundary = boundaryFor(cloudInit.userData, ours);
  const userData = cloudInit.userData.endsWith('\n') ? cloudInit.userData : `${cloudInit.userData}\n`;
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset="utf-8"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
    '',
    userData,
    `--${boundary}`,
    'Content-Type: text/cloud-config; charset="utf-8"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
    'Merge-Type: list(append)+dict(recurse_array)+str()',
    '',
    ours,
    `--${boundary}--`,
    '',
  ].join('\n');
}
