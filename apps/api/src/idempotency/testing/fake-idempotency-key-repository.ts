import { QueryFailedError } from 'typeorm';
import { Tx } from '../../database/transaction';
import { IdempotencyKeyRepository, IdempotencyRecord } from '../idempotency-key.repository';
import { StoredResponse } from '../resource-response';

/** IdempotencyKeyRepository in memory, for unit specs: a second claim of a key fails as PostgreSQL's primary key does. */
export class FakeIdempotencyKeyRepository {
  /** By `${ownerId}/${key}`. */
  readonly rows = new Map<string, IdempotencyRecord>();

  async deleteExpired(_ownerId: string, _key: string): Promise<void> {}

  async find(ownerId: string, key: string): Promise<IdempotencyRecord | null> {
    return this.rows.get(`${ownerId}/${key}`) ?? null;
  }

  async claim(_tx: Tx, ownerId: string, key: string, fingerprint: string): Promise<void> {
    if (this.rows.has(`${ownerId}/${key}`)) {
      const driverError = Object.assign(new Error('duplicate key'), {
        code: '23505',
        constraint: 'idempotency_keys_pkey',
      });
      throw new QueryFailedError('INSERT INTO idempotency_keys', [], driverError);
    }
    this.rows.set(`${ownerId}/${key}`, { fingerprint, response: { statusCode: 0, body: null } });
  }

  async record(_tx: Tx, ownerId: string, key: string, response: StoredResponse): Promise<void> {
    const row = this.rows.get(`${ownerId}/${key}`)!;
    // As the jsonb column gives it back: a copy.
    this.rows.set(`${ownerId}/${key}`, {
      ...row,
      response: { ...response, body: JSON.parse(JSON.stringify(response.body)) as unknown },
    });
  }

  async prune(): Promise<void> {}

  /** Typed as the real one, for constructors. */
  get asRepository(): IdempotencyKeyRepository {
    return this as unknown as IdempotencyKeyRepository;
  }
}
