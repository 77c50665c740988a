import { HttpStatus } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { AuditService } from '../audit/audit.service';
import { ErrorCode } from '../common/problem';
import type { TokenService } from '../auth/token.service';
import { User } from '../users/user.entity';
import type { OidcAccounts } from './oidc-accounts';
import type { OidcChecks, OidcClaims, OidcClient } from './oidc-client';
import type { OidcLoginState, OidcLoginStateRepository } from './oidc-login-state.repository';
import { OidcService } from './oidc.service';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** oidc_login_states in memory, with the semantics of OidcLoginStateRepository's statements. */
class FakeLoginStates implements Pick<OidcLoginStateRepository, 'add' | 'bindingHashOf' | 'take'> {
  readonly rows = new Map<string, OidcLoginState & { bindingHash: string | null; expiresAt: Date }>();

  async add(stateHash: string, state: OidcLoginState, bindingHash: string, expiresAt: Date): Promise<void> {
    this.rows.set(stateHash, { ...state, bindingHash, expiresAt });
  }

  async bindingHashOf(stateHash: string): Promise<string | null> {
    const row = this.rows.get(stateHash);
    return row && row.expiresAt.getTime() > Date.now() ? row.bindingHash : null;
  }

  async take(stateHash: string): Promise<OidcLoginState | null> {
    const row = this.rows.get(stateHash);
    this.rows.delete(stateHash);
    return row && row.expiresAt.getTime() > Date.now() ? { codeVerifier: row.codeVerifier, nonce: row.nonce } : null;
  }
}

describe('OidcService: the sign-in is bound to the browser that started it', () => {
  const meta = { ip: '198.51.100.2', userAgent: 'jest', requestId: null };
  const carol = Object.assign(new User(), { id: 'id-carol', username: 'carol', role: 'user', status: 'active' });
  let states: FakeLoginStates;
  let exchanged: OidcChecks[];
  let oidc: OidcService;

  beforeEach(() => {
    states = new FakeLoginStates();
    exchanged = [];
    const client = {
      ready: async () => undefined,
      authorizationUrl: async (checks: OidcChecks) => new URL(`https://idp.example/auth?state=${checks.state}`),
      exchange: async (_query: URLSearchParams, checks: OidcChecks): Promise<OidcClaims> => {
        exchanged.push(checks);
        return { iss: 'https://idp.example', sub: 'sub-carol' };
      },
    } as unknown as OidcClient;
    const accounts = {
      resolve: async () => ({ user: carol, created: false }),
      admit: async (account: unknown) => account,
    } as unknown as OidcAccounts;
    const audit = { record: async () => undefined } as unknown as AuditService;
    oidc = new OidcService(client, states as unknown as OidcLoginStateRepository, accounts, {} as TokenService, audit);
  });

  /** A sign-in started by one browser: the callback's query, and the binding that browser holds. */
  async function started(): Promise<{ query: URLSearchParams; binding: string }> {
    const { url, binding } = await oidc.start();
    return { query: new URLSearchParams({ code: 'code-1', state: url.searchParams.get('state')! }), binding };
  }

  async function expectRefused(completing: Promise<unknown>): Promise<void> {
    await expect(completing).rejects.toMatchObject({ code: ErrorCode.OIDC_LOGIN_FAILED });
    await expect(completing).rejects.toHaveProperty('status', HttpStatus.UNAUTHORIZED);
  }

  it('stores only the hash of a fresh random binding with the state', async () => {
    const first = await oidc.start();
    const second = await oidc.start();
    expect(first.binding).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second.binding).not.toBe(first.binding);
    const row = states.rows.get(sha256(first.url.searchParams.get('state')!))!;
    expect(row.bindingHash).toBe(sha256(first.binding));
  });

  it('signs in with the binding of the browser that started it, and spends the state', async () => {
    const { query, binding } = await started();
    await expect(oidc.complete(query, binding, meta)).resolves.toBe(carol);
    expect(exchanged).toEqual([expect.objectContaining({ state: query.get('state') })]);
    await expectRefused(oidc.complete(query, binding, meta));
  });

  it('refuses a callback without a binding, or with another browser’s, before spending the state', async () => {
    const { query, binding } = await started();
    const otherBrowser = (await started()).binding;
    await expectRefused(oidc.complete(query, undefined, meta));
    await expectRefused(oidc.complete(query, '', meta));
    await expectRefused(oidc.complete(query, otherBrowser, meta));
    await expectRefused(oidc.complete(query, `${binding}x`, meta));
    expect(exchanged).toEqual([]);

    // The forged callbacks did not use up the real browser's sign-in.
    await expect(oidc.complete(query, binding, meta)).resolves.toBe(carol);
  });

  it('refuses a state stored without a binding (started by a replica from before bindings)', async () => {
    const { query, binding } = await started();
    states.rows.get(sha256(query.get('state')!))!.bindingHash = null;
    await expectRefused(oidc.complete(query, binding, meta));
    expect(exchanged).toEqual([]);
  });

  it('refuses an expired state even with its binding', async () => {
    const { query, binding } = await started();
    states.rows.get(sha256(query.get('state')!))!.expiresAt = new Date(Date.now() - 1);
    await expectRefused(oidc.complete(query, binding, meta));
    expect(exchanged).toEqual([]);
  });
});
