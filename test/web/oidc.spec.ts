import { expect, test as base } from '@playwright/test';
import { freePort } from '../support/agent-process';
import { OIDC_CLIENT, startOidcProvider } from '../support/oidc';
import { startApi, type Api } from './api';

/**
 * Single sign-on in the browser: a real OpenID provider (oidc-provider, as in the OIDC e2e) on
 * loopback, and an api of its own configured for it, with the dashboard's /signin/oidc page as the
 * redirect URI (the page hands the provider's answer to the api's callback by fetch, so the refresh
 * token lands in the HttpOnly cookie). REGISTRATION=open: the first sign-in creates an active account.
 */
const test = base.extend<{ baseURL: string }, { oidc: { api: Api; issuer: string } }>({
  oidc: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      // The provider registers the return URL (on the api's port) before the api learns the provider's issuer.
      const port = await freePort();
      const provider = await startOidcProvider(0, `http://127.0.0.1:${port}/signin/oidc`);
      try {
        const { api, stop } = await startApi({
          PORT: String(port),
          REGISTRATION: 'open',
          OIDC_ISSUER: provider.issuer,
          OIDC_CLIENT_ID: OIDC_CLIENT.id,
          OIDC_CLIENT_SECRET: OIDC_CLIENT.secret,
          OIDC_REDIRECT_URI: `http://127.0.0.1:${port}/signin/oidc`,
        });
        try {
          await use({ api, issuer: provider.issuer });
        } finally {
          await stop();
        }
      } finally {
        await provider.stop();
      }
    },
    { scope: 'worker', timeout: 180_000 },
  ],
  baseURL: async ({ oidc }, use) => use(oidc.api.base),
});

test('single sign-on: the button, the provider’s login and consent, then the dashboard as the new user', async ({
  page,
  oidc,
}) => {
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();

  // oidc-provider's own pages: its development login signs in any subject it knows, then asks for consent.
  await expect(page).toHaveURL(new RegExp(`^${oidc.issuer}/interaction/`));
  // The api bound the sign-in to this browser; the return page's fetch to the callback must carry it.
  const bindings = async () =>
    (await page.context().cookies(`${oidc.api.base}/api/v1/auth/oidc/callback`)).filter(
      (cookie) => cookie.name === 'limen_oidc_binding',
    );
  expect(await bindings()).toEqual([expect.objectContaining({ httpOnly: true, sameSite: 'Lax' })]);
  await page.getByPlaceholder('Enter any login').fill('sub-0004-carol');
  await page.getByPlaceholder('and password').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();

  // Back through /signin/oidc: signed in as the account the first sign-in created from the claims.
  await expect(page).toHaveURL(`${oidc.api.base}/vms`);
  await expect(page.locator('.who')).toHaveText('carol');
  await expect(page.getByRole('heading', { name: 'Virtual machines' })).toBeVisible();
  expect(await bindings()).toEqual([]); // spent with its state
  // The list loaded (not the loading line, not an error) and the event stream is open with this session's token.
  await expect(page.getByText('No virtual machines yet.')).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Live updates on' })).toBeVisible();

  // The session is the cookie's: a reload stays signed in as carol.
  await page.reload();
  await expect(page.locator('.who')).toHaveText('carol');
  await expect(page.getByText('No virtual machines yet.')).toBeVisible();
});
