import { createLimenClient, type components } from '@limen/sdk';
import { ApiError, unwrap, type Problem } from '../api/problem';

export type User = components['schemas']['UserDto'];
type TokenPair = components['schemas']['TokenPairDto'];

/**
 * Everything about being signed in lives in this module, so moving the refresh token into an
 * HttpOnly cookie later changes this file only. For now both tokens are kept in memory (never in
 * storage): a reload signs the user out, and a script injected into the page cannot read them
 * from localStorage.
 */
interface State {
  accessToken?: string;
  refreshToken?: string;
  user?: User;
}

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
    if (response.status !== 401 || !state.refreshToken || request.url.includes('/api/v1/auth/')) return response;
    if (!(await refresh())) return response;
    const retry = new Request(request, { headers: new Headers(request.headers) });
    retry.headers.set('Authorization', `Bearer ${state.accessToken}`);
    return fetch(retry);
  },
});

async function adopt(pair: TokenPair): Promise<void> {
  state = { ...state, accessToken: pair.accessToken, refreshToken: pair.refreshToken };
  const user = unwrap(await api.GET('/api/v1/auth/me'));
  set({ ...state, user });
  clearTimeout(refreshTimer);
  // Refresh a minute before the access token runs out (not below 10 s for very short tokens).
  refreshTimer = setTimeout(() => void refresh(), Math.max(10, pair.expiresIn - 60) * 1000);
}

/** The outcome of a password sign-in: done, or a second factor is asked for (issue 17's challenge). */
export type SignInResult = { kind: 'signed-in' } | { kind: 'second-factor'; challenge: string; enrolment: boolean };

export async function signIn(username: string, password: string): Promise<SignInResult> {
  const result = await api.POST('/api/v1/auth/login', { body: { username, password } });
  const refused = (result.error ?? {}) as Record<string, unknown>;
  if (result.response.status === 401 && refused.code === 'SECOND_FACTOR_REQUIRED') {
    return { kind: 'second-factor', challenge: String(refused.challenge), enrolment: Boolean(refused.enrolment) };
  }
  await adopt(unwrap(result));
  return { kind: 'signed-in' };
}

/**
 * The second step of a sign-in with TOTP (identity contract: POST /auth/login/second-factor).
 * Plain fetch, because the route is not in the generated schema until that work lands.
 */
export async function completeSecondFactor(challenge: string, code: string): Promise<void> {
  const isRecovery = !/^\d{6}$/.test(code.trim());
  const response = await fetch('/api/v1/auth/login/second-factor', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(isRecovery ? { challenge, recoveryCode: code.trim() } : { challenge, code: code.trim() }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body as Partial<Problem>);
  await adopt(body as TokenPair);
}

export async function register(username: string, password: string): Promise<'pending' | 'active'> {
  const registered = unwrap(await api.POST('/api/v1/auth/register', { body: { username, password } }));
  return registered.status === 'active' ? 'active' : 'pending';
}

/** Rotates the refresh token; concurrent callers share one rotation. False when the session is gone. */
export function refresh(): Promise<boolean> {
  const refreshToken = state.refreshToken;
  if (!refreshToken) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const result = await api.POST('/api/v1/auth/refresh', { body: { refreshToken } });
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

export async function signOut(): Promise<void> {
  const refreshToken = state.refreshToken;
  forget();
  if (refreshToken) await api.POST('/api/v1/auth/logout', { body: { refreshToken } }).catch(() => undefined);
}
