import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';

/** LIMEN's redirect URI in the OIDC suites; nothing listens there: the test takes the browser's last hop itself. */
export const OIDC_REDIRECT_URI = 'http://127.0.0.1:18443/api/v1/auth/oidc/callback';
export const OIDC_CLIENT = { id: 'limen-e2e', secret: 'limen-e2e-client-secret-0123456789' };

export interface OidcProviderProcess {
  issuer: string;
  stop: () => Promise<void>;
}

/**
 * Starts test/support/oidc-provider.mjs (oidc-provider is ESM only) and waits for the issuer it prints.
 * `redirectUri`: the one URI the client may use (the dashboard's suite registers its /signin/oidc page).
 */
export async function startOidcProvider(port = 0, redirectUri = OIDC_REDIRECT_URI): Promise<OidcProviderProcess> {
  const child: ChildProcess = spawn(process.execPath, [join(__dirname, 'oidc-provider.mjs')], {
    env: {
      PATH: process.env.PATH,
      OIDC_TEST_PORT: String(port),
      OIDC_TEST_REDIRECT_URI: redirectUri,
      OIDC_TEST_CLIENT_ID: OIDC_CLIENT.id,
      OIDC_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the OpenID provider did not start: ${stderr}`)), 20_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line && stdout.includes('\n')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { issuer: string }).issuer);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the OpenID provider exited (${code}): ${stderr}`));
    });
  });
  return { issuer, stop };
}

/** A form of the provider's development interactions: where it posts, and its hidden `prompt`. */
function formOf(html: string): { action: string; prompt: string } {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !prompt) throw new Error(`no interaction form in: ${html.slice(0, 500)}`);
  return { action: action.replace(/&amp;/g, '&'), prompt };
}

/**
 * Plays the browser: follows the provider's redirects from `authorizationUrl` with a cookie jar,
 * posts its login form (as `subject`) and consent form, and returns the query the provider sends
 * to LIMEN's redirect URI (code, state, iss). One browser keeps the provider's session across calls.
 */
export class ProviderBrowser {
  private readonly agent: ReturnType<typeof request.agent>;

  constructor(private readonly issuer: string) {
    this.agent = request.agent(issuer);
  }

  async signIn(authorizationUrl: string, subject: string): Promise<URLSearchParams> {
    let url = new URL(authorizationUrl);
    for (let hop = 0; hop < 20; hop++) {
      if (url.href.startsWith(OIDC_REDIRECT_URI)) return url.searchParams;
      if (url.origin !== this.issuer) throw new Error(`the provider sent the browser to ${url.href}`);
      const res = await this.agent.get(url.pathname + url.search).redirects(0);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.location, url);
        continue;
      }
      if (res.status !== 200) throw new Error(`${url.href} answered ${res.status}: ${res.text.slice(0, 500)}`);
      const form = formOf(res.text);
      const fields =
        form.prompt === 'login' ? { prompt: 'login', login: subject, password: 'any' } : { prompt: form.prompt };
      const action = new URL(form.action, url);
      const posted = await this.agent
        .post(action.pathname + action.search)
        .type('form')
        .send(fields)
        .redirects(0);
      if (posted.status < 300 || posted.status >= 400)
        throw new Error(`posting ${form.prompt} answered ${posted.status}`);
      url = new URL(posted.headers.location, url);
    }
    throw new Error('too many redirects at the provider');
  }
}
