import type { Browser, Page } from '@playwright/test';
import { GUEST_MARKER, KERNEL_IMAGE_NAME } from '../support/hypervisor';
import { ADMIN, adminToken, expect, expectAccessible, signIn, test } from './api';

/**
 * Issue 18's journey: register → an admin approves in the Users screen → the user signs in,
 * creates a VM from the tiny guest, sees it running without reloading, reads the boot marker in
 * the serial console, takes and reverts a snapshot, deletes the VM; a second user never sees it;
 * an admin acknowledges a firing alert. axe runs on each screen on the way.
 */
test.describe.serial('the dashboard journey', () => {
  const user = { username: `web-user-${Date.now() % 100000}`, password: 'web-user-password-123' };
  const vmName = 'web-journey';
  let browser: Browser;
  let page: Page;
  let vmUrl: string;

  test.beforeAll(async ({ browser: shared }) => {
    browser = shared;
  });
  test.afterAll(async () => {
    await page?.context().close();
  });

  test('a new person registers and is told the account waits for approval', async ({ page: visitor }) => {
    await visitor.goto('/');
    await expect(visitor).toHaveURL(/\/signin$/);
    await expectAccessible(visitor, 'sign in');
    await visitor.getByRole('link', { name: /register/i }).click();
    await expectAccessible(visitor, 'register');
    await visitor.getByLabel('Username').fill(user.username);
    await visitor.getByLabel('Password').fill(user.password);
    await visitor.getByRole('button', { name: 'Register' }).click();
    await expect(visitor.getByRole('status')).toContainText('waits for an administrator');
    // Signing in before approval is refused with the api's reason.
    await visitor.getByRole('link', { name: /sign in/i }).click();
    await visitor.getByLabel('Username').fill(user.username);
    await visitor.getByLabel('Password').fill(user.password);
    await visitor.getByRole('button', { name: 'Sign in' }).click();
    await expect(visitor.getByRole('alert')).toContainText('ACCOUNT_PENDING');
  });

  test('an admin approves the account in the Users screen', async ({ page: admin }) => {
    await signIn(admin, ADMIN.username, ADMIN.password);
    await admin.getByRole('link', { name: 'Users' }).click();
    await expect(admin.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
    await expectAccessible(admin, 'users');
    await admin.getByRole('button', { name: `Approve ${user.username}` }).click();
    await expect(admin.getByRole('button', { name: `Approve ${user.username}` })).toHaveCount(0);
    await expect(admin.getByRole('row', { name: new RegExp(`${user.username} user active`) })).toBeVisible();
  });

  test('the user creates a VM from the tiny guest and sees it running without reloading', async () => {
    page = await (await browser.newContext()).newPage();
    await signIn(page, user.username, user.password);
    await expect(page.getByText('No virtual machines yet.')).toBeVisible();
    await expectAccessible(page, 'VM list (empty)');
    await page.getByRole('link', { name: 'Create VM' }).first().click();
    await expect(page.getByRole('heading', { name: 'Your quota' })).toBeVisible();
    await expectAccessible(page, 'create VM');
    await page.getByLabel('Name', { exact: true }).fill(vmName);
    await page.getByLabel('Image').selectOption({ label: `${KERNEL_IMAGE_NAME} (kernel)` });
    await page.getByRole('spinbutton', { name: 'Memory (MiB)' }).fill('128');
    await page.getByRole('spinbutton', { name: 'Disk (GiB)' }).fill('1');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect(page.getByText(/Operation vm\.create:/)).toBeVisible();
    await expect(page.getByText(/Operation vm\.create: succeeded/)).toBeVisible({ timeout: 120_000 });
    await page.getByRole('link', { name: 'Open the VM' }).click();
    vmUrl = page.url();
    await expect(page.getByRole('heading', { name: vmName })).toBeVisible();
    // The list, kept current by the event stream: running, with no reload in between.
    await page.getByRole('link', { name: 'Virtual machines' }).click();
    const row = page.locator(`[role=row][data-vm="${vmName}"]`);
    await expect(row.locator('[data-state]')).toHaveAttribute('data-state', 'running', { timeout: 90_000 });
    await expectAccessible(page, 'VM list');
    await row.getByRole('link', { name: vmName }).click();
    await expect(page.locator('h1 + [data-state]')).toHaveAttribute('data-state', 'running');
    await expectAccessible(page, 'VM detail');
  });

  test('the serial console shows the guest’s boot marker', async () => {
    await page.getByRole('link', { name: 'Serial console' }).click();
    await expect(page.getByRole('region', { name: `Serial console of ${vmName}` })).toContainText(GUEST_MARKER, {
      timeout: 90_000,
    });
    await expect(page.locator('[data-phase]')).toHaveAttribute('data-phase', 'connected');
    await expectAccessible(page, 'serial console');
  });

  test('a second user never sees the first user’s VMs', async ({ page: other, request }) => {
    const token = await adminToken(request);
    const second = { username: `web-other-${Date.now() % 100000}`, password: 'web-other-password-123' };
    const created = await request.post('/api/v1/users', {
      data: second,
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(created.status()).toBe(201);
    await signIn(other, second.username, second.password);
    await expect(other.getByText('No virtual machines yet.')).toBeVisible();
    await expect(other.getByText(vmName)).toHaveCount(0);
    // A link to the VM (a full page load, still signed in through the session cookie) shows nothing of it.
    await other.goto(vmUrl);
    await expect(other).toHaveURL(vmUrl);
    await expect(other.getByRole('alert')).toContainText('does not exist or is not yours');
    await expect(other.getByText(vmName)).toHaveCount(0);
  });

  test('the user takes a snapshot and reverts to it', async () => {
    const snapshotsUrl = `${vmUrl.replace(/\/$/, '')}/snapshots`;
    // A reload keeps the user signed in: the HttpOnly refresh cookie gets a new access token.
    await page.goto(snapshotsUrl);
    await expect(page).toHaveURL(snapshotsUrl);
    await expect(page.getByRole('heading', { name: vmName })).toBeVisible();
    await page.getByLabel('Snapshot name').fill('before');
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    await expect(page.getByText('Operation snapshot.create: succeeded')).toBeVisible({ timeout: 90_000 });
    const row = page.locator('tr[data-snapshot="before"]');
    await expect(row).toContainText('ready');
    await expectAccessible(page, 'snapshots');
    await row.getByRole('button', { name: 'Revert before' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect(page.getByText('Operation snapshot.revert: succeeded')).toBeVisible({ timeout: 90_000 });
  });

  test('the user deletes the VM and it leaves the list', async () => {
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect(page).toHaveURL(/\/vms$/);
    await expect(page.locator(`[data-vm="${vmName}"]`)).toHaveCount(0, { timeout: 90_000 });
    await expect(page.getByText('No virtual machines yet.')).toBeVisible();
  });

  test('an admin acknowledges a firing alert', async ({ page: admin, request }) => {
    const token = await adminToken(request);
    const headers = { Authorization: `Bearer ${token}` };
    // The hypervisor answers, so "hypervisor up ≥ 1" fires at the next evaluation (every second here).
    const rule = await request.post('/api/v1/alert-rules', {
      headers,
      data: { name: 'web hypervisor up', metric: 'hypervisor.up', comparator: '>=', threshold: 1, for: 0 },
    });
    expect(rule.status()).toBe(201);
    await signIn(admin, ADMIN.username, ADMIN.password);
    await admin.getByRole('link', { name: 'Alerts' }).click();
    const row = admin.locator('tr[data-alert="web hypervisor up"]');
    await expect(row).toBeVisible({ timeout: 30_000 });
    await expectAccessible(admin, 'alerts');
    await row.getByRole('button', { name: /Acknowledge/ }).click();
    await expect(row.getByRole('status')).toContainText(`Acknowledged by`);
    await request.delete(`/api/v1/alert-rules/${(await rule.json()).id}`, { headers });
  });
});
