import { Injectable } from '@nestjs/common';
import { isIPv4, isIPv6 } from 'node:net';
import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { LoginFailureRepository } from './login-failure.repository';

/**
 * Where a login comes from, as the lock-out counts it. An IPv6 client usually holds a whole
 * /64, so its addresses count as one; an IPv4-mapped IPv6 address is its IPv4 address.
 */
export function lockoutClient(ip: string | undefined): string {
  const address = (ip ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return 'unknown';
  const [head, tail = ''] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed logins, counted per (username, client) in the database (`login_failures`), so every
 * replica sees the same counts. LOCKOUT_THRESHOLD failures from one client within
 * LOCKOUT_MINUTES of each other lock that username for that client only: someone guessing from
 * elsewhere cannot lock the owner out. Names that belong to no account are counted the same
 * way, so the lock-out does not tell which names exist.
 */
@Injectable()
export class LoginLockout {
  constructor(
    private readonly config: AppConfig,
    private readonly failures: LoginFailureRepository,
  ) {}

  /** Until when this username is locked for this client, if it is. */
  lockedUntil(username: string, client: string): Promise<Date | null> {
    return this.failures.lockedUntil(username, client);
  }

  /** Counts one failure; returns the lock it set, if this failure reached LOCKOUT_THRESHOLD. */
  recordFailure(username: string, client: string): Promise<Date | null> {
    const { lockoutThreshold: threshold, lockoutMinutes: minutes } = this.config;
    return this.failures.recordFailure(username, client, { threshold, minutes });
  }

  /** A successful login forgets this client's failures for the name, and nobody else's. */
  clear(username: string, client: string): Promise<void> {
    return this.failures.clear(username, client);
  }

  /** An admin (re-)activating the account lifts every lock on its name (within the caller's transaction). */
  clearAccount(username: string, tx?: Tx): Promise<void> {
    return this.failures.clearAll(username, tx);
  }
}
