import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { assertMaySignIn, registrationClosed } from '../users/credential-checks';
import { isUniqueViolation } from '../database/pg-errors';
import { Transactions } from '../database/transaction';
import { PasswordHasher } from '../users/password-hasher';
import { User } from '../users/user.entity';
import { UserRepository } from '../users/user.repository';
import type { UserRole } from '../users/user-role';
import { UsersService } from '../users/users.service';
import { OidcClaims } from './oidc-client';
import { OidcIdentityRepository } from './oidc-identity.repository';
import { isValidUsername, usernameBase, usernameCandidates } from './oidc-usernames';

/** The account a sign-in resolved to; `created` on the first sign-in, `roleChange` when the admin group moved it. */
export interface OidcAccount {
  user: User;
  created: boolean;
  roleChange?: { from: UserRole; to: UserRole };
}

/**
 * Maps a provider's (issuer, subject) to a LIMEN account. Never by e-mail or name: a new pair is a
 * new account (its name gets a suffix when taken). The role follows OIDC_ADMIN_GROUP at every sign-in.
 */
@Injectable()
export class OidcAccounts {
  private readonly logger = new Logger('Oidc');

  constructor(
    private readonly config: AppConfig,
    private readonly identities: OidcIdentityRepository,
    private readonly users: UserRepository,
    private readonly usersService: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly transactions: Transactions,
  ) {}

  /** The account for these verified claims, created under REGISTRATION on the first sign-in (403 when closed). */
  async resolve(claims: OidcClaims): Promise<OidcAccount> {
    const linked = await this.identities.touch(claims.iss, claims.sub);
    return linked ? { user: await this.linkedUser(linked), created: false } : this.create(claims);
  }

  /** 403 (as a password sign-in) when the account may not sign in; else its role re-evaluated from the groups claim. */
  async admit(account: OidcAccount, claims: OidcClaims): Promise<OidcAccount> {
    assertMaySignIn(account.user);
    return account.created ? account : this.applyAdminGroup(account.user, claims);
  }

  private async linkedUser(id: string): Promise<User> {
    const user = await this.users.find(id);
    if (!user)
      throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.OIDC_LOGIN_FAILED, 'The linked account is gone');
    return user;
  }

  private async create(claims: OidcClaims): Promise<OidcAccount> {
    const registration = this.config.registration;
    if (registration === 'closed') throw registrationClosed();
    // A hash of a random secret nobody keeps: no password signs in, and a password attempt costs a full argon2 verify.
    const passwordHash = await this.hasher.hash(randomBytes(32).toString('base64url'));
    const fields = {
      passwordHash,
      role: this.wantedRole(claims) ?? 'user',
      status: registration === 'open' ? ('active' as const) : ('pending' as const),
    };
    for (const username of usernameCandidates(usernameBase(claims.preferred_username), randomSuffix)) {
      if (!isValidUsername(username)) continue;
      try {
        const user = await this.transactions.run(async (tx) => {
          const added = await this.users.add({ ...fields, username }, tx);
          await this.identities.add(tx, claims.iss, claims.sub, added.id);
          return added;
        });
        return { user, created: true };
      } catch (error) {
        if (isUniqueViolation(error, /oidc_identities/)) {
          // The same person's first sign-in in another tab won the race: use its account.
          const linked = await this.identities.touch(claims.iss, claims.sub);
          if (linked) return { user: await this.linkedUser(linked), created: false };
        }
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.USERNAME_TAKEN, 'No free username for this account');
  }

  /** 'admin' or 'user' by the groups claim; undefined when OIDC_ADMIN_GROUP is unset (roles are then managed in LIMEN). */
  private wantedRole(claims: OidcClaims): UserRole | undefined {
    const adminGroup = this.config.identity.oidc?.adminGroup;
    if (adminGroup === undefined) return undefined;
    const groups = Array.isArray(claims.groups) ? claims.groups : [claims.groups];
    return groups.includes(adminGroup) ? 'admin' : 'user';
  }

  private async applyAdminGroup(user: User, claims: OidcClaims): Promise<OidcAccount> {
    const wanted = this.wantedRole(claims);
    if (wanted === undefined || wanted === user.role) return { user, created: false };
    try {
      const updated = await this.usersService.update(user.id, { role: wanted });
      return { user: updated, created: false, roleChange: { from: user.role, to: wanted } };
    } catch (error) {
      // The last active admin left the group: keep them admin rather than leave LIMEN without one.
      if (!(error instanceof AppException) || error.code !== ErrorCode.LAST_ADMIN) throw error;
      this.logger.warn({ userId: user.id }, 'the last active admin left OIDC_ADMIN_GROUP; the role stays admin');
      return { user, created: false };
    }
  }
}

function randomSuffix(): string {
  return randomBytes(3).toString('hex');
}
