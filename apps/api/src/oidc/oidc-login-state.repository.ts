import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';

/** What a started sign-in needs back at the callback. */
export interface OidcLoginState {
  codeVerifier: string;
  nonce: string;
}

/**
 * The one owner of `oidc_login_states`: sign-ins started and not yet completed, keyed by SHA-256(state),
 * each with the SHA-256 of the browser binding cookie it was started with.
 */
@Injectable()
export class OidcLoginStateRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a new state, and drops the expired ones on the way (abandoned sign-ins leave rows behind). */
  async add(stateHash: string, state: OidcLoginState, bindingHash: string, expiresAt: Date): Promise<void> {
    await this.query(undefined, `DELETE FROM oidc_login_states WHERE expires_at <= now()`);
    await this.query(
      undefined,
      `INSERT INTO oidc_login_states (state_hash, code_verifier, nonce, binding_hash, expires_at) VALUES ($1, $2, $3, $4, $5)`,
      [stateHash, state.codeVerifier, state.nonce, bindingHash, expiresAt],
    );
  }

  /**
   * The binding hash of a live state, without spending it: a callback from the wrong browser must
   * not use up the right browser's sign-in. Null when unknown, expired, or started before bindings.
   */
  async bindingHashOf(stateHash: string): Promise<string | null> {
    const rows = await this.query<{ binding_hash: string | null }>(
      undefined,
      `SELECT binding_hash FROM oidc_login_states WHERE state_hash = $1 AND expires_at > now()`,
      [stateHash],
    );
    return rows[0]?.binding_hash ?? null;
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
