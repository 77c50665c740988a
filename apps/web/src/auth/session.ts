import { createLimenClient, type components } from '@limen/sdk';
import { unwrap } from '../api/problem';

export type User = components['schemas']['UserDto'];
type TokenPair = components['schemas']['TokenPairDto'];

/**
 * Everything about being signed in lives in this module. The refresh token never reaches
 * JavaScript: every auth call sends `X-Limen-Session: cookie`, so the api keeps it in an HttpOnly,
 * SameSite=Strict cookie on /api/v1/auth (the header is also the CSRF guard). The access token
 * lives in memory only; a reload gets a new one from the cookie (restoreSession).
 */
interface State {
  accessToken?: string;
  user?: User;
}

/** The opt-in header of the cookie transport, on every auth call. */
const COOKIE_SESSION = { 'X-Limen-Session': 'cookie' } as const;
const cookieSession = { params: { header: COOKIE_SESSION } };

let state: State = {};
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
const listeners = new Set<() => void>();

function set(next: State): void {
  state = next;
  listeners.forEach((listener) => listener());
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export const currentUser = (): User | undefined => state.user;
export const accessToken = (): string | undefined => state.accessToken;

/** The typed client every screen uses: it carries the current access token and refreshes once on a 401. */
export const api = createLimenClient(location.origin, accessToken);
api.use({
  async onResponse({ request, response }) {
    if (response.status !== 401 || !state.accessToken || request.url.includes('/api/v1/auth/')) return response;
    if (!(await refresh())) return response;
    const retry = new Request(request, { headers: new Headers(request.headers) });
    retry.headers.set('Authorization', `Bearer ${state.accessToken}`);
    return fetch(retry);
  },
});

async function adopt(pair: TokenPair): Promise<void> {
  state = { ...state, accessToken: pair.accessToken };
  const user = unwrap(await api.GET('/api/v1/auth/me'));
  set({ ...state, user });
  clearTimeout(refreshTimer);
  // Refresh a minute before the access token runs out (not below 10 s for very short tokens).
  refreshTimer = setTimeout(() => void refresh(), Math.max(10, pair.expiresIn - 60) * 1000);
}

/** The outcome of a password sign-in: done, or a second factor is asked for (issue 17's challenge). */
export type SignInResult = { kind: 'signed-in' } | { kind: 'second-factor'; challenge: string; enrolment: boolean };

export async function signIn(username: string, password: string): Promise<SignInResult> {
  const result = await api.POST('/api/v1/auth/login', { body: { username, password }, ...cookieSession });
  const refused = (result.error ?? {}) as Record<string, unknown>;
  if (result.response.status === 401 && refused.code === 'SECOND_FACTOR_REQUIRED') {
    return { kind: 'second-factor', challenge: String(refused.challenge), enrolment: Boolean(refused.enrolment) };
  }
  await adopt(unwrap(result));
  return { kind: 'signed-in' };
}

/** The second step of a sign-in with TOTP: six digits are a code, anything else a recovery code. */
export async function completeSecondFactor(challenge: string, code: string): Promise<void> {
  const proof = /^\d{6}$/.test(code.trim()) ? { code: code.trim() } : { recoveryCode: code.trim() };
  await adopt(
    unwrap(await api.POST('/api/v1/auth/login/second-factor', { body: { challenge, ...proof }, ...cookieSession })),
  );
}

/** Reads the account again (after a change to it, such as the second factor). */
export async function reloadUser(): Promise<void> {
  set({ ...state, user: unwrap(await api.GET('/api/v1/auth/me')) });
}

export async function register(username: string, password: string): Promise<'pending' | 'active'> {
  const registered = unwrap(await api.POST('/api/v1/auth/register', { body: { username, password } }));
  return registered.status === 'active' ? 'active' : 'pending';
}

/** Rotates the refresh cookie; concurrent callers share one rotation. False when the session is gone. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const result = await api.POST('/api/v1/auth/refresh', { body: {}, ...cookieSession });
      if (!result.response.ok) {
        forget();
        return false;
      }
      await adopt(unwrap(result));
      return true;
    } catch {
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

function forget(): void {
  clearTimeout(refreshTimer);
  set({});
}

/** At start-up: a session cookie from before the reload signs the user back in (false when there is none). */
export const restoreSession = (): Promise<boolean> => refresh();

export async function signOut(): Promise<void> {
  forget();
  // The api clears the cookie and revokes the whole session.
  await api.POST('/api/v1/auth/logout', { body: {}, ...cookieSession }).catch(() => undefined);
}

/** A new password revokes every session; the answer is the only one left, adopted here (its refresh token in the cookie). */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await adopt(
    unwrap(await api.POST('/api/v1/auth/password', { body: { currentPassword, newPassword }, ...cookieSession })),
  );
}

/**
 * The dashboard's OIDC return (OIDC_REDIRECT_URI = PUBLIC_URL/signin/oidc): the provider's query is
 * handed to the api's callback by fetch, so the refresh token lands in the cookie, not in a page.
 * The fetch is same-origin and must send cookies: the api refuses a callback without the binding
 * cookie /auth/oidc/login gave this browser (login CSRF).
 */
export async function completeOidc(search: string): Promise<void> {
  const query = new URLSearchParams(search);
  const pick = (name: string) => query.get(name) ?? undefined;
  const params = { query: { code: pick('code'), state: pick('state'), iss: pick('iss') }, header: COOKIE_SESSION };
  await adopt(unwrap(await api.GET('/api/v1/auth/oidc/callback', { params, credentials: 'same-origin' })));
}
