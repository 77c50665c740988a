import { createLimenClient, type LimenClient, unwrap, type components } from '@limen/sdk';
import { CliError, EXIT } from './exit-codes';
import { type Credential, readCredentials, updateCredentials } from './credentials';
import type { Output } from './output';

export const DEFAULT_API = 'http://127.0.0.1:18443';
type TokenPair = components['schemas']['TokenPairDto'];

/** How the command line names itself to the api (`limen session list` shows it beside each sign-in). */
const USER_AGENT = `limen-cli/${process.env.LIMEN_CLI_VERSION ?? '0.1.0'}`;

function send(request: Request): Promise<Response> {
  request.headers.set('User-Agent', USER_AGENT);
  return fetch(request);
}

/** Refresh this long before the access token expires, so a request never goes out with a dying one. */
const REFRESH_MARGIN_MS = 30_000;

export function normalizeApi(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
    return parsed.origin;
  } catch {
    throw new CliError('USAGE', `--api must be an http(s) URL, got ${JSON.stringify(url)}`, EXIT.USAGE);
  }
}

/** The api URL: --api, then LIMEN_API_URL, then the one last logged in to, then the local default. */
export function resolveApi(flag: string | undefined): string {
  return normalizeApi(flag ?? process.env.LIMEN_API_URL ?? readCredentials().current ?? DEFAULT_API);
}

export function sessionCredential(api: string, username: string, pair: TokenPair): Credential {
  // Only a browser (X-Limen-Session: cookie) gets the pair without it; the CLI never asks for that.
  if (!pair.refreshToken) throw new CliError('AUTH', `${api} answered no refresh token`, EXIT.AUTH);
  return {
    kind: 'session',
    username,
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    expiresAt: new Date(Date.now() + pair.expiresIn * 1000).toISOString(),
  };
}

export function saveCredential(api: string, credential: Credential): void {
  updateCredentials((file) => {
    file.servers[api] = credential;
    file.current = api;
  });
}

/** The context every command gets: where the api is, how to print, and a client signed in as the stored credential. */
export class Session {
  private credential: Credential | undefined;
  private refreshing: Promise<void> | undefined;
  readonly anonymous: LimenClient;

  constructor(
    readonly api: string,
    readonly output: Output,
  ) {
    this.credential = readCredentials().servers[api];
    this.anonymous = createLimenClient(api, undefined, { fetch: send });
  }

  get username(): string | undefined {
    return this.credential?.username;
  }

  /** The refresh token of a stored session (for logout). */
  get refreshToken(): string | undefined {
    return this.credential?.kind === 'session' ? this.credential.refreshToken : undefined;
  }

  /** A client that sends the stored credential, refreshes a session ahead of expiry and once more on a 401. */
  get client(): LimenClient {
    return createLimenClient(this.api, undefined, { fetch: (request) => this.send(request) });
  }

  /** The bearer token to send now (refreshed first when it is about to expire). */
  async bearer(): Promise<string> {
    const credential = this.credential;
    if (!credential)
      throw new CliError('NOT_LOGGED_IN', `not logged in to ${this.api}: run \`limen login\``, EXIT.AUTH);
    if (credential.kind === 'token') return credential.token;
    if (Date.parse(credential.expiresAt) - REFRESH_MARGIN_MS < Date.now()) await this.refresh();
    return (this.credential as Extract<Credential, { kind: 'session' }>).accessToken;
  }

  private async send(request: Request): Promise<Response> {
    const retry = request.clone();
    request.headers.set('Authorization', `Bearer ${await this.bearer()}`);
    const response = await send(request);
    if (response.status !== 401 || this.credential?.kind !== 'session') return response;
    // Revoked or expired early (a clock step, logout elsewhere): one refresh, one retry.
    await this.refresh();
    retry.headers.set('Authorization', `Bearer ${await this.bearer()}`);
    return send(retry);
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const credential = this.credential;
    if (credential?.kind !== 'session') return;
    const answer = await this.anonymous.POST('/api/v1/auth/refresh', {
      body: { refreshToken: credential.refreshToken },
    });
    if (answer.response.status === 401)
      throw new CliError(
        'SESSION_EXPIRED',
        `the session for ${this.api} has ended (${answer.error?.code ?? 'refused'}): run \`limen login\``,
        EXIT.AUTH,
      );
    const pair = await unwrap(answer);
    const fresh = sessionCredential(this.api, credential.username, pair);
    this.credential = fresh;
    updateCredentials((file) => void (file.servers[this.api] = fresh));
  }

  forget(): void {
    this.credential = undefined;
    updateCredentials((file) => {
      delete file.servers[this.api];
      if (file.current === this.api) delete file.current;
    });
  }
}
