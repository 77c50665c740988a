import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppException, ErrorCode } from '../common/problem';
import { IdempotentRequest } from './idempotency-key.decorator';

export interface StoredResponse {
  statusCode: number;
  body: unknown;
  location?: string;
}

/** Keys are kept this long; a replay after that runs the request again. */
const RETENTION = '24 hours';

/**
 * Runs a creating or acting request at most once per (user, Idempotency-Key).
 * The key is claimed by a row inserted in the same transaction as the work, so
 * concurrent duplicates queue on it and then replay the first response.
 */
@Injectable()
export class IdempotencyService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async execute(
    ownerId: string,
    request: IdempotentRequest | undefined,
    work: (manager: EntityManager) => Promise<StoredResponse>,
  ): Promise<StoredResponse> {
    if (!request) return this.dataSource.transaction(work);
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE owner_id = $1 AND key = $2 AND created_at < now() - interval '${RETENTION}'`,
      [ownerId, request.key],
    );
    const earlier = await this.find(ownerId, request);
    if (earlier) return earlier;
    try {
      return await this.dataSource.transaction(async (manager) => {
        await manager.query(
          `INSERT INTO idempotency_keys (owner_id, key, request_hash, status_code, response) VALUES ($1, $2, $3, 0, 'null')`,
          [ownerId, request.key, request.fingerprint],
        );
        const response = await work(manager);
        await manager.query(
          `UPDATE idempotency_keys SET status_code = $3, response = $4, location = $5 WHERE owner_id = $1 AND key = $2`,
          [ownerId, request.key, response.statusCode, JSON.stringify(response.body), response.location ?? null],
        );
        return response;
      });
    } catch (error) {
      const duplicate =
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === '23505' &&
        /idempotency_keys/.test(
          String(
            (error.driverError as { constraint?: string; detail?: string }).constraint ??
              (error.driverError as { detail?: string }).detail ??
              '',
          ),
        );
      if (duplicate) {
        const winner = await this.find(ownerId, request);
        if (winner) return winner;
      }
      throw error;
    }
  }

  /** Deletes keys past retention (run by the periodic sweep). */
  async prune(): Promise<void> {
    await this.dataSource.query(`DELETE FROM idempotency_keys WHERE created_at < now() - interval '${RETENTION}'`);
  }

  private async find(ownerId: string, request: IdempotentRequest): Promise<StoredResponse | null> {
    const [row] = await this.dataSource.query(
      `SELECT request_hash, status_code, response, location FROM idempotency_keys WHERE owner_id = $1 AND key = $2`,
      [ownerId, request.key],
    );
    if (!row) return null;
    if (row.request_hash !== request.fingerprint) {
      throw new AppException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was used with a different request',
      );
    }
    return { statusCode: row.status_code, body: row.response, location: row.location ?? undefined };
  }
}
