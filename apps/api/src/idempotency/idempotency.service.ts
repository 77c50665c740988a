import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';
import { isUniqueViolation } from '../database/pg-errors';
import { Transactions, Tx } from '../database/transaction';
import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotentRequest } from './idempotency-key.decorator';

export interface StoredResponse {
  statusCode: number;
  body: unknown;
  location?: string;
}

/**
 * Runs a creating or acting request at most once per (user, Idempotency-Key).
 * The key is claimed by a row inserted in the same transaction as the work, so
 * concurrent duplicates queue on it and then replay the first response.
 */
@Injectable()
export class IdempotencyService {
  constructor(
    private readonly keys: IdempotencyKeyRepository,
    private readonly transactions: Transactions,
  ) {}

  async execute(
    ownerId: string,
    request: IdempotentRequest | undefined,
    work: (tx: Tx) => Promise<StoredResponse>,
  ): Promise<StoredResponse> {
    if (!request) return this.transactions.run(work);
    await this.keys.deleteExpired(ownerId, request.key);
    const earlier = await this.find(ownerId, request);
    if (earlier) return earlier;
    try {
      return await this.transactions.run(async (tx) => {
        await this.keys.claim(tx, ownerId, request.key, request.fingerprint);
        const response = await work(tx);
        await this.keys.record(tx, ownerId, request.key, response);
        return response;
      });
    } catch (error) {
      if (isUniqueViolation(error, /idempotency_keys/)) {
        const winner = await this.find(ownerId, request);
        if (winner) return winner;
      }
      throw error;
    }
  }

  /** Deletes keys past retention (run by the periodic sweep). */
  prune(): Promise<void> {
    return this.keys.prune();
  }

  private async find(ownerId: string, request: IdempotentRequest): Promise<StoredResponse | null> {
    const earlier = await this.keys.find(ownerId, request.key);
    if (!earlier) return null;
    if (earlier.fingerprint !== request.fingerprint) {
      throw new AppException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was used with a different request',
      );
    }
    return earlier.response;
  }
}
