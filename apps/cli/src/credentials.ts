import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A session (access + refresh token) or a personal API token, for one api. */
export type Credential =
  | { kind: 'session'; username: string; accessToken: string; refreshToken: string; expiresAt: string }
  | { kind: 'token'; username?: string; token: string };

export interface CredentialsFile {
  /** The api `limen` talks to when neither --api nor LIMEN_API_URL says otherwise: the last one logged in to. */
  current?: string;
  servers: Record<string, Credential>;
}

/** $XDG_CONFIG_HOME/limen (default ~/.config/limen). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'limen');
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'credentials.json');
}

export function readCredentials(path = credentialsPath()): CredentialsFile {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as CredentialsFile;
    return { current: parsed.current, servers: parsed.servers ?? {} };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw error;
  }
}

/**
 * Writes the file readable by its owner only (0600, its folder 0700), through a temporary
 * file and a rename, so a crash never leaves half a file and the secret is never world-readable.
 */
export function writeCredentials(file: CredentialsFile, path = credentialsPath()): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export function updateCredentials(change: (file: CredentialsFile) => void, path = credentialsPath()): void {
  const file = readCredentials(path);
  change(file);
  writeCredentials(file, path);
}
