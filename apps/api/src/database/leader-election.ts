import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { BoundedClient } from './bounded-client';
import { DatabaseEndpoint } from './database-endpoint';

/** Arbitrary but fixed: the session advisory lock whose holder is the leader. */
const LEADER_LOCK_KEY = 0x4c494d45;
const RETRY_MS = 5_000;

/**
 * Elects one replica to run the periodic jobs (reconcile sweeps, recovery of
 * abandoned operations): the holder of a session-level advisory lock on a
 * dedicated connection. If the leader dies, its connection closes, the lock is
 * released, and another replica takes over within RETRY_MS.
 * Embedded PGlite serves one replica by design, which is always the leader.
 */
@Injectable()
export class LeaderElection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('LeaderElection');
  private client: BoundedClient | null = null;
  private leader = false;
  /** Campaigns never overlap: a lock attempt on a silent session waits up to the query timeout, longer than RETRY_MS. */
  private campaigning = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly endpoint: DatabaseEndpoint) {
    this.leader = endpoint.isEmbedded;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Before any bootstrap hook, so jobs started at bootstrap already know who leads. */
  async onModuleInit(): Promise<void> {
    if (this.endpoint.isEmbedded) return;
    await this.campaign();
    this.timer = setInterval(() => void this.campaign(), RETRY_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    const client = this.client;
    this.client = null;
    this.leader = false;
    await client?.end().catch(() => undefined);
  }

  private async campaign(): Promise<void> {
    if (this.campaigning) return;
    this.campaigning = true;
    try {
      // The lock lives as long as this session, which is watched: one gone silent (partition, hung
      // server) must not keep a leader that may no longer hold the lock (the server may have given
      // it to another replica). The watch drops it, and 'error'/'end' make this replica step down.
      if (this.leader && this.client) return;
      if (!this.client) {
        const client = new BoundedClient({ connectionString: this.endpoint.url });
        client.on('error', () => this.lose(client, 'connection error'));
        client.on('end', () => this.lose(client, 'connection closed'));
        await client.connect();
        client.watch(RETRY_MS);
        this.client = client;
      }
      const { rows } = await this.client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock($1) AS locked`, [
        LEADER_LOCK_KEY,
      ]);
      if (rows[0]?.locked && !this.leader) this.logger.log('this replica is now the leader for periodic jobs');
      this.leader = rows[0]?.locked ?? false;
    } catch (error) {
      this.logger.warn(`leader election failed: ${(error as Error).message}`);
      if (this.client) this.lose(this.client, 'query failed');
    } finally {
      this.campaigning = false;
    }
  }

  private lose(client: BoundedClient, why: string): void {
    if (this.client !== client) return;
    if (this.leader) this.logger.warn(`lost leadership (${why})`);
    this.client = null;
    this.leader = false;
    void client.end().catch(() => undefined);
  }
}
