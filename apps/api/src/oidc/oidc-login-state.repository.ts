import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';

/** What a started sign-in needs back at the callback. */
export interface OidcLoginState {
  codeVerifier: string;
  nonce: string;
}

/** The one owner of `oidc_login_states`: sign-ins started and not yet completed, keyed by SHA-256(state). */
@Injectable()
export class OidcLoginStateRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a new state, and drops the expired ones on the way (abandoned sign-ins leave rows behind). */
  async add(stateHash: string, state: OidcLoginState, expiresAt: Date): Promise<void> {
    await this.query(undefined, `DELETE FROM oidc_login_states WHERE expires_at <= now()`);
    await this.query(
      undefined,
      `INSERT INTO oidc_login_states (state_hash, code_verifier, nonce, expires_at) VALUES ($1, $2, $3, $4)`,
      [stateHash, state.codeVerifier, state.nonce, expiresAt],
    );
  }

  /** Spends the state: one DELETE … RETURNING, so of two concurrent callbacks only one gets it. Null when unknown, spent or expired. */
  async take(stateHash: string): Promise<OidcLoginState | null> {
    // A DELETE … RETURNING comes back from TypeORM as [rows, count].
    const [rows] = await this.query<{ code_verifier: string; nonce: string; live: boolean }[]>(
      undefined,
      `DELETE FROM oidc_login_states WHERE state_hash = $1 RETURNING code_verifier, nonce, expires_at > now() AS live`,
      [stateHash],
    );
    const row = rows[0];
    return row?.live ? { codeVerifier: row.code_verifier, nonce: row.nonce } : null;
  }
}
