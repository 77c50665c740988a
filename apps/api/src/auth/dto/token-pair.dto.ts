import { ApiProperty } from '@nestjs/swagger';

export class TokenPairDto {
  /** JWT (HS256) for `Authorization: Bearer`; lives `expiresIn` seconds. */
  @ApiProperty({ example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...' })
  accessToken: string;

  /** Opaque, single-use; exchange it at /auth/refresh for a new pair. Absent when it went into the session cookie (`X-Limen-Session: cookie`). */
  @ApiProperty({ example: 'm5Yk0n2q7X0y0QF8wq3mN1hQ2rU7o9t0bC4vL6sJ8eA', required: false })
  // Always set by the services; RefreshCookieInterceptor takes it out at the edge for browsers.
  refreshToken: string;

  @ApiProperty({ example: 'Bearer', enum: ['Bearer'] })
  tokenType: 'Bearer';

  /** Access token lifetime in seconds. */
  @ApiProperty({ type: 'integer', example: 900 })
  expiresIn: number;
}
