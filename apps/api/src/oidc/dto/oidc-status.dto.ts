import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class OidcStatusDto {
  /** Whether single sign-on is configured (OIDC_ISSUER); when false, /auth/oidc/login answers 404. */
  @ApiProperty({ example: true })
  enabled: boolean;

  /** The OpenID provider's issuer identifier, when enabled. */
  @ApiPropertyOptional({ example: 'https://auth.example.com/realms/limen' })
  issuer?: string;
}
