import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';

/** The one owner of `oidc_identities`: which account an (issuer, subject) pair signs in as. */
@Injectable()
export class OidcIdentityRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** The linked account's id, and notes the sign-in; null when the pair is not linked yet. */
  async touch(issuer: string, subject: string): Promise<string | null> {
    // An UPDATE … RETURNING comes back from TypeORM as [rows, count].
    const [rows] = await this.query<{ user_id: string }[]>(
      undefined,
      `UPDATE oidc_identities SET last_login_at = now() WHERE issuer = $1 AND subject = $2 RETURNING user_id`,
      [issuer, subject],
    );
    return rows[0]?.user_id ?? null;
  }

  /** Links the pair to the user; a pair already linked fails with a unique violation (see isUniqueViolation). */
  async add(tx: Tx, issuer: string, subject: string, userId: string): Promise<void> {
    await this.query(tx, `INSERT INTO oidc_identities (issuer, subject, user_id) VALUES ($1, $2, $3)`, [
      issuer,
      subject,
      userId,
    ]);
  }
}
