import type { Page } from '@playwright/test';
import { join } from 'node:path';
import { KERNEL_IMAGE_NAME } from '../support/hypervisor';
import { ADMIN, adminToken, expect, test } from './api';

/**
 * The screenshots in docs/screenshots/ (shown in the README), each main screen in English and
 * Korean at 1280×800, with one running VM from the tiny guest so the lists are not empty.
 * Korean needs a CJK font on the machine (fonts-noto-cjk, installed by scripts/setup-host.sh).
 */
const OUT = join(__dirname, '..', '..', 'docs', 'screenshots');

async function shoot(page: Page, name: string, language: string): Promise<void> {
  await page.waitForLoadState('networkidle');
  // A screen shows "Loading…" (ui/Status.tsx) until its first answer: networkidle alone can come before.
  await expect(page.locator('main p.muted[role=status]')).toHaveCount(0);
  await page.screenshot({ path: join(OUT, `${name}.${language}.png`) });
}

test('screenshots of the main screens', async ({ browser, request }) => {
  const token = await adminToken(request);
  const headers = { Authorization: `Bearer ${token}` };
  const images = (await (await request.get('/api/v1/images?limit=500', { headers })).json()) as {
    items: Array<{ id: string; name: string }>;
  };
  const image = images.items.find((i) => i.name === KERNEL_IMAGE_NAME)!;
  const vm = await request.post('/api/v1/vms', {
    headers,
    data: { name: 'web-1', imageId: image.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 },
  });
  expect(vm.status(), await vm.text()).toBe(202);
  const vmId = ((await vm.json()) as { vm: { id: string } }).vm.id;
  // A backup and a schedule, so the VM's backups tab is not empty (a backup wants the VM past provisioning).
  await expect
    .poll(
      async () => ((await (await request.get(`/api/v1/vms/${vmId}`, { headers })).json()) as { state: string }).state,
      {
        timeout: 120_000,
      },
    )
    .toBe('running');
  const backup = await request.post(`/api/v1/vms/${vmId}/backups`, { headers, data: {} });
  expect(backup.status(), await backup.text()).toBe(202);
  const backupOperation = ((await backup.json()) as { operation: { id: string } }).operation.id;
  await request.get(`/api/v1/operations/${backupOperation}/wait?timeout=120`, { headers, timeout: 130_000 });
  await request.post(`/api/v1/vms/${vmId}/schedules`, {
    headers,
    data: { kind: 'snapshot', cron: '0 3 * * *', timeZone: 'Asia/Seoul', keepLast: 7 },
  });
  await request.post('/api/v1/alert-rules', {
    headers,
    data: { name: 'hypervisor up', metric: 'hypervisor.up', comparator: '>=', threshold: 1, for: 0 },
  });
  await request.post('/api/v1/auth/register', { data: { username: 'new.student', password: 'new-student-password' } });
  for (const channel of [
    { name: 'ops log', type: 'log' },
    { name: 'ops webhook', type: 'webhook', url: 'https://hooks.example.com/limen', minSeverity: 'warning' },
  ])
    await request.post('/api/v1/alert-channels', { headers, data: channel });
  await request.post('/api/v1/networks', {
    headers,
    data: { name: 'outside', kind: 'user', description: 'QEMU user mode' },
  });
  // An isolated network is defined in libvirt: removed again at the end.
  const lab = await request.post('/api/v1/networks', {
    headers,
    data: {
      name: 'lab',
      kind: 'isolated',
      cidr: `10.238.${200 + Math.floor(Math.random() * 50)}.0/24`,
      description: 'lab machines',
    },
  });

  try {
    for (const language of ['en', 'ko']) {
      const context = await browser.newContext({ locale: language === 'ko' ? 'ko-KR' : 'en-US' });
      const page = await context.newPage();
      await page.goto('/signin');
      await shoot(page, 'signin', language);
      // By the fields' ids: the labels are in the page's language.
      await page.locator('#username').fill(ADMIN.username);
      await page.locator('#password').fill(ADMIN.password);
      await page.locator('button[type=submit]').click();
      await expect(page).toHaveURL(/\/vms$/);
      await expect(page.locator('[data-vm="web-1"] [data-state]')).toHaveAttribute('data-state', 'running', {
        timeout: 120_000,
      });
      await shoot(page, 'vms', language);
      await page.locator('[data-vm="web-1"] a').first().click();
      await expect(page.locator('h1 + [data-state]')).toBeVisible();
      await expect(page.locator('.screenshot img')).toBeVisible({ timeout: 30_000 });
      await shoot(page, 'vm-detail', language);
      // The detail's tabs, by their paths (the link text is in the page's language).
      await page.locator('.tabs a[href$="/monitor"]').click();
      await expect(page.locator('figcaption[data-chart="network"]')).toContainText(/\d/, { timeout: 30_000 });
      // A few points on the lines (one poll every 5 s).
      await expect
        .poll(async () => Number(await page.locator('.charts').getAttribute('data-samples')), { timeout: 60_000 })
        .toBeGreaterThanOrEqual(3);
      await shoot(page, 'vm-monitor', language);
      await page.locator('.tabs a[href$="/backups"]').click();
      await expect(page.locator('tr[data-backup]')).toHaveCount(1);
      await expect(page.locator('tr[data-schedule]')).toHaveCount(1);
      await shoot(page, 'vm-backups', language);
      await page.locator('.tabs a[href$="/activity"]').click();
      await expect(page.locator('tr[data-event="vm.created"]')).toHaveCount(1, { timeout: 30_000 });
      await expect(page.locator('tr[data-action]').first()).toBeVisible();
      await shoot(page, 'vm-activity', language);
      for (const [path, name] of [
        ['/vms/new', 'create'],
        ['/account', 'account'],
        ['/admin/users', 'users'],
        ['/admin/alerts', 'alerts'],
        ['/admin/alerts/rules', 'alert-rules'],
        ['/admin/alerts/channels', 'alert-channels'],
        ['/admin/hosts', 'hosts'],
        ['/admin/networks', 'networks'],
        ['/admin/images', 'images'],
        ['/admin/audit', 'audit'],
      ]) {
        await page.getByRole('navigation').locator(`a[href="${path}"]`).click();
        await expect(page.locator('main h1')).toBeVisible();
        await shoot(page, name, language);
      }
      await context.close();
    }
  } finally {
    // Also after a failure: an isolated network stays defined in libvirt otherwise.
    if (lab.ok()) await request.delete(`/api/v1/networks/${(await lab.json()).id}`, { headers });
  }
});
