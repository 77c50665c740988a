import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DatabaseEndpoint } from '../database/database-endpoint';
import { PgListener } from '../database/pg-listener';
import { UserAccessWatch } from '../users/user-access-watch';
import { RefreshTokenRepository } from './refresh-token.repository';
import { RevokedSessionSet } from './revoked-session-set';

/** NOTIFYed by a trigger on refresh_tokens (migration 1764900000000) with the family id. */
const CHANNEL = 'limen_session_revoked';
/** The LISTEN connection's application_name, to find it in pg_stat_activity. */
export const SESSION_LISTENER_NAME = 'limen-session-revocation-listener';
/** Added to the access-token lifetime: the database's clock and this replica's may differ a little. */
const CLOCK_SLACK_MS = 60_000;
const PRUNE_INTERVAL_MS = 60_000;
const RELOAD_RETRY_MS = 1_000;

/**
 * The sessions (refresh-token families) revoked or signed out within the access-token lifetime,
 * held per replica, so the JWT guard refuses a revoked session's access token on the very next
 * request without a database query on every request.
 *
 * It follows UserAccessCache's rules:
 * - the replica that ends a session adds it here once the revocation has committed (`ended`),
 *   before its response leaves; the others hear it by NOTIFY, which a trigger sends for every
 *   revocation, whoever wrote it (milliseconds: a request that reaches another replica within
 *   that window may still be served);
 * - the set is trusted (`complete`) only once it was read from the database, and with a shared
 *   PostgreSQL only while this replica LISTENs, the read starting after LISTEN is in place so no
 *   revocation falls between the two. Until then, and while the connection is down (a revocation
 *   may be missed), each check asks the database: fail closed, as UserAccessCache does.
 * Embedded PGlite serves one replica: the read at start and `ended` in process are enough there.
 * Every session it learns has ended (in process, by NOTIFY, or by a read) also ends that session's
 * long-lived connections (UserAccessWatch), which no later request rechecks.
 */
@Injectable()
export class SessionRevocations implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('SessionRevocations');
  private readonly lifetimeMs: number;
  private readonly revoked: RevokedSessionSet;
  private listener: PgListener | null = null;
  private complete = false;
  /** Bumped whenever the listener is lost or back: a read started before must not mark the set complete. */
  private epoch = 0;
  private loading: Promise<void> = Promise.resolve();
  private pruneTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly endpoint: DatabaseEndpoint,
    private readonly access: UserAccessWatch,
    config: AppConfig,
  ) {
    this.lifetimeMs = config.accessTokenTtlSeconds * 1000 + CLOCK_SLACK_MS;
    this.revoked = new RevokedSessionSet(this.lifetimeMs);
    access.checkSessionsWith((sessionId) => this.isRevoked(sessionId));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.pruneTimer = setInterval(() => this.revoked.prune(Date.now()), PRUNE_INTERVAL_MS).unref();
    if (this.endpoint.isEmbedded) {
      await this.load(this.epoch);
      return;
    }
    this.listener = new PgListener(
      this.endpoint.url,
      CHANNEL,
      {
        notification: (sessionId) => this.ended(sessionId ?? null),
        listening: () => {
          this.loading = this.load(++this.epoch);
        },
        lost: (why) => {
          this.epoch++;
          this.complete = false;
          this.logger.warn(
            `session revocation listener lost (${why}); every access token's session is checked in the database until it is back`,
          );
        },
      },
      SESSION_LISTENER_NAME,
    );
    await this.listener.start();
    // Serve the first requests from memory when the database answered; otherwise they ask it.
    await this.loading;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.complete = false;
    clearInterval(this.pruneTimer);
    clearTimeout(this.retryTimer);
    await this.listener?.stop();
  }

  /** Whether the session was revoked or signed out (see the class comment for when the database is asked). */
  async isRevoked(sessionId: string): Promise<boolean> {
    if (this.revoked.has(sessionId)) return true;
    if (this.complete) return false;
    const ended = await this.refreshTokens.sessionEnded(sessionId);
    if (ended) this.revoked.add(sessionId, Date.now());
    return ended;
  }

  /** Call once the revocation of the session has committed: this replica refuses its access tokens at once. */
  ended(sessionId: string | null): void {
    if (!sessionId) return;
    this.revoked.add(sessionId, Date.now());
    this.access.sessionEnded(sessionId);
  }

  /** Reads the sessions ended within the lifetime; the set is complete once that succeeded and nothing was lost since. */
  private async load(epoch: number): Promise<void> {
    try {
      const ended = await this.refreshTokens.sessionsEndedWithin(Math.ceil(this.lifetimeMs / 1000));
      for (const { familyId, endedAt } of ended) {
        this.revoked.add(familyId, endedAt.getTime());
        // A revocation NOTIFYed while the listener was down: its connections end now.
        this.access.sessionEnded(familyId);
      }
      if (epoch === this.epoch && !this.stopped) this.complete = true;
    } catch (error) {
      if (epoch !== this.epoch || this.stopped) return;
      this.logger.warn(`could not read the revoked sessions (${(error as Error).message}); retrying`);
      this.retryTimer = setTimeout(() => void this.load(epoch), RELOAD_RETRY_MS).unref();
    }
  }
}
