import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class OidcStatusDto {
  /** Whether single sign-on is configured (OIDC_ISSUER); when false, /auth/oidc/login answers 404. */
  @ApiProperty({ example: true })
  enabled: boolean;

  /** The OpenID provider's issuer identifier, when enabled. */
  @ApiPropertyOptional({ example: 'https://auth.example.com/realms/limen' })
  issuer?: string;
}

export class OidcLoginDto {
  /** The provider's authorization request (PKCE S256, state and nonce); navigate the same browser (it holds the binding cookie) to it within 10 minutes. */
  @ApiProperty({
    format: 'uri',
    example:
      'https://auth.example.com/realms/limen/protocol/openid-connect/auth?client_id=limen&response_type=code&scope=openid+profile+email+groups&state=5u3Zq0mC0aFf1fV9kQeXnA&nonce=Jt6b1Vw0p2Yc8sLr4Hk9Dg&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256',
  })
  authorizationUrl: string;
}
