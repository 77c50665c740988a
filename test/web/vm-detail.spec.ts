import type { Browser, Page } from '@playwright/test';
import { statSync } from 'node:fs';
import { KERNEL_IMAGE_NAME } from '../support/hypervisor';
import { ADMIN, adminToken, expect, expectAccessible, signIn, test } from './api';

/**
 * Issue 18's VM detail screen past the overview: live charts from /stats, the screenshot
 * thumbnail, the VM's events and audit trail, backups and schedules. One VM from the tiny guest,
 * made through the api (journey.spec.ts covers making one through the screen), looked at by an
 * admin so the audit section shows.
 */
test.describe.serial('the VM detail screen', () => {
  const vmName = `web-detail-${Date.now() % 100000}`;
  let browser: Browser;
  let page: Page;
  let vmUrl: string;
  let vmId: string;

  test.beforeAll(async ({ browser: shared }) => {
    browser = shared;
  });
  test.afterAll(async () => {
    await page?.context().close();
  });

  test('a running VM shows its screen as a thumbnail', async ({ request }) => {
    const headers = { Authorization: `Bearer ${await adminToken(request)}` };
    const images = (await (await request.get('/api/v1/images?limit=500', { headers })).json()) as {
      items: Array<{ id: string; name: string }>;
    };
    const image = images.items.find((i) => i.name === KERNEL_IMAGE_NAME)!;
    const created = await request.post('/api/v1/vms', {
      headers,
      data: { name: vmName, imageId: image.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 },
    });
    expect(created.status(), await created.text()).toBe(202);
    const { vm } = (await created.json()) as { vm: { id: string } };
    page = await (await browser.newContext()).newPage();
    await signIn(page, ADMIN.username, ADMIN.password);
    vmId = vm.id;
    vmUrl = `/vms/${vm.id}`;
    await page.goto(vmUrl);
    await expect(page.locator('h1 + [data-state]')).toHaveAttribute('data-state', 'running', { timeout: 120_000 });
    const thumbnail = page.getByRole('img', { name: new RegExp(`^The screen of ${vmName} at `) });
    await expect(thumbnail).toBeVisible({ timeout: 30_000 });
    await expect
      .poll(() => thumbnail.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0);
    await expectAccessible(page, 'VM overview with screenshot');
  });

  test('the monitoring tab charts CPU, memory, disk and network with the latest values as text', async () => {
    await page.getByRole('link', { name: 'Monitoring' }).click();
    for (const chart of ['cpu', 'memory', 'disk', 'network']) {
      const caption = page.locator(`figcaption[data-chart="${chart}"]`);
      await expect(caption).toContainText(/now: .*\d/, { timeout: 30_000 });
      await expect(page.locator(`figure:has(figcaption[data-chart="${chart}"]) canvas`)).toBeVisible();
    }
    // The guest's 128 MiB, beside a number in use (the guest's or, without a balloon driver, QEMU's).
    await expect(page.locator('figcaption[data-chart="memory"]')).toContainText(/\d+ .*128 MiB/);
    // A second poll adds a point: the charts are live, not a single reading.
    await expect
      .poll(async () => Number(await page.locator('.charts').getAttribute('data-samples')), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2);
    await expectAccessible(page, 'VM monitoring');
  });

  test('the activity tab lists the VM’s events and its audit trail', async () => {
    // The tab asks the api for this VM's events only, rather than for all and filtering them.
    const asked = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/v1/events' && r.url().includes('?'));
    await page.getByRole('link', { name: 'Activity' }).click();
    expect(new URL((await asked).url()).searchParams.get('vmId')).toBe(vmId);
    const events = page.getByRole('table', { name: 'Events' });
    await expect(events.locator('tr[data-event="vm.created"]')).toHaveCount(1, { timeout: 30_000 });
    await expect(events.locator('tr[data-event="vm.state"]').filter({ hasText: 'running' }).first()).toBeVisible();
    await expect(
      events.locator('tr[data-event="operation.updated"]').filter({ hasText: 'vm.create: succeeded' }),
    ).toHaveCount(1);
    const audit = page.getByRole('table', { name: 'Audit trail' });
    await expect(audit.locator('tr[data-action="vms.create"]')).toHaveCount(1);
    await expectAccessible(page, 'VM activity');
  });

  test('a backup taken on the backups tab appears in the list', async () => {
    await page.getByRole('link', { name: 'Backups' }).click();
    await expect(page.getByText('No backups yet.')).toBeVisible();
    await page.getByRole('button', { name: 'Back up now' }).click();
    await expect(page.getByText(/Operation backup\.create:/)).toBeVisible();
    await expect(page.getByText('Operation backup.create: succeeded')).toBeVisible({ timeout: 120_000 });
    const row = page.getByRole('table', { name: 'Backups' }).locator('tr[data-backup]');
    await expect(row).toHaveCount(1);
    await expect(row).toContainText(/crash-consistent|filesystem-consistent/);
    await expect(row).toContainText(/\d.*(byte|kB|MB|GB)/);
    await expectAccessible(page, 'VM backups');
  });

  test('a schedule is added, and an invalid cron shows the api’s problem', async () => {
    await page.getByLabel('Kind').selectOption('backup');
    await page.getByLabel('Cron').fill('not a cron');
    await page.getByLabel('Time zone').fill('Asia/Seoul');
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await expect(page.getByRole('alert')).toContainText('VALIDATION_FAILED');
    await expect(page.getByRole('alert')).toContainText('cron');
    await page.getByLabel('Cron').fill('30 2 * * *');
    await page.getByLabel('Keep last').fill('3');
    await page.getByRole('button', { name: 'Add schedule' }).click();
    const row = page.locator('tr[data-schedule="30 2 * * *"]');
    await expect(row).toContainText('Asia/Seoul');
    await expect(row).toContainText('last 3');
    await expect(page.getByRole('alert')).toHaveCount(0);
    await expectAccessible(page, 'VM schedules');
    await row.getByRole('button', { name: 'Delete schedule 30 2 * * *' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect(row).toHaveCount(0);
  });

  test('a backup downloads, restores into a new VM and is deleted', async () => {
    const row = page.getByRole('table', { name: 'Backups' }).locator('tr[data-backup]');
    const downloading = page.waitForEvent('download');
    await row.getByRole('button', { name: 'Download' }).click();
    const file = await downloading;
    expect(file.suggestedFilename()).toMatch(new RegExp(`^${vmName}-[0-9a-f]{8}-disk-0\\.qcow2$`));
    expect(statSync(await file.path()).size).toBeGreaterThan(0);

    await row.getByRole('button', { name: 'Restore' }).click();
    const dialog = page.getByRole('dialog', { name: /^Restore the backup of / });
    // The VM runs: restoring over it is offered only once it is stopped.
    await expect(dialog.getByRole('radio', { name: 'This VM (stop it first)' })).toBeDisabled();
    await dialog.getByLabel('New VM name (optional)').fill(`${vmName}-copy`);
    await expectAccessible(page, 'restore dialog');
    await dialog.getByRole('button', { name: 'Restore' }).click();
    await expect(page.getByRole('link', { name: `Open the restored VM ${vmName}-copy` })).toBeVisible({
      timeout: 120_000,
    });

    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect(row).toHaveCount(0);
    await expect(page.getByText('No backups yet.')).toBeVisible();
  });

  test('the tabs work at a phone’s width, in English and Korean', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const language of ['en', 'ko']) {
      await page.locator('.language select').selectOption(language);
      await expect(page.locator('html')).toHaveAttribute('lang', language);
      // By their paths: the link text is in the page's language.
      for (const tab of ['', '/monitor', '/backups', '/activity']) {
        await page.locator(`.tabs a[href$="${vmUrl}${tab}"]`).click();
        await expect(page).toHaveURL(new RegExp(`${vmUrl}${tab}$`));
        await expect(page.locator('main')).toBeVisible();
        // Nothing wider than the screen: wide tables scroll inside their own box.
        const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
        expect(overflow, `${tab || 'overview'} (${language}) scrolls sideways`).toBeLessThanOrEqual(0);
        await expectAccessible(page, `VM ${tab || 'overview'} (${language}, phone)`);
      }
    }
    await page.locator('.language select').selectOption('en');
  });
});

test('a non-admin sees their VM’s events but no audit trail (the audit api is admins-only)', async ({
  browser,
  request,
}) => {
  const admin = { Authorization: `Bearer ${await adminToken(request)}` };
  const user = { username: `web-detail-user-${Date.now() % 100000}`, password: 'web-detail-user-password' };
  expect((await request.post('/api/v1/users', { data: user, headers: admin })).status()).toBe(201);
  const login = await request.post('/api/v1/auth/login', { data: user });
  const headers = { Authorization: `Bearer ${(await login.json()).accessToken}` };
  expect((await request.get('/api/v1/audit', { headers })).status()).toBe(403);
  const images = (await (await request.get('/api/v1/images?limit=500', { headers })).json()) as {
    items: Array<{ id: string; name: string }>;
  };
  const image = images.items.find((i) => i.name === KERNEL_IMAGE_NAME)!;
  const created = await request.post('/api/v1/vms', {
    headers,
    data: { name: 'mine', imageId: image.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 },
  });
  expect(created.status(), await created.text()).toBe(202);
  const { vm } = (await created.json()) as { vm: { id: string } };
  const page = await (await browser.newContext()).newPage();
  await signIn(page, user.username, user.password);
  await page.goto(`/vms/${vm.id}/activity`);
  await expect(page.getByRole('table', { name: 'Events' }).locator('tr[data-event="vm.created"]')).toHaveCount(1, {
    timeout: 30_000,
  });
  await expect(page.getByRole('heading', { name: 'Events' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Audit trail' })).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await page.context().close();
});
