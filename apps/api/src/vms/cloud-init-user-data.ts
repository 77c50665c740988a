import { createHash } from 'node:crypto';
import type { CloudInitParams } from '../operations/operation-kinds';

/** The #cloud-config LIMEN writes itself: the hostname and the keys, as JSON strings (valid YAML scalars). */
function cloudConfig(hostname: string | undefined, keys: readonly string[]): string {
  const lines = ['#cloud-config'];
  if (hostname) lines.push(`hostname: ${JSON.stringify(hostname)}`);
  if (keys.length) lines.push('ssh_authorized_keys:', ...keys.map((key) => `  - ${JSON.stringify(key)}`));
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
 * lists appended, so neither side's `ssh_authorized_keys` replaces the other's.
 */
export function cloudInitUserData(cloudInit: CloudInitParams): string {
  const keys = cloudInit.sshAuthorizedKeys ?? [];
  if (!cloudInit.userData) return cloudConfig(cloudInit.hostname, keys);
  if (!keys.length) return cloudInit.userData;
  const ours = cloudConfig(undefined, keys);
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
