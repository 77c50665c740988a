import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { UserAccessCache } from './user-access-cache';
import type { UserRole } from './user-role';

/**
 * How often every watched user is read again, whatever was notified: this bounds how long a change
 * nobody was told about (a lost notification, SQL by hand once the cache entry ages out) goes unseen.
 */
export const RECHECK_INTERVAL_MS = 5_000;
/** setTimeout's longest delay (about 24.8 days); a longer one fires at once. API tokens may live for years. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The credential a long-lived connection was opened with. */
export interface WatchedAccess {
  userId: string;
  /** The role its scope was computed with (an admin's event stream carries everyone's events). */
  role: UserRole;
  /** The user's token version in the access token behind it. */
  tokenVersion: number;
  /** When that access token expires. */
  expiresAt: Date;
  /** The sign-in session it belongs to (undefined for API tokens and tokens issued before they carried one). */
  sessionId?: string;
}

/**
 * Why a connection must end: the user is gone, disabled or logged out, or its session was revoked
 * or signed out; their role changed; the token expired.
 */
export type AccessEnd = 'revoked' | 'role-changed' | 'expired';

interface Watcher {
  access: WatchedAccess;
  end: (why: AccessEnd) => void;
  expiry?: NodeJS.Timeout;
}

/**
 * Ends long-lived connections (SSE streams, console WebSockets) once the access behind them no
 * longer holds. The JWT guard checks a request once, when it arrives; a connection opened by one
 * request lives on, so it is checked again here, with the guard's own rules: the user exists, is
 * active and has the token's version, and (for the connection's scope) still has its role.
 *
 * - A change to a user (UserAccessCache.changes: at once on the replica that wrote it, by NOTIFY
 *   on the others) rechecks that user's connections.
 * - Every RECHECK_INTERVAL_MS all watched users are rechecked, as a backstop.
 * - The access token's expiry ends the connection at that moment.
 * - A session that ends (SessionRevocations calls `sessionEnded`: at once on the replica that
 *   ended it, by NOTIFY on the others) ends that session's connections; a map from session to
 *   watchers keeps that a lookup. A connection opened just as its session ended is caught by the
 *   check `watch` asks SessionRevocations for (it lives in the auth module, which imports this one).
 */
@Injectable()
export class UserAccessWatch implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('UserAccessWatch');
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly bySession = new Map<string, Set<Watcher>>();
  private sessionRevoked?: (sessionId: string) => Promise<boolean>;
  private changes?: Subscription;
  private recheckTimer?: NodeJS.Timeout;

  constructor(private readonly cache: UserAccessCache) {}

  onApplicationBootstrap(): void {
    this.changes = this.cache.changes.subscribe((id) => (id === null ? this.recheckAll() : void this.recheck(id)));
    this.recheckTimer = setInterval(() => this.recheckAll(), RECHECK_INTERVAL_MS).unref();
  }

  onApplicationShutdown(): void {
    this.changes?.unsubscribe();
    clearInterval(this.recheckTimer);
    for (const set of this.watchers.values()) for (const watcher of set) clearTimeout(watcher.expiry);
    this.watchers.clear();
    this.bySession.clear();
  }

  /** SessionRevocations' check, asked once per new watch with a session. */
  checkSessionsWith(isRevoked: (sessionId: string) => Promise<boolean>): void {
    this.sessionRevoked = isRevoked;
  }

  /** Ends the connections of a session that was revoked or signed out. */
  sessionEnded(sessionId: string): void {
    for (const watcher of [...(this.bySession.get(sessionId) ?? [])]) this.finish(watcher, 'revoked');
  }

  /** Calls `end` once, when `access` stops holding; the returned function stops watching (idempotent). */
  watch(access: WatchedAccess, end: (why: AccessEnd) => void): () => void {
    const watcher: Watcher = { access, end };
    this.scheduleExpiry(watcher);
    let set = this.watchers.get(access.userId);
    if (!set) this.watchers.set(access.userId, (set = new Set()));
    set.add(watcher);
    const { sessionId } = access;
    if (sessionId !== undefined) {
      let ofSession = this.bySession.get(sessionId);
      if (!ofSession) this.bySession.set(sessionId, (ofSession = new Set()));
      ofSession.add(watcher);
      // The session may have ended between the request's check and now (streams await a slot first).
      this.sessionRevoked?.(sessionId).then(
        (revoked) => revoked && this.finish(watcher, 'revoked'),
        (error: Error) => this.logger.warn(`could not check session ${sessionId}: ${error.message}`),
      );
    }
    return () => this.unwatch(watcher);
  }

  /** Ends the connection at the credential's expiry, in steps setTimeout can take. */
  private scheduleExpiry(watcher: Watcher): void {
    const left = watcher.access.expiresAt.getTime() - Date.now();
    watcher.expiry = setTimeout(
      () => (left > MAX_TIMER_MS ? this.scheduleExpiry(watcher) : this.finish(watcher, 'expired')),
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
  }

  private recheckAll(): void {
    for (const userId of this.watchers.keys()) void this.recheck(userId);
  }

  private async recheck(userId: string): Promise<void> {
    if (!this.watchers.has(userId)) return;
    let user;
    try {
      user = await this.cache.get(userId);
    } catch (error) {
      // The database is unreachable: the connections stay until it answers (the next recheck).
      this.logger.warn(`could not recheck the access of user ${userId}: ${(error as Error).message}`);
      return;
    }
    for (const watcher of [...(this.watchers.get(userId) ?? [])]) {
      if (!user || user.status !== 'active' || user.tokenVersion !== watcher.access.tokenVersion)
        this.finish(watcher, 'revoked');
      else if (user.role !== watcher.access.role) this.finish(watcher, 'role-changed');
    }
  }

  private finish(watcher: Watcher, why: AccessEnd): void {
    if (this.unwatch(watcher)) watcher.end(why);
  }

  /** False when it was no longer watched. */
  private unwatch(watcher: Watcher): boolean {
    clearTimeout(watcher.expiry);
    const set = this.watchers.get(watcher.access.userId);
    if (!set?.delete(watcher)) return false;
    if (set.size === 0) this.watchers.delete(watcher.access.userId);
    const { sessionId } = watcher.access;
    if (sessionId !== undefined) {
      const ofSession = this.bySession.get(sessionId);
      ofSession?.delete(watcher);
      if (ofSession?.size === 0) this.bySession.delete(sessionId);
    }
    return true;
  }
}
