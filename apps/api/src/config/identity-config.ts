import { ConfigError, Env, readInt, readOneOf, readString } from '@limen/env';
import type { IdentityConfig, OidcConfig } from './app-config';
import { httpUrl } from './env-values';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * OIDC_ISSUER kept exactly as written: an issuer identifier is compared character for character
 * (discovery, the ID token's `iss`, RFC 9207's `iss` parameter), and some providers' end in a slash
 * (Authentik: https://auth.example.com/application/o/limen/). https, except on a loopback address.
 */
function oidcIssuer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`OIDC_ISSUER must be an https:// URL (got "${raw}")`);
  }
  const plainLoopback = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if ((url.protocol !== 'https:' && !plainLoopback) || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      `OIDC_ISSUER must be an https:// URL (http:// only on a loopback address) without credentials, query or fragment (got "${raw}")`,
    );
  }
  return raw;
}

/** OIDC_SCOPES, space-separated; `openid` is added when missing (without it there is no ID token). */
function oidcScopes(env: Env): string {
  const scopes = (readString(env, 'OIDC_SCOPES') ?? 'openid profile email groups').split(/\s+/).filter(Boolean);
  if (scopes.some((scope) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))) {
    throw new ConfigError('OIDC_SCOPES must be space-separated scope tokens');
  }
  return [...new Set(['openid', ...scopes])].join(' ');
}

function oidcSettings(env: Env): OidcConfig | undefined {
  const issuer = readString(env, 'OIDC_ISSUER');
  if (issuer === undefined) return undefined;
  const clientId = readString(env, 'OIDC_CLIENT_ID');
  if (!clientId) throw new ConfigError('OIDC_CLIENT_ID is required when OIDC_ISSUER is set');
  const publicUrl = httpUrl(env, 'PUBLIC_URL', `http://127.0.0.1:${readInt(env, 'PORT', 18443, 0, 65535)}`);
  return {
    issuer: oidcIssuer(issuer),
    clientId,
    clientSecret: readString(env, 'OIDC_CLIENT_SECRET'),
    redirectUri: httpUrl(env, 'OIDC_REDIRECT_URI', `${publicUrl}/api/v1/auth/oidc/callback`),
    adminGroup: readString(env, 'OIDC_ADMIN_GROUP'),
    scopes: oidcScopes(env),
  };
}

export function identityProviders(env: Env): IdentityConfig {
  return {
    require2fa: readOneOf(env, 'REQUIRE_2FA', ['none', 'admins', 'all'] as const, 'none'),
    totpIssuer: readString(env, 'TOTP_ISSUER') ?? 'LIMEN',
    maxApiTokensPerUser: readInt(env, 'API_TOKENS_MAX_PER_USER', 50, 1, 10_000),
    oidc: oidcSettings(env),
  };
}
