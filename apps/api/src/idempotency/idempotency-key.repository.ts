import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import type { StoredResponse } from './resource-response';

/** Keys are kept this long; a replay after that runs the request again. */
const RETENTION = '24 hours';

/** A key as recorded: the fingerprint of the request that claimed it and the answer it got. */
export interface IdempotencyRecord {
  fingerprint: string;
  response: StoredResponse;
}

/** The one owner of the `idempotency_keys` table's SQL. */
@Injectable()
export class IdempotencyKeyRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Forgets this owner's key if it is past retention, so it runs the request again. */
  async deleteExpired(ownerId: string, key: string): Promise<void> {
    await this.query(
      undefined,
      `DELETE FROM idempotency_keys WHERE owner_id = $1 AND key = $2 AND created_at < now() - interval '${RETENTION}'`,
      [ownerId, key],
    );
  }

  async find(ownerId: string, key: string): Promise<IdempotencyRecord | null> {
    const [row] = await this.query<{
      request_hash: string;
      status_code: number;
      response: unknown;
      location: string | null;
    }>(
      undefined,
      `SELECT request_hash, status_code, response, location FROM idempotency_keys WHERE owner_id = $1 AND key = $2`,
      [ownerId, key],
    );
    if (!row) return null;
    return {
      fingerprint: row.request_hash,
      response: { statusCode: row.status_code, body: row.response, location: row.location ?? undefined },
    };
  }

  /**
   * Claims the key in `tx` before the work runs: a concurrent duplicate queues on the primary key
   * and, once this commits, fails with a unique violation on idempotency_keys.
   */
  async claim(tx: Tx, ownerId: string, key: string, fingerprint: string): Promise<void> {
    await this.query(
      tx,
      `INSERT INTO idempotency_keys (owner_id, key, request_hash, status_code, response) VALUES ($1, $2, $3, 0, 'null')`,
      [ownerId, key, fingerprint],
    );
  }

  /** Records the answer of the claimed key's request, in the same transaction as its work. */
  async record(tx: Tx, ownerId: string, key: string, response: StoredResponse): Promise<void> {
    await this.query(
      tx,
      `UPDATE idempotency_keys SET status_code = $3, response = $4, location = $5 WHERE owner_id = $1 AND key = $2`,
      [ownerId, key, response.statusCode, JSON.stringify(response.body), response.location ?? null],
    );
  }

  /** Deletes every key past retention. */
  async prune(): Promise<void> {
    await this.query(undefined, `DELETE FROM idempotency_keys WHERE created_at < now() - interval '${RETENTION}'`);
  }
}
