import { HttpStatus, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { InjectRepository } from '@nestjs/typeorm';
import { createSecretKey } from 'node:crypto';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { User } from '../users/user.entity';
import { AuthUser } from './decorators';

export interface AccessTokenClaims {
  sub: string;
  role: string;
  /** The user's token version when issued; see User.tokenVersion. */
  ver: number;
  jti: string;
}

/**
 * Verifies the HS256 signature (no other algorithm, so alg:none is refused),
 * then re-reads the user: a disabled, deleted or re-roled user is refused on
 * the very next request, whatever the token's remaining lifetime.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  constructor(
    config: AppConfig,
    @InjectRepository(User) private readonly users: Repository<User>,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // A KeyObject, not the string: given a string, jsonwebtoken first tries (and fails, with a
      // thrown exception) to parse it as a public key on every request — the largest single
      // cost on the read path in the read-throughput bench's profile.
      secretOrKey: createSecretKey(Buffer.from(config.jwtSecret)) as unknown as string,
      algorithms: ['HS256'],
      ignoreExpiration: false,
    });
  }

  async validate(claims: AccessTokenClaims): Promise<AuthUser> {
    const user = typeof claims.sub === 'string' ? await this.users.findOneBy({ id: claims.sub }) : null;
    if (!user || user.status !== 'active' || user.tokenVersion !== claims.ver) {
      throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.UNAUTHENTICATED, 'The access token has been revoked', {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    return { id: user.id, username: user.username, role: user.role };
  }
}
