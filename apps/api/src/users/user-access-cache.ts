import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Subject } from 'rxjs';
import { DatabaseEndpoint } from '../database/database-endpoint';
import { PgListener } from '../database/pg-listener';
import { UserAccess, UserRepository } from './user.repository';

const CHANNEL = 'limen_user_access';
/** The LISTEN connection's application_name, to find it in pg_stat_activity. */
export const LISTENER_NAME = 'limen-user-access-listener';
/**
 * A backstop only: every write through the api drops the entry at once (here and, by NOTIFY, on
 * every replica). This bounds how long a change made outside the api (SQL by hand) can go unseen.
 */
const MAX_AGE_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * The users behind access tokens, cached per replica, so the JWT guard can still refuse a
 * disabled, deleted, re-roled or logged-out user on their very next request without a database
 * round trip on every request (in the read-throughput bench that lookup, through TypeORM, cost
 * more than the page of VMs).
 *
 * Correctness rests on three rules:
 * - every write that changes what the guard checks (role, status, password, token version,
 *   deletion) calls `changed(id)` once it has committed: the entry is dropped on this replica
 *   before the write's response leaves, and, with a shared PostgreSQL, a NOTIFY makes every other
 *   replica drop it as soon as the notification arrives (milliseconds; a request that reaches
 *   another replica within that window may still be served as before the change);
 * - a lookup caches its result only if no entry was dropped while it read the database (the
 *   generation check), so a read that raced a write never re-caches the old row;
 * - with a shared PostgreSQL, nothing is cached while this replica's LISTEN connection is down,
 *   and everything is dropped when it (re)connects, since notifications may have been missed.
 * Embedded PGlite serves one replica, so dropping in process is enough there.
 */
@Injectable()
export class UserAccessCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('UserAccessCache');
  private readonly entries = new Map<string, { access: UserAccess; expiresAt: number }>();
  /** The id of every user whose entry is dropped (null: all), so open streams can recheck them. */
  readonly changes = new Subject<string | null>();
  /** Bumped by every drop: a lookup that started before it must not cache what it read. */
  private generation = 0;
  private listener: PgListener | null = null;
  /** Whether entries may be trusted: always embedded; with a shared database, while LISTENing. */
  private listening: boolean;

  constructor(
    private readonly users: UserRepository,
    private readonly endpoint: DatabaseEndpoint,
  ) {
    this.listening = endpoint.isEmbedded;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.endpoint.isEmbedded) return;
    this.listener = new PgListener(
      this.endpoint.url,
      CHANNEL,
      {
        notification: (id) => this.drop(id ?? null),
        // Whatever changed while nobody listened is unknown: start afresh.
        listening: () => {
          this.drop(null);
          this.listening = true;
        },
        // A listener that is down (or silent) would be trusted while it hears nothing.
        lost: (why) => {
          this.listening = false;
          this.drop(null);
          this.logger.warn(
            `user access listener lost (${why}); every request reads the user from the database until it is back`,
          );
        },
      },
      LISTENER_NAME,
    );
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.listening = false;
    await this.listener?.stop();
  }

  /** Whether caches invalidated through `changes` may keep entries now (see `listening`). */
  get trusted(): boolean {
    return this.listening;
  }

  /** The user as the database has it now (or as it was cached, when no write has happened since). */
  async get(id: string): Promise<UserAccess | null> {
    const cached = this.entries.get(id);
    if (cached && this.listening && cached.expiresAt > Date.now()) return cached.access;
    const generation = this.generation;
    const access = await this.users.access(id);
    // Unknown users are not cached: a token naming one is refused anyway.
    if (access && this.listening && generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(id, { access, expiresAt: Date.now() + MAX_AGE_MS });
    }
    return access;
  }

  /** Call after a write to the user has committed; see the class comment. */
  async changed(id: string): Promise<void> {
    this.drop(id);
    if (this.endpoint.isEmbedded) return;
    try {
      await this.users.notify(CHANNEL, id);
    } catch (error) {
      // The write has committed, so its request must not fail now. Replicas that lost the
      // database too drop everything when their listener reconnects; MAX_AGE_MS bounds the rest.
      this.logger.warn(`could not tell other replicas that user ${id} changed: ${(error as Error).message}`);
    }
  }

  private drop(id: string | null): void {
    this.generation++;
    if (id === null) this.entries.clear();
    else this.entries.delete(id);
    this.changes.next(id);
  }
}
