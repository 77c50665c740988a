import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import * as client from 'openid-client';
import { AppConfig, OidcConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';

/** What LIMEN reads from a completed sign-in: the ID token's claims, merged with UserInfo's when there is one. */
export interface OidcClaims {
  iss: string;
  sub: string;
  preferred_username?: unknown;
  groups?: unknown;
  [claim: string]: unknown;
}

/** What the callback must match: the values stored when the sign-in started. */
export interface OidcChecks {
  state: string;
  codeVerifier: string;
  nonce: string;
}

export function oidcNotConfigured(): AppException {
  return new AppException(HttpStatus.NOT_FOUND, ErrorCode.OIDC_NOT_CONFIGURED, 'OIDC sign-in is not configured');
}

export function oidcLoginFailed(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.OIDC_LOGIN_FAILED,
    'The OIDC sign-in could not be completed',
  );
}

function providerUnavailable(): AppException {
  return new AppException(
    HttpStatus.SERVICE_UNAVAILABLE,
    ErrorCode.SERVICE_UNAVAILABLE,
    'The OpenID provider did not answer; retry shortly',
  );
}

/** The provider could not be reached (refused, reset, timed out), as opposed to answering with a refusal. */
function isNetworkError(error: unknown): boolean {
  if (error instanceof DOMException) return error.name === 'TimeoutError' || error.name === 'AbortError';
  return error instanceof TypeError && error.message === 'fetch failed';
}

/**
 * openid-client's functional API against the configured provider. Discovery is lazy and not
 * cached when it fails: the provider may be down while the api starts, and the next sign-in
 * tries again. An unreachable provider is a 503; anything the provider or a check refuses is 401.
 */
@Injectable()
export class OidcClient {
  private readonly logger = new Logger('Oidc');
  private discovered?: Promise<client.Configuration>;

  constructor(private readonly config: AppConfig) {}

  get settings(): OidcConfig | undefined {
    return this.config.identity.oidc;
  }

  /** The URL to send the browser to, with PKCE S256, the state and the nonce. */
  async authorizationUrl(checks: OidcChecks): Promise<URL> {
    const settings = this.required();
    const configuration = await this.configuration();
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: settings.redirectUri,
      scope: settings.scopes,
      code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
  }

  /** Discovers the provider now (a 503 when it cannot be reached), so a callback does not spend its state for nothing. */
  async ready(): Promise<void> {
    this.required();
    await this.configuration();
  }

  /**
   * Exchanges the code (the callback's own query on the configured redirect URI): openid-client checks
   * the state, the `iss` parameter (RFC 9207), the PKCE verifier at the token endpoint, and the ID
   * token's signature, issuer, audience, expiry and nonce.
   */
  async exchange(query: URLSearchParams, checks: OidcChecks): Promise<OidcClaims> {
    const settings = this.required();
    const configuration = await this.configuration();
    const callbackUrl = new URL(settings.redirectUri);
    for (const [name, value] of query) callbackUrl.searchParams.append(name, value);
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims()!;
      const userInfo = configuration.serverMetadata().userinfo_endpoint
        ? await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub)
        : {};
      // The ID token's iss and sub win: they are what the account is linked by.
      return { ...userInfo, ...idToken } as OidcClaims;
    } catch (error) {
      throw this.mapped(error);
    }
  }

  private required(): OidcConfig {
    if (!this.settings) throw oidcNotConfigured();
    return this.settings;
  }

  private async configuration(): Promise<client.Configuration> {
    const settings = this.required();
    this.discovered ??= client.discovery(
      new URL(settings.issuer),
      settings.clientId,
      undefined,
      settings.clientSecret ? client.ClientSecretBasic(settings.clientSecret) : client.None(),
      // Plain http is only accepted by the config for a loopback issuer.
      { timeout: 10, execute: settings.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [] },
    );
    try {
      return await this.discovered;
    } catch (error) {
      this.discovered = undefined;
      this.logger.warn({ err: error, issuer: settings.issuer }, 'OIDC discovery failed');
      throw providerUnavailable();
    }
  }

  private mapped(error: unknown): AppException {
    if (error instanceof AppException) return error;
    if (isNetworkError(error)) {
      this.logger.warn({ err: error }, 'the OpenID provider could not be reached');
      return providerUnavailable();
    }
    this.logger.warn({ err: error }, 'OIDC sign-in refused');
    return oidcLoginFailed();
  }
}
