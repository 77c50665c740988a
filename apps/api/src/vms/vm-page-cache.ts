import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DatabaseEndpoint } from '../database/database-endpoint';
import { PgListener } from '../database/pg-listener';

/** NOTIFYed by the `vms_changed` trigger (migration 1764800000000) at the commit of any change to `vms`. */
export const VMS_CHANGED_CHANNEL = 'limen_vms_changed';
/** The LISTEN connection's application_name, to find it in pg_stat_activity. */
export const VMS_LISTENER_NAME = 'limen-vms-listener';
/** Pages kept at most (each a few tens of KB); past it the cache starts afresh. */
export const MAX_PAGES = 256;

/** What the cache reads of a transaction's TypeORM QueryRunner. */
export interface OpenTransaction {
  readonly isTransactionActive: boolean;
  readonly isReleased: boolean;
}

/**
 * The rendered pages of GET /vms, cached per replica and dropped whole by any change to `vms`:
 * in the read bench the page query (the pg round trip, and PostgreSQL's own work on the same
 * cores) was half the cost of a list request.
 *
 * Consistency (docs/architecture.md, "VM list pages"):
 * - read-your-writes on the replica that wrote: VmRepository, the one writer of `vms`, calls
 *   `writing` before and `written` after each write, so the pages go before its response leaves;
 *   a write inside a transaction also keeps the cache out of use until that transaction has ended
 *   (nothing read while it is open is kept, and the pages go once it commits);
 * - other replicas: the trigger's NOTIFY drops their pages when it arrives (milliseconds after the
 *   commit); until then they may answer the page as before the change;
 * - a page read while anything was dropped is not kept (the generation check), so a read that
 *   raced a write never caches the old rows;
 * - with a shared PostgreSQL nothing is cached while the LISTEN connection is down, and
 *   everything is dropped when it (re)connects. Embedded PGlite serves one replica: the in-process
 *   drops are enough there.
 */
@Injectable()
export class VmPageCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('VmPageCache');
  private readonly pages = new Map<string, string>();
  /** Bumped by every drop: a page read that started before it is not kept. */
  private generation = 0;
  /** Transactions that wrote VMs and had not ended when last looked at. */
  private readonly openWrites = new Set<OpenTransaction>();
  private listener: PgListener | null = null;
  private listening: boolean;

  constructor(private readonly endpoint: DatabaseEndpoint) {
    this.listening = endpoint.isEmbedded;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.endpoint.isEmbedded) return;
    this.listener = new PgListener(
      this.endpoint.url,
      VMS_CHANGED_CHANNEL,
      {
        notification: () => this.drop(),
        // Whatever changed while nobody listened is unknown: start afresh.
        listening: () => {
          this.drop();
          this.listening = true;
        },
        lost: (why) => {
          this.listening = false;
          this.drop();
          this.logger.warn(`VM change listener lost (${why}); VM lists are read from the database until it is back`);
        },
      },
      VMS_LISTENER_NAME,
    );
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.listening = false;
    await this.listener?.stop();
  }

  /** The page under `key`, cached, or rendered by `render` (and kept when nothing changed meanwhile). */
  async page(key: string, render: () => Promise<string>): Promise<string> {
    if (!this.usable()) return render();
    const cached = this.pages.get(key);
    if (cached !== undefined) return cached;
    const generation = this.generation;
    const page = await render();
    if (generation === this.generation && this.usable()) {
      if (this.pages.size >= MAX_PAGES) this.pages.clear();
      this.pages.set(key, page);
    }
    return page;
  }

  /** Before a write to `vms`; `runner` when it runs in a transaction (see the class comment). */
  writing(runner?: OpenTransaction): void {
    this.drop();
    if (runner?.isTransactionActive) this.openWrites.add(runner);
  }

  /** After a write to `vms` (committed already, unless in a transaction `writing` was given). */
  written(): void {
    this.drop();
  }

  /** Whether pages may be served and kept now; drops them once a transaction that wrote has ended. */
  private usable(): boolean {
    for (const runner of this.openWrites) {
      if (runner.isTransactionActive && !runner.isReleased) continue;
      this.openWrites.delete(runner);
      this.drop();
    }
    return this.listening && this.openWrites.size === 0;
  }

  private drop(): void {
    this.generation++;
    this.pages.clear();
  }
}
