import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { SecondFactorChallenge } from './second-factor-challenge.entity';

export type NewChallenge = Pick<SecondFactorChallenge, 'userId' | 'tokenHash' | 'enrolment' | 'expiresAt'>;

/** The one owner of `second_factor_challenges`. */
@Injectable()
export class SecondFactorChallengeRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a challenge; expired ones go at the same time, so the table holds only live ones. */
  async add(challenge: NewChallenge): Promise<void> {
    await this.query(undefined, `DELETE FROM second_factor_challenges WHERE expires_at < now()`);
    await this.insert(undefined, this.manager().create(SecondFactorChallenge, { ...challenge, failedAttempts: 0 }));
  }

  /** The live (unexpired) challenge with this hash; with `tx`, its row locked until `tx` ends. */
  findLive(tokenHash: string, tx?: Tx): Promise<SecondFactorChallenge | null> {
    const query = this.manager(tx)
      .createQueryBuilder(SecondFactorChallenge, 'c')
      .where('c.tokenHash = :tokenHash AND c.expiresAt > now()', { tokenHash });
    return (tx ? query.setLock('pessimistic_write') : query).getOne();
  }

  /** Spends it; false if another request spent it first. */
  async consume(tx: Tx, id: string): Promise<boolean> {
    const [rows] = await this.query<unknown[]>(tx, `DELETE FROM second_factor_challenges WHERE id = $1 RETURNING id`, [
      id,
    ]);
    return rows.length > 0;
  }

  /** Counts a wrong answer to it; at `limit` it is spent, so one password buys at most `limit` guesses. */
  async countFailure(id: string, limit: number): Promise<void> {
    await this.query(
      undefined,
      `UPDATE second_factor_challenges SET failed_attempts = failed_attempts + 1 WHERE id = $1`,
      [id],
    );
    await this.query(undefined, `DELETE FROM second_factor_challenges WHERE id = $1 AND failed_attempts >= $2`, [
      id,
      limit,
    ]);
  }
}
