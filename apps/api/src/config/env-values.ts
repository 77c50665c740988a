import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { libvirtUriRefusal } from '@limen/libvirt';
import { ConfigError, Env, NodeEnv, readString } from '@limen/env';
import type { AgentClientConfig } from './app-config';

// The settings that need more than a number or a choice: each reads one variable (or two) and validates it.

export function databaseUrl(env: Env): string | undefined {
  const raw = readString(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return raw;
}

/**
 * Outside production a missing JWT_SECRET is generated once and kept in DATA_DIR,
 * so tokens stay valid across restarts without anyone having to pick a secret.
 */
export function jwtSecret(env: Env, nodeEnv: NodeEnv, dataDir: string): string {
  const given = readString(env, 'JWT_SECRET');
  if (given !== undefined) {
    if (given.length < 32) throw new ConfigError('JWT_SECRET must be at least 32 characters');
    return given;
  }
  if (nodeEnv === 'production') throw new ConfigError('JWT_SECRET is required when NODE_ENV=production');
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function absolutePath(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name) ?? fallback;
  if (!raw.startsWith('/') || raw.includes('\0'))
    throw new ConfigError(`${name} must be an absolute path (got "${raw}")`);
  return resolve(raw);
}

/**
 * STORAGE_ROOTS: the folders a host's VM pool may be in (hosts.storagePath), comma-separated
 * absolute paths. The same character set as a storage path, since each root is a prefix of one.
 */
export function storageRoots(env: Env): string[] {
  const raw = readString(env, 'STORAGE_ROOTS') ?? '/var/lib/limen';
  const roots = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (!roots.length) throw new ConfigError('STORAGE_ROOTS must name at least one folder');
  for (const root of roots) {
    if (!/^\/[A-Za-z0-9._/-]{1,200}$/.test(root) || resolve(root) === '/' || /(^|\/)\.\.?(\/|$)/.test(root))
      throw new ConfigError(
        `STORAGE_ROOTS entries must be absolute folders below / of A-Z a-z 0-9 . _ - without . or .. segments (got "${root}")`,
      );
  }
  return [...new Set(roots.map((r) => resolve(r)))];
}

export function password(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < 12) throw new ConfigError(`${name} must be at least 12 characters`);
  return raw;
}

export function libvirtUri(env: Env): string {
  const raw = readString(env, 'LIBVIRT_URI') ?? 'qemu:///system';
  // The value is not echoed: a refused one may carry a command line or credentials.
  const refusal = libvirtUriRefusal(raw);
  if (refusal !== null) throw new ConfigError(`LIBVIRT_URI ${refusal}`);
  return raw;
}

export function trustProxy(env: Env): string | number | false {
  const raw = readString(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  if (
    /^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+))*$/.test(
      raw,
    )
  )
    return raw;
  throw new ConfigError(
    `TRUST_PROXY must be false, a hop count, or addresses/subnets/loopback|linklocal|uniquelocal (got "${raw}")`,
  );
}

export function hostName(env: Env): string {
  const raw = (readString(env, 'HOST_NAME') ?? hostname()).toLowerCase();
  const name = raw
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(name))
    throw new ConfigError(`HOST_NAME must be 1-63 of a-z 0-9 . - (got "${raw}")`);
  return name;
}

/**
 * STORAGE_POOL_PREFIX: the names of this installation's storage pools, `<prefix>-vms` and
 * `<prefix>-images` (default `limen`: limen-vms, limen-images). Pools are per libvirtd, so two
 * installations (or test apps) sharing one need prefixes of their own.
 */
export function storagePoolNames(env: Env): { vmPool: string; imagePool: string } {
  const prefix = readString(env, 'STORAGE_POOL_PREFIX') ?? 'limen';
  if (!/^limen(-[a-z0-9]{1,24})?$/.test(prefix))
    throw new ConfigError(`STORAGE_POOL_PREFIX must be limen or limen-<1-24 of a-z 0-9> (got "${prefix}")`);
  return { vmPool: `${prefix}-vms`, imagePool: `${prefix}-images` };
}

export function vmNetwork(env: Env): string {
  const raw = readString(env, 'VM_NETWORK') ?? 'user';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw))
    throw new ConfigError(`VM_NETWORK must name a LIMEN network (default "user") (got "${raw}")`);
  return raw;
}

/** PORT_FORWARD_RANGE: `FROM-TO`, unprivileged ports (QEMU binds them as its own user). */
export function portForwardRange(env: Env): { from: number; to: number } {
  const raw = readString(env, 'PORT_FORWARD_RANGE') ?? '20000-20999';
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  const [from, to] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
  if (!(from >= 1024 && from <= to && to <= 65535))
    throw new ConfigError(`PORT_FORWARD_RANGE must be FROM-TO with 1024 <= FROM <= TO <= 65535 (got "${raw}")`);
  return { from, to };
}

/** PORT_FORWARD_ADDRESS: the IPv4 address forwarded host ports listen on (QEMU user-mode forwards are IPv4). */
export function portForwardAddress(env: Env): string {
  const raw = readString(env, 'PORT_FORWARD_ADDRESS') ?? '127.0.0.1';
  if (!isIPv4(raw)) throw new ConfigError(`PORT_FORWARD_ADDRESS must be an IPv4 address (got "${raw}")`);
  return raw;
}

export function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL (got "${raw}")`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username ||
    url.password ||
    url.search ||
    url.hash
  ) {
    throw new ConfigError(
      `${name} must be an http:// or https:// URL without credentials, query or fragment (got "${raw}")`,
    );
  }
  return url.toString().replace(/\/+$/, '');
}

export function bearerToken(env: Env, name: string): string | undefined {
  const raw = readString(env, name);
  if (raw === undefined) return undefined;
  if (raw.length < 16) throw new ConfigError(`${name} must be at least 16 characters`);
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new ConfigError(`${name} must be printable ASCII without spaces`);
  return raw;
}

/** AGENT_TOKEN, else (outside production) the token file the agent writes into a shared DATA_DIR. */
export function agentClient(env: Env, nodeEnv: NodeEnv, dataDir: string): AgentClientConfig {
  const url = httpUrl(env, 'AGENT_URL', 'http://127.0.0.1:9000');
  const token = bearerToken(env, 'AGENT_TOKEN');
  if (token !== undefined || nodeEnv === 'production') return { url, token };
  return { url, tokenFile: join(dataDir, 'agent-token') };
}

export function smtpUrl(env: Env): string | undefined {
  const raw = readString(env, 'SMTP_URL');
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  // The value may hold a password: never echo it.
  if (!url || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || !url.hostname) {
    throw new ConfigError('SMTP_URL must be an smtp:// or smtps:// URL like smtp://user:pass@mail.example.com:587');
  }
  return raw;
}

export function emailFrom(env: Env): string {
  const raw = readString(env, 'ALERT_EMAIL_FROM') ?? `LIMEN <limen@${hostname()}>`;
  if (!/^[^\r\n]{0,200}[^\s@<>]+@[^\s@<>]+>?$/.test(raw)) {
    throw new ConfigError(
      `ALERT_EMAIL_FROM must be an address like alerts@example.com or "LIMEN <alerts@example.com>" (got "${raw}")`,
    );
  }
  return raw;
}
