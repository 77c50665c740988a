import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { UserAccessCache } from '../users/user-access-cache';
import { ApiTokenAccess, ApiTokenRepository } from './api-token.repository';

/** A backstop, as in UserAccessCache: every revocation through the api drops the entry at once. */
const MAX_AGE_MS = 30_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  access: ApiTokenAccess;
  expiresAt: number;
}

/**
 * API tokens by their secret's hash, cached per replica, so a request with a token costs no
 * database round trip. It rides on UserAccessCache's invalidation: a change to a token (revoked)
 * or to its owner calls `UserAccessCache.changed(ownerId)`, which drops the owner's entries here
 * at once and, by NOTIFY, on every other replica; `null` (listener lost or back) drops them all.
 * The same generation rule applies: a lookup that raced a drop does not cache what it read, and
 * nothing is cached while the user cache is not trusted (its LISTEN connection is down).
 */
@Injectable()
export class ApiTokenCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly entries = new Map<string, Entry>();
  /** The hashes cached per owner, to drop them when the owner changes. */
  private readonly byOwner = new Map<string, Set<string>>();
  private generation = 0;
  private subscription?: Subscription;

  constructor(
    private readonly tokens: ApiTokenRepository,
    private readonly users: UserAccessCache,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.users.changes.subscribe((id) => this.drop(id));
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  /** The token as the database has it now (or as cached, when neither it nor its owner changed since). */
  async get(tokenHash: string): Promise<ApiTokenAccess | null> {
    const cached = this.entries.get(tokenHash);
    if (cached && cached.expiresAt > Date.now() && this.users.trusted) return cached.access;
    const generation = this.generation;
    const access = await this.tokens.accessByHash(tokenHash);
    // Unknown hashes are not cached: they would let anyone fill the cache.
    if (access && this.users.trusted && generation === this.generation) this.set(tokenHash, access);
    return access;
  }

  private set(tokenHash: string, access: ApiTokenAccess): void {
    if (this.entries.size >= MAX_ENTRIES) this.forget(this.entries.keys().next().value as string);
    this.entries.set(tokenHash, { access, expiresAt: Date.now() + MAX_AGE_MS });
    let hashes = this.byOwner.get(access.userId);
    if (!hashes) this.byOwner.set(access.userId, (hashes = new Set()));
    hashes.add(tokenHash);
  }

  private forget(tokenHash: string): void {
    const entry = this.entries.get(tokenHash);
    if (!entry) return;
    this.entries.delete(tokenHash);
    const hashes = this.byOwner.get(entry.access.userId);
    hashes?.delete(tokenHash);
    if (hashes?.size === 0) this.byOwner.delete(entry.access.userId);
  }

  private drop(ownerId: string | null): void {
    this.generation++;
    if (ownerId === null) {
      this.entries.clear();
      this.byOwner.clear();
      return;
    }
    for (const hash of this.byOwner.get(ownerId) ?? []) this.entries.delete(hash);
    this.byOwner.delete(ownerId);
  }
}
