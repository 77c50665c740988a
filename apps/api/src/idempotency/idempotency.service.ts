import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';
import { isUniqueViolation } from '../database/pg-errors';
import { Transactions, Tx } from '../database/transaction';
import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotentRequest } from './idempotency-key.decorator';
import { IdempotentReplay, responseOf } from './resource-response';

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

  /**
   * Runs `work` in one transaction and, with a key, records the response its result gets in that
   * same transaction. A key seen before is not run again: the same request raises IdempotentReplay
   * with the first response, a different one 422 IDEMPOTENCY_KEY_REUSED.
   */
  async execute<R>(ownerId: string, request: IdempotentRequest | undefined, work: (tx: Tx) => Promise<R>): Promise<R> {
    if (!request) return this.transactions.run(work);
    await this.keys.deleteExpired(ownerId, request.key);
    await this.replayIfSeen(ownerId, request);
    try {
      return await this.transactions.run(async (tx) => {
        await this.keys.claim(tx, ownerId, request.key, request.fingerprint);
        const result = await work(tx);
        await this.keys.record(tx, ownerId, request.key, responseOf(result));
        return result;
      });
    } catch (error) {
      // A concurrent duplicate committed first: answer as it did.
      if (isUniqueViolation(error, /idempotency_keys/)) await this.replayIfSeen(ownerId, request);
      throw error;
    }
  }

  /** Deletes keys past retention (run by the periodic sweep). */
  prune(): Promise<void> {
    return this.keys.prune();
  }

  private async replayIfSeen(ownerId: string, request: IdempotentRequest): Promise<void> {
    const earlier = await this.keys.find(ownerId, request.key);
    if (!earlier) return;
    if (earlier.fingerprint !== request.fingerprint) {
      throw new AppException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was used with a different request',
      );
    }
    throw new IdempotentReplay(earlier.response);
  }
}
