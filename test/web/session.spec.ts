import { Secret, TOTP } from 'otpauth';
import { ADMIN, adminToken, expect, expectAccessible, signIn, test } from './api';

/**
 * Issue 18's browser security: the refresh token lives in an HttpOnly cookie that scripts cannot
 * read, the access token only in memory (a reload replaces it), a reload keeps the user signed in,
 * and signing out ends the session for good.
 */
test('a reload keeps the session through the HttpOnly cookie; the tokens stay out of reach of scripts', async ({
  page,
}) => {
  const bearers: string[] = [];
  page.on('request', (request) => {
    const authorization = request.headers()['authorization'];
    if (authorization && request.url().includes('/api/v1/auth/me')) bearers.push(authorization);
  });
  await signIn(page, ADMIN.username, ADMIN.password);

  const cookies = await page.context().cookies();
  const refresh = cookies.find((c) => c.name === 'limen_refresh');
  expect(refresh).toEqual(expect.objectContaining({ httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth' }));
  // Evaluated in the page (a string: this file is type-checked without the DOM library).
  expect(await page.evaluate<string>('document.cookie')).not.toContain('limen_refresh');
  const stored = await page.evaluate<string>(
    'JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })',
  );
  expect(stored).not.toContain(refresh!.value);
  expect(stored).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);

  await page.reload();
  await expect(page.getByRole('heading', { name: 'Virtual machines' })).toBeVisible();
  await expect(page).toHaveURL(/\/vms$/);
  // A stolen access token is gone after the reload: the page now uses a different one.
  expect(new Set(bearers).size).toBeGreaterThanOrEqual(2);
  expect(bearers.at(-1)).not.toBe(bearers[0]);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin/);
  await expect.poll(async () => (await page.context().cookies()).some((c) => c.name === 'limen_refresh')).toBe(false);
  // The old cookie's session is revoked: replaying it is refused.
  const replay = await page.request.post('/api/v1/auth/refresh', {
    headers: { 'X-Limen-Session': 'cookie', Cookie: `limen_refresh=${refresh!.value}` },
    data: {},
  });
  expect(replay.status()).toBe(401);
  await page.reload();
  await expect(page).toHaveURL(/\/signin/);
});

test('a cross-site POST that carries the cookie is refused', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const refresh = (await page.context().cookies()).find((c) => c.name === 'limen_refresh')!;
  // A form on another origin can send the cookie (were SameSite missing) but not the custom header.
  const forged = await page.request.post('/api/v1/auth/refresh', {
    headers: { Cookie: `limen_refresh=${refresh.value}`, Origin: 'https://evil.example' },
    form: { refreshToken: '' },
  });
  expect(forged.status()).toBeGreaterThanOrEqual(400);
  expect(forged.status()).toBeLessThan(500);
  expect(forged.headers()['set-cookie'] ?? '').not.toContain('limen_refresh=');
});

test('the account screen: profile, sessions, SSH keys', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible();
  await expect(page.locator('[data-session=current]')).toContainText('this session');
  await expect(page.getByText('No SSH keys yet.')).toBeVisible();
  await expectAccessible(page, 'account');
  const publicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJnbGcjGUJnWKKVz3biE9YkbBWqWcZuVyQwdy5h2O/kE web@test';
  await page.getByLabel('Key name').fill('laptop');
  await page.getByLabel('Public key').fill(publicKey);
  await page.getByRole('button', { name: 'Add key' }).click();
  await expect(page.getByRole('row', { name: /laptop SHA256:/ })).toBeVisible();
  await page.getByRole('button', { name: 'Delete key laptop' }).click();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByText('No SSH keys yet.')).toBeVisible();
});

test('the second factor: enrol with the QR code, confirm, recovery codes once, turn off', async ({ page, request }) => {
  const token = await adminToken(request);
  const user = { username: `web-totp-${Date.now() % 100000}`, password: 'web-totp-password-123' };
  const created = await request.post('/api/v1/users', { data: user, headers: { Authorization: `Bearer ${token}` } });
  expect(created.status()).toBe(201);
  await signIn(page, user.username, user.password);
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByText('Off: signing in needs your password only.')).toBeVisible();
  await page.getByRole('button', { name: 'Set up a second factor' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  await expectAccessible(page, 'account (TOTP enrolment)');
  const secret = Secret.fromBase32((await page.locator('[data-secret]').textContent())!.trim());
  const code = (stepsAhead: number) => TOTP.generate({ secret, timestamp: Date.now() + stepsAhead * 30_000 });
  await page.getByLabel('Code from the app').fill(code(0));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(page.getByText('On: signing in asks for a code')).toBeVisible();
  await expect(page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem')).toHaveCount(10);
  await page.getByLabel('Code from your authenticator app (or a recovery code)').fill(code(1));
  await page.getByRole('button', { name: 'Turn off' }).click();
  await expect(page.getByText('Off: signing in needs your password only.')).toBeVisible();
  await expect(page.getByRole('list', { name: 'Recovery codes' })).toHaveCount(0);
});

test('API tokens: the secret is shown once, the token works, revoking it removes it', async ({ page, request }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByLabel('Token name').fill('script');
  await page.getByRole('button', { name: 'Create token (90 days)' }).click();
  const secret = (await page.locator('[data-token-secret]').textContent())!.trim();
  await expect(page.locator('tr[data-token="script"]')).toContainText('vms:read');
  await expectAccessible(page, 'account (API token)');
  const me = await request.get('/api/v1/vms', { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  await page.getByRole('button', { name: 'Revoke token script' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await expect(page.locator('tr[data-token="script"]')).toHaveCount(0);
  const after = await request.get('/api/v1/vms', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
});
